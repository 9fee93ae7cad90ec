"""docker-py: containers.run(..., remove=True) returns the output and leaves nothing."""

import docker.errors

from common import client, expect, image_arg, ok

image = image_arg()
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))

output = docker_client.containers.run(image, "echo hi", remove=True)
expect("containers.run output", output, b"hi\n")
ok("run echo hi")

output = docker_client.containers.run(image, ["sh", "-c", "echo one; sleep 0.3; echo two"],
                                      remove=True)
expect("containers.run output of a slower command", output, b"one\ntwo\n")
ok("run with follow-logs across a sleep")

try:
    docker_client.containers.run(image, ["sh", "-c", "echo oops >&2; exit 3"], remove=True)
    raise AssertionError("a failing container must raise ContainerError")
except docker.errors.ContainerError as error:
    expect("ContainerError.exit_status", error.exit_status, 3)
    expect("ContainerError.stderr", error.stderr, b"oops\n")
ok("ContainerError with exit status and stderr")

expect("containers.list(all=True) after remove=True", docker_client.containers.list(all=True), [])
ok("nothing left")
