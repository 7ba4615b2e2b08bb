"""Is this machine ready for the workshop? One ``[OK]``, ``[WARN]`` or ``[FAIL]`` line per check.

Run it before the workshop, from the repository root::

    python -m workshop.setup_check

Every failure comes with the command or setting that fixes it. The exit status is 1 when
anything failed (a warning alone still exits 0). Notebook 00 runs the same checks.

Each check imports what it needs itself, so a missing package fails its own line instead of
the whole script.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from workshop import config
from workshop.requirements import pins

#: Free disk the lessons need on Docker's disk: the peak of Docker's disk use (images, build
#: cache, containers, as the engine counts them) during a full `.ci/run` from a clean clone, which
#: builds every image and runs every lesson and test: 19.3 GB on 2026-11-30, with CPU torch in every
#: image (the 40 GB before came from images with PyPI's CUDA torch), rounded up.
LESSONS_DISK_BYTES = 20 * 10**9

#: Memory of the Docker engine (its VM on Docker Desktop): below the first, loading the model
#: while a build installs torch can get containers OOM-killed; the second leaves room for both.
LESSONS_MEMORY_BYTES = 4 * 2**30
RECOMMENDED_MEMORY_BYTES = 8 * 2**30
#: A VM's kernel reports a little less than its setting (8 GiB shows as about 7.7 GiB).
_MEMORY_SLACK = 0.9

OK, WARN, FAIL = "OK", "WARN", "FAIL"
#: The Python the images use; pandas 3 (pinned) needs at least this one on the host too.
PYTHON = (3, 11)
HUB = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
SETTINGS_HINT = "see README, 'Troubleshooting'"


@dataclass(frozen=True)
class Result:
    status: str
    name: str
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        line = f"[{self.status}] {self.name}: {self.detail}"
        return f"{line}\n       fix: {self.fix}" if self.fix and self.status != OK else line


def check_python() -> list[Result]:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] >= PYTHON:
        return [Result(OK, "python", f"{version} ({sys.executable})")]
    return [Result(FAIL, "python", f"{version} is older than {PYTHON[0]}.{PYTHON[1]}",
                   "create the workshop's environment: conda env create -f environment.yml, "
                   "then conda activate clean-ai-containers")]


def check_docker_sdk() -> list[Result]:
    from workshop import engine

    try:
        client = engine.connect()
        server = client.version()
    except engine.DockerUnavailable as error:
        return [Result(FAIL, "docker (Python SDK)", "no engine reachable", str(error))]
    return [Result(OK, "docker (Python SDK)", f"engine {server.get('Version', '?')}, API {server.get('ApiVersion', '?')}")]


def _major(version: str) -> int:
    match = re.match(r"\d+", version)
    return int(match[0]) if match else 0


def check_docker_cli() -> list[Result]:
    name = "docker (CLI)"
    cli = shutil.which(config.DOCKER_CLI)
    if cli is None:
        return [Result(FAIL, name, f"no {config.DOCKER_CLI!r} command",
                       "install Docker Desktop (macOS, Windows) or Docker Engine (Linux), or set "
                       "WORKSHOP_DOCKER to the docker client's path")]
    done = subprocess.run([cli, "version", "--format", "{{.Client.Version}} {{.Server.Version}}"],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        return [Result(FAIL, name, f"{cli} cannot reach an engine: {reason}",
                       "start Docker Desktop (or `colima start`, OrbStack), or `sudo systemctl start docker` "
                       "on Linux; `docker ps` must work in a terminal")]
    client_version, server_version = (done.stdout.split() + ["?", "?"])[:2]
    results = [Result(OK, name, f"{cli}: client {client_version}, engine {server_version}")]
    # Docker 23+ clients run BuildKit (which the workshop's builds use) through the buildx plugin;
    # older ones have it built in. A client without the plugin fails every build.
    if _major(client_version) >= 23:
        buildx = subprocess.run([cli, "buildx", "version"], capture_output=True, text=True, timeout=60, check=False)
        if buildx.returncode != 0:
            results.append(Result(FAIL, "docker buildx", f"client {client_version} has no buildx plugin, so "
                                  "BuildKit builds fail",
                                  "install it (Docker Desktop has it; Debian/Ubuntu: apt install docker-buildx, "
                                  "or docker-buildx-plugin from Docker's repository)"))
        else:
            results.append(Result(OK, "docker buildx", buildx.stdout.strip()))
    return results


def check_disk(need_bytes: int = LESSONS_DISK_BYTES) -> list[Result]:
    from workshop import engine

    try:
        free, where = engine.disk_free_bytes(), "Docker's disk"
    except engine.DockerUnavailable:
        # No engine yet: the disk this repository is on is the best guess.
        free, where = shutil.disk_usage(config.REPO_ROOT).free, f"the disk of {config.REPO_ROOT}"
    detail = f"{engine.human(free)} free on {where}; the workshop needs about {engine.human(need_bytes)}"
    if free >= need_bytes:
        return [Result(OK, "disk", detail)]
    return [Result(WARN, "disk", f"{detail}, {engine.human(need_bytes - free)} more",
                   f"free {engine.human(need_bytes - free)} or more. {engine.FREE_SPACE_HINT} Docker Desktop: "
                   "Settings > Resources > Disk image size.")]


def judge_memory(total_bytes: int, need_bytes: int = LESSONS_MEMORY_BYTES,
                 recommended_bytes: int = RECOMMENDED_MEMORY_BYTES) -> list[Result]:
    """The memory line for an engine with `total_bytes` (its info's MemTotal)."""
    detail = (f"the Docker engine has {total_bytes / 2**30:.1f} GiB; the lessons need "
              f"{need_bytes / 2**30:g} GiB, {recommended_bytes / 2**30:g} GiB recommended")
    fix = (f"give Docker more memory: Docker Desktop: Settings > Resources > Memory, at least "
           f"{recommended_bytes / 2**30:g} GB (colima: colima start --memory {recommended_bytes // 2**30})")
    if total_bytes >= _MEMORY_SLACK * recommended_bytes:
        return [Result(OK, "memory", detail)]
    if total_bytes >= _MEMORY_SLACK * need_bytes:
        return [Result(WARN, "memory", f"{detail}: builds and models may be slow or killed", fix)]
    return [Result(FAIL, "memory", f"{detail}: loading the model or installing torch will be killed", fix)]


def check_memory() -> list[Result]:
    from workshop import engine

    try:
        info = engine.client().info()
    except engine.DockerUnavailable:
        return [Result(FAIL, "memory", "cannot read it without a Docker engine",
                       "fix 'docker (Python SDK)' above first")]
    return judge_memory(info["MemTotal"])


def _compiler_fix() -> str:
    if platform.system() == "Darwin":
        return "xcode-select --install (Apple's command line tools)"
    conda = "conda install -c conda-forge compilers (in the workshop's environment)"
    if os.environ.get("CONDA_PREFIX"):
        return f"{conda}; or on Debian/Ubuntu: sudo apt-get install build-essential python3-dev"
    return f"on Debian/Ubuntu: sudo apt-get install build-essential python3-dev; in a conda environment: {conda}"


def check_compiler() -> list[Result]:
    """A C compiler on this computer: `pip install ./app/wordcount` compiles the app's C extension."""
    # The compiler pip's build uses: $CC, else the one Python was built with, else the usual names.
    configured = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "").split()[:1]
    for name in [*configured, "cc", "gcc", "clang"]:
        if path := shutil.which(name):
            return [Result(OK, "C compiler", f"{path} (pip install ./app/wordcount compiles its C extension)")]
    tried = ", ".join(dict.fromkeys([*configured, "cc", "gcc", "clang"]))
    return [Result(FAIL, "C compiler", f"none found ({tried}): pip install ./app/wordcount cannot build "
                   "the app's C extension", _compiler_fix())]


_ARCH = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def check_architecture() -> list[Result]:
    from workshop import engine

    host = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    try:
        images = _ARCH.get(engine.client().info().get("Architecture", "").lower(), host)
    except engine.DockerUnavailable:
        images = host
    name = "architecture"
    if images not in ("x86_64", "aarch64"):
        return [Result(FAIL, name, f"images would be linux/{images}, for which PyTorch publishes no wheels",
                       "use an x86_64 or arm64 machine")]
    # Both get torch from PyTorch's CPU index (the Dockerfiles' TORCH_INDEX_URL): PyPI's torch for
    # Linux is a CUDA build on both, several GB of NVIDIA libraries (lesson 02 measures them).
    result = Result(OK, name, f"images are linux/{images}: the workshop's images take torch's CPU build, "
                    "as on every platform")
    results = [result]
    if host != images:
        results.append(Result(WARN, "emulation", f"this computer is {host} but the engine runs {images} images: "
                              "every build runs under emulation, many times slower",
                              "use an engine native to this computer (Docker Desktop: turn off "
                              "'Use Rosetta' / x86_64 emulation, or unset DOCKER_DEFAULT_PLATFORM)"))
    return results


def check_packages(requirements: Path = config.REPO_ROOT / "requirements.txt") -> list[Result]:
    fix = "pip install -r requirements.txt (or: conda env update -f environment.yml)"
    results = []
    for package, pinned in pins(requirements.read_text(encoding="utf-8")).items():
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            results.append(Result(FAIL, package, f"not installed (the workshop pins {pinned})", fix))
            continue
        # "2.13.0+cpu" is the CPU build of 2.13.0: the local label is no other version.
        if installed.split("+")[0] == pinned:
            results.append(Result(OK, package, installed))
        else:
            results.append(Result(WARN, package, f"{installed} installed, the workshop was tested with {pinned}", fix))
    return results


def check_model() -> list[Result]:
    name = "model"
    if config.MODEL_DIR is not None:
        folder = config.MODEL_DIR
        fix = "point WORKSHOP_MODEL_DIR at a Hugging Face model folder, or unset it to use the hub"
        if not (folder / "config.json").is_file():
            return [Result(FAIL, name, f"offline mode, but {folder} has no config.json", fix)]
        weights = [p.name for p in folder.glob("*") if p.name in ("model.safetensors", "pytorch_model.bin")]
        tokenizer = [p.name for p in folder.glob("*") if p.name in ("tokenizer.json", "vocab.txt")]
        if not weights or not tokenizer:
            return [Result(FAIL, name, f"offline mode, but {folder} lacks "
                           + " and ".join(w for w, have in (("weights", weights), ("a tokenizer", tokenizer)) if not have),
                           fix)]
        labels = sorted(json.loads((folder / "config.json").read_text()).get("id2label", {}).values())
        return [Result(OK, name, f"offline: {folder} ({', '.join(labels)})")]
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return [Result(FAIL, name, "HF_HUB_OFFLINE is set but WORKSHOP_MODEL_DIR is not: nothing can load the model",
                       "set WORKSHOP_MODEL_DIR to a local model folder, or unset HF_HUB_OFFLINE")]
    import requests

    url = f"{HUB}/api/models/{config.DEFAULT_MODEL_ID}"
    fix = ("check your network or proxy (HTTPS_PROXY); without the hub, download the model folder "
           "elsewhere and set WORKSHOP_MODEL_DIR to it")
    try:
        response = requests.get(url, timeout=15)
    except requests.RequestException as error:
        return [Result(FAIL, name, f"cannot reach {HUB}: {type(error).__name__}", fix)]
    if response.status_code != 200:
        return [Result(FAIL, name, f"{url} answered HTTP {response.status_code}", fix)]
    return [Result(OK, name, f"{config.DEFAULT_MODEL_ID} reachable on {HUB}")]


def base_images() -> list[str]:
    """The images our Dockerfiles start FROM (not their own stages, not the empty `scratch`)."""
    names, stages = [], {"scratch"}  # scratch is no image: Docker's name for "start empty"
    for path in sorted((config.REPO_ROOT / "dockerfiles").glob("*.Dockerfile")):
        for match in re.finditer(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", path.read_text(), re.I | re.M):
            if match[1].lower() not in stages and "$" not in match[1] and match[1] not in names:
                names.append(match[1])
            if match[2]:
                stages.add(match[2].lower())
    return names


def check_base_images() -> list[Result]:
    from docker.errors import APIError, ImageNotFound

    from workshop import engine

    try:
        client = engine.client()
    except engine.DockerUnavailable:
        return [Result(FAIL, "base images", "cannot look for them without a Docker engine",
                       "fix 'docker (Python SDK)' above first")]
    results = []
    for image in base_images():
        try:
            client.images.get(image)
            results.append(Result(OK, f"base {image}", "present"))
            continue
        except ImageNotFound:
            pass
        if config.offline():
            results.append(Result(FAIL, f"base {image}", "missing, and offline mode cannot pull it",
                                  "bash workshop/offline.sh (builds local stand-ins for the base images)"))
            continue
        try:
            client.images.get_registry_data(image)
            results.append(Result(OK, f"base {image}", "not pulled yet; its registry answers"))
        except APIError as error:
            results.append(Result(FAIL, f"base {image}", f"its registry does not answer: {error.explanation}",
                                  "check Docker's network and proxy settings (Docker Desktop: Settings > "
                                  "Resources > Proxies), then `docker pull " + image + "`"))
    return results


CHECKS: tuple[Callable[[], list[Result]], ...] = (
    check_python, check_compiler, check_docker_sdk, check_docker_cli, check_disk, check_memory,
    check_architecture, check_packages, check_model, check_base_images,
)


def run_checks(checks: tuple[Callable[[], list[Result]], ...] = CHECKS) -> list[Result]:
    """Every check's results; a check that crashes is one FAIL line, never the end of the report."""
    results = []
    for check in checks:
        name = check.__name__.removeprefix("check_").replace("_", " ")
        try:
            results.extend(check())
        except ModuleNotFoundError as error:
            results.append(Result(FAIL, name, f"cannot import {error.name}", "pip install -r requirements.txt"))
        except Exception as error:  # noqa: BLE001 - a report must go on after one broken check
            message = str(error).splitlines()[0] if str(error) else ""
            results.append(Result(FAIL, name, f"{type(error).__name__}: {message}", SETTINGS_HINT))
    return results


def report(results: list[Result]) -> str:
    failed = sum(r.status == FAIL for r in results)
    warned = sum(r.status == WARN for r in results)
    summary = (f"{failed} check(s) failed: fix them before the workshop." if failed
               else f"Ready for the workshop ({warned} warning(s))." if warned else "Ready for the workshop.")
    return "\n".join([*map(str, results), summary])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.setup_check", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    results = run_checks()
    print(report(results))
    return 1 if any(r.status == FAIL for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
