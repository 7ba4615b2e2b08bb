"""rebuild.rebuild_after_edit and the pip cache mount: a copy of the context honouring
.dockerignore, what pip says it downloaded, Dockerfiles without their cache mounts, and real
rebuilds on the Docker engine."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from workshop import config, rebuild
from workshop.build import build
from workshop.engine import ImageMissing, client, disk_usage, get_image

# Lines of a real BuildKit plain log (`docker build --progress=plain`) of cache.Dockerfile's install,
# pip 23.0.1 as the Debian stand-ins ship it: the local index names files by URL, PyPI by file
# name; progress bars are lines of their own. The metadata line is pip 24's (PEP 658), skipped.
PIP_LOG = """\
#10 4.726 Collecting torch==2.13.0
#10 4.732   Downloading http://127.0.0.1:8765/simple/torch/torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl (191.8 MB)
#10 5.990      ━━━━━━━━━━ 191.8/191.8 MB 305.2 MB/s eta 0:00:00
#10 6.050   Downloading transformers-5.24.0-py3-none-any.whl (13.5 MB)
#10 6.101   Downloading transformers-5.24.0-py3-none-any.whl.metadata (43 kB)
#10 6.343   Using cached flask-3.1.3-py3-none-any.whl (103 kB)
#10 6.444   Using cached http://127.0.0.1:8765/simple/torch/torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl (191.8 MB)
"""


def test_pip_files_tells_downloads_from_cache_hits_and_skips_metadata():
    files = rebuild.pip_files(PIP_LOG)
    torch = "torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    assert files.to_dict("records") == [
        {"file": torch, "downloaded": True, "bytes": 191_800_000},
        {"file": "transformers-5.24.0-py3-none-any.whl", "downloaded": True, "bytes": 13_500_000},
        {"file": "flask-3.1.3-py3-none-any.whl", "downloaded": False, "bytes": 103_000},
        {"file": torch, "downloaded": False, "bytes": 191_800_000},
    ]


def test_pip_files_of_a_build_without_pip_is_empty():
    assert rebuild.pip_files("#5 [2/3] COPY app/ app/\n#5 DONE 0.0s\n").empty


@pytest.mark.parametrize("path", sorted(p for p in (config.REPO_ROOT / "dockerfiles").glob("*.Dockerfile")
                                        if "--mount=type=cache" in p.read_text()), ids=lambda p: p.stem)
def test_without_cache_mounts_keeps_every_run_command(path: Path):
    """Only the mount option goes: each RUN keeps its command, and no other line changes."""
    text = path.read_text()
    stripped = rebuild.without_cache_mounts(text)
    assert "--mount=type=cache" not in stripped
    commands = re.findall(r"RUN --mount=type=cache,\S+\s+\\\n\s*(.*)", text)
    assert commands and all(f"RUN {command}" in stripped for command in commands)
    assert stripped.count("\nRUN ") == text.count("\nRUN ")
    assert [line for line in stripped.splitlines() if not line.startswith("RUN ")] == \
        [line for line in re.sub(r"RUN --mount=type=cache,\S+\s+\\\n\s*", "RUN ", text).splitlines()
         if not line.startswith("RUN ")]


def test_copy_context_honours_dockerignore(tmp_path):
    """The copy leaves out what .dockerignore excludes, at the root or (with **/) at any depth."""
    root = tmp_path / "repo"
    for path in ("app/predictor.py", "app/__pycache__/x.pyc", "app/build/lib.so", "results/journey.json",
                 "notebooks/results/keep.txt", ".git/HEAD", "README.md", "app/stray.pyc", "app/keep.pyx"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x")
    (root / ".dockerignore").write_text("# comment\n.git\n**/__pycache__\n**/build\nresults\n**/*.py[cod]\n")
    copied = rebuild.copy_context(tmp_path / "copy", root)
    found = sorted(p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file())
    assert found == [".dockerignore", "README.md", "app/keep.pyx", "app/predictor.py", "notebooks/results/keep.txt"]


def test_copy_context_keeps_what_an_exception_names(tmp_path):
    """`!` lines bring back what an earlier line excluded, inside an excluded folder too, as Docker does."""
    root = tmp_path / "repo"
    for path in ("build/keep.txt", "build/drop.txt", "docs/a.md", "docs/b.md"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x")
    (root / ".dockerignore").write_text("build\n!build/keep.txt\ndocs/*.md\n!docs/b.md\n")
    copied = rebuild.copy_context(tmp_path / "copy", root)
    found = sorted(p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file())
    assert found == [".dockerignore", "build/keep.txt", "docs/b.md"]


@pytest.fixture()
def small_repo(tmp_path: Path) -> Path:
    """A repository whose Dockerfile installs from requirements.txt first and copies the app last.
    Its RUN writes a file named after a fresh uuid, so its cache records are this test's own."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "requirements.txt").write_text("# nothing to install\n")
    (tmp_path / "app" / "main.py").write_text("print('hello')\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\n"
        "COPY app/requirements.txt /srv/\n"
        f"RUN cp /srv/requirements.txt /srv/installed-{uuid.uuid4().hex}.txt\n"
        "COPY app/ /srv/app/\n"
    )
    return tmp_path


def _temporary_tags() -> list[str]:
    return [t for image in client().images.list(name=config.IMAGE_REPO) for t in image.tags if ":edited-" in t]


@pytest.mark.docker
def test_rebuild_after_an_app_edit_runs_only_the_app_copy(small_repo: Path):
    change = rebuild.rebuild_after_edit(small_repo / "Dockerfile", edit="app/main.py", root=small_repo)
    assert change.before is not None
    assert [step.split("] ", 1)[1] for step in change.steps_run] == ["COPY app/ /srv/app/"]
    assert (small_repo / "app" / "main.py").read_text() == "print('hello')\n"  # only the copy was edited
    assert not _temporary_tags()


@pytest.mark.docker
def test_rebuild_after_a_requirements_edit_runs_the_install_and_gives_its_cache_back(small_repo: Path):
    marker = re.search(r"installed-(\w+)\.txt", (small_repo / "Dockerfile").read_text())[1]
    change = rebuild.rebuild_after_edit(small_repo / "Dockerfile", edit="app/requirements.txt", root=small_repo,
                                        build_first=False)
    assert change.before is None
    assert any(f"installed-{marker}" in step for step in change.steps_run)
    assert change.cache_given_back > 0
    left = [r for r in disk_usage().get("BuildCache") or [] if marker in (r.get("Description") or "")]
    assert not left, left
    assert not _temporary_tags()


@pytest.mark.docker
def test_a_build_stopped_at_a_log_line_stops_at_once_and_keeps_nothing(tmp_path: Path):
    """build(stop_at=...) cancels the build as Ctrl-C would: no image, no cache record, and the
    step's process is gone (it would otherwise sleep for a minute)."""
    marker = uuid.uuid4().hex
    (tmp_path / "Dockerfile").write_text(
        f"FROM debian:bookworm-slim\nRUN echo started-{marker} && sleep 60 && echo finished-{marker}\n")
    tag = f"{config.IMAGE_REPO}:stopped-{marker[:12]}"
    began = time.monotonic()
    result = build(tmp_path / "Dockerfile", tag, context=tmp_path, quiet=True, stop_at=f"^started-{marker}$")
    assert time.monotonic() - began < 30
    assert result.stopped and result.stopped_at == f"started-{marker}"
    assert (result.image_id, result.size_bytes) == ("", 0)
    assert any(f"started-{marker}" in step for step in rebuild.steps_run(result))
    with pytest.raises(ImageMissing):
        get_image(tag)
    time.sleep(2)  # the engine tears the step's container down right after the client leaves
    assert subprocess.run(["pgrep", "-f", f"finished-{marker}"], capture_output=True, check=False).returncode == 1
    left = [r for r in disk_usage().get("BuildCache") or [] if marker in (r.get("Description") or "")]
    assert not left, left
