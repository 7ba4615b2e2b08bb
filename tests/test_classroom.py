"""The classroom package cache (workshop.classroom): a real proxpi served by `python -m workshop cache
serve` on loopback, PyPI and the CPU torch index merged on one page, and two real Docker builds
through it, of which only the first fetches anything upstream."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from workshop import classroom, config

LOCAL_TORCH_INDEX = "http://127.0.0.1:8765/simple"
# Small pure-Python wheels without dependencies: the test builds are seconds long.
PACKAGES = {"six": "1.17.0", "idna": "3.10", "iniconfig": "2.1.0"}

# At DEBUG, urllib3 logs every request proxpi sends upstream ('https://pypi.org:443 "GET
# /simple/six/ HTTP/1.1" 200 18569'), and proxpi logs each file it starts caching.
UPSTREAM_REQUEST = re.compile(r'urllib3\.connectionpool: (\S+) "(?:GET|HEAD) (\S+) HTTP')
FILE_DOWNLOAD = re.compile(r"proxpi\._cache: Downloading '([^']+)'")
# gunicorn's access log (GUNICORN_CMD_ARGS below): what the cache served to its clients.
SERVED = re.compile(r'"GET /index/[^/ ]+/([^/ ]+\.whl) HTTP/[\d.]+" 200 ')


@dataclass
class Cache:
    url: str
    log: Path

    def log_from(self, offset: int) -> str:
        return self.log.read_text()[offset:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_cache(tmp_path: Path, torch_index_url: str) -> Iterator[Cache]:
    """`python -m workshop cache serve` on a free loopback port, cache folder and log in tmp_path."""
    port, log = _free_port(), tmp_path / "cache.log"
    env = {**os.environ, "WORKSHOP_TORCH_INDEX_URL": torch_index_url, "PROXPI_LOGGING_LEVEL": "DEBUG",
           "GUNICORN_CMD_ARGS": "--access-logfile -"}
    command = [sys.executable, "-m", "workshop", "cache", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--cache-dir", str(tmp_path / "cache")]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=config.REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        cache = Cache(f"http://127.0.0.1:{port}", log)
        classroom.wait_until_up(cache.url, process)
        yield cache
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


def test_cache_page_for_torch_lists_pypi_wheels_and_the_cpu_index_wheel(tmp_path):
    """One index URL serves both: the cache's torch page holds PyPI's wheels and the CPU index's +cpu wheel."""
    if not _answers(f"{LOCAL_TORCH_INDEX}/torch/"):
        pytest.skip(f"the local CPU torch index {LOCAL_TORCH_INDEX} is not answering (bash workshop/offline.sh starts it)")
    with urllib.request.urlopen(f"{LOCAL_TORCH_INDEX}/torch/") as page:
        cpu_wheels = re.findall(r">(torch-[^<]+\+cpu[^<]+\.whl)<", page.read().decode())
    assert cpu_wheels, "the local torch index lists no +cpu wheel"
    with running_cache(tmp_path, LOCAL_TORCH_INDEX) as cache:
        # proxpi answers 406 to a request that accepts neither HTML nor JSON (urllib's default).
        request = urllib.request.Request(f"{cache.url}/index/torch/", headers={"Accept": "text/html"})
        with urllib.request.urlopen(request) as page:
            listed = re.findall(r">(torch-[^<]+\.whl)<", page.read().decode())
    assert set(cpu_wheels) <= set(listed)
    assert any("+" not in name for name in listed), "no wheel from PyPI on the merged page"


def _docker_build(context: Path, tag: str, index: str) -> None:
    # The classic builder: `docker rmi` then removes every layer it made, leaving no build cache.
    command = [config.DOCKER_CLI, "build", "--network=host", "--no-cache", "-t", tag,
               "--build-arg", f"PIP_INDEX_URL={index}", str(context)]
    result = subprocess.run(command, env={**os.environ, "DOCKER_BUILDKIT": "0"},
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"docker build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.mark.docker
def test_second_build_through_the_cache_fetches_nothing_upstream(tmp_path):
    """The first build makes the cache fetch each wheel upstream; the same build again is served from the cache alone."""
    torch_index = classroom.torch_index()
    if not _answers(f"{torch_index.rstrip('/')}/torch/"):
        pytest.skip(f"the CPU torch index {torch_index} is not answering, and the cache fails every page without it; "
                    "offline, set WORKSHOP_TORCH_INDEX_URL (bash workshop/offline.sh starts a local one)")
    pins = " ".join(f"{name}=={version}" for name, version in PACKAGES.items())
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM python:3.11-slim-bookworm\n"
        "ARG PIP_INDEX_URL\n"
        f"RUN pip install --no-cache-dir {pins}\n")
    wheels = {f"{name}-{version}-" for name, version in PACKAGES.items()}  # wheel file name prefixes
    tags = [f"workshop-classroom-test:{uuid.uuid4().hex[:12]}-{n}" for n in (1, 2)]
    try:
        with running_cache(tmp_path, torch_index) as cache:
            index = f"{cache.url}/index/"
            _docker_build(context, tags[0], index)
            first = cache.log_from(0)
            _docker_build(context, tags[1], index)
            second = cache.log_from(len(first))
    finally:
        subprocess.run([config.DOCKER_CLI, "rmi", "-f", *tags], capture_output=True, check=False)

    downloaded = {url.rsplit("/", 1)[-1] for url in FILE_DOWNLOAD.findall(first)}
    assert {prefix for prefix in wheels if any(f.startswith(prefix) and f.endswith(".whl") for f in downloaded)} == wheels
    assert UPSTREAM_REQUEST.findall(first)
    served_again = SERVED.findall(second)
    assert {prefix for prefix in wheels if any(f.startswith(prefix) for f in served_again)} == wheels
    assert UPSTREAM_REQUEST.findall(second) == [], "the second build made the cache go upstream"
    assert FILE_DOWNLOAD.findall(second) == []
    print(f"first build: {len(UPSTREAM_REQUEST.findall(first))} upstream requests, {len(downloaded)} files "
          f"downloaded; second build: {len(served_again)} wheels served, 0 upstream requests")


def test_a_learner_joins_the_rooms_cache_with_the_command_the_cache_prints(tmp_path):
    """`cache serve` prints `python -m workshop cache join URL`; that command checks the cache answers
    and records it in the learner's settings file (replacing an older address, keeping the rest).
    Against an address where nothing answers it says so and writes nothing."""
    settings = tmp_path / "workshop.env"
    settings.write_text("WORKSHOP_MODEL_DIR=/models/x\nWORKSHOP_PACKAGE_CACHE=http://10.0.0.9:5000\n")
    env = {**os.environ, "WORKSHOP_SETTINGS": str(settings)}
    env.pop("WORKSHOP_PACKAGE_CACHE", None)
    with running_cache(tmp_path, "http://127.0.0.1:9/simple") as cache:
        deadline = time.monotonic() + 30  # serve prints the line once it has seen its own cache answer
        while not (printed := re.search(r"python -m workshop cache join (\S+)", cache.log_from(0))):
            assert time.monotonic() < deadline, cache.log_from(0)
            time.sleep(0.2)
        assert printed[1] == cache.url
        # As printed, less the scheme a learner may leave out.
        done = subprocess.run([sys.executable, "-m", "workshop", "cache", "join", printed[1].removeprefix("http://")],
                              cwd=config.REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert settings.read_text().splitlines() == ["WORKSHOP_MODEL_DIR=/models/x", f"WORKSHOP_PACKAGE_CACHE={cache.url}"]
    assert "restart your notebooks' kernels" in done.stdout
    before = settings.read_text()
    nobody = f"http://127.0.0.1:{_free_port()}"
    done = subprocess.run([sys.executable, "-m", "workshop", "cache", "join", nobody], cwd=config.REPO_ROOT, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1 and f"no package cache answers at {nobody}/health" in done.stderr, done.stderr
    assert settings.read_text() == before


def test_prefetch_asks_for_what_the_images_install_at_the_locks_versions():
    """The cache is filled with torch's pin and each image lock's packages (markers kept, hashes and
    line continuations dropped); wordcount, a folder built in the image, is not asked for."""
    files = {path.name: classroom.requirements(path) for path in classroom.REQUIREMENT_FILES}
    assert files["torch-requirements.txt"] == ["torch==2.13.0"]
    runtime = files["runtime-requirements.lock"]
    assert "transformers==5.24.0" in runtime and "flask==3.1.3" in runtime
    assert not [line for line in runtime if "--hash" in line or line.endswith("\\") or not re.match(r"[\w.-]+==", line)]
    assert not [line for name, lines in files.items() if name != "torch-requirements.txt"
                for line in lines if line.startswith(("wordcount", "torch=="))]
    assert "torch==2.13.0" in classroom.requirements(config.REPO_ROOT / "app" / "runtime-requirements.txt")
