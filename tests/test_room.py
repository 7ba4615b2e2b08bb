"""The instructor's plan B (workshop.room): a real distribution registry on loopback, real pushes and pulls."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import pytest
from jsonhttp import free_port

from workshop import config, room
from workshop.build import build
from workshop.engine import client

pytestmark = pytest.mark.skipif(shutil.which(room.REGISTRY_BINARY) is None,
                                reason="Debian's docker-registry is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    started = room.start(tmp_path_factory.mktemp("registry"), host="127.0.0.1", port=free_port())
    yield started
    started.stop()


@pytest.fixture
def lesson_images(tmp_path):
    """REPO:naive and REPO:slim, two small images standing in for lessons 02 and 03's, in a repository of their own."""
    repo = f"workshop-test-room-{uuid.uuid4().hex[:8]}"
    ids = {}
    for name in ("naive", "slim"):
        (tmp_path / "Dockerfile").write_text(f"FROM debian:bookworm-slim\nRUN echo {name} {repo} > /which\n")
        build(tmp_path / "Dockerfile", f"{repo}:{name}", context=tmp_path, quiet=True)
        ids[name] = client().images.get(f"{repo}:{name}").id
    yield repo, ids
    for image in client().images.list(name=repo):
        client().images.remove(image.id, force=True)


def test_images_for_a_lesson_are_its_own_and_the_earlier_lessons():
    assert room.images_for("03") == ["naive", "slim"]
    assert room.images_for("04-multi-stage")[-1] == "multistage"
    assert room.images_for("10") == [name for names in room.LESSONS.values() for name in names]
    with pytest.raises(LookupError, match="lessons 02, 03"):
        room.images_for("01")


@pytest.mark.docker
def test_a_learner_gets_a_lessons_images_back_with_one_pull(registry, lesson_images):
    """Published images come back under the names a local build gives them, with the same IDs,
    and no registry-named alias is left behind."""
    repo, ids = lesson_images
    assert room.publish(["naive", "slim"], registry.address, repo=repo) == [
        f"{registry.address}/{repo}:naive", f"{registry.address}/{repo}:slim"]
    for name in ids:
        client().images.remove(f"{repo}:{name}")
    assert room.pull("03", registry.address, repo=repo) == [f"{repo}:naive", f"{repo}:slim"]
    for name, image_id in ids.items():
        image = client().images.get(f"{repo}:{name}")
        assert image.id == image_id
        assert image.tags == [f"{repo}:{name}"], image.tags


@pytest.mark.docker
def test_pulling_what_was_never_published_says_who_can_fix_it(registry, lesson_images):
    repo, _ = lesson_images
    with pytest.raises(LookupError, match=r"has no .*:naive: ask your instructor to publish it"):
        room.pull("02", registry.address, repo=f"{repo}-unpublished")


@pytest.mark.docker
def test_tarballs_carry_the_images_without_any_network(tmp_path, lesson_images):
    repo, ids = lesson_images
    written = room.save(["naive", "slim"], tmp_path / "usb", repo=repo)
    assert [path.name for path, _ in written] == [f"{repo}-naive.tar", f"{repo}-slim.tar"]
    assert all(size > 1_000_000 for _, size in written)
    for name in ids:
        client().images.remove(f"{repo}:{name}")
    assert sorted(room.load(tmp_path / "usb")) == [f"{repo}:naive", f"{repo}:slim"]
    assert {name: client().images.get(f"{repo}:{name}").id for name in ids} == ids


@pytest.mark.docker
def test_the_learners_command_line_explains_a_failure_in_a_sentence(registry):
    """`python -m workshop pull` against a registry without the images: exit 1, one sentence."""
    repo = f"workshop-test-room-{uuid.uuid4().hex[:8]}"
    done = subprocess.run([sys.executable, "-m", "workshop", "pull", "02", "--registry", registry.address],
                          capture_output=True, text=True, cwd=config.REPO_ROOT,
                          env={**os.environ, "WORKSHOP_IMAGE_REPO": repo}, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().endswith("ask your instructor to publish it (python -m workshop room serve --publish)")


def test_a_registry_on_a_taken_port_says_so(registry, tmp_path):
    port = int(registry.address.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match=f"is port {port} already in use"):
        room.start(tmp_path, host="127.0.0.1", port=port, timeout=10)



@pytest.mark.docker
def test_the_main_job_pulls_a_base_image_the_engine_does_not_list(registry, lesson_images):
    """build.pull_bases pulls what `docker image ls` lacks (BuildKit on the classic store pulls a
    base for itself without listing it), and leaves alone what is there: here a base served by the
    registry on loopback, as Docker Hub serves python:3.11-bookworm."""
    from workshop.build import pull_bases

    repo, ids = lesson_images
    base = f"{registry.address}/{repo}-base:bookworm"
    client().images.get(ids["naive"]).tag(base)
    for line in client().images.push(base, stream=True, decode=True):
        assert "error" not in line, line
    client().images.remove(base)
    try:
        assert pull_bases([base]) == [base]
        assert client().images.get(base).id == ids["naive"]
        assert pull_bases([base]) == []
    finally:
        client().images.remove(base, force=True)
