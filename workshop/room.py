"""The instructor's plan B: every lesson's image ready to pull, when a learner's build fails in class.

A room of 30 laptops on one Wi-Fi: a build that fails or stalls must not stop a learner for the
rest of the day. The instructor's machine, which built every image the evening before, serves them
from a registry on the room's network (Debian's `docker-registry` package: the CNCF distribution
registry, the same software as Docker Hub's), and a learner continues with one command:

    python -m workshop room serve --publish           # instructor: push every image, serve them
    python -m workshop pull 04 --registry HOST:5001   # learner: lesson 04's images (and the earlier ones)

No network at all: image tarballs on a USB stick instead (`docker save` / `docker load`):

    python -m workshop room save DIR                  # instructor: one .tar per image, sizes printed
    python -m workshop room load DIR                  # learner: every .tar of DIR

The registry speaks plain HTTP (a room has no certificates to give it), which Docker accepts from
loopback only: each learner's Docker must list the instructor's address once under
`insecure-registries` (Docker Desktop: Settings > Docker Engine; Linux: /etc/docker/daemon.json,
then restart Docker). `python -m workshop pull` says so when Docker refuses.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from workshop import config, engine, images

log = logging.getLogger(__name__)

DEFAULT_PORT = 5001  # the classroom package cache has 5000
REGISTRY_BINARY = "docker-registry"
#: Each lesson's images, in lesson order (images.PREFETCHED). `pull LESSON` takes the lesson's and
#: every earlier one's: a lesson compares its image with those before it.
LESSONS = {lesson: tuple(image.name for image in images.CATALOGUE if image.prefetched and image.lesson == lesson)
           for lesson in sorted({image.lesson for image in images.CATALOGUE if image.prefetched})}
CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {host}:{port}
  secret: {secret}
"""


def images_for(lesson: str) -> list[str]:
    """The image names (bert-classifier:NAME) lesson `lesson` needs: its own and every earlier lesson's."""
    lesson = lesson.split("-", 1)[0]
    if lesson == "10":
        lesson = max(LESSONS)
    if lesson not in LESSONS:
        raise LookupError(f"no images for lesson {lesson!r}: lessons {', '.join(LESSONS)} and 10 have images")
    return images.by_lesson(lesson)


@dataclass
class Registry:
    """Debian's distribution registry, running."""

    address: str  # HOST:PORT, as `docker push` names it
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def default_storage() -> Path:
    """Where the room's registry keeps its blobs unless told: room-registry in config.CACHE_DIR."""
    return config.CACHE_DIR / "room-registry"


def start(storage: Path | None = None, *, host: str = "0.0.0.0", port: int = DEFAULT_PORT,
          timeout: float = 30) -> Registry:
    """Start the registry, its blobs in `storage` (default: default_storage()); return once it answers."""
    storage = storage or default_storage()
    binary = shutil.which(REGISTRY_BINARY)
    if binary is None:
        raise RuntimeError(f"{REGISTRY_BINARY} is not installed: on Debian or Ubuntu, "
                           "sudo apt-get install docker-registry (the CNCF distribution registry)")
    local = f"127.0.0.1:{port}" if host in ("0.0.0.0", "") else f"{host}:{port}"
    taken = f"is port {port} already in use? Pick another with --port."
    if _answers(local):
        raise RuntimeError(f"something already answers at {local}: {taken}")
    storage.mkdir(parents=True, exist_ok=True)
    settings = storage / "config.yml"
    # The secret signs upload state between requests: any value, the same for this one process.
    settings.write_text(CONFIG.format(storage=storage.resolve() / "data", host=host, port=port,
                                      secret=secrets.token_hex(16)))
    process = subprocess.Popen([binary, "serve", str(settings)])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the registry exited with code {process.returncode} (see its log above); {taken}")
        if _answers(local):
            return Registry(local, process)
        time.sleep(0.2)
    process.terminate()
    process.wait()
    raise RuntimeError(f"the registry did not answer at http://{local}/v2/ within {timeout:.0f} s")


def _answers(address: str) -> bool:
    """Whether a registry (or anything HTTP) answers at http://ADDRESS/v2/."""
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # an answer all the same (another server: the port is taken)
    except OSError:
        return False


def _stream_errors(lines: Iterable[dict]) -> str | None:
    for line in lines:
        if "error" in line:
            return line["error"]
    return None


def publish(names: Iterable[str], registry: str, *, repo: str | None = None) -> list[str]:
    """Push REPO:NAME for each name to `registry` (HOST:PORT); return what was pushed. REPO: `repo`,
    else config.IMAGE_REPO."""
    repo = config.IMAGE_REPO if repo is None else repo
    client = engine.client()
    pushed = []
    for name in names:
        image = client.images.get(f"{repo}:{name}")  # ImageNotFound: build it first (prefetch)
        remote = f"{registry}/{repo}"
        image.tag(remote, name)
        try:
            log.info("$ docker push %s:%s", remote, name)
            if error := _stream_errors(client.images.push(remote, name, stream=True, decode=True)):
                raise RuntimeError(f"pushing {remote}:{name} failed: {error}")
        finally:
            client.images.remove(f"{remote}:{name}", noprune=True)  # the local alias only
        pushed.append(f"{remote}:{name}")
    return pushed


def pull(lesson: str, registry: str, *, repo: str | None = None) -> list[str]:
    """Pull lesson `lesson`'s images from `registry` and name them as a local build would (`repo`,
    else config.IMAGE_REPO); return them."""
    from docker.errors import APIError, NotFound

    repo = config.IMAGE_REPO if repo is None else repo
    client = engine.client()
    names = images_for(lesson)
    got = []
    for name in names:
        remote = f"{registry}/{repo}"
        log.info("$ docker pull %s:%s", remote, name)
        try:
            image = client.images.pull(remote, tag=name)
        except NotFound:
            raise LookupError(f"{registry} has no {repo}:{name}: ask your instructor to publish it "
                              "(python -m workshop room serve --publish)") from None
        except APIError as error:
            if "HTTP response to HTTPS client" in str(error):
                raise RuntimeError(f"your Docker refuses plain HTTP from {registry}: add \"{registry}\" to "
                                   "insecure-registries in Docker's settings (Docker Desktop: Settings > Docker "
                                   "Engine; Linux: /etc/docker/daemon.json), restart Docker, and pull again") from None
            raise
        image.tag(repo, name)
        client.images.remove(f"{remote}:{name}", noprune=True)
        got.append(f"{repo}:{name}")
    return got


def save(names: Iterable[str], folder: Path, *, repo: str | None = None) -> list[tuple[Path, int]]:
    """`docker save` each REPO:NAME to FOLDER/REPO-NAME.tar (REPO: `repo`, else config.IMAGE_REPO);
    return the files and their sizes."""
    repo = config.IMAGE_REPO if repo is None else repo
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        path = folder / f"{repo.replace('/', '_')}-{name}.tar"
        log.info("$ docker save -o %s %s:%s", path, repo, name)
        subprocess.run([config.DOCKER_CLI, "save", "-o", str(path), f"{repo}:{name}"], check=True)
        written.append((path, path.stat().st_size))
    return written


def load(folder: Path) -> list[str]:
    """`docker load` every .tar of `folder`; return what Docker said it loaded."""
    tars = sorted(folder.glob("*.tar"))
    if not tars:
        raise LookupError(f"no .tar files in {folder}")
    loaded = []
    for path in tars:
        log.info("$ docker load -i %s", path)
        done = subprocess.run([config.DOCKER_CLI, "load", "-i", str(path)], check=True, capture_output=True, text=True)
        loaded += [line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("Loaded image")]
    return loaded


def serve(storage: Path, host: str, port: int, publish_first: bool) -> int:
    """Run the registry until Ctrl-C, after pushing every lesson's image if asked."""
    from workshop.classroom import lan_address

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    registry = start(storage, host=host, port=port)
    try:
        if publish_first:
            for pushed in publish([name for names in LESSONS.values() for name in names], registry.address):
                print(f"published {pushed}", flush=True)
        advertised = f"{lan_address() if host in ('0.0.0.0', '') else host}:{port}"
        print(f"\nA learner whose build failed runs, for lesson NN:\n"
              f"  python -m workshop pull NN --registry {advertised}\n"
              f"(once per laptop: \"{advertised}\" under insecure-registries in Docker's settings)\n", flush=True)
        return registry.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        registry.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pull", help="a lesson's images from the room's registry")
    p.add_argument("lesson", metavar="LESSON")
    p.add_argument("--registry", required=True, metavar="HOST:PORT", help="the instructor's registry")
    room = sub.add_parser("room", help="the instructor's registry and image tarballs").add_subparsers(
        dest="action", required=True)
    p = room.add_parser("serve", help="run the room's registry (Ctrl-C stops it)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default: every interface)")
    p.add_argument("--storage", type=Path, default=default_storage(), help=f"default: {default_storage()}")
    p.add_argument("--publish", action="store_true", help="first push every lesson's image")
    p = room.add_parser("save", help="docker save every lesson's image into a folder")
    p.add_argument("folder", type=Path)
    p = room.add_parser("load", help="docker load every .tar of a folder")
    p.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "pull":
            for tag in pull(args.lesson, args.registry):
                print(f"pulled {tag}")
            return 0
        if args.action == "serve":
            return serve(args.storage, args.host, args.port, args.publish)
        if args.action == "save":
            for path, size in save([name for names in LESSONS.values() for name in names], args.folder):
                print(f"{path}  {engine.human(size)}")
            return 0
        for tag in load(args.folder):
            print(f"loaded {tag}")
        return 0
    except (RuntimeError, LookupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
