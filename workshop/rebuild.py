"""What a build sends, runs again and leaves behind (lessons 04 and 05): the bytes of build
context BuildKit received, which steps a rebuild after a one-line change ran instead of taking
from the cache, where pip's files came from, and how to give the build cache back afterwards.

Everything here reads a build, from its log or from the engine's build cache; `workshop.measure`
reads the image a build made (what it holds, how fast it answers).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import pandas as pd
from docker.utils.build import exclude_paths

from workshop import config, images
from workshop.build import BuildResult, build, dockerfile_path
from workshop.engine import client, disk_usage

# --- the build context and the build cache (lessons 04 and 05) ---------------------------------

#: BuildKit's plain log: the vertex that sends the context, and its progress lines
#: ("#5 transferring context: 1.50MB 0.1s done"). The vertex "[internal] load .dockerignore" also
#: prints "transferring context: 2B": that is the .dockerignore file itself, not the context.
_LOAD_CONTEXT = re.compile(r"^#(\d+) \[internal\] load build context$", re.MULTILINE)
_TRANSFERRED = r"^#{vertex} transferring context: (\d+(?:\.\d+)?)([kKMGT]?i?B)\b"
#: The units of go-units' HumanSize (decimal), which BuildKit prints, and the binary ones for safety.
_UNITS = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def context_bytes(result: BuildResult | str) -> int:
    """Bytes of build context BuildKit received for a build (its result or its plain log).

    BuildKit reads only the paths the Dockerfile's COPY and ADD instructions name, minus what
    .dockerignore excludes, so this is what the build actually sent, not the folder's size.
    Sizes come rounded as BuildKit prints them (three significant digits). 0 when the build
    needed no context.
    """
    text = result if isinstance(result, str) else result.log
    total = 0
    # One build may load its context more than once (a COPY in each of several stages).
    for vertex in dict.fromkeys(_LOAD_CONTEXT.findall(text)):
        sizes = re.findall(_TRANSFERRED.format(vertex=vertex), text, re.MULTILINE)
        if sizes:
            number, unit = sizes[-1]  # progress lines repeat while it transfers; the last is the total
            total += round(float(number) * _UNITS[unit])
    return total


def build_cache_ids() -> set[str]:
    """The IDs of the records in the engine's build cache now (for drop_build_cache)."""
    return {record["ID"] for record in disk_usage().get("BuildCache") or []}


def drop_build_cache(before: set[str], *results: BuildResult) -> int:
    """Delete from the build cache what `results` added by running RUN steps: the records that
    are not in `before` (build_cache_ids() taken before those builds) and were made by one of the
    RUN commands those builds ran. Returns the bytes reclaimed.

    A measurement that must re-run an install leaves gigabytes in the cache that no later build
    will reuse; this gives them back without touching anything else in the cache.
    """
    # The log names a step with its build args filled in, the cache with "$NAME" as written.
    commands = [_normalize(m[1]) for result in results for step in result.steps
                if step not in result.cached_steps and (m := re.match(r"\[[^\]]*\] RUN (?:--\S+\s+)*(.*)$", step))]
    records = [r for r in disk_usage().get("BuildCache") or [] if r["ID"] not in before and not r["InUse"]]
    mine = [record["ID"] for record in records if record["Type"] == "regular"
            and (m := re.match(r"mount / from exec /bin/sh -c (.*)$", record.get("Description") or "", re.DOTALL))
            and any(_as_pattern(m[1]).fullmatch(command) for command in commands)]
    # BuildKit keeps a record while a later step's record (a COPY on top of the install) names it
    # as its parent: those new children go first.
    children = [r for r in records if r.get("Parent") in mine and r["ID"] not in mine]
    while children:
        mine += [r["ID"] for r in children]
        children = [r for r in records if r.get("Parent") in mine and r["ID"] not in mine]
    reclaimed = 0
    for record_id in reversed(mine):
        reclaimed += client().api.prune_builds(filters={"id": record_id}).get("SpaceReclaimed") or 0
    return reclaimed


def drop_cache_mounts() -> int:
    """Empty BuildKit's cache mounts (pip's download cache of `RUN --mount=type=cache`); bytes reclaimed.

    `docker build --no-cache` ignores the layer cache only: a cache mount outlives it, so a build
    is cold only when both are empty. The next build that uses a mount downloads again.
    """
    return client().api.prune_builds(filters={"type": "exec.cachemount"}).get("SpaceReclaimed") or 0


def _normalize(command: str) -> str:
    """A RUN command with line continuations and runs of blanks made single spaces."""
    return " ".join(command.replace("\\\n", " ").split())


def _as_pattern(command: str) -> re.Pattern[str]:
    """A RUN command as the build cache records it, with each $NAME or ${NAME} matching any value."""
    parts = re.split(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", _normalize(command))
    return re.compile(".*".join(map(re.escape, parts)))


# --- rebuilds after a one-line change -----------------------------------------------------------

def steps_run(result: BuildResult) -> list[str]:
    """The steps a build ran itself instead of taking them from the cache (FROM is never "cached")."""
    return [step for step in result.steps if step not in result.cached_steps and " FROM " not in step]


@dataclass
class Rebuild:
    """Two builds of one Dockerfile from a copy of the repository: as it is, then after one edit."""

    before: BuildResult | None  # None when asked not to build the unchanged copy first
    after: BuildResult
    edited: str  # the file that got one more line, relative to the context
    cache_given_back: int  # bytes of build cache dropped afterwards

    @property
    def seconds(self) -> float:
        return self.after.seconds

    @property
    def steps_run(self) -> list[str]:
        return steps_run(self.after)


def rebuild_after_edit(dockerfile: str | Path, *, edit: str = "app/predictor.py", target: str | None = None,
                       rewrite: Callable[[str], str] | None = None, build_first: bool = True,
                       give_back: bool = True, tag: str | None = None, root: Path = config.REPO_ROOT,
                       stop_at: str | None = None) -> Rebuild:
    """Build `dockerfile` from a copy of the repository (`root`), add one comment line to `edit`, build again.

    The repository itself is never touched, and the added line is unique, so the second build
    cannot find the edited file in the cache of an earlier run. `rewrite` changes the Dockerfile's
    text first (the copy builds the rewritten file); `build_first=False` skips the unchanged
    build (when the caller knows it comes from the cache, or does not care). The image is built
    under a temporary tag (edited-<Dockerfile name>) unless `tag` is given, and that one is removed; with
    `give_back`, build cache records that RUN steps filled (a reinstall: gigabytes no later build
    reuses) are dropped again. `stop_at` stops the second build at the first log line it matches
    (build(stop_at=...)): enough to see that an install runs again, without waiting for it.
    """
    path = dockerfile_path(dockerfile)
    temporary = tag is None
    tag = tag or images.tag(f"edited-{path.stem.lower()}")
    cache_before = build_cache_ids() if give_back else set()
    before = after = None
    with tempfile.TemporaryDirectory(prefix="workshop-rebuild-") as tmp:
        context = copy_context(Path(tmp) / "context", root)
        if rewrite:
            path = _rewritten(path, rewrite, Path(tmp))
        try:
            if build_first:
                before = build(path, tag, context=context, target=target, quiet=True)
            with (context / edit).open("a", encoding="utf-8") as edited:
                edited.write(f"# a one-line change ({uuid.uuid4().hex})\n")
            after = build(path, tag, context=context, target=target, quiet=True, stop_at=stop_at)
        finally:
            if temporary:
                try:
                    client().images.remove(tag)
                except docker.errors.APIError:  # not built, or already gone
                    pass
    given_back = drop_build_cache(cache_before, *(r for r in (before, after) if r)) if give_back else 0
    return Rebuild(before, after, edit, given_back)


def _rewritten(path: Path, rewrite: Callable[[str], str], folder: Path) -> Path:
    copy = folder / path.name
    copy.write_text(rewrite(path.read_text()))
    return copy


def copy_context(destination: Path, root: Path = config.REPO_ROOT) -> Path:
    """Copy the build context at `root` to `destination`, leaving out what .dockerignore excludes
    (so a build from the copy finds the same files in the cache as one from `root`). The matching
    is docker-py's (`exclude_paths`, what its own builds send), `!` exceptions included."""
    ignore_file = root / ".dockerignore"
    lines = ignore_file.read_text().splitlines() if ignore_file.is_file() else []
    patterns = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    destination.mkdir(parents=True, exist_ok=True)
    # Parents come before their children in sorted order; symlinks are copied as links.
    for relative in sorted(exclude_paths(str(root), patterns)):
        source, target = root / relative, destination / relative
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


# --- pip's downloads, and BuildKit's cache mount for them -------------------------------------

#: pip's lines in a build log: "Downloading torch-2.13.0+cpu-cp311-...whl (180.1 MB)" and
#: "Using cached transformers-....whl (10.0 MB)" (metadata files are named *.metadata).
_PIP_FILE = re.compile(r"\b(Downloading|Using cached) (\S+?)(?: \((\d+(?:\.\d+)?) ([kMG]?B)\))?$", re.MULTILINE)


def pip_files(result: BuildResult | str) -> pd.DataFrame:
    """The package files pip fetched in a build: one row per file, `downloaded` (True: over the
    network; False: from pip's cache) and `bytes` as pip printed it (rounded)."""
    text = result if isinstance(result, str) else result.log
    rows = [{"file": name.rsplit("/", 1)[-1], "downloaded": how == "Downloading",
             "bytes": round(float(number) * _UNITS[unit]) if number else 0}
            for how, name, number, unit in _PIP_FILE.findall(text) if not name.endswith(".metadata")]
    return pd.DataFrame(rows, columns=["file", "downloaded", "bytes"])


_CACHE_MOUNT = re.compile(r"--mount=type=cache,\S+\s+(?:\\\n\s*)?")


def without_cache_mounts(dockerfile_text: str) -> str:
    """The Dockerfile with every `--mount=type=cache,...` option of its RUN lines removed."""
    return _CACHE_MOUNT.sub("", dockerfile_text)
