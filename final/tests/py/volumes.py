"""docker-py: volumes.create, containers.run(volumes=...) and mounts=[Mount(...)]."""

from docker.types import Mount

from common import client, expect, image_arg, ok

image = image_arg()
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))

volume = docker_client.volumes.create(name="pydata", labels={"made-by": "docker-py"})
expect("volume name", volume.name, "pydata")
expect("volume labels", volume.attrs["Labels"], {"made-by": "docker-py"})
ok("volumes.create")

docker_client.containers.run(image, ["sh", "-c", "echo kept > /data/file"], remove=True,
                             volumes={"pydata": {"bind": "/data", "mode": "rw"}})
output = docker_client.containers.run(image, ["cat", "/data/file"], remove=True,
                                      volumes=["pydata:/data:ro"])
expect("read back through a second container", output, b"kept\n")
ok("containers.run(volumes=...) keeps data across containers")

output = docker_client.containers.run(
    image, ["sh", "-c", "cat /m/file; grep ' /t ' /proc/mounts | cut -d' ' -f3"], remove=True,
    mounts=[Mount("/m", "pydata", type="volume", read_only=True),
            Mount("/t", None, type="tmpfs", tmpfs_size=1048576)])
expect("mounts=[Mount(...)]", output, b"kept\ntmpfs\n")
ok("containers.run(mounts=[...])")

names = [v.name for v in docker_client.volumes.list()]
expect("volumes.list()", names, ["pydata"])
volume.remove()
expect("volumes.list() after remove", docker_client.volumes.list(), [])
ok("volume.remove")
