"""docker-py: networks.create, containers.run(network=...), network.connect/disconnect."""

from common import client, expect, image_arg, ok

image = image_arg()  # loaded into the daemon's store by the test: no pull
docker_client = client()

network = docker_client.networks.create(
    "pyfront", driver="bridge", labels={"made-by": "docker-py"},
    ipam={"Config": [{"Subnet": "10.177.0.0/24", "Gateway": "10.177.0.1"}]})
expect("network name", network.name, "pyfront")
expect("network subnet", network.attrs["IPAM"]["Config"][0]["Subnet"], "10.177.0.0/24")
ok("networks.create")

server = docker_client.containers.run(image, ["httpd", "-f", "-p", "80", "-h", "/etc"],
                                      detach=True, name="pyweb", network="pyfront")
server.reload()
address = server.attrs["NetworkSettings"]["Networks"]["pyfront"]["IPAddress"]
expect("the server's address", address, "10.177.0.2")
ok("containers.run(network=...)")

fetch = ("for i in $(seq 50); do wget -q -O- http://10.177.0.2/hostname && exit 0; "
         "sleep 0.1; done; exit 1")
client_box = docker_client.containers.run(image, ["sleep", "300"], detach=True, name="pyclient")
network.connect(client_box, ipv4_address="10.177.0.50")
code, output = client_box.exec_run(["sh", "-c", fetch])
expect("fetch through the connected network", (code, output.decode().strip()),
       (0, server.attrs["Config"]["Hostname"]))
network.reload()
expect("network.containers", sorted(c.name for c in network.containers), ["pyclient", "pyweb"])
ok("network.connect of a running container")

# stats' networks: one entry per interface of the container, eth1 being pyfront's, which
# carried the fetch.
stats = client_box.stats(stream=False)["networks"]
expect("stats networks", sorted(stats), ["eth0", "eth1"])
expect("eth1 received packets", stats["eth1"]["rx_packets"] > 0, True)
ok("stats(stream=False)['networks']")

network.disconnect(client_box)
code, output = client_box.exec_run(["ls", "/sys/class/net"])
expect("after disconnect", output, b"eth0\nlo\n")
expect("stats networks after disconnect", sorted(client_box.stats(stream=False)["networks"]),
       ["eth0"])
ok("network.disconnect")

client_box.remove(force=True)
server.remove(force=True)
network.remove()
names = sorted(n.name for n in docker_client.networks.list())
expect("networks.list() after remove", names, ["bridge", "host", "none"])
ok("network.remove")
