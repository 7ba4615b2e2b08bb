"""The Docker engine: one client for the whole session, clear errors when it is out of reach.

Learners meet three problems before their first build: the engine is not running, their user
may not open its socket, or (Docker Desktop, colima, OrbStack) the CLI talks to an engine the
Python SDK cannot find. Each one gets a message that names the fix.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import docker
import docker.errors
from docker.models.images import Image

from workshop import config

log = logging.getLogger(__name__)

#: What the SDK uses when DOCKER_HOST is unset (Linux and Docker Desktop's compatibility socket).
DEFAULT_HOST = "unix:///var/run/docker.sock"

FREE_SPACE_HINT = (
    "See what uses Docker's disk with `docker system df`, then free space with "
    "`docker builder prune` (build cache) or `docker image rm IMAGE` (images you no longer need)."
)


class DockerUnavailable(RuntimeError):
    """The Docker engine cannot be reached; the message says why and how to fix it."""


class DiskFull(RuntimeError):
    """Docker's disk has less free space than a build or run needs."""


class ImageMissing(LookupError):
    """No image with that tag exists on this engine."""


@functools.cache
def client() -> docker.DockerClient:
    """The session's Docker client (connected once, then reused)."""
    return connect()


def connect() -> docker.DockerClient:
    """A new client for the engine the environment points at, or `DockerUnavailable`."""
    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        first_error = exc
    if os.environ.get("DOCKER_HOST"):
        raise DockerUnavailable(_explain(first_error, os.environ["DOCKER_HOST"])) from first_error
    # Docker Desktop, colima and OrbStack put their socket elsewhere and tell only the CLI
    # (through its current context), so ask the CLI where its engine is.
    host = cli_endpoint()
    if host and host != DEFAULT_HOST:
        log.info("the SDK found no engine at %s; using the docker CLI's endpoint %s "
                 "(export DOCKER_HOST=%s to skip this step)", DEFAULT_HOST, host, host)
        try:
            return docker.DockerClient(base_url=host)
        except docker.errors.DockerException as exc:
            raise DockerUnavailable(_explain(exc, host)) from exc
    raise DockerUnavailable(_explain(first_error, DEFAULT_HOST)) from first_error


def cli_endpoint() -> str | None:
    """The engine address of the docker CLI's current context, or None if the CLI cannot say."""
    try:
        done = subprocess.run(
            [config.DOCKER_CLI, "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"],
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    host = done.stdout.strip()
    return host if done.returncode == 0 and host else None


def _explain(exc: BaseException, host: str) -> str:
    """A learner's sentence for a failed connection to `host`."""
    causes = _causes(exc)
    if any(isinstance(c, PermissionError) for c in causes):
        return (
            f"Permission denied on the Docker socket ({host}). On Linux, add yourself to the docker "
            "group: `sudo usermod -aG docker $USER`, then log out and back in (or run `newgrp docker`)."
        )
    if os.environ.get("DOCKER_HOST"):
        where = f"DOCKER_HOST={host}"
        extra = " If that address is stale, `unset DOCKER_HOST` and restart Jupyter."
    else:
        where = host
        extra = (
            " If `docker ps` works in a terminal (Docker Desktop, colima, OrbStack), point Python at "
            "the same engine: export DOCKER_HOST=$(docker context inspect --format "
            "'{{.Endpoints.docker.Host}}') and restart Jupyter."
        )
    reason = "it is not running" if any(
        isinstance(c, (FileNotFoundError, ConnectionRefusedError)) for c in causes
    ) else f"{causes[-1]}"
    return (
        f"Cannot reach the Docker engine at {where}: {reason}. Start it: open Docker Desktop "
        "(macOS, Windows), or `sudo systemctl start docker` (Linux; `sudo dockerd` where there is "
        f"no systemd).{extra}"
    )


def _causes(exc: BaseException | None) -> list[BaseException]:
    """The exception and everything it was raised from, outermost first."""
    chain = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def get_image(tag: str) -> Image:
    """The image called `tag`, or `ImageMissing` with a hint (never a pull attempt)."""
    try:
        return client().images.get(tag)
    except docker.errors.ImageNotFound:
        raise ImageMissing(
            f"There is no image {tag!r} on this Docker engine yet: build it first "
            "(`docker image ls` lists the images you have)."
        ) from None


def image_env(image: str | Image) -> dict[str, str]:
    """The environment an image sets (its ENV lines, the bases' included), as a dict."""
    image = get_image(image) if isinstance(image, str) else image
    return dict(item.split("=", 1) for item in image.attrs["Config"].get("Env") or [])


#: `docker info`'s storage driver status names this driver type when the engine keeps its images
#: in containerd's store (Docker Desktop's default for new installs since 4.34, Docker Engine 29's).
CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"


def image_store(of: docker.DockerClient | None = None) -> str:
    """"containerd" when the engine (the session's, or `of`) keeps images in containerd's store, else
    "classic" (overlay2 and the other graph drivers). The two count an image's size differently:
    see layers.image_size."""
    return _store(of or client())


@functools.cache
def _store(engine: docker.DockerClient) -> str:
    status = dict(pair for pair in engine.info().get("DriverStatus") or [] if len(pair) == 2)
    return "containerd" if status.get("driver-type") == CONTAINERD_SNAPSHOTTER else "classic"


#: How long disk_usage waits for another disk-usage request to finish before it gives up.
DISK_USAGE_WAIT = 120.0


def disk_usage() -> dict:
    """What `docker system df -v` reads: images, containers, volumes and build cache records.

    Docker Engine before 23 runs one such request at a time and answers a second one, asked while
    the first is running (another notebook, `docker system df` in a terminal), with an error
    ("a disk usage operation is already running"): wait for the first one and ask again. Docker 28
    on the containerd store answers 404, or 500 with "no such file or directory", when something it
    was counting went away meanwhile (the snapshots of a build just stopped, a file a running build
    replaced): ask again too.
    """
    deadline = time.monotonic() + DISK_USAGE_WAIT
    while True:
        try:
            return client().df()
        except docker.errors.APIError as error:
            passing = (isinstance(error, docker.errors.NotFound)
                       or any(why in str(error) for why in ("disk usage operation is already running",
                                                            "no such file or directory")))
            if not passing or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def disk_free_bytes() -> int:
    """Free bytes on the disk that holds Docker's images and build cache."""
    root = Path(client().info().get("DockerRootDir", "/"))
    # With Docker Desktop the data root is inside a VM; the host's own disk is the best guess.
    return shutil.disk_usage(root if root.exists() else "/").free


def ensure_disk(need_bytes: int, what: str) -> int:
    """Raise `DiskFull` unless Docker's disk has `need_bytes` free; return the free bytes."""
    free = disk_free_bytes()
    if free < need_bytes:
        raise DiskFull(
            f"{what} needs about {human(need_bytes)} of free disk, but Docker's disk has only "
            f"{human(free)} free. {FREE_SPACE_HINT}"
        )
    return free


def human(nbytes: float) -> str:
    """Decimal size with three significant digits, as `docker image ls` shows it ("7.38 GB")."""
    value, units = float(nbytes), ["kB", "MB", "GB", "TB"]
    unit = "B"
    # Round first: 999.7 MB shows as "1 GB", not "1e+03 MB".
    while units and float(f"{value:.3g}") >= 1000:
        value /= 1000
        unit = units.pop(0)
    return f"{float(f'{value:.3g}'):g} {unit}"
