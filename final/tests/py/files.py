"""docker-py: put_archive/get_archive (docker cp), export and import_image, diff."""

import io
import tarfile

import docker.errors

from common import client, expect, image_arg, ok

image = image_arg()
docker_client = client()
api = docker_client.api
docker_client.images.pull(*image.rsplit(":", 1))

container = docker_client.containers.run(image, ["sleep", "300"], detach=True)

# put_archive: a tar made here, unpacked into /tmp of the running container.
data = io.BytesIO()
with tarfile.open(fileobj=data, mode="w") as tar:
    content = b"sent by docker-py\n"
    info = tarfile.TarInfo("from-py/hello.txt")
    info.size = len(content)
    tar.addfile(info, io.BytesIO(content))
expect("put_archive", container.put_archive("/tmp", data.getvalue()), True)
exit_code, output = container.exec_run(["cat", "/tmp/from-py/hello.txt"])
expect("the file put there", output, b"sent by docker-py\n")
ok("put_archive")

# get_archive: the stat header, decoded by docker-py, and the tar.
stream, stat = container.get_archive("/tmp/from-py/hello.txt")
expect("stat name", stat["name"], "hello.txt")
expect("stat size", stat["size"], len(content))
with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
    expect("archive names", tar.getnames(), ["hello.txt"])
    expect("archive content", tar.extractfile("hello.txt").read(), content)
_, stat = container.get_archive("/tmp/from-py")
expect("a directory's mode has Go's ModeDir bit", bool(stat["mode"] & (1 << 31)), True)
ok("get_archive")

try:
    container.get_archive("/no/such/path")
    raise AssertionError("get_archive of a missing path succeeded")
except docker.errors.NotFound as error:
    expect("404 names the path", "Could not find the file /no/such/path" in str(error), True)
try:
    container.put_archive("/tmp", b"not a tar at all" * 64)
    raise AssertionError("put_archive of a non-tar succeeded")
except docker.errors.APIError as error:
    expect("bad tar status", error.status_code, 400)
ok("refused: a missing path (404), a body that is not a tar (400)")

# diff: what put_archive added, in Docker's {Path, Kind} (0 changed, 1 added, 2 deleted).
changes = [c for c in container.diff() if c["Path"].startswith("/tmp")]
expect("diff", changes, [
    {"Path": "/tmp", "Kind": 0},
    {"Path": "/tmp/from-py", "Kind": 1},
    {"Path": "/tmp/from-py/hello.txt", "Kind": 1},
])
ok("diff")

container.kill()
container.wait()
exported = b"".join(container.export())
with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
    names = tar.getnames()
expect("export has the file put in", "tmp/from-py/hello.txt" in names, True)
ok("export")

answer = api.import_image_from_data(exported, repository="pyimported", tag="1",
                                    changes=['CMD ["cat", "/tmp/from-py/hello.txt"]'])
expect("import answer", "sha256:" in answer, True)
output = docker_client.containers.run("pyimported:1", remove=True)
expect("the imported image runs", output, b"sent by docker-py\n")
ok("import_image_from_data with changes")

container.remove()
docker_client.images.remove("pyimported:1")
