"""The three classic Dockerfiles: lint, build, and what their images do and contain.

The builds download several GB on a cold cache (PyPI's CUDA torch), so every test that touches
the engine is marked `docker`; each image is built once per session and then taken from cache.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import docker
import pytest
import requests

from workshop import config
from workshop.build import build_args_for

DOCKERFILES = ["naive", "slim-no-compiler", "slim", "slim-split-clean", "multistage", "cache", "baked", "production", "onnx", "final"]
IMAGES = ["naive", "slim", "multistage"]
#: The hadolint rules each file breaks on purpose (what its ignore pragmas hide).
DELIBERATE_BREAKS = {
    "naive": {"DL3008", "DL3009", "DL3015"},
    "slim-no-compiler": {"DL3008", "DL3009", "DL3015"},
    "slim": {"DL3008", "DL3009", "DL3015"},
    "slim-split-clean": {"DL3008", "DL3009"},
    "multistage": set(),
    "cache": set(),
    "baked": set(),
    "production": set(),
    "onnx": {"SC2046"},
    "final": {"SC2046"},
}
#: A bound on waiting for the server's model to load; not a speed claim.
SERVER_START_LIMIT_S = 300
COMPILERS = ["gcc", "cc", "g++", "c++", "clang"]


def _docker_build(name: str, *, tag: str | None = None, target: str | None = None):
    """`docker build` of dockerfiles/<name>.Dockerfile from the repo root, output captured."""
    command = [config.DOCKER_CLI, "build", "--progress=plain", "--network=host"]
    command += ["-f", str(config.dockerfile(name))]
    for arg, value in build_args_for(config.dockerfile(name)).items():  # offline: local torch index, model image
        command += ["--build-arg", f"{arg}={value}"]
    if tag:
        command += ["-t", tag]
    if target:
        command += ["--target", target]
    return subprocess.run(
        [*command, "."],
        cwd=config.REPO_ROOT,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="session")
def client() -> docker.DockerClient:
    return docker.from_env()


@pytest.fixture(scope="session")
def build():
    """build(name, target=None) -> tag: builds an image once per session, fails the test if it breaks."""
    built: dict[tuple[str, str | None], str] = {}

    def _build(name: str, target: str | None = None) -> str:
        key = (name, target)
        if key not in built:
            tag = f"{config.IMAGE_REPO}:{name}" + (f"-{target}" if target else "")
            result = _docker_build(name, tag=tag, target=target)
            if result.returncode != 0:
                pytest.fail(f"building {tag} failed:\n" + "\n".join(result.stderr.splitlines()[-30:]))
            built[key] = tag
        return built[key]

    return _build


@pytest.fixture(scope="session")
def model_run_kwargs(model_dir: Path) -> dict:
    """Docker SDK run() arguments that give a container the local model, read-only and offline."""
    return {
        "volumes": {str(model_dir): {"bind": config.CONTAINER_MODEL_DIR, "mode": "ro"}},
        "environment": {"MODEL_ID": config.CONTAINER_MODEL_DIR, "HF_HUB_OFFLINE": "1"},
    }


def _has_command(client: docker.DockerClient, image: str, command: str) -> bool:
    """True when `command -v <command>` succeeds in a fresh container of `image`."""
    try:
        client.containers.run(image, ["sh", "-c", f"command -v {command}"], remove=True)
    except docker.errors.ContainerError:
        return False
    return True


def _path_exists(client: docker.DockerClient, image: str, path: str) -> bool:
    try:
        client.containers.run(image, ["test", "-e", path], remove=True)
    except docker.errors.ContainerError:
        return False
    return True


def test_hadolint_passes_on_every_dockerfile():
    """`hadolint dockerfiles/*.Dockerfile` exits 0 with the files' inline ignore pragmas."""
    files = sorted(str(path) for path in (config.REPO_ROOT / "dockerfiles").glob("*.Dockerfile"))
    result = subprocess.run(["hadolint", *files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


#: The one Debian release of every base image: the final image's interpreter and venv come from
#: builders and a rootfs that must agree on the C library (glibc 2.36 on bookworm).
RELEASE = "bookworm"


def _every_dockerfile() -> list[Path]:
    root = config.REPO_ROOT
    return sorted([*root.glob("dockerfiles/*.Dockerfile"), *root.glob("exercises/*.Dockerfile"),
                   *root.glob("solutions/*.Dockerfile")])


def test_every_base_image_names_its_debian_release():
    """Each FROM that names an image (not a stage, not scratch) pins Debian's release in its tag:
    `python:3.11` alone follows Docker Hub's default, trixie since 2025, whose glibc 2.41 binaries
    do not load on bookworm's 2.36."""
    unpinned = []
    for path in _every_dockerfile():
        stages = {"scratch"}
        text = path.read_text()
        defaults = dict(re.findall(r"^\s*ARG\s+(\w+)=(\S+)", text, re.M))
        for match in re.finditer(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", text, re.I | re.M):
            image = re.sub(r"\$\{?(\w+)\}?", lambda name, defaults=defaults: defaults.get(name[1], ""), match[1]).lower()
            if image not in stages and RELEASE not in image.split(":", 1)[-1]:
                unpinned.append(f"{path.relative_to(config.REPO_ROOT)}: FROM {match[1]}")
            if match[2]:
                stages.add(match[2].lower())
    assert len(_every_dockerfile()) >= 20
    assert not unpinned, "these FROM lines leave the Debian release to Docker Hub's default tag:\n" + "\n".join(unpinned)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_ignore_pragmas_hide_only_the_documented_breaks(name):
    """Without its pragmas each file breaks exactly the hadolint rules it names as its lesson."""
    path = config.dockerfile(name)
    result = subprocess.run(
        ["hadolint", "--disable-ignore-pragma", "--no-fail", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    broken = {finding["code"] for finding in json.loads(result.stdout)}
    assert broken == DELIBERATE_BREAKS[name]
    header = path.read_text().split("\nFROM ", 1)[0]
    assert all(code in header for code in broken), "the header comment must name every rule it breaks"


@pytest.mark.docker
@pytest.mark.parametrize("name", IMAGES)
def test_default_command_classifies_the_sample_text(name, build, client, model_run_kwargs):
    """The image's default command classifies app/sample_data/sample_text.txt as POSITIVE."""
    output = client.containers.run(build(name), remove=True, **model_run_kwargs).decode()
    assert "--- Classification Result ---" in output
    assert "'label': 'POSITIVE'" in output


@pytest.mark.docker
def test_multistage_runtime_has_no_compiler_but_its_builder_does(build, client):
    """gcc and friends exist in the multi-stage builder stage and in none of the final image."""
    runtime = build("multistage")
    builder = build("multistage", target="builder")
    assert _has_command(client, builder, "gcc")
    assert [c for c in COMPILERS if _has_command(client, runtime, c)] == []


@pytest.mark.docker
def test_multistage_runtime_holds_only_the_app_and_the_venv(build, client):
    """The final image's /srv holds app/ alone, and its python is the venv copied from the builder."""
    image = build("multistage")
    listing = client.containers.run(image, ["ls", "-A", "/srv"], remove=True).decode().split()
    python = client.containers.run(image, ["sh", "-c", "command -v python"], remove=True).decode().strip()
    assert (listing, python) == (["app"], "/opt/venv/bin/python")


@pytest.mark.docker
def test_naive_copies_the_whole_context_except_what_dockerignore_excludes(build, client):
    """naive's `COPY . .` brings tests and the workshop's code along, but never .git, __pycache__,
    or what learners save during the day (notebooks, their learner's edition, exercises)."""
    image = build("naive")
    paths = ["/srv/tests", "/srv/workshop", "/srv/.git", "/srv/notebooks", "/srv/learner", "/srv/exercises"]
    found = {path: _path_exists(client, image, path) for path in paths}
    caches = client.containers.run(
        image, ["find", "/srv", "-name", "__pycache__", "-not", "-path", "*/site-packages/*"], remove=True
    )
    assert (found, caches.decode()) == ({"/srv/tests": True, "/srv/workshop": True, "/srv/.git": False,
                                         "/srv/notebooks": False, "/srv/learner": False, "/srv/exercises": False}, "")


@pytest.mark.docker
@pytest.mark.parametrize("name", IMAGES)
def test_classic_images_carry_cpu_only_torch(name, build):
    """From the first image on, torch is PyTorch's CPU build: torch.version.cuda is None."""
    from workshop import checks

    assert checks.torch_cuda(build(name)) is None


@pytest.mark.docker
def test_each_step_makes_a_smaller_image(build, client):
    """slim is smaller than naive, and multistage smaller than slim."""
    sizes = [client.images.get(build(name)).attrs["Size"] for name in IMAGES]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 3, dict(zip(IMAGES, sizes, strict=True))


@pytest.mark.docker
@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("naive", ["python", "app/server.py"]),
        ("slim", ["python", "app/server.py"]),
        ("multistage", ["python", "app/server.py"]),
        ("multistage", ["gunicorn", "--bind", "0.0.0.0:8080", "--chdir", "app", "server:create_app()"]),
    ],
    ids=["naive-flask", "slim-flask", "multistage-flask", "multistage-gunicorn"],
)
def test_server_classifies_on_a_published_port(name, command, build, client, model_run_kwargs):
    """The server command answers POST /classify through a port published on loopback."""
    container = client.containers.run(
        build(name),
        command,
        detach=True,
        name=f"test-dockerfiles-{name}-{uuid.uuid4().hex[:8]}",
        ports={"8080/tcp": ("127.0.0.1", None)},  # a free host port, chosen by Docker
        **model_run_kwargs,
    )
    try:
        container.reload()
        url = f"http://127.0.0.1:{container.ports['8080/tcp'][0]['HostPort']}"
        _wait_until_healthy(container, url)
        response = requests.post(f"{url}/classify", json={"text": "A wonderful, moving film."}, timeout=60)
        assert response.status_code == 200, response.text
        assert [r["label"] for r in response.json()["result"]] == ["POSITIVE"]
    finally:
        container.remove(force=True)


def _wait_until_healthy(container, url: str) -> None:
    """Poll GET /health until it answers 200; fail with the logs if the container stops first."""
    deadline = time.monotonic() + SERVER_START_LIMIT_S
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            pytest.fail("server exited before answering:\n" + container.logs().decode()[-3000:])
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet
        time.sleep(1)
    logs = container.logs().decode()[-3000:]
    pytest.fail(f"no answer on {url}/health after {SERVER_START_LIMIT_S} s:\n{logs}")
