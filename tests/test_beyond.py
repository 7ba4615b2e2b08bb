"""Lessons 05 to 07's images: pip's cache mount, the model baked in, the production image, on the real engine.

Offline (CI), the builds take torch from the local index and the model from the model image
that workshop/offline.sh prepares; build() passes them as build args.
"""

from __future__ import annotations

import time

import pytest

from workshop import config, measure
from workshop.build import build, build_args_for
from workshop.engine import get_image
from workshop.run import run_batch, run_container, serve

pytestmark = pytest.mark.docker

CACHE, BAKED, PROD = (f"{config.IMAGE_REPO}:{name}" for name in ("cache", "baked", "production"))
CST = config.REPO_ROOT / "dockerfiles" / "production.cst.yaml"


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """The three images, built once for the module (from the cache after lesson 07 or setup)."""
    for name, tag in (("cache", CACHE), ("baked", BAKED), ("production", PROD)):
        build(name, tag, quiet=True)
    return {"cache": CACHE, "baked": BAKED, "production": PROD}


def test_build_args_for_passes_only_the_offline_args_a_dockerfile_declares(tmp_path, monkeypatch):
    """A stand-in reaches a Dockerfile only through an ARG it declares; explicit args win."""
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(
        package_cache=None, local_torch_index="http://127.0.0.1:1/simple", model_image="model:local", model_dir=None))
    assert config.BUILD_ARGS == {"TORCH_INDEX_URL": "http://127.0.0.1:1/simple", "MODEL_SOURCE": "model:local"}
    path = tmp_path / "Dockerfile"
    path.write_text("FROM scratch\narg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu\n")
    assert build_args_for(path) == {"TORCH_INDEX_URL": "http://127.0.0.1:1/simple"}
    assert build_args_for(path, {"TORCH_INDEX_URL": "x", "OTHER": "y"}) == {"TORCH_INDEX_URL": "x", "OTHER": "y"}
    bare = tmp_path / "bare.Dockerfile"
    bare.write_text("FROM scratch\n")
    assert build_args_for(bare) == {}


def test_cache_mount_keeps_pip_cache_out_of_the_image(images):
    """The cache image holds what multistage holds, within 1 MB: pip's downloads stayed in the mount."""
    multistage = get_image(build("multistage", f"{config.IMAGE_REPO}:multistage", quiet=True).tag).attrs["Size"]
    assert abs(get_image(images["cache"]).attrs["Size"] - multistage) < 10**6


def test_only_the_baked_image_classifies_with_no_network_and_nothing_mounted(images):
    """With --network none and no model folder, the baked image classifies; the cache image cannot
    find the model (HF_HUB_OFFLINE=1 spares the hub client's 25 s of retries; lesson 06 shows them)."""
    baked = run_container(images["baked"], network_mode="none")
    cache = run_container(images["cache"], network_mode="none", environment={"HF_HUB_OFFLINE": "1"})
    assert (baked.exit_code, "'label': 'POSITIVE'" in baked.stdout) == (0, True), baked.stderr[-2000:]
    assert cache.exit_code != 0 and "couldn't find them in the cached files" in cache.stderr, cache.stderr[-2000:]


def test_baked_image_holds_the_model_files_and_points_the_app_at_them(images):
    """/opt/model has the config, weights and tokenizer; MODEL_ID names that folder."""
    files = run_batch(images["baked"], ["ls", "/opt/model"]).split()
    env = get_image(images["baked"]).attrs["Config"]["Env"]
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(files)
    assert "MODEL_ID=/opt/model" in env and "HF_HUB_OFFLINE=1" in env


def test_production_image_passes_its_structure_test(images):
    """container-structure-test passes every check of dockerfiles/production.cst.yaml."""
    report = measure.structure_test(images["production"], CST)
    assert len(report) >= 6 and report["passed"].all(), report.to_string()


def test_structure_test_fails_an_image_that_runs_as_root(images):
    """The same checks fail the baked image (root, pip in the venv): the checks can fail."""
    report = measure.structure_test(images["baked"], CST)
    failed = set(report.loc[~report["passed"], "test"])
    assert any("non-root" in name for name in failed), report.to_string()
    assert any("no pip" in name for name in failed), report.to_string()


def test_production_serves_read_only_as_non_root_and_reports_healthy(images):
    """gunicorn with --read-only and a tmpfs /tmp answers /classify as UID 10001; Docker's HEALTHCHECK says healthy."""
    with serve(images["production"], command=["gunicorn"], read_only=True, tmpfs={"/tmp": "size=64m"}) as server:
        answer = server.classify("A wonderful, moving film.")
        user = server.container.exec_run(["id", "-u"]).output.decode().strip()
        server_header = server.get("/health").headers.get("Server", "")
        deadline, health = time.monotonic() + 90, "starting"
        while health == "starting" and time.monotonic() < deadline:
            time.sleep(1)
            server.container.reload()
            health = server.container.attrs["State"]["Health"]["Status"]
    assert (answer[0]["label"], user, health) == ("POSITIVE", "10001", "healthy")
    assert server_header.startswith("gunicorn")


def test_production_default_command_is_the_batch_run(images):
    """With no command, the production image prints the tutorial's batch output and exits 0."""
    done = run_container(images["production"], network_mode="none", read_only=True, tmpfs={"/tmp": ""})
    assert done.exit_code == 0, done.stderr[-2000:]
    assert done.stdout.startswith("--- Classification Result ---\n[{'label': 'POSITIVE', 'score': 0.9")
