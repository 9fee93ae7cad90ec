"""docker-py: a detached container: logs, exec_run, stop, list and remove."""

import sys
import time

from common import client, expect, image_arg, ok

image = image_arg()
name = sys.argv[2]
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))

container = docker_client.containers.run(
    image, ["sh", "-c", "echo started; while true; do sleep 0.1; done"],
    detach=True, name=name, environment={"GREETING": "hello"})
container.reload()
expect("status after run(detach=True)", container.status, "running")
expect("name", container.name, name)
ok(f"detached {container.short_id}")

deadline = time.time() + 30
while b"started" not in container.logs() and time.time() < deadline:
    time.sleep(0.05)
expect("logs()", container.logs(), b"started\n")
ok("logs")

result = container.exec_run("echo from-exec")
expect("exec_run exit_code", result.exit_code, 0)
expect("exec_run output", result.output, b"from-exec\n")
result = container.exec_run(["sh", "-c", "echo $GREETING; exit 3"])
expect("exec_run exit_code of exit 3", result.exit_code, 3)
expect("exec_run sees the container's environment", result.output, b"hello\n")
ok("exec_run")

listed = docker_client.containers.list()
expect("containers.list() names", [c.name for c in listed], [name])

container.stop(timeout=1)
container.reload()
expect("status after stop", container.status, "exited")
expect("exit code after stop", container.attrs["State"]["ExitCode"], 137)
expect("containers.list() after stop", docker_client.containers.list(), [])
everything = docker_client.containers.list(all=True)
expect("containers.list(all=True) after stop", [c.name for c in everything], [name])
ok("stop and list")

container.remove()
expect("containers.list(all=True) after remove", docker_client.containers.list(all=True), [])
ok("remove")
