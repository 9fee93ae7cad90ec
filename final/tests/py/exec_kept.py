"""docker-py: an ended exec is still inspected, and goes when its container is removed."""

import sys

import docker

from common import client, expect, image_arg, ok

image = image_arg()
name = sys.argv[2]
docker_client = client()
api = docker_client.api
docker_client.images.pull(*image.rsplit(":", 1))

container = docker_client.containers.run(image, ["sleep", "30"], detach=True, name=name)
exec_id = api.exec_create(container.id, ["sh", "-c", "echo out; exit 5"])["Id"]
expect("exec output", api.exec_start(exec_id), b"out\n")
ended = api.exec_inspect(exec_id)
expect("ExitCode of the ended exec", ended["ExitCode"], 5)
expect("Running of the ended exec", ended["Running"], False)
expect("ContainerID", ended["ContainerID"], container.id)
ok("an ended exec is inspected")

container.remove(force=True)
try:
    api.exec_inspect(exec_id)
except docker.errors.NotFound:
    pass
else:
    raise AssertionError("an exec outlived its container")
ok("refused: the exec of a removed container")
