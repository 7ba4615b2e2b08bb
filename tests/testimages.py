"""The small images the inspector's tests build (test_layers, test_dive_compat, test_explorer_browser):
each starts from the local debian:bookworm-slim and wastes a known number of bytes."""

from __future__ import annotations

import logging
import os
import subprocess

import docker.errors

from workshop import config, engine

log = logging.getLogger(__name__)
PREFIX = "workshoptest-layers"

# "/apt-list-bytes" records how many bytes `apt-get update` left in the lists, measured inside
# the build, so the expected waste does not come from the code under test.
APT_UPDATE = ("RUN apt-get update && find /var/lib/apt/lists -type f -printf '%s\\n' "
              "| awk '{s += $1} END {print s}' > /apt-list-bytes")
FILL_DATA = ("RUN mkdir -p /data/sub && head -c 1000000 /dev/urandom > /data/a "
             "&& head -c 2000000 /dev/urandom > /data/sub/b")
DOCKERFILES = {
    # A file written, then written again by a later layer: dive counts both copies.
    "overwrite": ["RUN head -c 3000000 /dev/urandom > /blob", "RUN head -c 2000000 /dev/urandom > /blob"],
    "delete-file": ["RUN head -c 3000000 /dev/urandom > /blob", "RUN rm /blob"],
    # A directory filled, then removed whole: one whiteout for the directory, which dive misses.
    "delete-dir": [FILL_DATA, "RUN rm -rf /data"],
    # Removed and re-created in one RUN: overlayfs marks it opaque, which dive misses.
    "opaque-dir": [FILL_DATA, "RUN rm -rf /data && mkdir /data && echo new > /data/c"],
    # The classic apt cleanup in its own layer, three ways.
    "apt-glob": [APT_UPDATE, "RUN rm -rf /var/lib/apt/lists/*"],
    "apt-dir": [APT_UPDATE, "RUN rm -rf /var/lib/apt/lists"],
    "apt-opaque": [APT_UPDATE, "RUN rm -rf /var/lib/apt/lists && mkdir -p /var/lib/apt/lists/partial"],
    "links": [
        "RUN mkdir -p /links/dir && head -c 1000000 /dev/urandom > /links/a && ln /links/a /links/b "
        "&& ln -s a /links/c && echo hello > /links/dir/f && mkfifo /links/fifo",
        "ENV GREETING=hello",
        "RUN rm /links/a && ln -s /links/dir /links/dirlink",
    ],
    "compress": ["RUN head -c 3000000 /dev/urandom > /random && head -c 10000000 /dev/zero > /zeros"],
}
APT_IMAGES = ("apt-glob", "apt-dir", "apt-opaque")


def tag(name: str) -> str:
    return f"{PREFIX}:{name}"


def build_test_image(name: str) -> str:
    """Build one test image with the docker CLI (BuildKit) and return its tag."""
    dockerfile = "\n".join(["FROM debian:bookworm-slim", *DOCKERFILES[name]]) + "\n"
    subprocess.run(
        [config.DOCKER_CLI, "build", "--network=host", "-q", "-t", tag(name), "-"],
        input=dockerfile, text=True, check=True, capture_output=True,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )
    return tag(name)


def remove_test_images(names) -> None:
    for name in names:
        try:
            engine.client().images.remove(tag(name))
        except docker.errors.APIError as exc:  # already gone, or in use by a parallel run
            log.warning("could not remove %s: %s", tag(name), exc)
