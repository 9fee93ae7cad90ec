"""docker-py: mem_limit and pids_limit are honoured (chapter 5's cgroups)."""

import docker.errors

from common import client, expect, image_arg, ok

image = image_arg()
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))

hog = ["sh", "-c", "head -c 300m /dev/zero | tail"]
try:
    docker_client.containers.run(image, hog, mem_limit="64m", remove=True)
    raise AssertionError("a memory hog under mem_limit=64m must be killed")
except docker.errors.ContainerError as error:
    expect("ContainerError.exit_status of the hog", error.exit_status, 137)
ok("mem_limit=64m: the hog is OOM-killed (137)")

forks = "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); echo $i; done"
container = docker_client.containers.run(image, ["sh", "-c", forks], pids_limit=20,
                                         nano_cpus=500000000, detach=True)
result = container.wait(timeout=60)
last = container.logs(stdout=True, stderr=False).decode().split()[-1]
expect("the last fork that succeeded under pids_limit=20", last, "19")
expect("the shell's exit status once fork failed", result["StatusCode"] != 0, True)
container.remove()
ok("pids_limit=20: the 21st process cannot be forked")

expect("containers.list(all=True) at the end", docker_client.containers.list(all=True), [])
ok("nothing left")
