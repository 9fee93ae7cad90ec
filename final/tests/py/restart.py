"""docker-py: restart policies: applied and shown by inspect; refused as dockerd refuses them."""

import sys
import time

import docker

from common import client, expect, image_arg, ok

image = image_arg()
name = sys.argv[2]
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))

container = docker_client.containers.run(
    image, ["sh", "-c", "exit 5"], detach=True, name=name,
    restart_policy={"Name": "on-failure", "MaximumRetryCount": 1})
deadline = time.time() + 20
while time.time() < deadline:
    container.reload()
    if container.attrs["RestartCount"] == 1 and container.status == "exited":
        break
    time.sleep(0.05)
expect("RestartCount after on-failure:1", container.attrs["RestartCount"], 1)
expect("status once the retries are used", container.status, "exited")
expect("RestartPolicy in inspect", container.attrs["HostConfig"]["RestartPolicy"],
       {"Name": "on-failure", "MaximumRetryCount": 1})
ok("on-failure:1 restarted once")
container.remove()


def refused(what, words, **kwargs):
    """Creating with `kwargs` must be a 400 whose message holds `words`; nothing is created."""
    try:
        docker_client.containers.create(image, ["true"], **kwargs)
    except docker.errors.APIError as error:
        expect(f"{what}: status", error.status_code, 400)
        if words not in str(error.explanation):
            raise AssertionError(f"{what}: {error.explanation!r} does not say {words!r}")
    else:
        raise AssertionError(f"{what} was accepted")
    expect(f"containers after {what}", docker_client.containers.list(all=True), [])
    ok(f"refused: {what}")


refused("auto_remove with a restart policy",
        "can't create 'AutoRemove' container with restart policy",
        auto_remove=True, restart_policy={"Name": "always"})
refused("an unknown policy", "unknown policy 'sometimes'",
        restart_policy={"Name": "sometimes"})
refused("a retry count with always",
        "maximum retry count can only be used with 'on-failure'",
        restart_policy={"Name": "always", "MaximumRetryCount": 3})
