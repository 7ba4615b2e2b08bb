"""``python -m workshop lock``: every package of the workshop's own environment and of each image,
with its version and the sha256 of each of its files, in lock files that setup.sh, CI and the
Dockerfiles install with ``pip install --require-hashes``.

The requirement files pin, by name, what the workshop and the images use; what those packages pull
in is resolved here once, by uv, for every platform (Linux on x86_64 and arm64 for the images, and
macOS and Windows for a laptop; a marker on a line says where it applies), and written down with the
hash of every file PyPI has for that version. Two builds a month apart then install the same files
(torch, pinned, and the tools pip fetches to build a package from source apart), and a file that
changed on the index stops the install instead of running.

torch is left out of every lock and installed before it, on its own, from PyTorch's CPU index (README,
"Installing torch"): PyPI's torch for Linux would bring the CUDA libraries with it, and the CPU
index's files are not PyPI's. Its own dependencies are in the locks: uv is told torch's requirements
as the CPU build installed here declares them (a lock's third line records them), so it never
resolves PyPI's CUDA build. A local folder (the images' `./app/wordcount`) is left out too: pip's
hash mode installs no folders, so the Dockerfiles install it after the lock.

uv keeps the versions a lock already has wherever the pins allow them (the set the tests last
passed with); ``--upgrade`` takes the newest instead. ``python -m workshop lock --check`` (and
tests/test_environment.py) fails when a lock no longer matches its pins.
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
from workshop.requirements import LOCKS, PIN, TORCH_PIN, Lock, folders, key, pins, source_lines
from workshop.torchcost import is_cuda

#: Installed before each lock, on its own, from PyTorch's CPU index.
LEFT_OUT = "torch"
#: A lock's own record of the torch it was resolved with: its pin and its requirements (JSON).
_TORCH_LINE = re.compile(rf"^# {LEFT_OUT}==(\S+), left out \(installed first, on its own\), requires: (\[.*\])$",
                         re.MULTILINE)

#: A package a lock entry is there for ("# via jinja2" or "#   jinja2" under "# via").
_VIA = re.compile(r"^    #(?: via|  ) ([A-Za-z0-9][A-Za-z0-9_.-]*)$", re.MULTILINE)


def unhashed(text: str) -> list[str]:
    """The packages of a lock that have no --hash line: pip would refuse the whole install."""
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    return [block.split("=", 1)[0] for block in blocks if PIN.match(block) and "--hash=sha256:" not in block]


def problems(root: Path | None = None) -> list[str]:
    """What is wrong with the locks against the pins they were made from: each a sentence, empty when all match."""
    root = root or config.REPO_ROOT
    return [found for entry in LOCKS for found in _problems(root, entry)]


def _problems(root: Path, entry: Lock) -> list[str]:
    path = root / entry.path
    if not path.is_file():
        return [f"{entry.path} is missing: run `python -m workshop lock`"]
    text = path.read_text()
    locked = pins(text)
    found = []
    for source in entry.sources:
        lines = source_lines(root / source)
        found += [f"{source}: {line!r} is not pinned as name==version, so the lock cannot be checked against it"
                  for line in lines if not PIN.match(line) and line not in folders(lines)]
        for name, version in pins("\n".join(lines)).items():
            if name == LEFT_OUT:
                one_pin = pins((root / TORCH_PIN).read_text()).get(LEFT_OUT)
                if source != TORCH_PIN and version != one_pin:
                    found.append(f"{source} pins {LEFT_OUT}=={version}, {TORCH_PIN} (torch's pin for the images and "
                                 f"the locks) has {one_pin}: make them the same")
                elif not (torch := _TORCH_LINE.search(text)):
                    found.append(f"{entry.path} does not say which {LEFT_OUT} it was resolved with: "
                                 "run `python -m workshop lock`")
                elif torch[1] != version:
                    found.append(f"{source} pins {LEFT_OUT}=={version}, {entry.path} was resolved with {torch[1]}: "
                                 "run `python -m workshop lock`")
                continue
            if name not in locked:
                found.append(f"{source} pins {name}=={version}, which {entry.path} does not have: "
                             "run `python -m workshop lock`")
            elif locked[name] != version:
                found.append(f"{source} pins {name}=={version}, {entry.path} has {locked[name]}: "
                             "run `python -m workshop lock`")
    if LEFT_OUT in locked:
        found.append(f"{entry.path} has {LEFT_OUT}, which {entry.installer} install on its own before the lock")
    found += [f"{entry.path}: {name} has no hash (pip's --require-hashes would refuse the install)"
              for name in unhashed(text)]
    wanted = {key(name) for name in _VIA.findall(text)} - {LEFT_OUT}
    found += [f"{entry.path}: {name} is named as a requirer but has no entry: run `python -m workshop lock`"
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


def write(root: Path | None = None, *, upgrade: bool = False) -> list[Path]:
    """Resolve each lock's sources with uv and write the lock (keeping its versions unless `upgrade`)."""
    root = root or config.REPO_ROOT
    pinned = pins((root / TORCH_PIN).read_text())[LEFT_OUT]
    requires = torch_requirements(pinned)
    # uv's `dependency-metadata`: torch's requirements stated here rather than read from an index,
    # where PyPI's build for Linux declares the CUDA libraries. TOML strings are JSON strings.
    metadata = (f'[[dependency-metadata]]\nname = "{LEFT_OUT}"\nversion = "{pinned}"\n'
                f"requires-dist = {json.dumps(requires)}\n")
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Path(tmp) / "uv.toml"
        settings.write_text(metadata)
        for entry in LOCKS:
            path = root / entry.path
            if not path.exists() and entry is not LOCKS[0]:
                # A new image lock starts from the host's: uv keeps its versions, so the notebooks
                # and the images share every package they both have at one version.
                path.write_text((root / LOCKS[0].path).read_text())
            lines = [line for source in entry.sources for line in source_lines(root / source)]
            left_out = [LEFT_OUT, *(Path(folder).name for folder in folders(lines))]
            subprocess.run(
                [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--config-file", str(settings),
                 "--universal", "--python-version", "3.11", "--generate-hashes", "--index-url", config.PYPI_INDEX,
                 *(f"--no-emit-package={name}" for name in left_out),
                 "--custom-compile-command", "python -m workshop lock",
                 *(["--upgrade"] if upgrade else []), *entry.sources, "--output-file", entry.path],
                cwd=root, check=True)
            if LEFT_OUT in pins("\n".join(lines)):
                # uv's header is two comment lines; what it was told about torch goes under them.
                generated_by, command, rest = path.read_text().split("\n", 2)
                torch = f"# {LEFT_OUT}=={pinned}, left out (installed first, on its own), requires: {json.dumps(requires)}"
                path.write_text("\n".join([generated_by, command, torch, rest]))
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop lock", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only say whether the lock matches the pins")
    parser.add_argument("--upgrade", action="store_true", help="the newest versions the pins allow, not the lock's")
    args = parser.parse_args(argv)
    if not args.check:
        try:
            for path in write(upgrade=args.upgrade):
                print(f"wrote {path.relative_to(config.REPO_ROOT)}")
        except LookupError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except subprocess.CalledProcessError as error:
            print(f"error: uv could not resolve the pins (exit {error.returncode}; its message is above)", file=sys.stderr)
            return 1
    if found := problems():
        print("\n".join(found), file=sys.stderr)
        return 1
    for entry in LOCKS:
        print(f"{entry.path} matches {' and '.join(entry.sources)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
