"""docker-py: containers.run(ports=...) with a random and a fixed host port; container.ports.

Leaves both containers running and prints `port: N` (the random one): the Rust test fetches
through both ports from the daemon's network namespace, then removes them.
"""

from common import client, expect, image_arg, ok

image = image_arg()  # loaded into the daemon's store by the test: no pull
docker_client = client()
httpd = ["httpd", "-f", "-p", "80", "-h", "/etc"]

random_port = docker_client.containers.run(image, httpd, detach=True, name="pyrandom",
                                           ports={"80/tcp": None})
random_port.reload()
bindings = random_port.ports["80/tcp"]
expect("bindings of 80/tcp", len(bindings), 1)
expect("host address", bindings[0]["HostIp"], "0.0.0.0")
port = int(bindings[0]["HostPort"])
expect("api.port()", docker_client.api.port(random_port.id, 80),
       [{"HostIp": "0.0.0.0", "HostPort": str(port)}])
ok("containers.run(ports={'80/tcp': None}) chose a port")

fixed = docker_client.containers.run(image, httpd, detach=True, name="pyfixed",
                                     ports={"80/tcp": ("127.0.0.1", 18080)})
fixed.reload()
expect("the fixed port", fixed.ports, {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]})
expect("HostConfig.PortBindings", fixed.attrs["HostConfig"]["PortBindings"],
       {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]})
ok("containers.run(ports={'80/tcp': ('127.0.0.1', 18080)})")

listed = {c.name: c for c in docker_client.containers.list()}
expect("listed ports", sorted(listed), ["pyfixed", "pyrandom"])
print(f"port: {port}", flush=True)
