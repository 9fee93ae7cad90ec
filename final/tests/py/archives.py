"""docker-py: images.load of a docker save archive, Image.save, and a refused archive."""

import sys

import docker

from common import client, expect, ok

archive_path = sys.argv[1]
docker_client = client()

with open(archive_path, "rb") as archive:
    loaded = docker_client.images.load(archive.read())
expect("images.load tags", [i.tags for i in loaded], [["busybox:latest"]])
image = loaded[0]
ok(f"load: {image.id}")

docker_client.images.get("busybox").tag("mine/bb", "2")
saved = b"".join(docker_client.images.get("mine/bb:2").save(named="mine/bb:2"))
if len(saved) < 1024 * 1024 or saved[257:262] != b"ustar":
    raise AssertionError(f"Image.save gave {len(saved)} bytes, not a tar")
ok(f"save: {len(saved)} bytes")

docker_client.images.remove("busybox:latest")
docker_client.images.remove("mine/bb:2")
expect("images after remove", docker_client.images.list(), [])
again = docker_client.images.load(saved)
expect("reloaded id", [i.id for i in again], [image.id])
expect("reloaded tags", again[0].tags, ["mine/bb:2"])
ok("round trip")

try:
    docker_client.images.load(b"this is not a tar archive" * 100)
    raise AssertionError("loading garbage succeeded")
except docker.errors.APIError as error:
    expect("status of a bad archive", error.status_code, 400)
    if "not a readable tar archive" not in str(error.explanation):
        raise AssertionError(f"unclear refusal: {error.explanation!r}")
expect("images after a refused load", [i.id for i in docker_client.images.list()], [image.id])
ok("garbage refused")
