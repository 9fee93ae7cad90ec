"""docker-py: version negotiation, pull, list and inspect images."""

from common import client, expect, image_arg, ok

image = image_arg()
repository, tag = image.rsplit(":", 1)
docker_client = client()

version = docker_client.version()
expect("version()['ApiVersion']", version.get("ApiVersion"), "1.50")
expect("version()['Os']", version.get("Os"), "linux")
ok(f"version: {version.get('Version')} API {version.get('ApiVersion')}")
expect("ping()", docker_client.ping(), True)
ok("ping")

pulled = docker_client.images.pull(repository, tag=tag)
expect("images.pull tags", pulled.tags, [image])
if not pulled.id.startswith("sha256:"):
    raise AssertionError(f"images.pull id is not a digest: {pulled.id!r}")
ok(f"pull: {pulled.id}")

listed = docker_client.images.list()
expect("images.list ids", [i.id for i in listed], [pulled.id])
expect("images.list tags", listed[0].tags, [image])
got = docker_client.images.get(image)
expect("images.get id", got.id, pulled.id)
if got.attrs.get("Os") != "linux" or not got.attrs.get("RootFS", {}).get("Layers"):
    raise AssertionError(f"images.get attrs lack Os or RootFS.Layers: {got.attrs!r}")
ok("list and get")
