"""``python -m workshop lock``: requirements.lock, every package of the workshop's own environment
with its version and the sha256 of each of its files, which setup.sh and CI install with
``pip install --require-hashes``.

requirements.txt and requirements-dev.txt pin, by name, what the workshop uses; what those packages
pull in is resolved here once, by uv, for every platform (Linux, macOS and Windows; a marker on a
line says where it applies), and written down with the hash of every file PyPI has for that
version. Two machines a month apart then install the same files, and a file that changed on the
index stops the install instead of running.

torch is left out of the lock and installed before it, on its own, from PyTorch's CPU index (README,
"Installing torch"): PyPI's torch for Linux would bring the CUDA libraries with it. Its own
dependencies are in the lock: uv is told torch's requirements as the CPU build installed here
declares them (the lock's third line records them), so it never resolves PyPI's CUDA build.

uv keeps the versions the lock already has wherever the pins allow them (the set the tests last
passed with); ``--upgrade`` takes the newest instead. ``python -m workshop lock --check`` (and
tests/test_environment.py) fails when the lock no longer matches the pins.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from workshop import config
from workshop.torchcost import is_cuda

#: What setup.sh installs, by name and version.
SOURCES = ("requirements.txt", "requirements-dev.txt")
LOCK = "requirements.lock"
#: Installed before the lock, on its own, from PyTorch's CPU index.
LEFT_OUT = "torch"
#: The lock's own record of the torch it was resolved with: its pin and its requirements (JSON).
_TORCH_LINE = re.compile(rf"^# {LEFT_OUT}==(\S+), left out \(setup\.sh installs it first\), requires: (\[.*\])$", re.MULTILINE)

_PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")
#: A package a lock entry is there for ("# via jinja2" or "#   jinja2" under "# via").
_VIA = re.compile(r"^    #(?: via|  ) ([A-Za-z0-9][A-Za-z0-9_.-]*)$", re.MULTILINE)


def key(name: str) -> str:
    """A package's name as pip compares them (PEP 503): lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """The `name==version` lines of a requirements file (or a lock), by normalised name."""
    return {key(match[1]): match[2] for line in text.splitlines() if (match := _PIN.match(line.strip()))}


def unhashed(text: str) -> list[str]:
    """The packages of a lock that have no --hash line: pip would refuse the whole install."""
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    return [block.split("=", 1)[0] for block in blocks if _PIN.match(block) and "--hash=sha256:" not in block]


def problems(root: Path | None = None) -> list[str]:
    """What is wrong with the lock against the pins it was made from: each a sentence, empty when it matches."""
    root = root or config.REPO_ROOT
    path = root / LOCK
    if not path.is_file():
        return [f"{LOCK} is missing: run `python -m workshop lock`"]
    text = path.read_text()
    locked = pins(text)
    found = []
    for source in SOURCES:
        source_text = (root / source).read_text()
        lines = [line.split("#", 1)[0].strip() for line in source_text.splitlines()]
        found += [f"{source}: {line!r} is not pinned as name==version, so the lock cannot be checked against it"
                  for line in lines if line and not _PIN.match(line)]
        for name, version in pins(source_text).items():
            if name == LEFT_OUT:
                if not (torch := _TORCH_LINE.search(text)):
                    found.append(f"{LOCK} does not say which {LEFT_OUT} it was resolved with: run `python -m workshop lock`")
                elif torch[1] != version:
                    found.append(f"{source} pins {LEFT_OUT}=={version}, {LOCK} was resolved with {torch[1]}: "
                                 "run `python -m workshop lock`")
                continue
            if name not in locked:
                found.append(f"{source} pins {name}=={version}, which {LOCK} does not have: run `python -m workshop lock`")
            elif locked[name] != version:
                found.append(f"{source} pins {name}=={version}, {LOCK} has {locked[name]}: run `python -m workshop lock`")
    if LEFT_OUT in locked:
        found.append(f"{LOCK} has {LEFT_OUT}, which setup.sh installs on its own before the lock")
    found += [f"{LOCK}: {name} has no hash (pip's --require-hashes would refuse the install)" for name in unhashed(text)]
    wanted = {key(name) for name in _VIA.findall(text)} - {LEFT_OUT}
    found += [f"{LOCK}: {name} is named as a requirer but has no entry: run `python -m workshop lock`"
              for name in sorted(wanted - set(locked))]
    return found


def torch_requirements(pinned: str) -> list[str]:
    """torch's own requirements, as the build installed here declares them (its extras left out),
    after checking that it is the pinned version."""
    try:
        installed = importlib.metadata.version(LEFT_OUT)
    except importlib.metadata.PackageNotFoundError:
        raise LookupError(f"no {LEFT_OUT} installed here: install the pinned CPU build first "
                          f"({LEFT_OUT}=={pinned}; README, 'Installing torch')") from None
    if installed.split("+")[0] != pinned:
        raise LookupError(f"{LEFT_OUT} {installed} is installed, the pin is {pinned}: install the pinned CPU build first")
    requires = [line for line in importlib.metadata.requires(LEFT_OUT) or [] if "extra ==" not in line]
    if cuda := [line for line in requires if is_cuda(line)]:  # a requirement starts with its name
        raise LookupError(f"{LEFT_OUT} {installed} installed here is a CUDA build (it requires {cuda[0]}): "
                          "install the CPU build first, from PyTorch's CPU index (README, 'Installing torch')")
    return requires


def write(root: Path | None = None, *, upgrade: bool = False) -> Path:
    """Resolve SOURCES with uv and write the lock beside them (keeping its versions unless `upgrade`)."""
    root = root or config.REPO_ROOT
    pinned = pins((root / SOURCES[0]).read_text())[LEFT_OUT]
    requires = torch_requirements(pinned)
    # uv's `dependency-metadata`: torch's requirements stated here rather than read from an index,
    # where PyPI's build for Linux declares the CUDA libraries. TOML strings are JSON strings.
    metadata = (f'[[dependency-metadata]]\nname = "{LEFT_OUT}"\nversion = "{pinned}"\n'
                f"requires-dist = {json.dumps(requires)}\n")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Path(tmp) / "uv.toml"
        settings.write_text(metadata)
        subprocess.run(
            [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--config-file", str(settings),
             "--universal", "--python-version", "3.11", "--generate-hashes", "--index-url", config.PYPI_INDEX,
             "--no-emit-package", LEFT_OUT, "--custom-compile-command", "python -m workshop lock",
             *(["--upgrade"] if upgrade else []), *SOURCES, "--output-file", LOCK],
            cwd=root, check=True)
    # uv's header is two comment lines; what it was told about torch goes under them.
    path = root / LOCK
    generated_by, command, rest = path.read_text().split("\n", 2)
    torch = f"# {LEFT_OUT}=={pinned}, left out (setup.sh installs it first), requires: {json.dumps(requires)}"
    path.write_text("\n".join([generated_by, command, torch, rest]))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop lock", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only say whether the lock matches the pins")
    parser.add_argument("--upgrade", action="store_true", help="the newest versions the pins allow, not the lock's")
    args = parser.parse_args(argv)
    if not args.check:
        try:
            print(f"wrote {write(upgrade=args.upgrade)}")
        except LookupError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except subprocess.CalledProcessError as error:
            print(f"error: uv could not resolve the pins (exit {error.returncode}; its message is above)", file=sys.stderr)
            return 1
    if found := problems():
        print("\n".join(found), file=sys.stderr)
        return 1
    print(f"{LOCK} matches {' and '.join(SOURCES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
