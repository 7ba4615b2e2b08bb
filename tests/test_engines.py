"""The two image stores side by side: Debian 12's Docker 20.10 (the classic store) and the current
engine of workshop/current-engine.sh (Docker 28, the containerd store), as the second part of
.ci/run has them both running. Each test skips, saying why, where one of the two does not answer.

The inspector must read an image the same on both (the containerd store saves layers in the OCI
layout, gzipped when BuildKit built them), and the size the workshop prints must be the same
figure on both, whatever `docker image ls` says there.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

from workshop import config, engine

CLASSIC_HOST = "unix:///var/run/docker.sock"
SCRIPT = config.REPO_ROOT / "workshop" / "current-engine.sh"
TAG = "workshoptest-engines:moved"
MB = 1_000_000

pytestmark = pytest.mark.docker


def _current_host() -> str:
    done = subprocess.run(["bash", str(SCRIPT), "env"], capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in done.stdout.split())["DOCKER_HOST"]


def _client(host: str) -> docker.DockerClient | None:
    """A client of the engine at `host` if it answers (closed again if it does not)."""
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return None  # docker-py would leave the socket of its version request open
    try:
        found = docker.DockerClient(base_url=host, timeout=600)
    except docker.errors.DockerException:
        return None
    try:
        found.ping()
        return found
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        found.close()
        return None


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, docker.DockerClient]]:
    """{"classic": Debian 12's engine, "containerd": the current engine}, or skip."""
    found = {}
    for host in (CLASSIC_HOST, _current_host()):
        if (answering := _client(host)) is not None:
            answering.host = host  # type: ignore[attr-defined]
            found[engine.image_store(answering)] = answering
    try:
        if set(found) != {"classic", "containerd"}:
            pytest.skip(f"needs an engine of each store ({CLASSIC_HOST} and workshop/current-engine.sh's); "
                        f"answering here: {sorted(found) or 'none'}")
        yield found
    finally:
        for client in found.values():
            client.close()


def inspect_json(host: str, image: str, cache: Path) -> dict:
    """`python -m workshop inspect IMAGE --json` against the engine at `host`, as a learner runs it."""
    done = subprocess.run([sys.executable, "-m", "workshop", "inspect", image, "--json"],
                          env={**os.environ, "DOCKER_HOST": host, "WORKSHOP_CACHE_DIR": str(cache)},
                          capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_current_engine_keeps_images_in_containerd(engines):
    """workshop/current-engine.sh runs Docker 28 or newer on the containerd store, beside 20.10."""
    assert int(engines["containerd"].version()["Version"].split(".")[0]) >= 28
    assert engines["classic"].version()["Version"].startswith("20.10")


def test_an_image_moved_between_the_stores_reads_the_same(engines, tmp_path):
    """The same layers, saved by each store in its own layout (docker save's legacy layout on
    20.10, the OCI layout on the containerd store), give the same report, figure for figure; the
    size the workshop prints differs by no more than the symlinks' targets that 20.10 counts in
    a layer it did not build itself (its base here, imported by workshop/offline.sh)."""
    classic, current = engines["classic"], engines["containerd"]
    dockerfile = "\n".join([
        "FROM debian:bookworm-slim",
        "RUN head -c 3000000 /dev/urandom > /blob && mkdir -p /data/sub && echo a > /data/sub/f",
        "RUN head -c 2000000 /dev/urandom > /blob && rm -rf /data && ln -s /blob /link",
    ]).encode()
    image, _ = classic.images.build(fileobj=io.BytesIO(dockerfile), tag=TAG, rm=True)
    try:
        current.images.load(b"".join(image.save(named=True)))
        reports = {store: inspect_json(client.host, TAG, tmp_path / store) for store, client in engines.items()}
    finally:
        for client in (classic, current):
            try:
                client.images.remove(TAG, force=True)
            except docker.errors.APIError:
                pass
    sizes = {store: report.pop("size_bytes") for store, report in reports.items()}
    for report in reports.values():
        report.pop("id")
    assert reports["classic"] == reports["containerd"]
    assert reports["classic"]["dive"]["wasted_bytes"] == 5 * MB  # both copies of /blob, as dive counts them
    assert sizes["containerd"] == reports["containerd"]["dive"]["size_bytes"]
    assert 0 <= sizes["classic"] - sizes["containerd"] < 100_000


def test_the_workshop_prints_one_size_on_both_stores(engines, tmp_path):
    """The same Dockerfile built by BuildKit on each store (gzipped layers on containerd's): the
    layers it adds have the same bytes on both, and `inspect` prints the size `build` records,
    though the containerd store's `docker image inspect` Size is the compressed content."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM debian:bookworm-slim\n"
                                        "RUN head -c 3000000 /dev/zero > /blob\n"
                                        "RUN head -c 2000000 /dev/zero > /blob && mkdir /d && echo hi > /d/f\n")
    # Each engine's own client: Debian 12's (BuildKit built in), the current engine's (buildx).
    clients = {"classic": "/usr/bin/docker", "containerd": str(config.ENGINE_DIR / "bin" / "docker")}
    added, printed = {}, {}
    for store, cli in clients.items():
        host = engines[store].host
        env = {**os.environ, "DOCKER_HOST": host, "DOCKER_BUILDKIT": "1"}
        subprocess.run([cli, "build", "-q", "-t", TAG, str(context)], env=env, check=True, capture_output=True)
        try:
            report = inspect_json(host, TAG, tmp_path / store)
            added[store] = [layer["size_bytes"] for layer in report["layers"][1:]]
            printed[store] = report["size_bytes"]
            engine_size = engines[store].images.get(TAG).attrs["Size"]
        finally:
            engines[store].images.remove(TAG, force=True)
        if store == "containerd":
            # Size is the compressed content there: BuildKit's gzipped layers add a few kB for the
            # 5 MB of zeros (the base's own share depends on how it arrived: a pull brings it
            # compressed, `docker load` of a classic store's save as it was).
            base_size = engines[store].images.get("debian:bookworm-slim").attrs["Size"]
            assert engine_size - base_size < 100_000 < 5 * MB <= sum(added[store])
            assert printed[store] == report["dive"]["size_bytes"]
        else:
            assert printed[store] == engine_size
    assert added["classic"] == added["containerd"] == [3 * MB, 2 * MB + 3]
