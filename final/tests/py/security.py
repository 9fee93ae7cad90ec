"""docker-py: the default profile, cap_add, cap_drop and privileged (chapter 6)."""

import docker.errors

from common import client, expect, image_arg, ok

image = image_arg()
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))

probe = ["grep", "-E", "^(CapEff|Seccomp):", "/proc/self/status"]


def status(**kwargs):
    """The probe's fields in a container run with kwargs."""
    out = docker_client.containers.run(image, probe, remove=True, **kwargs).decode()
    return dict(line.split(":\t", 1) for line in out.splitlines())


default = status()
expect("CapEff of a default container", default["CapEff"], "00000000a80425fb")
expect("Seccomp of a default container", default["Seccomp"], "2")
ok("a default container: Docker's 14 capabilities and a seccomp filter")

added = status(cap_add=["NET_ADMIN"], cap_drop=["CHOWN"])
# NET_ADMIN is bit 12, CHOWN bit 0.
expect("CapEff with cap_add=NET_ADMIN, cap_drop=CHOWN", added["CapEff"], "00000000a80435fa")
ok("cap_add=['NET_ADMIN'], cap_drop=['CHOWN']")

with open("/proc/self/status") as own:
    host = dict(line.split(":\t", 1) for line in own.read().splitlines())["CapBnd"]
privileged = status(privileged=True)
expect("CapEff of a privileged container", privileged["CapEff"], host)
expect("Seccomp of a privileged container", privileged["Seccomp"], "0")
container = docker_client.containers.create(image, ["true"], privileged=True)
expect("HostConfig.Privileged in inspect", container.attrs["HostConfig"]["Privileged"], True)
container.remove()
ok("privileged=True: every capability, no filter, and inspect says so")

try:
    docker_client.containers.run(image, ["true"], cap_add=["NET_BOGUS"], remove=True)
    raise AssertionError("an unknown capability must be refused")
except docker.errors.APIError as error:
    expect("the status of a bad cap_add", error.status_code, 400)
    expect("the message names NET_BOGUS", "NET_BOGUS" in str(error), True)
ok("cap_add=['NET_BOGUS']: 400")

expect("containers.list(all=True) at the end", docker_client.containers.list(all=True), [])
ok("nothing left")
