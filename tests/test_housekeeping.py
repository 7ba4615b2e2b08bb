"""`python -m workshop prefetch` and `clean`: what they build, remove, keep and report.

The clean test works in a repository of its own (WORKSHOP_IMAGE_REPO=cleantest-<uuid>) and keeps
the build cache, so the workshop's real images and cache, which other tests use, stay.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import uuid

import docker.errors
import pytest

from workshop import config, engine, housekeeping, run
from workshop.build import build, ensure, ledger
from workshop.checks import parse_size


def run_workshop(*args: str, **env: str) -> subprocess.CompletedProcess:
    # `clean` also stops workshop/current-engine.sh's engine and deletes its data, wherever this
    # machine runs one (CI's second part does): the tests point it at a folder that has none.
    env = {"WORKSHOP_ENGINE_DIR": "/nonexistent/workshop-engine", **env}
    return subprocess.run([sys.executable, "-m", "workshop", *args], cwd=config.REPO_ROOT,
                          env={**os.environ, "PYTHONPATH": str(config.REPO_ROOT), **env},
                          capture_output=True, text=True, timeout=300, check=False)


def tiny_image(tmp_path, tag: str, megabytes: int = 1) -> str:
    """Build `tag`: debian:bookworm-slim plus one layer of `megabytes` MB of random bytes."""
    (tmp_path / "Dockerfile").write_text(
        f"FROM debian:bookworm-slim\nRUN head -c {megabytes}000000 /dev/urandom > /blob-{uuid.uuid4().hex}\n")
    build(tmp_path / "Dockerfile", tag, context=tmp_path, quiet=True)
    return tag


@pytest.mark.docker
def test_ensure_builds_a_missing_lesson_image_once(monkeypatch):
    """A lesson that needs an earlier lesson's image builds it only when this machine lacks it."""
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(image_repo=f"ensuretest-{uuid.uuid4().hex[:8]}"))
    tag = f"{config.IMAGE_REPO}:final-debug"
    try:
        assert ensure("final-debug") == tag
        assert "/busybox" in str(engine.get_image(tag).attrs["Config"]["Env"])  # final's debug stage
        builds = sum(entry["tag"] == tag for entry in ledger())
        assert builds == 1
        assert ensure("final-debug") == tag
        assert sum(entry["tag"] == tag for entry in ledger()) == builds  # there already: not built again
    finally:
        try:
            engine.client().images.remove(tag)
        except docker.errors.ImageNotFound:
            pass


@pytest.mark.docker
def test_the_int8_image_builds_by_its_name():
    """`python -m workshop build onnx-int8` builds onnx.Dockerfile with QUANTIZE=int8 (no stage of
    that name exists): the image classifies, and its weights are int8, a quarter of onnx's float32."""
    repo = f"int8test-{uuid.uuid4().hex[:8]}"
    tags = [f"{repo}:onnx", f"{repo}:onnx-int8"]
    try:
        done = run_workshop("build", "onnx", "onnx-int8", WORKSHOP_IMAGE_REPO=repo)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert done.stdout.count("'label'") >= 2, done.stdout[-2000:]
        weights = [int(run.run_container(tag, ["-c", "import os; print(os.path.getsize('/opt/model/model.onnx.data'))"],
                                         entrypoint=["python"]).stdout) for tag in tags]
        assert 0.2 < weights[1] / weights[0] < 0.3, weights
    finally:
        for tag in tags:
            try:
                engine.client().images.remove(tag)
            except docker.errors.ImageNotFound:
                pass


@pytest.mark.docker
def test_disk_use_grows_by_a_new_image_layer(tmp_path):
    """Docker's disk use, read from the engine, grows by at least the bytes of a new 2 MB layer."""
    tag = f"housekeeping-disk-{uuid.uuid4().hex[:12]}:tiny"
    before = housekeeping.disk_use()
    try:
        tiny_image(tmp_path, tag, megabytes=2)
        after = housekeeping.disk_use()
    finally:
        engine.client().images.remove(tag, force=True)
    assert after.images - before.images >= 2 * 10**6
    assert after.total == after.images + after.build_cache + after.containers


@pytest.mark.docker
def test_clean_removes_the_repositorys_images_and_containers_and_keeps_the_bases():
    """clean removes every tag of the image repository and the workshop's containers of them,
    keeps the base images, and reports the bytes it gave back."""
    repo = f"cleantest-{uuid.uuid4().hex[:12]}"
    client = engine.client()
    # Committed, not built: a layer the build cache does not hold, so removing the image frees it.
    writer = client.containers.run("debian:bookworm-slim", ["sh", "-c", "head -c 1000000 /dev/urandom > /blob"],
                                   detach=True)
    writer.wait()
    writer.commit(repo, "one").tag(repo, "two")  # two tags of the same image
    writer.remove()
    container = client.containers.create(f"{repo}:one", ["true"], labels={run.LABEL: "1"})
    try:
        done = run_workshop("clean", "--keep-build-cache", WORKSHOP_IMAGE_REPO=repo)
        assert done.returncode == 0, done.stdout + done.stderr
        assert client.images.list(name=repo) == []
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(container.id)
        for base in ("python:3.11-bookworm", "python:3.11-slim-bookworm", "debian:bookworm-slim"):
            client.images.get(base)
        line = done.stdout.strip().splitlines()[-1]
        match = re.fullmatch(rf"clean: removed 1 containers, 2 tags of {repo}; Docker's disk use shrank "
                             r"by (\S+ \w?B) \(now \S+ \w?B\); the build cache stays, with the layers it built", line)
        assert match, line
        assert parse_size(match[1]) > 0
    finally:
        run.cleanup(f"{repo}:one")
        for image in client.images.list(name=repo):
            client.images.remove(image.id, force=True)


def test_clean_refuses_a_base_images_repository():
    """WORKSHOP_IMAGE_REPO=python would take python:3.11-bookworm with it: clean exits 1 and says why."""
    done = run_workshop("clean", "--keep-build-cache", WORKSHOP_IMAGE_REPO="python")
    assert done.returncode == 1
    assert "error: WORKSHOP_IMAGE_REPO=python would remove the base images" in done.stderr


def test_clean_stops_the_current_engine_and_deletes_its_data(tmp_path, monkeypatch):
    """`clean_current_engine` runs workshop/current-engine.sh clean where this machine has its
    data: the engine's process ends (a stand-in process here, under the engine's pid file), its
    data root goes, the unpacked packages stay; where there is no data, it does nothing."""
    base, rundir = tmp_path / "engine", tmp_path / "run"
    for folder in (base / "data" / "containerd", base / "root", rundir):
        folder.mkdir(parents=True)
    # Not a child of this process (as dockerd is not): once killed, it is gone, not a zombie.
    pid = int(subprocess.run(["bash", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"],
                             capture_output=True, text=True, check=True).stdout)
    (rundir / "dockerd.pid").write_text(str(pid))
    monkeypatch.setenv("WORKSHOP_ENGINE_DIR", str(base))
    monkeypatch.setenv("WORKSHOP_ENGINE_RUN", str(rundir))
    monkeypatch.setenv("WORKSHOP_ENGINE_BRIDGE", "wstest0")  # no such bridge: the real engine's stays
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(engine_dir=base))
    try:
        said = housekeeping.clean_current_engine()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert not (base / "data").exists() and (base / "root").is_dir()
        assert "deleted its images" in said
        assert housekeeping.clean_current_engine() is None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
