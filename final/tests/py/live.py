"""docker-py: stats, pause/unpause, top and update on a running container (chapter 5)."""

import docker.errors

from common import client, expect, image_arg, ok

image = image_arg()
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))

container = docker_client.containers.run(
    image, ["sh", "-c", "while :; do :; done"], mem_limit="64m", detach=True
)

# The keys docker-py's documentation and `docker stats` read.
stats = container.stats(stream=False)
for key in ["read", "preread", "cpu_stats", "precpu_stats", "memory_stats", "pids_stats",
            "blkio_stats", "name", "id", "num_procs"]:
    expect(f"stats has {key}", key in stats, True)
expect("stats id", stats["id"], container.id)
expect("stats name", stats["name"], "/" + container.name)
cpu, precpu = stats["cpu_stats"], stats["precpu_stats"]
for key in ["total_usage", "usage_in_kernelmode", "usage_in_usermode"]:
    expect(f"cpu_usage has {key}", key in cpu["cpu_usage"], True)
for key in ["system_cpu_usage", "online_cpus", "throttling_data"]:
    expect(f"cpu_stats has {key}", key in cpu, True)
cpu_delta = cpu["cpu_usage"]["total_usage"] - precpu["cpu_usage"]["total_usage"]
system_delta = cpu["system_cpu_usage"] - precpu["system_cpu_usage"]
percent = cpu_delta / system_delta * cpu["online_cpus"] * 100
expect(f"a busy loop's CPU share ({percent:.1f}%) is above 0", percent > 0, True)
memory = stats["memory_stats"]
expect("memory usage > 0", memory["usage"] > 0, True)
expect("memory limit is mem_limit", memory["limit"], 64 * 1024 * 1024)
expect("memory stats is a dict of counters", isinstance(memory["stats"], dict), True)
expect("pids current", stats["pids_stats"]["current"], 1)
ok("container.stats(stream=False) has docker-py's keys, CPU > 0, memory > 0")

streamed = container.stats(stream=True, decode=True)
first, second = next(streamed), next(streamed)
expect("the second streamed object's preread is the first's read",
       second["preread"], first["read"])
streamed.close()
ok("container.stats(stream=True): one object a second, each with the one before")

container.pause()
container.reload()
expect("status after pause()", container.status, "paused")
expect("State.Paused", container.attrs["State"]["Paused"], True)
try:
    container.pause()
    raise AssertionError("pausing a paused container must fail")
except docker.errors.APIError as error:
    expect("status code of a second pause", error.status_code, 409)
container.unpause()
container.reload()
expect("status after unpause()", container.status, "running")
ok("pause() / unpause()")

top = container.top()
expect("top has PID in its titles", "PID" in top["Titles"], True)
expect("one process", len(top["Processes"]), 1)
top = container.top(ps_args="-o pid,args")
expect("top with ps_args: titles", top["Titles"], ["PID", "COMMAND"])
ok("top() and top(ps_args=...)")

result = container.update(mem_limit="96m", cpu_shares=512)
expect("update's Warnings", result.get("Warnings"), None)
container.reload()
expect("HostConfig.Memory after update", container.attrs["HostConfig"]["Memory"], 96 << 20)
expect("HostConfig.CpuShares after update", container.attrs["HostConfig"]["CpuShares"], 512)
ok("update(mem_limit=, cpu_shares=)")

container.remove(force=True)
expect("containers.list(all=True) at the end", docker_client.containers.list(all=True), [])
ok("nothing left")
