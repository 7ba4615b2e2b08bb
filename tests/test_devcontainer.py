"""The dev container (.devcontainer/), as GitHub Codespaces or VS Code would open it.

`devcontainer up` (the devcontainer CLI, `npm install -g @devcontainers/cli`) builds the image
and starts the container on a clean copy of this repository; inside it, the test waits for the
inner Docker engine, runs the setup check, and checks one exercise's reference solution (a build
and its checks on the inner engine). Then it removes the container, the inner engine's volume and
the image, whatever happened.

Slow and heavy, so it runs only when asked: it needs the `docker` mark's engine, the
devcontainer CLI, and WORKSHOP_SLOW=1. It builds the image from nothing each time (3 to 5 minutes
here on 2026-12-07, about 4 GB of disk while it runs: a 2.8 GB image, which installs the
workshop's whole environment with torch, and 1 GB in the inner engine). The normal test run
(`.ci/run`, already over an hour) skips it; run it with

    WORKSHOP_SLOW=1 python -m pytest tests/test_devcontainer.py -s

`-s` shows the figures it measures (README's dev container section quotes them); with
WORKSHOP_DEVCONTAINER_REPORT=FILE they are also written to FILE as JSON.

On this machine (no registry access) the settings workshop/setup.sh recorded apply: the local torch
index and `--network=host` for the image's build, the local model mounted into the container, and
the stand-in base images fed to the inner engine. On a learner's machine the same configuration
downloads all of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from workshop import config
from workshop.setup_check import base_images

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(os.environ.get("WORKSHOP_SLOW") != "1",
                       reason="slow (3 to 5 minutes, about 4 GB of disk): set WORKSHOP_SLOW=1 to run it"),
]

CLI = shutil.which("devcontainer")
#: The host's docker client for the CLI and for our own commands. A newer client without the buildx
#: plugin cannot build; the one workshop/setup.sh recorded (WORKSHOP_DOCKER) can.
DOCKER = shutil.which(config.DOCKER_CLI) or "docker"
#: Where the test container sees the local model (offline mode).
MODEL_MOUNT = "/models/local-model"
#: The lightest exercise that builds an image with no torch in it: a C extension compiled on
#: python:3.11-slim-bookworm (one base of 155 MB; apt and pip downloads of a few MB).
EXERCISE = "03-fix-slim"


def _run(*cmd: str, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)


def _clean_copy(dest: Path) -> Path:
    """The repository's files as a fresh clone has them plus the uncommitted ones (git's tracked and
    untracked files, not the ignored: no .workshop.env of this machine, no build outputs)."""
    listed = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", timeout=60,
                  cwd=config.REPO_ROOT)
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.split("\0")):
        source = config.REPO_ROOT / name
        if not source.exists() and not source.is_symlink():  # deleted in the work tree, not yet in git
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / name, follow_symlinks=False)
    return dest


def _test_config(workspace: Path, model_dir: Path) -> Path:
    """devcontainer.json with this machine's settings, for `devcontainer up --override-config`: the
    committed file stays what a learner's Codespace needs."""
    text = (workspace / ".devcontainer" / "devcontainer.json").read_text()
    settings = json.loads("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//")))
    build = settings["build"]
    if index := os.environ.get("WORKSHOP_TORCH_INDEX_URL"):
        build.setdefault("args", {})["TORCH_INDEX_URL"] = index  # the local stand-in of PyTorch's CPU index
    if config.BUILD_NETWORK:
        build.setdefault("options", []).append(f"--network={config.BUILD_NETWORK}")  # where that index listens
    if not _privileged_works():
        # This host's engine cannot grant every capability (ours lacks CAP_SYS_RESOURCE, and runc then
        # refuses any --privileged container): every other one, no seccomp or AppArmor profile, and
        # /proc's masked paths open, which is what dockerd inside needs; start-docker.sh remounts the
        # read-only cgroup hierarchies that a non-privileged container gets.
        settings["runArgs"] = [arg for arg in settings.get("runArgs", []) if arg != "--privileged"] + [
            "--cap-add=ALL", "--cap-drop=SYS_RESOURCE", "--security-opt=seccomp=unconfined",
            "--security-opt=apparmor=unconfined", "--security-opt=systempaths=unconfined"]
    if config.offline():
        # No Hub here: the local model, read-only, as workshop/setup.sh --offline records it on a host.
        settings["mounts"].append({"source": str(model_dir), "target": MODEL_MOUNT, "type": "bind"})
        settings.setdefault("containerEnv", {}).update(WORKSHOP_MODEL_DIR=MODEL_MOUNT, HF_HUB_OFFLINE="1")
    path = workspace / ".devcontainer" / "devcontainer.test.json"
    path.write_text(json.dumps(settings, indent=2))
    return path


def _privileged_works() -> bool:
    """Whether this host's engine starts a --privileged container (a base image it has, or assume so)."""
    present = [image for image in base_images() if _run(DOCKER, "image", "inspect", image, timeout=60).returncode == 0]
    if not present:
        return True
    probe = _run(DOCKER, "run", "--rm", "--privileged", "--entrypoint", "true", present[-1], timeout=120)
    return "unable to apply caps" not in probe.stderr


def _exec(container: str, *cmd: str, timeout: float, stdin=None, workdir: str | None = None) -> subprocess.CompletedProcess:
    """A command in the dev container, at the workspace's root (or `workdir`), as its terminal runs it."""
    # `docker exec` rather than `devcontainer exec`: the same container and user (root), and a
    # binary stdin (docker load's image archive) passes through unchanged.
    return subprocess.run([DOCKER, "exec", "-i", "-w", workdir or _workdir(container), container, *cmd], stdin=stdin,
                          capture_output=True, timeout=timeout, check=False, text=stdin is None)


def _jupyter_answers(container: str, seconds: float = 90) -> str:
    """Start JupyterLab as README tells a learner to (`python -m workshop learner`) and return its
    /api answer on the container's port 8888, the one devcontainer.json forwards."""
    started = subprocess.run([DOCKER, "exec", "-d", "-w", _workdir(container), container, "bash", "-c",
                              "python -m workshop learner >/tmp/jupyter.log 2>&1"], timeout=60, check=False)
    assert started.returncode == 0
    deadline = time.monotonic() + seconds
    while True:
        answer = _exec(container, "curl", "-sf", "http://127.0.0.1:8888/api", timeout=30)
        if answer.returncode == 0:
            return answer.stdout
        if time.monotonic() > deadline:
            log = _exec(container, "tail", "-n", "20", "/tmp/jupyter.log", timeout=30).stdout
            pytest.fail(f"JupyterLab did not answer on port 8888 within {seconds:.0f} s:\n{log}")
        time.sleep(1)


def _workdir(container: str) -> str:
    mounts = json.loads(_run(DOCKER, "inspect", "-f", "{{json .Mounts}}", container, timeout=60).stdout)
    return next(m["Destination"] for m in mounts if m["Destination"].startswith("/workspaces/"))


def _wait_for_inner_engine(container: str, seconds: float = 90) -> str:
    """The inner engine's storage driver, once `docker info` answers inside (postStartCommand waits
    for it already: this is the proof, with a deadline instead of a fixed sleep)."""
    deadline = time.monotonic() + seconds
    while True:
        info = _exec(container, "docker", "info", "-f", "{{.Driver}}", timeout=60)
        if info.returncode == 0:
            return info.stdout.strip()
        if time.monotonic() > deadline:
            log = _exec(container, "tail", "-n", "20", "/var/log/dockerd.log", timeout=60).stdout
            pytest.fail(f"the inner dockerd did not answer within {seconds:.0f} s: {info.stderr}\n{log}")
        time.sleep(1)


def _feed_base_images(container: str) -> None:
    """The bases the workshop's Dockerfiles start FROM, from the host's engine to the inner one. The
    inner engine cannot pull here (no registry is reachable); on a learner's machine it pulls them from
    Docker Hub the first time a lesson builds."""
    for image in base_images():
        with subprocess.Popen([DOCKER, "save", image], stdout=subprocess.PIPE) as save:
            loaded = _exec(container, "docker", "load", "-q", timeout=600, stdin=save.stdout)
            save.stdout.close()
        assert save.returncode == 0 and loaded.returncode == 0, f"docker save {image} | docker load: {loaded.stderr!r}"


def _teardown(workspace: Path, container: str | None, image: str | None) -> list[str]:
    """Remove what this test made: the container, the inner engine's volume, the image. What failed."""
    failures = []
    if container is None:  # `up` failed before it said: the container the CLI labels with this workspace
        found = _run(DOCKER, "ps", "-aq", "--filter", f"label=devcontainer.local_folder={workspace}", timeout=60)
        container = found.stdout.split()[0] if found.stdout.split() else None
    volumes = []
    if container:
        inspected = _run(DOCKER, "inspect", "-f", "{{json .Mounts}} {{.Config.Image}}", container, timeout=60)
        if inspected.returncode == 0:
            mounts, _, image = inspected.stdout.strip().partition(" ")
            volumes = [m["Name"] for m in json.loads(mounts) if m["Type"] == "volume"]
        done = _run(DOCKER, "rm", "-f", "-v", container, timeout=120)
        failures += [done.stderr] if done.returncode else []
    for volume in volumes:
        done = _run(DOCKER, "volume", "rm", volume, timeout=300)
        failures += [done.stderr] if done.returncode else []
    if image and image.startswith("vsc-"):  # the CLI's name for the image it built; never a base image
        # With the classic builder (the 20.10 client without buildx) this also removes the build's
        # intermediate images: no build cache stays behind.
        done = _run(DOCKER, "rmi", image, timeout=300)
        failures += [done.stderr] if done.returncode else []
    return failures


@pytest.mark.skipif(CLI is None, reason="needs the devcontainer CLI: npm install -g @devcontainers/cli")
def test_devcontainer_up_runs_the_setup_check_and_an_exercise(tmp_path, model_dir):
    started = time.monotonic()
    workspace = _clean_copy(tmp_path / "clean-ai-containers")
    override = _test_config(workspace, model_dir)
    container = image = None
    figures: dict[str, object] = {}
    try:
        # The classic builder (DOCKER_BUILDKIT=0, for a client without buildx) keeps no build cache
        # apart from the image's own parents, which the teardown's `docker rmi` removes with it.
        up = _run(CLI, "up", "--workspace-folder", str(workspace), "--override-config", str(override),
                  "--docker-path", DOCKER, "--log-level", "debug", timeout=3600, env={**os.environ, "DOCKER_BUILDKIT": "0"})
        figures["up_seconds"] = round(time.monotonic() - started, 1)
        if named := re.search(r" -t (vsc-\S+)", up.stdout + up.stderr):
            image = named[1]
        outcome = next((json.loads(line) for line in reversed(up.stdout.splitlines()) if line.startswith('{"outcome"')), {})
        container = outcome.get("containerId")
        assert up.returncode == 0 and outcome.get("outcome") == "success", f"devcontainer up failed:\n{up.stderr[-3000:]}"

        # overlay2 on the volume: on the container's own overlay filesystem dockerd would fall back
        # to vfs, a full copy of every layer.
        assert _wait_for_inner_engine(container) == "overlay2"
        _feed_base_images(container)

        # postCreateCommand installed the workshop package and the app's C extension in place:
        # importable from any folder, as Jupyter's kernels need.
        installed = _exec(container, "python", "-c", "import workshop, wordcount; print(workshop.__file__)",
                          timeout=60, workdir="/")
        assert installed.returncode == 0 and "/workspaces/" in installed.stdout, installed.stderr
        assert '"version"' in _jupyter_answers(container)

        check = _exec(container, "python", "-m", "workshop", "setup-check", timeout=600)
        print(f"\n{check.stdout}")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "Ready for the workshop" in check.stdout
        for line in ("[OK] docker (Python SDK): engine", "[OK] docker (CLI)", "[OK] C compiler", "[OK] torch"):
            assert line in check.stdout, f"no {line!r} line in:\n{check.stdout}"

        before = time.monotonic()
        solved = _exec(container, "python", "-m", "workshop", "check", EXERCISE, "--solution", timeout=1200)
        figures["exercise_seconds"] = round(time.monotonic() - before, 1)
        assert solved.returncode == 0, solved.stdout + solved.stderr
        assert f"[OK] {EXERCISE} (solution) passes its check" in solved.stdout

        image = _run(DOCKER, "inspect", "-f", "{{.Config.Image}}", container, timeout=60).stdout.strip() or image
        figures["image"] = image
        figures["image_bytes"] = int(_run(DOCKER, "image", "inspect", "-f", "{{.Size}}", image, timeout=60).stdout)
        inner = _exec(container, "du", "-sxb", "/var/lib/docker", timeout=300)
        figures["inner_engine_bytes"] = int(inner.stdout.split()[0])
    finally:
        failures = _teardown(workspace, container, image)
        figures["total_seconds"] = round(time.monotonic() - started, 1)
        print(f"\ndev container figures: {json.dumps(figures)}")
        if report := os.environ.get("WORKSHOP_DEVCONTAINER_REPORT"):
            Path(report).write_text(json.dumps(figures, indent=2) + "\n")
    assert not failures, f"teardown left something behind: {failures}"
