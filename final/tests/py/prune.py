"""docker-py: containers.prune, images.prune (dangling and not), df; argv: ARCHIVE."""

import sys

import docker

from common import client, expect, ok

docker_client = client()
with open(sys.argv[1], "rb") as archive:
    image = docker_client.images.load(archive.read())[0]

docker_client.containers.run("busybox", ["true"], name="done", labels={"team": "a"})
docker_client.containers.run("busybox", ["true"], name="other", labels={"team": "b"})
pruned = docker_client.containers.prune(filters={"label": ["team=a"]})
expect("ContainersDeleted", len(pruned["ContainersDeleted"]), 1)
expect("left", [c.name for c in docker_client.containers.list(all=True)], ["other"])
ok("containers.prune with a label filter")

df = docker_client.df()
expect("df images", [i["Id"] for i in df["Images"]], [image.id])
expect("df containers", [c["Names"] for c in df["Containers"]], [["/other"]])
expect("df volumes", df["Volumes"], [])
ok("df")

expect("dangling prune", docker_client.images.prune(), {"ImagesDeleted": None, "SpaceReclaimed": 0})
docker_client.containers.get("other").remove()
pruned = docker_client.images.prune(filters={"dangling": False})
expect("ImagesDeleted", pruned["ImagesDeleted"], [{"Untagged": "busybox:latest"}, {"Deleted": image.id}])
if pruned["SpaceReclaimed"] < 1_000_000:
    raise AssertionError(f"SpaceReclaimed: {pruned!r}")
try:
    docker_client.images.prune(filters={"dangling": "maybe"})
    raise AssertionError("a bad filter was accepted")
except docker.errors.APIError as error:
    expect("bad filter status", error.status_code, 400)
ok("images.prune")
