"""What PyPI's CUDA torch would cost, measured from package metadata without downloading it.

    python -m workshop.torchcost                  # resolve live (about a minute), print the table
    python -m workshop.torchcost --record         # ... and write results/torch-cost.json
    python -m workshop.torchcost --recorded       # the figures in results/torch-cost.json
    python -m workshop.torchcost --build-command  # the instructor's CUDA build, to copy (3 GB)

Every image installs CPU torch from PyTorch's CPU wheel index. Lesson 02 still shows what a plain
`pip install torch==2.13.0`, and the naive image's whole app/requirements.txt, would bring from
PyPI: pip resolves each set for a Linux platform in a dry run (`--report`), and the wheels'
sizes come from the indexes' metadata. Three sources: Linux x86_64 from PyPI (the CUDA build),
Linux x86_64 with torch alone from the CPU index and the rest from PyPI, as the Dockerfiles install
(env WORKSHOP_TORCH_INDEX_URL names a local stand-in for the CPU index), and
Linux aarch64 from PyPI (Docker on Apple Silicon), where PyPI's torch 2.13.0 is a CUDA build too:
its metadata asks for the nvidia-* wheels on any Linux (measured 2026-11-30).

pip takes wheel tags from --platform but evaluates environment markers for the machine it runs
on; torch's markers only test for Linux, so the aarch64 figures are what an arm64 pip gets.

Resolving needs PyPI; without it the lesson shows the figures recorded in results/torch-cost.json
and says on which date they were measured.

For a live demo of the CUDA image, an instructor builds the naive Dockerfile with PyPI as the
torch index and torch's install resolving its dependencies (`--no-deps` taken out by sed: the
image's lock does not have the nvidia-* wheels PyPI's CUDA torch declares), about 3 GB more to pull:

    sed 's/--no-deps --index-url/--index-url/' dockerfiles/naive.Dockerfile \\
      | docker build --network=host -f - --build-arg TORCH_INDEX_URL=https://pypi.org/simple \\
          -t bert-classifier:naive-cuda .

(`cuda_build_command()` returns it for this machine's settings.)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from workshop import classroom, config, images
from workshop.requirements import TORCH_PIN

log = logging.getLogger(__name__)

#: What counts as CUDA: distributions (and the site-packages folders they install) whose name
#: starts with one of these: nvidia-* libraries, triton, cuda-bindings/cuda-toolkit.
CUDA_PREFIXES = ("nvidia", "cuda", "triton")

#: The resolver. This machine's pip 23.2.1 downloads every wheel in a dry run (2.9 GB for torch
#: alone: PyPI has no separate metadata file for torch's wheels); this one, with fast-deps, reads
#: only each wheel's metadata through HTTP range requests. Fetched once into the cache (1.8 MB)
#: and run from the wheel file, so the workshop's own pip stays as it is.
RESOLVER_PIP = "25.3"

#: Figures of the last `--record` run, shipped with the workshop for machines that cannot resolve.
RECORD = config.REPO_ROOT / "results" / "torch-cost.json"

PYTHON_VERSION = "3.11"
PLATFORMS = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
WHATS = ("torch", "naive image")
NAIVE_REQUIREMENTS = config.REPO_ROOT / "app" / "requirements.txt"
TORCH_REQUIREMENTS = config.REPO_ROOT / TORCH_PIN

#: pip variables that send it to other packages than PyPI's (this machine's wheel folders, a
#: mirror); the resolver runs without them and without pip's config files. TLS settings stay.
_KEEP_PIP_ENV = {"PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES"}


class ResolveFailed(RuntimeError):
    """pip could not resolve a requirement set, or a wheel's size could not be read."""


def is_cuda(name: str) -> bool:
    """True for a CUDA distribution or site-packages entry (nvidia-cublas, nvidia_cudnn_cu13, triton...)."""
    return name.lower().startswith(CUDA_PREFIXES)


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    filename: str
    bytes: int

    @property
    def cuda(self) -> bool:
        return is_cuda(self.name)


@dataclass(frozen=True)
class Cost:
    """The wheels pip would download for `what` on `platform` from `source`."""

    what: str      # "torch" or "naive image"
    platform: str  # as Docker names it: "linux/amd64", "linux/arm64"
    source: str    # "PyPI" or "CPU index"
    wheels: tuple[Wheel, ...]

    @property
    def total_bytes(self) -> int:
        return sum(wheel.bytes for wheel in self.wheels)

    @property
    def cuda_bytes(self) -> int:
        return sum(wheel.bytes for wheel in self.wheels if wheel.cuda)

    @property
    def torch(self) -> Wheel | None:
        return next((wheel for wheel in self.wheels if wheel.name.lower() == "torch"), None)

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "platform": self.platform, "source": self.source,
                "total_bytes": self.total_bytes, "cuda_bytes": self.cuda_bytes,
                "packages": [asdict(wheel) for wheel in self.wheels]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cost:
        return cls(data["what"], data["platform"], data["source"], tuple(Wheel(**w) for w in data["packages"]))


@dataclass(frozen=True)
class Measurement:
    """Every scenario's cost, when and with which pip it was measured, and whether it is the record."""

    date: str
    pip: str
    costs: tuple[Cost, ...]
    cpu_index: str = ""  # the index the "CPU index" scenarios used (PyTorch's, or a stand-in)
    recorded: bool = False
    why_recorded: str = ""

    @property
    def note(self) -> str:
        """"" for live figures; otherwise a sentence saying they are the recorded ones, and why."""
        if not self.recorded:
            return ""
        recorded = (f"measured on {self.date} with pip {self.pip} and recorded in "
                    f"{RECORD.relative_to(config.REPO_ROOT)}.")
        if self.why_recorded:
            return f"Live resolution failed here ({self.why_recorded}): these figures were {recorded}"
        return f"These figures were {recorded}"

    def cost(self, what: str, platform: str, source: str) -> Cost:
        return next(c for c in self.costs if (c.what, c.platform, c.source) == (what, platform, source))

    def table(self):
        """One row per scenario: files, download size and CUDA part, in bytes and human sizes."""
        import pandas as pd

        from workshop.engine import human

        return pd.DataFrame([{
            "installs": c.what, "platform": c.platform, "from": c.source,
            "torch": c.torch.version if c.torch else "-", "files": len(c.wheels),
            "download": human(c.total_bytes), "CUDA part": human(c.cuda_bytes),
            "download_bytes": c.total_bytes, "cuda_bytes": c.cuda_bytes,
        } for c in self.costs])

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.date, "pip": self.pip, "python": PYTHON_VERSION, "cpu_index": self.cpu_index,
                "scenarios": [c.to_dict() for c in self.costs]}


# --- resolving -----------------------------------------------------------------------------------

def cpu_index() -> str:
    """PyTorch's CPU index, or the offline stand-in that WORKSHOP_TORCH_INDEX_URL names (the
    classroom cache's upstream for torch: one reading of that setting)."""
    return classroom.torch_index()


def requirements(what: str) -> list[str]:
    """The requirement lines of `what`: torch alone (app/torch-requirements.txt), or the naive
    image's app/requirements.txt with the file it includes."""
    if what not in WHATS:
        raise ValueError(f"unknown requirement set {what!r}: use one of {', '.join(WHATS)}")
    # ./app/wordcount is our C extension, built from source in the image: no wheel to weigh.
    return classroom.requirements(TORCH_REQUIREMENTS if what == "torch" else NAIVE_REQUIREMENTS)


def _platform_tags(arch: str) -> list[str]:
    # pip takes --platform literally (manylinux_2_28 does not imply 2_27). The images run Debian 12,
    # glibc 2.36, so every manylinux wheel up to 2_36 installs there; manylinux2014 brings the
    # older aliases (2010, 1) with it.
    return [f"manylinux_2_{minor}_{arch}" for minor in range(36, 16, -1)] + [f"manylinux2014_{arch}"]


def resolver_pip() -> list[str]:
    """The command that runs the resolver pip, fetching its wheel into the cache on first use."""
    folder = config.CACHE_DIR / "pip"
    wheel = folder / f"pip-{RESOLVER_PIP}-py3-none-any.whl"
    if not wheel.is_file():
        done = subprocess.run([sys.executable, "-m", "pip", "download", f"pip=={RESOLVER_PIP}", "--no-deps",
                               "--only-binary=:all:", "--quiet", "--dest", str(folder)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0 or not wheel.is_file():
            raise ResolveFailed(f"could not fetch pip {RESOLVER_PIP} from PyPI: {done.stderr.strip()[-300:]}")
    # pip runs from its own wheel file (a zip with pip/__main__.py), without being installed.
    return [sys.executable, str(wheel / "pip")]


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in _KEEP_PIP_ENV}
    env["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf: not this machine's wheel folders or constraints
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def pip_report(lines: Iterable[str], platform: str, *, index: str = config.PYPI_INDEX, no_deps: bool = False,
               pip: list[str] | None = None) -> dict[str, Any]:
    """pip's installation report (--dry-run --report) for `lines` on `platform`, from `index` alone."""
    arch = PLATFORMS[platform]
    with tempfile.TemporaryDirectory(prefix="torchcost-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [*(pip or resolver_pip()), "install", "--dry-run", "--quiet", "--report", str(report),
               "--use-feature=fast-deps", "--ignore-installed", "--only-binary=:all:",
               "--python-version", PYTHON_VERSION, "--implementation", "cp", "--target", str(Path(tmp) / "target"),
               "--index-url", index, *(["--no-deps"] if no_deps else [])]
        cmd += [arg for tag in _platform_tags(arch) for arg in ("--platform", tag)]
        cmd += list(lines)
        log.info("resolving for %s: %s", platform, shlex.join(cmd))
        done = subprocess.run(cmd, capture_output=True, text=True, env=_pip_env(), check=False)
        if done.returncode != 0:
            raise ResolveFailed(f"pip could not resolve {' '.join(lines)} for {platform}: "
                                f"{done.stderr.strip()[-500:]}")
        return json.loads(report.read_text())


def _filename(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def wheels_from_report(report: Mapping[str, Any], sizes: Mapping[str, int]) -> tuple[Wheel, ...]:
    """One Wheel per package pip would install, with its size looked up by download URL, largest first."""
    wheels = [Wheel(item["metadata"]["name"], item["metadata"]["version"],
                    _filename(item["download_info"]["url"]), sizes[item["download_info"]["url"]])
              for item in report["install"]]
    return tuple(sorted(wheels, key=lambda wheel: (-wheel.bytes, wheel.name)))


def pypi_files(session, name: str) -> dict[str, dict[str, Any]]:
    """Every file PyPI holds for project `name`, by filename, with its URL and size (PEP 691 JSON)."""
    response = session.get(f"{config.PYPI_INDEX}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                           timeout=60)
    response.raise_for_status()
    return {f["filename"]: f for f in response.json()["files"]}


def _size(session, name: str, url: str) -> int:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(unquote(parts.path)).stat().st_size
    if parts.hostname == "files.pythonhosted.org":
        size = pypi_files(session, name).get(_filename(url), {}).get("size")
        if size is not None:
            return size
    # Any other index (PyTorch's, a local stand-in): the file's Content-Length, without its body.
    response = session.head(url, allow_redirects=True, timeout=30)
    response.raise_for_status()
    if "Content-Length" not in response.headers:
        raise ResolveFailed(f"{url} gives no Content-Length: cannot tell its size without downloading it")
    return int(response.headers["Content-Length"])


def wheel_sizes(report: Mapping[str, Any]) -> dict[str, int]:
    """Bytes of every file in `report`, by URL, from index metadata (no wheel is downloaded)."""
    import requests

    with requests.Session() as session:
        # The same CA bundle as pip (a TLS-inspecting proxy's, in some classrooms).
        session.verify = os.environ.get("PIP_CERT") or session.verify
        items = [(item["metadata"]["name"], item["download_info"]["url"]) for item in report["install"]]
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                sizes = list(pool.map(lambda item: _size(session, *item), items))
        except (requests.RequestException, OSError, KeyError, ValueError) as error:
            raise ResolveFailed(f"could not read wheel sizes from the index: {error}") from error
    return {url: size for (_, url), size in zip(items, sizes, strict=True)}


def resolve(what: str, platform: str, source: str, *, pip: list[str] | None = None,
            index: str | None = None) -> Cost:
    """What pip would download for `what` ("torch", "naive image") on `platform` from `source` ("PyPI",
    "CPU index": `index`, by default cpu_index())."""
    if source not in ("PyPI", "CPU index"):
        raise ValueError(f"unknown source {source!r}: use 'PyPI' or 'CPU index'")
    lines = requirements(what)
    if source == "CPU index":
        # As the Dockerfiles install: torch alone from the CPU index (no dependencies), then the rest
        # from PyPI, torch's dependencies too. The second resolution takes torch by its URL.
        torch_only = pip_report(requirements("torch"), platform, index=index or cpu_index(), no_deps=True, pip=pip)
        pinned = {item["metadata"]["name"]: item["download_info"]["url"] for item in torch_only["install"]}
        lines = [f"{name} @ {url}" for name, url in pinned.items()] + [
            line for line in lines if _requirement_name(line) not in pinned]
    report = pip_report(lines, platform, pip=pip)
    return Cost(what, platform, source, wheels_from_report(report, wheel_sizes(report)))


def _requirement_name(line: str) -> str:
    """The project name a requirement line names ("torch==2.13.0" -> "torch")."""
    return re.split(r"[\s\[=<>!~;@]", line, maxsplit=1)[0].lower()


#: The scenarios of lesson 02: each requirement set for CUDA (amd64, PyPI), CPU (amd64, CPU index)
#: and Apple Silicon's Docker (arm64, PyPI).
SCENARIOS = tuple((what, platform, source) for what in WHATS
                  for platform, source in (("linux/amd64", "PyPI"), ("linux/amd64", "CPU index"), ("linux/arm64", "PyPI")))


def measure(scenarios: Iterable[tuple[str, str, str]] = SCENARIOS, *, index: str | None = None) -> Measurement:
    """Resolve every scenario now (in parallel: each one mostly waits for the network), and keep
    the figures for the rest of the day (measure_or_recorded). `index`: the CPU index, by default cpu_index()."""
    scenarios = list(scenarios)
    index = index or cpu_index()
    pip = resolver_pip()
    with ThreadPoolExecutor(max_workers=len(scenarios)) as pool:
        costs = list(pool.map(lambda s: resolve(*s, pip=pip, index=index), scenarios))
    measurement = Measurement(date.today().isoformat(), RESOLVER_PIP, tuple(costs), index)
    _keep_for_today(measurement)
    return measurement


def _today() -> Path:
    """Today's live figures, per scenario: a resolution takes a minute and PyPI's files for a pinned
    torch do not change within a day, so a second run (a rehearsal, the tests and a lesson) reuses them."""
    return config.CACHE_DIR / "torch-cost-today.json"


def _keep_for_today(measurement: Measurement) -> None:
    today = _today()
    try:
        kept = json.loads(today.read_text()) if today.is_file() else {}
    except (OSError, json.JSONDecodeError):
        kept = {}
    if (kept.get("date"), kept.get("cpu_index")) != (measurement.date, measurement.cpu_index):
        kept = {**measurement.to_dict(), "scenarios": []}
    others = [c for c in kept["scenarios"] if (c["what"], c["platform"], c["source"]) not in
              {(c.what, c.platform, c.source) for c in measurement.costs}]
    kept["scenarios"] = others + [c.to_dict() for c in measurement.costs]
    try:
        today.parent.mkdir(parents=True, exist_ok=True)
        today.write_text(json.dumps(kept, indent=1) + "\n")
    except OSError as error:
        log.warning("could not keep today's figures in %s: %s", today, error)


def measured_today(scenarios: Iterable[tuple[str, str, str]]) -> Measurement | None:
    """Figures resolved live earlier today on this machine for every one of `scenarios`, if any."""
    try:
        kept = json.loads(_today().read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if (kept.get("date"), kept.get("cpu_index")) != (date.today().isoformat(), cpu_index()):
        return None
    costs = {(c["what"], c["platform"], c["source"]): Cost.from_dict(c) for c in kept.get("scenarios", [])}
    wanted = list(scenarios)
    if not all(s in costs for s in wanted):
        return None
    return Measurement(kept["date"], kept["pip"], tuple(costs[s] for s in wanted), kept["cpu_index"])


def record(measurement: Measurement, path: Path = RECORD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(measurement.to_dict(), indent=1) + "\n")
    return path


def load(path: Path = RECORD, why: str = "") -> Measurement:
    """The recorded figures; `why` says why they stand in for live ones."""
    data = json.loads(path.read_text())
    return Measurement(data["date"], data["pip"], tuple(Cost.from_dict(c) for c in data["scenarios"]),
                       data.get("cpu_index", ""), recorded=True, why_recorded=why)


def measure_or_recorded(scenarios: Iterable[tuple[str, str, str]] = SCENARIOS) -> Measurement:
    """Live figures: today's if this machine resolved them today, else resolved now when PyPI
    answers; otherwise the recorded ones, whose `note` says from when."""
    scenarios = list(scenarios)
    if today := measured_today(scenarios):
        return today
    try:
        return measure(scenarios)
    except ResolveFailed as error:
        log.warning("live resolution failed, showing the recorded figures: %s", error)
        return load(why=str(error).splitlines()[0][:200])


#: What the CUDA demo changes in naive.Dockerfile (sed's s/OLD/NEW/): torch's own install, there
#: from PyPI, then brings the nvidia-* wheels it declares, which the image's lock leaves out.
CUDA_EDIT = ("--no-deps --index-url", "--index-url")


def cuda_build_command(tag: str = images.tag("naive-cuda")) -> str:
    """The shell line that builds the naive image with PyPI's CUDA torch and its CUDA libraries:
    naive.Dockerfile with CUDA_EDIT made by sed, read from stdin (`-f -`), PyPI as the torch index
    (it has no +cpu build)."""
    old, new = CUDA_EDIT
    return (f"sed 's/{old}/{new}/' {shlex.quote(str(config.dockerfile('naive')))} | "
            f"{shlex.quote(config.DOCKER_CLI)} build --network=host -f - --build-arg TORCH_INDEX_URL={config.PYPI_INDEX} "
            f"-t {shlex.quote(tag)} {shlex.quote(str(config.REPO_ROOT))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.torchcost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--record", action="store_true", help=f"also write {RECORD.relative_to(config.REPO_ROOT)}")
    group.add_argument("--recorded", action="store_true", help="show the recorded figures, resolve nothing")
    group.add_argument("--build-command", action="store_true", help="print the instructor's CUDA build command")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    if args.build_command:
        print(cuda_build_command())
        return 0
    if args.record:
        try:
            measurement = measure()
        except ResolveFailed as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"wrote {record(measurement)}")
    else:
        measurement = load() if args.recorded else measure_or_recorded()
    table = measurement.table().drop(columns=["download_bytes", "cuda_bytes"])
    print(table.to_string(index=False))
    print(measurement.note or f"Measured {measurement.date} with pip {measurement.pip}, from package metadata only.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
