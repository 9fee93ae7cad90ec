"""docker-py: health checks: State.Health, the health filter, --no-healthcheck, refusals."""

import sys
import time

import docker

from common import client, expect, image_arg, ok

image = image_arg()
name = sys.argv[2]
docker_client = client()
docker_client.images.pull(*image.rsplit(":", 1))

container = docker_client.containers.run(
    image, ["sleep", "30"], detach=True, name=name,
    healthcheck={"test": ["CMD-SHELL", "echo fine"], "interval": 200_000_000, "retries": 1})
deadline = time.time() + 20
while time.time() < deadline:
    container.reload()
    if container.attrs["State"]["Health"]["Status"] == "healthy":
        break
    time.sleep(0.05)
health = container.attrs["State"]["Health"]
expect("Health.Status", health["Status"], "healthy")
expect("Health.FailingStreak", health["FailingStreak"], 0)
expect("last probe's exit code", health["Log"][-1]["ExitCode"], 0)
expect("last probe's output", health["Log"][-1]["Output"], "fine\n")
expect("Config.Healthcheck.Test", container.attrs["Config"]["Healthcheck"]["Test"],
       ["CMD-SHELL", "echo fine"])
expect("containers.list(filters health=healthy)",
       [c.name for c in docker_client.containers.list(filters={"health": "healthy"})], [name])
ok("healthy")
container.remove(force=True)

disabled = docker_client.containers.run(
    image, ["sleep", "30"], detach=True, healthcheck={"test": ["NONE"]})
disabled.reload()
expect("State.Health without a check", "Health" in disabled.attrs["State"], False)
expect("Config.Healthcheck.Test of --no-healthcheck",
       disabled.attrs["Config"]["Healthcheck"]["Test"], ["NONE"])
ok("--no-healthcheck")
disabled.remove(force=True)

try:
    docker_client.containers.create(
        image, ["true"], healthcheck={"test": ["CMD", "true"], "interval": 500_000})
except docker.errors.APIError as error:
    expect("status of a 0.5 ms interval", error.status_code, 400)
    if "less than 1ms" not in str(error.explanation):
        raise AssertionError(f"the refusal does not say why: {error.explanation!r}")
else:
    raise AssertionError("a 0.5 ms interval was accepted")
expect("containers after the refusal", docker_client.containers.list(all=True), [])
ok("refused: an interval below 1 ms")
