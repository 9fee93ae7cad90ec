"""docker-py: `events(decode=True)`: a container's and its exec's events, in Docker's shape."""

import sys
import time

import docker

from common import client, expect, image_arg, ok

image = image_arg()
name = sys.argv[2]
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))

since = time.time()
container = docker_client.containers.run(
    image, ["sleep", "30"], detach=True, name=name, labels={"suite": "events"})
result = container.exec_run(["sh", "-c", "exit 2"])
expect("exec_run exit code", result.exit_code, 2)
container.remove(force=True)
until = time.time() + 1

events = list(docker_client.api.events(
    since=since, until=until, decode=True, filters={"container": name}))
actions = [e["Action"] for e in events]
expect("actions", actions, [
    "create", "start", "exec_create: sh -c exit 2", "exec_start: sh -c exit 2", "exec_die",
    "kill", "die", "destroy"])
for event in events:
    expect("Type", event["Type"], "container")
    expect("Actor.ID", event["Actor"]["ID"], container.id)
    expect("id", event["id"], container.id)
    expect("status", event["status"], event["Action"])
    expect("from", event["from"], image)
    expect("scope", event["scope"], "local")
    expect("name attribute", event["Actor"]["Attributes"]["name"], name)
    expect("label attribute", event["Actor"]["Attributes"]["suite"], "events")
    expect("time", event["time"], event["timeNano"] // 1_000_000_000)
by_action = {e["Action"]: e["Actor"]["Attributes"] for e in events}
expect("exec_die exitCode", by_action["exec_die"]["exitCode"], "2")
expect("kill signal", by_action["kill"]["signal"], "9")
expect("die exitCode", by_action["die"]["exitCode"], "137")
ok("a container's events")

# docker-py's events() hands back the body of any answer, without looking at its status:
# ask through its session to see the 400.
api = docker_client.api
answer = api.get(api._url("/events"), params={"until": until, "filters": '{"colour":["red"]}'})
expect("unknown filter status", answer.status_code, 400)
if "colour" not in answer.json()["message"]:
    raise AssertionError(f"the refusal does not name the filter: {answer.text}")
ok("refused: an unknown filter")
