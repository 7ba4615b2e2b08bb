"""Run images from a notebook: a batch job that returns its output, or a server for a `with` block.

Every container started here carries the label `workshop=1` and is removed when its job ends,
even when the cell is interrupted; `cleanup()` removes what a crashed kernel left behind.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import docker.errors
import requests
from docker.models.containers import Container

from workshop import config, engine

log = logging.getLogger(__name__)

#: Label on every container the workshop starts, so `cleanup()` finds exactly those.
LABEL = "workshop"
#: The port the app listens on inside the image (its PORT default).
APP_PORT = 8080
#: How `serve` starts the app (from WORKDIR /srv); the images' own CMD is the batch run.
SERVER_COMMAND = ["python", "app/server.py"]
#: How many log lines a `RunFailed` message shows.
TAIL_LINES = 15
#: Seconds between two GET /health while a server starts. Start times (`measure.first_answer`)
#: are read through this loop, so a figure can be late by up to one interval: with 0.5 s, the
#: final image's starts read 0.73 to 0.81 s where 0.64 to 0.73 s was right (2026-12-01).
POLL_SECONDS = 0.02


class RunFailed(RuntimeError):
    """A container exited with an error or did not do its job in time."""

    def __init__(self, message: str, *, exit_code: int | None, tail: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.tail = tail


@dataclass(frozen=True)
class Finished:
    """A container that ran to its end."""

    exit_code: int
    stdout: str
    stderr: str
    oom_killed: bool


def model_options() -> dict[str, Any]:
    """`containers.run` arguments for the model: in offline mode, the local model mounted read-only.

    Without `WORKSHOP_MODEL_DIR` this is empty and the app downloads its model from the hub.
    """
    if config.MODEL_DIR is None:
        return {}
    return {
        "volumes": {str(config.MODEL_DIR): {"bind": config.CONTAINER_MODEL_DIR, "mode": "ro"}},
        "environment": {"MODEL_ID": config.CONTAINER_MODEL_DIR, "HF_HUB_OFFLINE": "1"},
    }


def run_batch(image: str, command: str | list[str] | None = None, *, env: dict[str, str] | None = None,
              network_mode: str | None = None, entrypoint: str | list[str] | None = None,
              timeout: float = 600) -> str:
    """Run `image` (its default command, or `command`) to the end and return what it printed on stdout.

    `entrypoint` replaces the image's ENTRYPOINT (the final image's is `python3 main.py`).

    Its stderr (warnings, progress bars) goes to this module's logger at DEBUG level; when the
    container fails, `RunFailed` shows the last lines of both.
    """
    options = _with_model(image, env)
    if entrypoint is not None:
        options["entrypoint"] = entrypoint
    done = run_container(image, command, timeout=timeout, network_mode=network_mode, **options)
    if done.exit_code != 0:
        why = "was killed: out of memory (give Docker more memory)" if done.oom_killed else \
            f"exited with code {done.exit_code}"
        tail = last_lines(done.stdout + done.stderr)
        raise RunFailed(f"{image} {why}. Its last lines:\n{tail}", exit_code=done.exit_code, tail=tail)
    if done.stderr:
        log.debug("%s wrote on stderr:\n%s", image, done.stderr)
    return done.stdout


def run_container(image: str, command: str | list[str] | None = None, *, timeout: float = 600,
                  **create_kwargs: Any) -> Finished:
    """Run a labelled container to its end, remove it, and return its exit code and output.

    The lower-level helper behind `run_batch` (no model options, no error on a non-zero exit).
    """
    container = _create(image, command, **create_kwargs)
    try:
        container.start()
        try:
            status = container.wait(timeout=timeout)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            tail = last_lines(_logs(container))
            raise RunFailed(f"{image} did not finish within {timeout:g} s. Its last lines:\n{tail}",
                            exit_code=None, tail=tail) from None
        container.reload()
        return Finished(
            exit_code=status["StatusCode"],
            stdout=container.logs(stdout=True, stderr=False).decode(errors="replace"),
            stderr=container.logs(stdout=False, stderr=True).decode(errors="replace"),
            oom_killed=container.attrs["State"].get("OOMKilled", False),
        )
    finally:
        _remove(container)


@dataclass(frozen=True)
class Server:
    """A running server container, reachable at `url` on the loopback interface."""

    url: str
    container: Container

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=kwargs.pop("timeout", 60), **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=kwargs.pop("timeout", 60), **kwargs)

    def classify(self, text: str) -> list[dict[str, Any]]:
        """The app's answer for `text`: a list of {"label": ..., "score": ...}."""
        response = self.post("/classify", json={"text": text})
        response.raise_for_status()
        return response.json()["result"]

    def logs(self) -> str:
        """Everything the server has written so far (stdout and stderr)."""
        return _logs(self.container)


@contextmanager
def serve(image: str, *, command: str | list[str] | None = None, env: dict[str, str] | None = None,
          port: int | None = None, timeout: float = 300, model: bool = True, **run_kwargs: Any) -> Iterator[Server]:
    """Start the app's server in `image` and yield a `Server` once GET /health answers 200.

    `command` defaults to `SERVER_COMMAND`. The app's port 8080 is published on 127.0.0.1 (on
    `port`, or a free one Docker picks). `model=False` is for an image that is not the BERT
    app: no model mounted or named. The container is stopped and removed when the block ends,
    however it ends.
    """
    options = _with_model(image, env) if model else {"environment": env or {}}
    options["volumes"] = {**options.get("volumes", {}), **run_kwargs.pop("volumes", {})}
    # Loopback only: the server is for this notebook, not for the network.
    ports = {f"{APP_PORT}/tcp": ("127.0.0.1", port)}
    container = _create(image, command or SERVER_COMMAND, ports=ports, **options, **run_kwargs)
    try:
        container.start()
        container.reload()
        host_port = container.attrs["NetworkSettings"]["Ports"][f"{APP_PORT}/tcp"][0]["HostPort"]
        server = Server(f"http://127.0.0.1:{host_port}", container)
        _wait_until_healthy(image, server, timeout)
        log.info("%s is serving at %s", image, server.url)
        yield server
    finally:
        _remove(container)


def cleanup(image: str | None = None, *, names: tuple[str, ...] = ()) -> int:
    """Remove workshop containers left behind (by a crashed kernel, say); return how many.

    With `image`, only the containers started from it. `names`: containers a lesson has the
    learner start by hand (`docker run --name ...`), removed too, so the lesson runs again.
    """
    filters: dict[str, Any] = {"label": LABEL}
    if image:
        filters["ancestor"] = image
    leftovers = engine.client().containers.list(all=True, filters=filters)
    for name in names:  # the engine's name filter matches substrings: anchored here
        leftovers += engine.client().containers.list(all=True, filters={"name": f"^/?{name}$"})
    for container in leftovers:
        log.info("removing leftover container %s (%s)", container.name, container.attrs["Config"]["Image"])
        _remove(container)
    return len(leftovers)


@contextmanager
def created(image: str) -> Iterator[Container]:
    """A container of `image` that is created but never started, to read the image's files."""
    # The engine refuses to create a container without a command; this one never runs.
    container = _create(image, entrypoint=["/never-started"], network_disabled=True, show=False)
    try:
        yield container
    finally:
        _remove(container)


def _with_model(image: str, env: dict[str, str] | None) -> dict[str, Any]:
    """Model options merged with the caller's environment (the caller's values win).

    An image that names its own model (ENV MODEL_ID, as the baked-model chapters set) runs as
    built: nothing is mounted over it, offline or not.
    """
    options = {} if "MODEL_ID" in engine.image_env(image) else model_options()
    options["environment"] = {**options.get("environment", {}), **(env or {})}
    return options


def _create(image: str, command: str | list[str] | None = None, *, show: bool = True, **kwargs: Any) -> Container:
    engine.get_image(image)  # a clear ImageMissing instead of the SDK's attempt to pull
    labels = {**kwargs.pop("labels", {}), LABEL: "1"}
    if show:
        # The SDK talks to the engine itself; this is the same container as a command to type.
        log.info("$ %s", shlex.join(_shown(docker_run_command(image, command, labels=labels, **kwargs))))
    return engine.client().containers.create(image, command, labels=labels, **kwargs)


def _shown(args: list[str]) -> list[str]:
    """The command as printed: an inline script (`python -c "..."` of many lines) cut to its start."""
    return [arg if len(arg) <= 100 and "\n" not in arg else arg.strip().splitlines()[0][:60] + " ..." for arg in args]


#: docker-py's `containers.create` options that map to one `docker run` flag each.
#: Lesson 09's hardened run of the final image, the same limits as dockerfiles/final.k8s.yaml:
#: a read-only root, no capabilities, no gaining privileges (setuid), bounded processes, memory
#: and CPU (one, as measured in lesson 10). The kernel counts threads as processes: gunicorn's 96
#: (app/gunicorn.conf.py) must fit, or a burst of clients kills the worker ("can't start new thread").
HARDENED = {"read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "pids_limit": 128,
            "mem_limit": "768m", "nano_cpus": 1_000_000_000}

_FLAGS = {"network_mode": "--network", "cpuset_cpus": "--cpuset-cpus", "mem_limit": "--memory", "user": "--user",
          "working_dir": "--workdir", "pids_limit": "--pids-limit", "name": "--name"}


def docker_run_command(image: str, command: str | list[str] | None = None, **kwargs: Any) -> list[str]:  # noqa: C901 (below)
    """The `docker run` command that starts the container `containers.create(image, command,
    **kwargs)` describes, with --rm because the workshop removes every container it starts.
    Servers (`ports` set) run detached (-d). An option with no flag here raises ValueError: the
    printed command must never leave out what the container gets."""
    # One branch per kind of option whose flag takes more than one value (lists, mappings,
    # booleans): that is its complexity. Options with one flag each are the table _FLAGS.
    args = ["docker", "run", "--rm"]
    if kwargs.get("ports"):
        args.append("-d")
    entrypoint = kwargs.pop("entrypoint", None)
    if isinstance(command, str):
        command = shlex.split(command)
    if isinstance(entrypoint, list):  # the CLI takes one executable; the rest precedes the command
        entrypoint, command = entrypoint[0], [*entrypoint[1:], *(command or [])]
    for key, value in kwargs.items():
        if value is None or value is False or value == {}:
            continue
        if key in _FLAGS:
            args += [_FLAGS[key], str(value)]
        elif key == "network_disabled":
            args += ["--network", "none"]
        elif key == "nano_cpus":
            args += ["--cpus", f"{value / 1e9:g}"]
        elif key in ("cap_drop", "cap_add", "security_opt"):
            args += [arg for item in value for arg in (f"--{key.replace('_', '-')}", item)]
        elif key == "read_only":
            args.append("--read-only")
        elif key == "labels":
            args += [part for name, label in value.items() for part in ("--label", f"{name}={label}")]
        elif key == "environment":
            args += [part for name, val in value.items() for part in ("-e", f"{name}={val}")]
        elif key == "volumes":
            args += [part for src, spec in value.items() for part in ("-v", f"{src}:{spec['bind']}:{spec.get('mode', 'rw')}")]
        elif key == "tmpfs":
            args += [part for path, opts in value.items() for part in ("--tmpfs", f"{path}:{opts}" if opts else path)]
        elif key == "ports":
            for inside, (host, port) in value.items():
                args += ["-p", f"{host}:{port or ''}:{inside.removesuffix('/tcp')}"]
        else:
            raise ValueError(f"no docker run flag known for the option {key}={value!r}")
    if entrypoint:
        args += ["--entrypoint", entrypoint]
    return [*args, image, *(command or [])]


def _wait_until_healthy(image: str, server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    checked = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() - checked > 0.5:  # the engine, less often than the server
            checked = time.monotonic()
            server.container.reload()
        if server.container.status in ("exited", "dead"):
            tail = last_lines(server.logs())
            code = server.container.attrs["State"]["ExitCode"]
            raise RunFailed(f"{image} stopped (exit code {code}) before answering GET /health. "
                            f"Its last lines:\n{tail}", exit_code=code, tail=tail)
        try:
            if server.get("/health", timeout=5).status_code == 200:
                return
        except requests.exceptions.RequestException:
            pass  # not listening yet (the model may still be loading)
        time.sleep(POLL_SECONDS)
    tail = last_lines(server.logs())
    raise RunFailed(f"{image} did not answer GET /health with 200 within {timeout:g} s. "
                    f"Its last lines:\n{tail}", exit_code=None, tail=tail)


def _logs(container: Container) -> str:
    return container.logs().decode(errors="replace")


def last_lines(text: str) -> str:
    """The last TAIL_LINES lines of a log: what an error message quotes."""
    return "\n".join(text.rstrip().splitlines()[-TAIL_LINES:])


def _remove(container: Container) -> None:
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass  # already gone
