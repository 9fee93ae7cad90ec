"""docker-py: devices, device_cgroup_rules and group_add (chapters 5 and 6).

The Rust test passes a loop device of its own (/dev/loopN, whose first bytes are its marker)
after the image.
"""

import sys

import docker.errors

from common import client, expect, image_arg, ok

image = image_arg()
loop, marker = sys.argv[2], sys.argv[3]
minor = loop.removeprefix("/dev/loop")
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))


def run(command, **kwargs):
    """The output of `sh -c command` in a container run with kwargs."""
    return docker_client.containers.run(image, ["sh", "-c", command], remove=True, **kwargs)


read = f"head -c {len(marker)} /dev/xvdc; echo x > /dev/xvdc 2>/dev/null || echo refused"
out = run(read, devices=[f"{loop}:/dev/xvdc:r"]).decode()
expect("reading the device given read-only", out, f"{marker}refused\n")
ok("devices=['LOOP:/dev/xvdc:r']: readable, not writable")

out = run(f"mknod /dev/b b 7 {minor} && head -c {len(marker)} /dev/b",
          device_cgroup_rules=[f"b 7:{minor} r"]).decode()
expect("reading with a device cgroup rule", out, marker)
out = run(f"mknod /dev/b b 7 {minor} && head -c 1 /dev/b 2>&1 || echo refused").decode()
expect("reading without one", out.splitlines()[-1], "refused")
ok("device_cgroup_rules=['b 7:N r']; none: refused")

# Created (the host is asked at each start, as dockerd does), then refused at start.
missing = docker_client.containers.create(image, ["true"], devices=["/dev/berth-nope"])
try:
    missing.start()
    raise AssertionError("a missing device must fail the start")
except docker.errors.APIError as error:
    expect("the status of a missing device", error.status_code, 500)
    expect("dockerd's words", "error gathering device information" in str(error), True)
missing.remove()
ok("devices=['/dev/berth-nope']: created, then 500 at start, as dockerd")

out = run("id -G", group_add=["1234", "nogroup"]).decode()
expect("id -G with group_add", out, "0 1234 65534\n")
container = docker_client.containers.create(image, ["true"], group_add=["1234"])
expect("HostConfig.GroupAdd in inspect", container.attrs["HostConfig"]["GroupAdd"], ["1234"])
container.remove()
ok("group_add=['1234', 'nogroup']")

expect("containers.list(all=True) at the end", docker_client.containers.list(all=True), [])
ok("nothing left")
