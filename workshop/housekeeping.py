"""Before and after the workshop day: build every image the lessons use ahead of time, and give
Docker's disk back afterwards.

    python -m workshop prefetch [NAME ...]          # the evening before: the long builds, once
    python -m workshop clean [--keep-build-cache]   # the day after: the workshop's images go

Both report Docker's own accounting of its disk (what `docker system df` shows: image layers
plus build cache), read before and after.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

import docker.errors

from workshop import analysis_store, config, engine, images, run
from workshop.build import build_named, pull_bases

log = logging.getLogger(__name__)

#: What the lessons build: the images lesson 10 measures, plus lesson 09's debug stage.
LESSON_IMAGES = images.PREFETCHED

#: Images that `clean` never removes: what workshop/offline.sh builds (or Docker Hub serves) and
#: every build starts from. Without them the next workshop starts with the slowest downloads.
KEEP = ("python:3.11-bookworm", "python:3.11-slim-bookworm", "debian:bookworm-slim", "workshop-model:local")


@dataclass(frozen=True)
class DiskUse:
    """Docker's disk, as the engine accounts for it."""

    images: int
    build_cache: int
    containers: int

    @property
    def total(self) -> int:
        return self.images + self.build_cache + self.containers


def disk_use() -> DiskUse:
    """Docker's disk use now: image layers, build cache and containers' writable layers."""
    usage = engine.disk_usage()
    # As `docker system df` does: a record marked "shared" has its bytes counted elsewhere.
    cache = sum(r.get("Size") or 0 for r in usage.get("BuildCache") or [] if not r.get("Shared"))
    containers = sum(c.get("SizeRw") or 0 for c in usage.get("Containers") or [])
    return DiskUse(usage.get("LayersSize") or 0, cache, containers)


@dataclass(frozen=True)
class Prefetched:
    tags: list[str]
    before: DiskUse
    after: DiskUse

    def __str__(self) -> str:
        return (f"prefetch: {len(self.tags)} images built, Docker's disk use grew by "
                f"{engine.human(self.after.total - self.before.total)} (now {engine.human(self.after.total)})")


def prefetch(names: Iterable[str] = LESSON_IMAGES) -> Prefetched:
    """Build `names` (bert-classifier:NAME) so that the lessons' builds come from the cache."""
    before = disk_use()
    if not config.offline():
        pull_bases()
    tags = []
    for name in names:
        tags.append(build_named(name).tag)
    return Prefetched(tags, before, disk_use())


@dataclass(frozen=True)
class Cleaned:
    containers: int
    images: list[str]
    build_cache: bool
    before: DiskUse
    after: DiskUse

    @property
    def freed_bytes(self) -> int:
        return self.before.total - self.after.total

    def __str__(self) -> str:
        what = [f"{self.containers} containers", f"{len(self.images)} tags of {config.IMAGE_REPO}"]
        if self.build_cache:
            what.append("the build cache")
        line = (f"clean: removed {', '.join(what)}; Docker's disk use shrank by "
                f"{engine.human(self.freed_bytes)} (now {engine.human(self.after.total)})")
        # BuildKit's cache and the images it built share their layers: those stay on disk.
        return line if self.build_cache else line + "; the build cache stays, with the layers it built"


def clean(*, keep_build_cache: bool = False) -> Cleaned:
    """Remove every image of config.IMAGE_REPO with the workshop's containers of it (label
    workshop=1), and (unless `keep_build_cache`) the build cache. The base images in KEEP stay."""
    repo = config.IMAGE_REPO
    if repo in {image.rsplit(":", 1)[0] for image in KEEP}:
        raise ValueError(f"WORKSHOP_IMAGE_REPO={repo} would remove the base images: "
                         "set it to the repository of the workshop's own images, or unset it.")
    client = engine.client()
    before = disk_use()
    containers, images, removed_ids = 0, [], set()
    for image in client.images.list(name=repo):
        for tag in image.tags:
            if tag.rsplit(":", 1)[0] != repo:
                continue  # another name for the same image: removing our tag leaves it be
            # The workshop's containers (label workshop=1) of this image, left by a crashed kernel.
            containers += run.cleanup(tag)
            try:
                client.images.remove(tag)
                images.append(tag)
                removed_ids.add(image.id)
            except docker.errors.APIError as error:
                # A container that is not the workshop's still uses it: its owner decides.
                log.warning("kept %s: %s", tag, error.explanation)
    # The stored layer-by-layer reads of the images that are gone (workshop.layers.analyze).
    for image_id in removed_ids:
        analysis_store.forget(image_id)
    pruned = False
    if not keep_build_cache:
        done = subprocess.run([config.DOCKER_CLI, "builder", "prune", "-af"],
                              capture_output=True, text=True, check=False)
        pruned = done.returncode == 0
        if not pruned:
            log.warning("kept the build cache: `%s builder prune -af` failed: %s", config.DOCKER_CLI,
                        done.stderr.strip())
    return Cleaned(containers, sorted(images), pruned, before, disk_use())


def clean_current_engine() -> str | None:
    """Stop the current engine of workshop/current-engine.sh and delete its images and build cache,
    if this machine runs one (our CI does; a laptop does not): what it did, or None."""
    if not (config.ENGINE_DIR / "data").exists():
        return None
    done = subprocess.run(["bash", str(config.REPO_ROOT / "workshop" / "current-engine.sh"), "clean"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"workshop/current-engine.sh clean failed: {done.stderr.strip()}")
    return done.stderr.strip().splitlines()[-1]

