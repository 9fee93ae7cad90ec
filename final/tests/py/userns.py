"""docker-py against a daemon with userns-remap: the map, userns_mode="host", inspect and info.

The Rust test passes the first host id of the daemon's range as the second argument.
"""

import sys

import docker.errors

from common import client, expect, image_arg, ok

image = image_arg()
first = sys.argv[2]
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))


def uid_map(**kwargs):
    """`/proc/self/uid_map` of a container run with kwargs, as its three numbers."""
    out = docker_client.containers.run(image, ["cat", "/proc/self/uid_map"], remove=True, **kwargs)
    return out.decode().split()


expect("the uid map of a remapped container", uid_map(), ["0", first, "65536"])
ok(f"a default container: root is host uid {first}")

expect("the uid map with userns_mode='host'", uid_map(userns_mode="host"), ["0", "0", "4294967295"])
container = docker_client.containers.create(image, ["true"], userns_mode="host")
expect("HostConfig.UsernsMode in inspect", container.attrs["HostConfig"]["UsernsMode"], "host")
container.remove()
ok("userns_mode='host': the host's ids, and inspect says so")

options = docker_client.info()["SecurityOptions"]
expect("name=userns in info's SecurityOptions", "name=userns" in options, True)
ok(f"info: {options}")

try:
    docker_client.containers.run(image, ["true"], privileged=True, remove=True)
    raise AssertionError("privileged=True must be refused under userns-remap")
except docker.errors.APIError as error:
    expect("the status of privileged=True", error.status_code, 400)
    expect("the message", "incompatible with user namespaces" in str(error), True)
ok("privileged=True: 400, as dockerd")

expect("containers.list(all=True) at the end", docker_client.containers.list(all=True), [])
ok("nothing left")
