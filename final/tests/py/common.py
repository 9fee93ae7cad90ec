"""Shared by the docker-py scenarios that final/tests/docker_py.rs runs against berthd.

Each scenario is a plain script: it gets the image to use as its first argument, talks to the
daemon named by DOCKER_HOST through the docker SDK (7.1.0, a client we did not write), and
checks what it gets back with `expect`. Any failure raises, so the Rust test sees a non-zero
exit and prints the traceback, which names the SDK call and what came back.
"""

import sys

import docker


def client():
    """The SDK's client from the environment (DOCKER_HOST), as a user would make it."""
    return docker.from_env(timeout=120)


def image_arg():
    """The image reference the Rust test passes: 127.0.0.1:PORT/library/busybox:latest."""
    if len(sys.argv) < 2:
        sys.exit(f"usage: {sys.argv[0]} IMAGE")
    return sys.argv[1]


def expect(what, got, wanted):
    """Fails with both values when `got` is not `wanted`."""
    if got != wanted:
        raise AssertionError(f"{what}: got {got!r}, wanted {wanted!r}")


def ok(message):
    """Reports a step that passed (shown by the Rust test when something later fails)."""
    print(f"ok: {message}", flush=True)
