"""docker-py: HostConfig fields berthd cannot honour are refused by name (issue 12, bug 6);
systempaths=unconfined is honoured; inspect shows the fields clients read. argv: ARCHIVE."""

import sys

import docker.errors

from common import client, expect, ok

docker_client = client()
with open(sys.argv[1], "rb") as archive:
    docker_client.images.load(archive.read())

for kwargs, flag in [
    ({"mem_swappiness": 0}, "--memory-swappiness"),
    ({"runtime": "runsc"}, "--runtime"),
    ({"volume_driver": "convoy"}, "--volume-driver"),
    ({"cpu_count": 2}, "--cpu-count"),
    ({"isolation": "hyperv"}, "--isolation"),
]:
    try:
        docker_client.containers.create("busybox", ["true"], **kwargs)
        raise AssertionError(f"{kwargs} was accepted")
    except docker.errors.APIError as error:
        expect(f"{kwargs}: status", error.status_code, 400)
        if flag not in str(error.explanation):
            raise AssertionError(f"{kwargs}: the message does not name {flag}: {error}")
expect("containers after the refusals", docker_client.containers.list(all=True), [])
ok("refused with a 400 naming the flag, nothing created")

plain = docker_client.containers.create("busybox", ["true"])
host = plain.attrs["HostConfig"]
expect("Runtime", host["Runtime"], "runc")
expect("Isolation", host["Isolation"], "")
expect("VolumeDriver", host["VolumeDriver"], "")
expect("MemorySwappiness", host["MemorySwappiness"], None)
if host["CgroupnsMode"] not in ("host", "private"):
    raise AssertionError(f"CgroupnsMode: {host['CgroupnsMode']!r}")
if "/proc/kcore" not in host["MaskedPaths"] or "/proc/sys" not in host["ReadonlyPaths"]:
    raise AssertionError(f"system paths: {host['MaskedPaths']!r} {host['ReadonlyPaths']!r}")
plain.remove()
ok("inspect of a plain container")

# docker-py sends only the option (the CLI also sends MaskedPaths/ReadonlyPaths as []).
# Masked, /proc/timer_list reads as empty (a bind of /dev/null); this kernel has no /proc/kcore.
probe = ["sh", "-c", "wc -c < /proc/timer_list"]
out = docker_client.containers.run("busybox", probe, remove=True)
expect("/proc/timer_list's size in a plain container", int(out), 0)
out = docker_client.containers.run(
    "busybox", probe, security_opt=["systempaths=unconfined"], remove=True
)
if int(out) == 0:
    raise AssertionError("/proc/timer_list is still masked with systempaths=unconfined")
unconfined = docker_client.containers.create(
    "busybox", ["true"], security_opt=["systempaths=unconfined"]
)
expect("MaskedPaths, unconfined", unconfined.attrs["HostConfig"]["MaskedPaths"], [])
expect("ReadonlyPaths, unconfined", unconfined.attrs["HostConfig"]["ReadonlyPaths"], [])
unconfined.remove()
ok("security_opt=['systempaths=unconfined']")
