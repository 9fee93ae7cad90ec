"""docker-py: wait across and after a removal, and label filters that must all match."""

import sys
import threading

import docker

from common import client, expect, image_arg, ok

image = image_arg()
name = sys.argv[2]
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))

container = docker_client.containers.run(image, ["sleep", "30"], detach=True, name=name)
answers = {}


def wait(condition):
    answers[condition] = docker_client.api.wait(container.id, condition=condition)


waiters = [threading.Thread(target=wait, args=(c,)) for c in ("not-running", "removed")]
for waiter in waiters:
    waiter.start()
container.remove(force=True)
for waiter in waiters:
    waiter.join(30)
expect("wait not-running across a removal", answers.get("not-running", {}).get("StatusCode"), 137)
expect("wait removed across a removal", answers.get("removed", {}).get("StatusCode"), 137)
ok("waits across a removal")

try:
    container.wait()
except docker.errors.NotFound:
    pass
else:
    raise AssertionError("a wait on a removed container did not answer 404")
ok("refused: a wait on a removed container")

labelled = docker_client.containers.create(
    image, ["true"], labels={"tier": "front", "team": "a"}, name=name + "-a")
other = docker_client.containers.create(
    image, ["true"], labels={"tier": "front", "team": "b"}, name=name + "-b")
names = lambda filters: sorted(c.name for c in docker_client.containers.list(all=True, filters=filters))
expect("label=tier=front", names({"label": "tier=front"}), [name + "-a", name + "-b"])
expect("two labels", names({"label": ["tier=front", "team=a"]}), [name + "-a"])
ok("label filters")
labelled.remove()
other.remove()
