"""The engine helpers: connecting (and explaining failures), disk space, sizes."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import threading

import docker.errors
import pytest

from workshop import config, engine

pytestmark = pytest.mark.docker


@pytest.mark.parametrize(("nbytes", "text"), [
    (0, "0 B"),
    (999, "999 B"),
    (1000, "1 kB"),
    (12_345, "12.3 kB"),
    (74_812_345, "74.8 MB"),
    (820_000_000, "820 MB"),
    (999_700_000, "1 GB"),
    (1_500_000_000, "1.5 GB"),
    (7_380_000_000, "7.38 GB"),
])
def test_human_writes_decimal_sizes_like_docker(nbytes, text):
    """human() rounds to three significant digits in decimal units, carrying into the next unit."""
    assert engine.human(nbytes) == text


def test_client_is_connected_once_and_reused():
    """client() returns the same connected client on every call."""
    assert engine.client() is engine.client()
    assert engine.client().ping() is True


@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
def test_dead_docker_host_gives_a_message_with_the_fix(monkeypatch):
    """With DOCKER_HOST pointing at a dead socket, connect() says the engine is not running and how to start it."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/nothing.sock")
    with pytest.raises(engine.DockerUnavailable) as caught:
        engine.connect()
    message = str(caught.value)
    assert "DOCKER_HOST=unix:///tmp/nothing.sock: it is not running" in message
    assert "sudo systemctl start docker" in message
    assert "Docker Desktop" in message
    assert "unset DOCKER_HOST" in message
    # docker-py leaves the socket of a failed connection to the garbage collector: collect it
    # here, where its ResourceWarning is expected, rather than in whichever test runs next.
    del caught
    gc.collect()


def _isolation_possible() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def _connect_without_default_socket(tmp_path, context_host: str | None) -> subprocess.CompletedProcess:
    """Run connect() in a private mount namespace where /run (and so /var/run/docker.sock) is empty.

    The real engine stays reachable at tmp_path/engine.sock; when `context_host` is given, the
    docker CLI's current context points there, as Docker Desktop's or colima's does.
    """
    sock = tmp_path / "engine.sock"
    sock.touch()
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env.update(DOCKER_CONFIG=str(tmp_path / "docker-config"), PYTHONPATH=str(config.REPO_ROOT))
    if context_host:
        cli = [config.DOCKER_CLI, "context"]
        subprocess.run([*cli, "create", "h4-elsewhere", "--docker", f"host={context_host}"], env=env, check=True,
                       capture_output=True)
        subprocess.run([*cli, "use", "h4-elsewhere"], env=env, check=True, capture_output=True)
    script = (
        f"mount --bind /run/docker.sock {sock} && mount -t tmpfs tmpfs /run && "
        f"{sys.executable} -c 'import logging; logging.basicConfig(level=logging.INFO); "
        "from workshop import engine; print(engine.connect().ping())'"
    )
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(not _isolation_possible(), reason="needs root and unshare to hide the engine's socket")
def test_connect_falls_back_to_the_cli_context_endpoint(tmp_path):
    """When the SDK's default socket is missing, connect() uses the endpoint of the docker CLI's context."""
    host = f"unix://{tmp_path / 'engine.sock'}"
    done = _connect_without_default_socket(tmp_path, context_host=host)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert f"using the docker CLI's endpoint {host}" in done.stderr


@pytest.mark.skipif(not _isolation_possible(), reason="needs root and unshare to hide the engine's socket")
def test_missing_engine_without_cli_context_explains_docker_host(tmp_path):
    """With no engine on the default socket and no CLI context elsewhere, the message tells how to set DOCKER_HOST."""
    done = _connect_without_default_socket(tmp_path, context_host=None)
    assert done.returncode != 0
    assert "DockerUnavailable: Cannot reach the Docker engine at unix:///var/run/docker.sock: it is not running" \
        in done.stderr
    assert "export DOCKER_HOST=$(docker context inspect" in done.stderr


def test_disk_free_is_measured_on_dockers_data_root():
    """disk_free_bytes() is the free space of the filesystem holding DockerRootDir."""
    root = engine.client().info()["DockerRootDir"]
    before = shutil.disk_usage(root).free
    free = engine.disk_free_bytes()
    after = shutil.disk_usage(root).free
    # Other builds may write meanwhile: allow what they can write in a moment.
    slack = 10**8
    assert min(before, after) - slack <= free <= max(before, after) + slack


def test_disk_usage_asked_from_several_places_at_once_answers_each():
    """Docker 20.10 refuses a disk-usage request while another runs (a notebook's measurement and
    a sampler, or `docker system df` in a terminal, at the same moment); disk_usage waits for it.
    Four threads asking three times each made six of the twelve bare requests fail here."""
    answers, errors = [], []

    def ask() -> None:
        for _ in range(3):
            try:
                answers.append(engine.disk_usage())
            except Exception as error:  # noqa: BLE001  (any failure is what this test reports)
                errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, f"{len(errors)} of 12 disk-usage requests failed: {errors[0]}"
    assert len(answers) == 12 and all("LayersSize" in answer for answer in answers)


def test_disk_usage_passes_on_other_engine_errors(monkeypatch):
    """Only the engine's "already running" is waited out: any other error reaches the caller at once."""
    def refuse():
        raise docker.errors.APIError("500 Server Error: Internal Server Error (\"no space left on device\")")

    monkeypatch.setattr(engine.client(), "df", refuse)
    with pytest.raises(docker.errors.APIError, match="no space left"):
        engine.disk_usage()


@pytest.mark.parametrize("lost", [
    docker.errors.NotFound("404 Client Error: Not Found for url: http+docker://localhost/v1.51/system/df"),
    docker.errors.APIError("500 Server Error for http+docker://localhost/v1.51/system/df: Internal Server Error "
                           "(\"lstat /var/lib/docker/containerd/daemon/io.containerd.snapshotter.v1.overlayfs/"
                           "snapshots/26/fs/usr/local/lib/x.pyc.1396: no such file or directory\")"),
], ids=["404", "500-lstat"])
def test_disk_usage_asks_again_when_the_engine_lost_a_record_meanwhile(monkeypatch, lost):
    """Docker 28's containerd store answers 404 when a snapshot it was counting went away (a build
    stopped a moment before: lesson 04 in CI), or 500 when a file in one did (a running build
    replaced it: CI's disk sampler, 2026-12-07); the next request is answered."""
    real, calls = engine.client().df, []

    def lose_one_then_answer():
        calls.append(1)
        if len(calls) == 1:
            raise lost
        return real()

    monkeypatch.setattr(engine.client(), "df", lose_one_then_answer)
    assert "LayersSize" in engine.disk_usage() and len(calls) == 2


def test_ensure_disk_passes_when_there_is_room():
    """ensure_disk() returns the free bytes when the need fits."""
    assert engine.ensure_disk(1, "A tiny build") > 1


def test_ensure_disk_raises_diskfull_with_numbers_and_fix():
    """ensure_disk() raises DiskFull naming the bytes needed, the bytes free and how to free space."""
    need = engine.disk_free_bytes() + 10**15
    with pytest.raises(engine.DiskFull) as caught:
        engine.ensure_disk(need, "Building bert-classifier:naive")
    message = str(caught.value)
    assert message.startswith(f"Building bert-classifier:naive needs about {engine.human(need)} of free disk, "
                              "but Docker's disk has only ")
    assert "docker system df" in message
    assert "docker builder prune" in message


def test_get_image_of_a_missing_tag_says_build_it_first():
    """get_image() raises ImageMissing (a LookupError) with a hint instead of trying to pull."""
    with pytest.raises(LookupError, match="no image 'workshoptest-h4:never-built' on this Docker engine yet: build"):
        engine.get_image("workshoptest-h4:never-built")


def test_package_names_never_shadow_a_submodule():
    """`from workshop import X` gives the same object whatever was imported before: no exported
    name is also a submodule (`workshop.build` is the module; its `build` is the function)."""
    import pkgutil

    import workshop

    submodules = {module.name for module in pkgutil.iter_modules(workshop.__path__)}
    assert not submodules & set(workshop.__all__) - {"config", "checks", "exercises"}
    for name in set(workshop.__all__) - submodules:
        assert not isinstance(getattr(workshop, name), type(workshop)), name
