"""docker-py: container.rename, and a name in use refused with 409 and nothing changed."""

import sys

import docker

from common import client, expect, image_arg, ok

image = image_arg()
name = sys.argv[2]
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))

container = docker_client.containers.create(image, ["true"], name=name)
other = docker_client.containers.create(image, ["true"], name=name + "-other")
container.rename(name + "-renamed")
container.reload()
expect("name after rename", container.name, name + "-renamed")
expect("found by its new name", docker_client.containers.get(name + "-renamed").id, container.id)
try:
    docker_client.containers.get(name)
except docker.errors.NotFound:
    pass
else:
    raise AssertionError("the old name still finds the container")
ok("renamed")

try:
    container.rename(name + "-other")
except docker.errors.APIError as error:
    expect("status of a name in use", error.status_code, 409)
    if "already in use" not in str(error.explanation):
        raise AssertionError(f"the refusal does not say why: {error.explanation!r}")
else:
    raise AssertionError("a name in use was accepted")
container.reload()
other.reload()
expect("name after the refusal", container.name, name + "-renamed")
expect("the other's name after the refusal", other.name, name + "-other")
ok("refused: a name in use")

container.remove()
other.remove()
