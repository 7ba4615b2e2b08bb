"""Building images with the log streamed, running them in batch and serving them, on the real engine."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import docker.errors
import pytest
import requests

from workshop import config, engine
from workshop.build import BuildFailed, BuildOutOfSpace, build
from workshop.engine import DiskFull
from workshop.layers import image_size
from workshop.run import LABEL, RunFailed, cleanup, model_options, run_batch, serve

pytestmark = pytest.mark.docker

PREFIX = "workshoptest-h4"

# A tiny stand-in for the app's API, with the standard library only.
HTTP_APP = '''\
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        elif self.path == "/env":
            self.reply(200, {"MODEL_ID": os.environ.get("MODEL_ID"), "GREETING": os.environ.get("GREETING")})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        label = "POSITIVE" if "good" in body["text"] else "NEGATIVE"
        self.reply(200, {"result": [{"label": label, "score": 0.9}]})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


HTTPServer(("0.0.0.0", int(os.environ.get("PORT", 8080))), Handler).serve_forever()
'''


def _dockerfile(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "Dockerfile"
    path.write_text(text)
    return path


def _containers_of(image: str) -> list:
    return engine.client().containers.list(all=True, filters={"ancestor": image})


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Tags of the module's images (removed at the end); tests add theirs with `images.append`."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        try:
            engine.client().images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass


@pytest.fixture(scope="module")
def batch_image(tmp_path_factory, images) -> str:
    """An image whose default command writes one line to stdout and one to stderr."""
    ctx = tmp_path_factory.mktemp("batch")
    path = _dockerfile(ctx, 'FROM python:3.11-slim-bookworm\n'
                            'CMD ["python", "-c", "import sys; print(\'to stdout\'); print(\'to stderr\', file=sys.stderr)"]\n')
    tag = f"{PREFIX}:batch"
    images.append(tag)
    build(path, tag, context=ctx, quiet=True)
    return tag


@pytest.fixture(scope="module")
def http_image(tmp_path_factory, images) -> str:
    """A python:3.11-slim-bookworm image with a stand-in of the app's API where the app's server would be."""
    ctx = tmp_path_factory.mktemp("http")
    (ctx / "server.py").write_text(HTTP_APP)
    path = _dockerfile(ctx, 'FROM python:3.11-slim-bookworm\nWORKDIR /srv\nCOPY server.py app/server.py\n'
                            'CMD ["echo", "the batch run, not the server"]\n')
    tag = f"{PREFIX}:http"
    images.append(tag)
    build(path, tag, context=ctx, quiet=True)
    return tag


# --- build -------------------------------------------------------------------------------------

def test_build_streams_the_log_and_records_steps_then_reports_cache_hits(tmp_path, images, capsys):
    """A first build streams its BuildKit log and lists its steps; the same build again reports them cached."""
    stamp = uuid.uuid4().hex
    path = _dockerfile(tmp_path, f"FROM debian:bookworm-slim\nRUN echo {stamp} > /stamp\nCMD [\"cat\", \"/stamp\"]\n")
    tag = f"{PREFIX}:steps"
    images.append(tag)

    first = build(path, tag, context=tmp_path, no_cache=True)
    streamed = capsys.readouterr().out
    run_step = f"[2/2] RUN echo {stamp} > /stamp"
    assert streamed == first.log
    assert f"{run_step}\n" in streamed
    assert [step.split("] ")[0] + "]" for step in first.steps] == ["[1/2]", "[2/2]"]
    assert first.steps[1] == run_step
    assert run_step not in first.cached_steps
    image = engine.client().images.get(tag)
    assert (first.tag, first.image_id, first.size_bytes) == (tag, image.id, image_size(image))
    assert run_batch(tag) == f"{stamp}\n"

    second = build(path, tag, context=tmp_path, quiet=True)
    assert capsys.readouterr().out == ""
    assert run_step in second.cached_steps
    assert second.image_id == first.image_id


def test_build_lists_steps_in_dockerfile_order_whatever_order_buildkit_ran_them(tmp_path, images):
    """Steps of parallel stages come back stage by stage, as written, on every build."""
    stamp = uuid.uuid4().hex
    # Two independent stages (different bases, or BuildKit would share one FROM step between
    # them): BuildKit runs, and numbers, their steps in whichever order they start.
    path = _dockerfile(tmp_path, f"FROM debian:bookworm-slim AS one\nRUN sleep 1 && echo {stamp} > /one\n"
                                 f"FROM python:3.11-slim-bookworm\nRUN echo {stamp} > /two\n"
                                 "COPY --from=one /one /one\n")
    tag = f"{PREFIX}:order"
    images.append(tag)
    # FROM steps are left out: BuildKit shares them with any concurrent build of the same base,
    # under that build's name for them.
    expected = ["[one 2/2] RUN", "[stage-1 2/3] RUN", "[stage-1 3/3] COPY"]
    for no_cache in (True, False):
        result = build(path, tag, context=tmp_path, no_cache=no_cache, quiet=True)
        assert [" ".join(step.split()[:3]) for step in result.steps if " FROM " not in step] == expected


def test_build_passes_build_args_and_stops_at_the_target_stage(tmp_path, images):
    """build_args reach ARG and target builds only up to the named stage (a later failing stage never runs)."""
    path = _dockerfile(tmp_path, "FROM debian:bookworm-slim AS first\nARG GREETING\n"
                                 "RUN echo \"$GREETING\" > /greeting\n"
                                 "FROM first AS broken\nRUN exit 1\n")
    tag = f"{PREFIX}:target"
    images.append(tag)
    result = build(path, tag, context=tmp_path, build_args={"GREETING": "hello h4"}, target="first", quiet=True)
    assert not any("exit 1" in step for step in result.steps)
    assert run_batch(tag, ["cat", "/greeting"]) == "hello h4\n"


def test_failing_run_raises_buildfailed_with_the_step_and_its_last_lines(tmp_path, images):
    """A RUN that fails gives BuildFailed naming that step and ending with its last 15 output lines."""
    command = "for i in $(seq 1 40); do echo line-$i; done; exit 3"
    path = _dockerfile(tmp_path, f"FROM debian:bookworm-slim\nRUN {command}\n")
    with pytest.raises(BuildFailed) as caught:
        build(path, f"{PREFIX}:broken", context=tmp_path, quiet=True)
    error = caught.value
    assert error.step == f"[2/2] RUN {command}"
    tail = error.tail.splitlines()
    assert len(tail) == 15
    assert "line-40" in tail and "line-26" not in tail
    assert "exit code: 3" in tail[-1]
    assert str(error) == f"Building {PREFIX}:broken failed at step [2/2] RUN {command}:\n{error.tail}"
    assert "line-1\n" in error.log
    assert not isinstance(error, DiskFull)


def test_no_space_left_in_the_log_becomes_a_disk_full_message(tmp_path):
    """A step failing with "No space left on device" raises an error that is both BuildFailed and DiskFull."""
    # /dev/full answers every write with ENOSPC, as a full disk would.
    path = _dockerfile(tmp_path, "FROM debian:bookworm-slim\nRUN dd if=/dev/zero of=/dev/full bs=1k count=1\n")
    with pytest.raises(BuildOutOfSpace) as caught:
        build(path, f"{PREFIX}:full", context=tmp_path, quiet=True)
    error = caught.value
    assert isinstance(error, BuildFailed) and isinstance(error, DiskFull)
    assert str(error).startswith(f"Building {PREFIX}:full ran out of disk space at step "
                                 "[2/2] RUN dd if=/dev/zero of=/dev/full bs=1k count=1 (Docker's disk has ")
    assert "docker builder prune" in str(error)
    assert "No space left on device" in error.tail


def test_unknown_short_name_lists_the_known_dockerfiles():
    """A short name with no dockerfiles/<name>.Dockerfile raises FileNotFoundError listing the short names."""
    with pytest.raises(FileNotFoundError) as caught:
        build("no-such-h4", f"{PREFIX}:nothing", quiet=True)
    known = sorted(p.name.removesuffix(".Dockerfile") for p in (config.REPO_ROOT / "dockerfiles").glob("*.Dockerfile"))
    assert str(caught.value) == (f"No Dockerfile at {config.dockerfile('no-such-h4')} "
                                 f"(short names: {', '.join(known) or 'none yet'}).")


# --- run_batch ---------------------------------------------------------------------------------

def test_run_batch_returns_stdout_only_and_removes_the_container(batch_image):
    """run_batch() returns what the default command printed on stdout (not stderr) and leaves no container."""
    assert run_batch(batch_image) == "to stdout\n"
    assert _containers_of(batch_image) == []


def test_run_batch_runs_the_given_command_with_env(batch_image):
    """run_batch() runs the given command with the given environment variables."""
    assert run_batch(batch_image, ["sh", "-c", "echo $GREETING"], env={"GREETING": "hi"}) == "hi\n"


def test_run_batch_raises_runfailed_with_exit_code_and_last_lines(batch_image):
    """A non-zero exit raises RunFailed with the exit code and the output's last lines, and the container is removed."""
    with pytest.raises(RunFailed) as caught:
        run_batch(batch_image, ["sh", "-c", "echo working; echo broken >&2; exit 3"])
    assert caught.value.exit_code == 3
    assert str(caught.value) == f"{batch_image} exited with code 3. Its last lines:\nworking\nbroken"
    assert _containers_of(batch_image) == []


def test_run_batch_stops_a_container_that_outlives_its_timeout(batch_image):
    """A command still running at the timeout raises RunFailed saying so, and the container is removed."""
    with pytest.raises(RunFailed, match=r"did not finish within 2 s\. Its last lines:\nstarted"):
        run_batch(batch_image, ["sh", "-c", "echo started; sleep 120"], timeout=2)
    assert _containers_of(batch_image) == []


def test_run_batch_of_a_missing_image_says_build_it_first():
    """run_batch() of an image that does not exist raises a LookupError instead of trying to pull it."""
    with pytest.raises(LookupError, match="build it first"):
        run_batch(f"{PREFIX}:never-built")


def test_offline_mode_mounts_the_model_read_only(batch_image):
    """With WORKSHOP_MODEL_DIR set, containers see the model at /models/local, read-only, with MODEL_ID pointing there."""
    if config.MODEL_DIR is None:
        pytest.skip("offline mode is off (WORKSHOP_MODEL_DIR unset)")
    script = "echo $MODEL_ID $HF_HUB_OFFLINE; test -f /models/local/config.json && echo has-config; " \
             "touch /models/local/x 2>/dev/null || echo read-only"
    assert run_batch(batch_image, ["sh", "-c", script]) == "/models/local 1\nhas-config\nread-only\n"


def test_online_mode_adds_no_model_options(monkeypatch):
    """Without a local model folder, model_options() is empty and images download their model themselves."""
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(model_dir=None))
    assert model_options() == {}


# --- serve -------------------------------------------------------------------------------------

def test_serve_answers_http_on_loopback_then_removes_the_container(http_image):
    """serve() starts python app/server.py, yields a Server answering its routes on loopback, then removes it."""
    with serve(http_image, env={"GREETING": "hi"}) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.get("/health").json() == {"status": "ok"}
        assert server.classify("a good film") == [{"label": "POSITIVE", "score": 0.9}]
        assert server.classify("a dull film") == [{"label": "NEGATIVE", "score": 0.9}]
        assert server.post("/classify", json={"text": "good"}).status_code == 200
        assert server.get("/missing").status_code == 404
        assert server.get("/env").json()["GREETING"] == "hi"
        assert '"GET /missing HTTP/1.1" 404' in server.logs()
        assert server.container.labels[LABEL] == "1"
        container = server.container
    with pytest.raises(docker.errors.NotFound):
        container.reload()


def test_serve_uses_the_requested_port(http_image):
    """serve(port=N) publishes the app on 127.0.0.1:N."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with serve(http_image, port=port) as server:
        assert server.url == f"http://127.0.0.1:{port}"
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200


def test_serve_removes_the_container_when_the_block_is_interrupted(http_image):
    """A KeyboardInterrupt inside the with block propagates and the container is removed anyway."""
    with pytest.raises(KeyboardInterrupt):
        with serve(http_image) as server:
            container = server.container
            raise KeyboardInterrupt
    with pytest.raises(docker.errors.NotFound):
        container.reload()
    assert _containers_of(http_image) == []


def test_serve_fails_fast_with_the_log_when_the_server_exits(http_image):
    """A server that exits before /health answers raises RunFailed with its exit code and last lines."""
    with pytest.raises(RunFailed) as caught:
        with serve(http_image, command=["python", "-c", "import sys; sys.exit('model not found')"]):
            pytest.fail("serve() yielded a server that never answered")
    assert caught.value.exit_code == 1
    assert str(caught.value) == (f"{http_image} stopped (exit code 1) before answering GET /health. "
                                 "Its last lines:\nmodel not found")
    assert _containers_of(http_image) == []


def test_serve_gives_up_when_health_never_answers(http_image):
    """A server that never answers /health with 200 raises RunFailed after the timeout and is removed."""
    with pytest.raises(RunFailed, match=r"did not answer GET /health with 200 within 3 s\. Its last lines:\nwarming up"):
        with serve(http_image, command=["sh", "-c", "echo warming up; sleep 120"], timeout=3):
            pytest.fail("serve() yielded a server that never answered")
    assert _containers_of(http_image) == []


def test_cleanup_removes_leftover_workshop_containers(http_image):
    """cleanup() removes workshop-labelled containers a crashed kernel left, and only those."""
    client = engine.client()
    leftover = client.containers.run(http_image, detach=True, labels={LABEL: "1"})
    unrelated = client.containers.create(http_image)
    try:
        assert cleanup(http_image) == 1
        with pytest.raises(docker.errors.NotFound):
            leftover.reload()
        unrelated.reload()
    finally:
        for container in (leftover, unrelated):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass


def test_cleanup_removes_the_containers_a_lesson_names_and_no_other(http_image):
    """cleanup(names=...) removes a container the learner started by name (no workshop label), so the
    lesson's `docker run --name` works again; a container whose name only contains it stays."""
    client = engine.client()
    name = f"lesson-api-{uuid.uuid4().hex[:8]}"
    mine = client.containers.create(http_image, name=name)
    other = client.containers.create(http_image, name=f"{name}-other")
    try:
        assert cleanup(names=(name,)) == 1
        with pytest.raises(docker.errors.NotFound):
            mine.reload()
        other.reload()
    finally:
        for container in (mine, other):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass


def test_the_build_command_builds_two_at_a_time_and_prints_one_row_each():
    """`python -m workshop build NAME... --jobs 2` (setup's main job): every image built, run and
    listed once, in the order asked, whatever order the builds finish in."""
    names = ["final", "final-debug"]
    done = subprocess.run([sys.executable, "-m", "workshop", "build", *names, "--jobs", "2"], cwd=config.REPO_ROOT,
                          capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith(config.IMAGE_REPO)]
    assert [row.split()[0] for row in rows] == [f"{config.IMAGE_REPO}:{name}" for name in names]
    assert all("'label': 'POSITIVE'" in row for row in rows), done.stdout
    assert "#1 [internal]" not in done.stdout + done.stderr  # no BuildKit log with two builds at once


# --- the commands the helpers print --------------------------------------------------------------

def test_build_prints_the_command_it_runs_and_that_command_builds_the_same_image(tmp_path, images, caplog):
    """The "$ docker build ..." line a build logs, typed in a terminal at the repository's root,
    builds the same image (every step from the cache). `docker` there is the client the workshop
    builds with, as in a notebook's `!docker` cell (workshop.notebook puts it first on PATH; on a
    laptop it is the `docker` already there)."""

    stamp = uuid.uuid4().hex
    path = _dockerfile(tmp_path, f"FROM debian:bookworm-slim\nARG GREETING\nRUN echo $GREETING {stamp} > /stamp\n")
    tag = f"{PREFIX}:printed"
    images.append(tag)
    with caplog.at_level(logging.INFO, logger="workshop.build"):
        result = build(path, tag, context=tmp_path, build_args={"GREETING": "hello there"}, quiet=True)
    printed = [line for record in caplog.records for line in record.getMessage().splitlines() if line.startswith("$ ")]
    assert len(printed) == 1 and "--build-arg 'GREETING=hello there'" in printed[0]
    engine.client().images.remove(tag)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "docker").symlink_to(shutil.which(config.DOCKER_CLI))
    done = subprocess.run(shlex.split(printed[0][2:]), cwd=config.REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, "DOCKER_BUILDKIT": "1", "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert engine.client().images.get(tag).id == result.image_id


def test_the_printed_docker_run_starts_the_same_container_as_the_sdk(tmp_path):
    """docker_run_command's flags mean what docker-py's options mean: both containers print the same."""

    from workshop.run import docker_run_command, run_container

    (tmp_path / "note.txt").write_text("mounted read-only\n")
    tmp_path.chmod(0o755)  # readable by the container's user 65534 (pytest makes it 0700)
    (tmp_path / "note.txt").chmod(0o644)
    script = ("echo $GREETING; cat /data/note.txt; id -u; "
              "touch /x 2>/dev/null || echo read-only root; touch /scratch/y && echo tmpfs writable; "
              "(getent hosts example.org >/dev/null && echo network) || echo no network; "
              "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max; "
              "grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status | tr -s '\\t' ' '")
    options = {"environment": {"GREETING": "hello there"}, "read_only": True, "tmpfs": {"/scratch": "size=1m"},
               "volumes": {str(tmp_path): {"bind": "/data", "mode": "ro"}}, "user": "65534",
               "network_mode": "none", "entrypoint": ["sh", "-c"], "nano_cpus": 500_000_000,
               "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"]}
    sdk = run_container("debian:bookworm-slim", [script], **options)
    command = docker_run_command("debian:bookworm-slim", [script], **options)
    cli = subprocess.run([config.DOCKER_CLI, *command[1:]], capture_output=True, text=True, timeout=120, check=False)
    assert cli.returncode == sdk.exit_code == 0, cli.stderr
    assert cli.stdout == sdk.stdout == ("hello there\nmounted read-only\n65534\nread-only root\ntmpfs writable\n"
                                        "no network\n50000\n"  # --cpus 0.5: 50 ms of each 100 ms
                                        "CapBnd: 0000000000000000\nNoNewPrivs: 1\n")
    assert shlex.join(command).startswith("docker run --rm ")
    with pytest.raises(ValueError, match="privileged"):
        docker_run_command("debian:bookworm-slim", privileged=True)


def test_a_notebook_works_like_a_terminal_at_the_repository_root(tmp_path):
    """After setup(), shell cells run in the repository's folder, with the docker client the
    workshop builds with first on PATH and BuildKit on."""

    probe = ("from workshop.notebook import setup; setup(); import os, shutil; "
             "print(os.getcwd()); print(os.path.realpath(shutil.which('docker'))); print(os.environ['DOCKER_BUILDKIT'])")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    cwd, docker, buildkit = done.stdout.split()
    assert Path(cwd) == config.REPO_ROOT
    assert docker == os.path.realpath(shutil.which(config.DOCKER_CLI))
    assert buildkit == "1"
