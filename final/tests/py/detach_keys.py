"""docker-py: detach keys that only the daemon watches for (the SDK passes the keys through).

The raw attach and exec sockets send what is written, keys included: the stream must end
when the daemon reads the sequence, and the container and the exec run on.
"""

import socket
import sys
import time

import docker

from common import client, expect, image_arg, ok

image = image_arg()
name = sys.argv[2]
docker_client = client()
api = docker_client.api
docker_client.images.pull(*image.rsplit(":", 1))


def raw(sock):
    """The socket under what the SDK returns for a hijacked stream."""
    return getattr(sock, "_sock", sock)


def ends_after(sock, keys, what):
    """Types `keys`, then expects the daemon to end the stream within 20 s."""
    conn = raw(sock)
    conn.settimeout(20)
    conn.sendall(keys)
    try:
        while conn.recv(4096):
            pass
    except socket.timeout:
        raise AssertionError(f"{what}: the stream did not end after the detach keys {keys!r}")
    conn.close()


container = docker_client.containers.run(
    image, ["sh"], detach=True, tty=True, stdin_open=True, name=name)

attached = api.attach_socket(
    container.id, params={"stdin": 1, "stdout": 1, "stream": 1, "detachKeys": "ctrl-x,x"})
ends_after(attached, b"\x18x", "attach with detachKeys=ctrl-x,x")
container.reload()
expect("the container after the detach", container.status, "running")
ok("attach: custom keys")

attached = api.attach_socket(container.id, params={"stdin": 1, "stdout": 1, "stream": 1})
ends_after(attached, b"\x10\x11", "attach with the default keys")
ok("attach: Ctrl-P Ctrl-Q")

exec_id = api.exec_create(container.id, ["sh"], stdin=True, tty=True)["Id"]
started = api.exec_start(exec_id, tty=True, socket=True)
time.sleep(0.3)
ends_after(started, b"\x10\x11", "exec -it with the default keys")
expect("the exec after the detach", api.exec_inspect(exec_id)["Running"], True)
ok("exec: Ctrl-P Ctrl-Q")

exec_id = api.exec_create(container.id, ["sh"], stdin=True, tty=True, detach_keys="ctrl-x,x")
expect("DetachKeys in exec inspect", api.exec_inspect(exec_id)["DetachKeys"], "ctrl-x,x")
started = api.exec_start(exec_id, tty=True, socket=True)
time.sleep(0.3)
ends_after(started, b"\x18x", "exec -it with DetachKeys ctrl-x,x")
expect("the exec after the detach", api.exec_inspect(exec_id)["Running"], True)
ok("exec: custom keys")

try:
    api.exec_create(container.id, ["sh"], stdin=True, tty=True, detach_keys="ctrl-1")
except docker.errors.APIError as error:
    expect("status of detach keys ctrl-1", error.status_code, 400)
    if "ctrl-1" not in str(error.explanation):
        raise AssertionError(f"the refusal does not name the key: {error.explanation!r}")
else:
    raise AssertionError("exec detach keys ctrl-1 were accepted")
try:
    api.attach_socket(container.id, params={"stdin": 1, "stream": 1, "detachKeys": "ctrl-1"})
except docker.errors.APIError as error:
    expect("status of attach detachKeys=ctrl-1", error.status_code, 400)
else:
    raise AssertionError("attach detachKeys=ctrl-1 were accepted")
ok("refused: ctrl-1")

container.remove(force=True)
