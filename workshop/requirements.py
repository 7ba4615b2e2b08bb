"""pip's requirement files and lock files: which locks there are, and one reader of them for the
locks' writer (workshop.lock), the setup check, the classroom cache's prefetch and the tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Lock:
    """One lock file: where it is, the requirement files it is resolved from, and who installs it."""

    path: str
    sources: tuple[str, ...]
    installer: str


#: Paths from the repo root. The images' files are read by pip in /srv, as the Dockerfiles copy them.
LOCKS = (
    Lock("requirements.lock", ("requirements.txt", "requirements-dev.txt"), "setup.sh and CI"),
    Lock("app/requirements.lock", ("app/requirements.txt",), "the naive and slim images"),
    Lock("app/runtime-requirements.lock", ("app/runtime-requirements.txt",), "the multi-stage images"),
    Lock("app/export-requirements.lock", ("app/export-requirements.txt",), "the ONNX images' exporter"),
    Lock("app/onnx-requirements.lock", ("app/onnx-requirements.txt",), "the ONNX images' runtime"),
)

#: The file that holds torch's one pin, installed on its own before each lock.
TORCH_PIN = "app/torch-requirements.txt"

#: A `name==version` line (extras and an environment marker allowed), as pip writes and reads them.
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def key(name: str) -> str:
    """A package's name as pip compares them (PEP 503): lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """The `name==version` lines of a requirements file (or a lock), by normalised name."""
    return {key(match[1]): match[2] for line in text.splitlines() if (match := PIN.match(line.strip()))}


def source_lines(path: Path) -> list[str]:
    """The requirement lines of `path` and of the files it includes (`-r torch-requirements.txt`, read
    beside it, as pip does), without comments; a lock's lines without their hashes."""
    # A lock entry: "flask==3.1.3 \" then "    --hash=sha256:..." lines (one requirement, continued).
    lines = [line.split("#", 1)[0].strip().removesuffix("\\").strip() for line in path.read_text().splitlines()]
    return [found for line in lines if line and not line.startswith("--hash=")
            for found in (source_lines(path.parent / line.split(None, 1)[1]) if line.startswith("-r ") else [line])]


def folders(lines: list[str]) -> list[str]:
    """The local folders among requirement lines (`./app/wordcount`): left out of the lock."""
    return [line for line in lines if line.startswith(("./", "/"))]
