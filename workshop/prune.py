"""Lesson 08's pruning, measured: what each line of a prune file (dockerfiles/onnx.prune) deletes,
and which shared libraries the running app actually loads.

A prune file has one cut per line: globs relative to site-packages, two or more spaces, then why
the cut is safe. The Dockerfile deletes the globs; `cut_sizes` measures them in the image of the
stage before the cut, by asking that image's own Python (no shell needed).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from workshop import config
from workshop.run import run_batch

_SEPARATOR = re.compile(r" {2,}")

#: Runs in the image: bytes matched by each line's globs (a file counts once, in its first line).
_CUT_SIZES = r"""
import glob, json, os, sys, sysconfig
root = sysconfig.get_paths()["purelib"]
seen, sizes = set(), []
def files(path):
    if os.path.isdir(path) and not os.path.islink(path):
        for folder, _, names in os.walk(path):
            yield from (os.path.join(folder, name) for name in names)
    else:
        yield path
for line in json.loads(sys.argv[1]):
    total = 0
    for pattern in line:
        for match in glob.glob(os.path.join(root, pattern)):
            for path in files(match):
                if path not in seen:
                    seen.add(path)
                    total += os.lstat(path).st_size
    sizes.append(total)
print(json.dumps({"site_packages": root, "sizes": sizes}))
"""

#: Runs in the image, in the app's folder: start the app (its warm-up classifies a text), then
#: list the shared libraries the process has mapped and those installed in site-packages.
_LOADED = r"""
import json, os, sys
import server
server.create_app()
roots = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]
with open("/proc/self/maps") as maps:
    mapped = {line.split()[-1] for line in maps if ".so" in line.split()[-1]}
installed = {}
for top in roots:
    for folder, _, names in os.walk(top):
        for name in names:
            if ".so" in name:
                path = os.path.join(folder, name)
                installed[os.path.relpath(path, top)] = [os.lstat(path).st_size, path in mapped]
print(json.dumps(installed))
"""


def read_cuts(path: str | Path) -> pd.DataFrame:
    """The prune file's cuts: one row per line, with its globs and why they can go."""
    path = Path(path)
    if not path.is_absolute():
        path = config.REPO_ROOT / path
    rows = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            globs, why = (_SEPARATOR.split(line.strip(), maxsplit=1) + [""])[:2]
            rows.append({"globs": globs.split(), "why": why})
    return pd.DataFrame(rows, columns=["globs", "why"])


def cut_sizes(image: str, prune_file: str | Path) -> pd.DataFrame:
    """`read_cuts(prune_file)` with the bytes each cut deletes from `image`'s site-packages."""
    cuts = read_cuts(prune_file)
    output = run_batch(image, ["python", "-c", _CUT_SIZES, json.dumps(cuts["globs"].tolist())])
    found = json.loads(output.strip().splitlines()[-1])
    cuts["bytes"] = found["sizes"]
    cuts["globs"] = cuts["globs"].map(" ".join)
    cuts.attrs["site_packages"] = found["site_packages"]
    return cuts


def loaded_libraries(image: str, python: str = "python") -> pd.DataFrame:
    """Every shared library in `image`'s site-packages, its bytes, and whether the app loads it.

    Runs the app's factory (which loads the model and classifies a warm-up text) in a fresh
    container with no network, then reads the process's memory map.
    """
    output = run_batch(image, ["-c", _LOADED], entrypoint=[python], network_mode="none")
    found = json.loads(output.strip().splitlines()[-1])
    table = pd.DataFrame([(path, size, loaded) for path, (size, loaded) in found.items()],
                         columns=["library", "bytes", "loaded"])
    return table.sort_values("bytes", ascending=False, ignore_index=True)
