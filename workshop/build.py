"""`docker build` from a notebook: the log streamed live, the steps and cache hits counted.

We shell out to the docker CLI because the Docker SDK's build speaks the legacy builder, and the
workshop teaches BuildKit (what `docker build` uses today).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from workshop import config, engine, images
from workshop.engine import FREE_SPACE_HINT, DiskFull, DockerUnavailable, human

log = logging.getLogger(__name__)

#: Free disk below which a build is refused up front: room for the layers, pip's downloads and
#: the build cache of the workshop's bigger images. Smaller builds rarely get near it.
MIN_FREE_BYTES = 3 * 10**9

#: How many log lines of the failing step a `BuildFailed` message shows.
TAIL_LINES = 15

# BuildKit's plain progress: every line starts with "#<vertex number> ".
_STEP = re.compile(r"^#(\d+) (\[[^\]]*\d+/\d+\] .*)$")  # "#7 [stage-1 2/3] RUN pip install ..."
_CACHED = re.compile(r"^#(\d+) CACHED$")
_RUNNING = re.compile(r"^#(\d+) (\d+\.\d+) (.*)$")  # a step's own output, with its seconds: it runs
_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_OUTPUT = re.compile(r"^#(\d+) (?:\d+\.\d+ )?(.*)$")  # "#7 12.3 Collecting torch" (time is optional)
_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE | re.MULTILINE)
_NO_SPACE = re.compile(r"no space left on device", re.IGNORECASE)


@dataclass(frozen=True)
class BuildResult:
    """What one build produced and how it went."""

    tag: str
    seconds: float
    log: str = field(repr=False)
    #: Build steps in the order BuildKit started them, named as in the log ("[2/5] RUN ...").
    steps: list[str]
    #: The steps BuildKit took from its cache instead of running them.
    cached_steps: list[str]
    image_id: str
    #: The image's size (workshop.layers.image_size) when the build knew it: the classic image
    #: store says it at once; on the containerd store it takes a read of the layers, made only
    #: when `size_bytes` is first asked for (None until then).
    known_size: int | None
    #: The log line at which the build was stopped on purpose (`build(stop_at=...)`): then no
    #: image was written, and `image_id` is "" and `size_bytes` 0.
    stopped_at: str | None = None

    @functools.cached_property
    def size_bytes(self) -> int:
        """The image's size as every figure of the workshop counts it (workshop.layers.image_size)."""
        if self.known_size is not None:
            return self.known_size
        from workshop.layers import image_size

        return image_size(self.image_id)

    @property
    def stopped(self) -> bool:
        return self.stopped_at is not None


class BuildFailed(RuntimeError):
    """A build failed; the message names the failing step and ends with its last log lines."""

    def __init__(self, message: str, *, step: str | None, tail: str, log: str) -> None:
        super().__init__(message)
        self.step = step
        self.tail = tail
        self.log = log


class BuildOutOfSpace(BuildFailed, DiskFull):
    """A build failed because Docker's disk filled up (catch it as either parent)."""


def build(
    dockerfile: str | Path,
    tag: str,
    *,
    context: str | Path = config.REPO_ROOT,
    build_args: dict[str, str] | None = None,
    target: str | None = None,
    no_cache: bool = False,
    quiet: bool = False,
    stop_at: str | None = None,
) -> BuildResult:
    """Build `dockerfile` as `tag`, printing BuildKit's log line by line unless `quiet`.

    `dockerfile` is a short name ("naive" means dockerfiles/naive.Dockerfile) or a path (any
    str with a "/" or a ".", or a Path). `stop_at` is a regular expression: the build is stopped
    (as Ctrl-C would) at the first line a step prints that it matches, and the result says so
    (`stopped_at`; no image). Use it to see *that* a step runs again without waiting minutes for
    it to finish.
    """
    path = dockerfile_path(dockerfile)
    engine.ensure_disk(MIN_FREE_BYTES, f"Building {tag}")
    # Run from the repository's folder with the paths relative to it: the command we print is the
    # one to type in a terminal there.
    cmd = [config.DOCKER_CLI, "build", "--progress=plain", *build_network(), "-f", _from_repo(path)]
    for name, value in build_args_for(path, build_args).items():
        cmd += ["--build-arg", f"{name}={value}"]
    if target:
        cmd += ["--target", target]
    if no_cache:
        cmd.append("--no-cache")
    cmd += ["-t", tag, _from_repo(Path(context))]

    # Shown as `docker ...` whichever client builds: the line a learner types (a notebook's `!docker`
    # runs the same client, workshop.notebook puts it first on PATH).
    log.info("building %s, from the repository's root:\n$ %s", tag, shlex.join(["docker", *cmd[1:]]))
    start = time.monotonic()
    returncode, lines, stopped_at = _stream(cmd, quiet, re.compile(stop_at) if stop_at else None)
    seconds = time.monotonic() - start
    text = "".join(lines)
    steps, cached, failed = _parse(lines)
    # BuildKit numbers vertices as they start, and independent steps start in any order: sort
    # them as they stand in the Dockerfile so that the same build always lists the same way.
    order = _step_order(path)
    step_names = sorted(steps.values(), key=order)
    cached_names = sorted((steps[n] for n in cached if n in steps), key=order)
    if stopped_at is not None:
        log.info("stopped building %s after %.1f s, at: %s", tag, seconds, textwrap.shorten(stopped_at, 80))
        return BuildResult(tag, seconds, text, step_names, cached_names, "", 0, stopped_at)
    if returncode != 0:
        raise _failure(tag, text, lines, steps, failed)
    image = engine.get_image(tag)
    from workshop.layers import known_image_size  # layers needs pandas: imported only once an image exists

    result = BuildResult(tag, seconds, text, step_names, cached_names, image.id, known_image_size(image))
    # The size where the engine says it at once (the classic store); a read would double a rebuild's time.
    size = f": {human(result.known_size)}" if result.known_size is not None else ""
    log.info("built %s in %.1f s%s, %d steps, %d cached", tag, seconds, size, len(result.steps), len(result.cached_steps))
    _record(result, path, target, no_cache)
    return result


def build_named(name: str, *, quiet: bool = False) -> BuildResult:
    """Build bert-classifier:NAME from its Dockerfile, stage and build arguments (images.source)."""
    dockerfile, target, build_args = images.source(name)
    return build(dockerfile, images.tag(name), target=target, build_args=build_args or None, quiet=quiet)


def pull_bases(names: list[str] | None = None) -> list[str]:
    """Pull the base images our Dockerfiles start FROM that this engine does not list yet; return them.

    BuildKit on the classic image store pulls a build's base image for itself and does not list it
    among the engine's images (moby/moby#39229), so the lessons' `docker image ls python`, layer
    tables and size comparisons would not find it: the setup's main job pulls them as images first.
    Offline rooms have them already (workshop/offline.sh).
    """
    from workshop.setup_check import base_images

    pulled = []
    for image in names if names is not None else base_images():
        try:
            engine.get_image(image)
            continue
        except engine.ImageMissing:
            pass
        log.info("$ docker pull %s", image)
        engine.client().images.pull(image)  # the SDK splits NAME:TAG itself, a registry's port included
        pulled.append(image)
    return pulled


def ensure(name: str) -> str:
    """The tag of bert-classifier:NAME, an earlier lesson's image, built first if this machine
    lacks it (a skipped lesson; minutes on a cold cache). The lessons' own builds are typed."""
    tag = images.tag(name)
    try:
        engine.get_image(tag)
    except engine.ImageMissing:
        log.info("%s is not built on this machine: building it first", tag)
        build_named(name, quiet=True)
    return tag


def is_cold(result: BuildResult) -> bool:
    """Whether BuildKit ran every step itself: no step but FROM came from its cache, and it ran
    at least one RUN (a build whose result BuildKit had whole reports a few steps, none cached)."""
    ran = [step for step in result.steps if step not in result.cached_steps]
    return (not [step for step in result.cached_steps if " FROM " not in f" {step}"]
            and any(" RUN " in f" {step}" for step in ran))


def _record(result: BuildResult, dockerfile: Path, target: str | None, no_cache: bool) -> None:
    """Append the build to config.build_ledger(); a ledger that cannot be written costs a warning only."""
    entry = {
        "tag": result.tag, "dockerfile": dockerfile.name, "target": target, "seconds": round(result.seconds, 3),
        "steps": len(result.steps), "cached_steps": len(result.cached_steps), "cold": is_cold(result),
        "no_cache": no_cache, "image_id": result.image_id, "size_bytes": result.known_size,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = config.build_ledger()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as ledger:
            ledger.write(json.dumps(entry) + "\n")
    except OSError as error:
        log.warning("could not record the build in %s: %s", path, error)


def ledger(path: str | Path | None = None) -> list[dict]:
    """Every build recorded in the ledger (config.build_ledger()), oldest first; unreadable lines skipped."""
    path = Path(path) if path else config.build_ledger()
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    return entries


def build_network() -> list[str]:
    """The --network option of every build (config.BUILD_NETWORK), or none."""
    return [f"--network={config.BUILD_NETWORK}"] if config.BUILD_NETWORK else []


def build_args_for(dockerfile: Path, build_args: dict[str, str] | None = None) -> dict[str, str]:
    """`build_args` plus the download settings (config.BUILD_ARGS) that `dockerfile` declares."""
    declared = set(_ARG.findall(dockerfile.read_text()))
    return {**{k: v for k, v in config.BUILD_ARGS.items() if k in declared}, **(build_args or {})}


_STEP_NUMBER = re.compile(r"^\[(?:(\S+) )?(\d+)/\d+\]")  # "[builder 2/6] RUN ..." or "[3/5] COPY ..."
_FROM = re.compile(r"^\s*FROM\s+\S+(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE)


def _step_order(dockerfile: Path):
    """Sort key for step names: stage by its place in `dockerfile`, then the step's number."""
    # BuildKit calls a stage by its AS name, an unnamed one "stage-N" (N counts every FROM).
    stages = [(name or f"stage-{i}").lower() for i, name in enumerate(_FROM.findall(dockerfile.read_text()))]

    def key(step: str) -> tuple[int, int]:
        m = _STEP_NUMBER.match(step)
        if m is None:  # _parse keeps only lines like "#7 [stage-1 2/3] RUN ...": it has a step number
            raise ValueError(f"not a BuildKit step name (no [N/M] number): {step!r}")
        stage = (m[1] or "").lower()
        return (stages.index(stage) if stage in stages else 0), int(m[2])

    return key


def _from_repo(path: Path) -> str:
    """`path` relative to the repository's folder ("." for the folder itself), or absolute outside it."""
    path = path.resolve()
    return str(path.relative_to(config.REPO_ROOT)) if path.is_relative_to(config.REPO_ROOT) else str(path)


def dockerfile_path(dockerfile: str | Path) -> Path:
    """The Dockerfile a short name ("naive": dockerfiles/naive.Dockerfile) or a path stands for."""
    if isinstance(dockerfile, str) and not re.search(r"[/.]", dockerfile):
        path = config.dockerfile(dockerfile)
    else:
        path = Path(dockerfile)
    if not path.is_file():
        known = ", ".join(sorted(p.name.removesuffix(".Dockerfile")
                                 for p in (config.REPO_ROOT / "dockerfiles").glob("*.Dockerfile")))
        raise FileNotFoundError(f"No Dockerfile at {path} (short names: {known or 'none yet'}).")
    return path


def _stream(cmd: list[str], quiet: bool, stop: re.Pattern[str] | None = None) -> tuple[int, list[str], str | None]:
    """Run `cmd` with BuildKit, echoing each line of its log as it arrives; return code, lines, and
    the step output line that matched `stop` (the build was interrupted there), if one did."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    lines = []
    # BuildKit writes its progress to stderr; one pipe keeps the order.
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", bufsize=1, env=env, cwd=config.REPO_ROOT)
    except FileNotFoundError:
        raise DockerUnavailable(
            f"The docker command ({cmd[0]}) is not installed or not on PATH: install Docker, or set "
            "WORKSHOP_DOCKER to the docker client's full path."
        ) from None
    stopped_at = None
    assert proc.stdout is not None  # stdout=subprocess.PIPE
    with proc:
        try:
            for line in proc.stdout:
                lines.append(line)
                if not quiet:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                if stop and stopped_at is None and (m := _RUNNING.match(line)) and stop.search(m[3]):
                    stopped_at = m[3].strip()
                    # As Ctrl-C in a terminal: the client cancels the build, and BuildKit stops the
                    # step's container and keeps nothing of it.
                    proc.send_signal(signal.SIGINT)
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                    break
        except BaseException:
            # An interrupted notebook cell must not leave a build running behind it.
            proc.kill()
            raise
    return proc.returncode, lines, stopped_at


def _parse(lines: list[str]) -> tuple[dict[int, str], list[int], int | None]:
    """Steps by vertex number, the cached vertices, and the vertex that failed (if any)."""
    steps: dict[int, str] = {}
    cached: list[int] = []
    failed = None
    for line in lines:
        line = line.rstrip("\n")
        if m := _STEP.match(line):
            # Plain output repeats a step's name whenever its output resumes after another's.
            steps.setdefault(int(m[1]), m[2])
        elif m := _CACHED.match(line):
            cached.append(int(m[1]))
        elif (m := _ERROR.match(line)) and failed is None:
            failed = int(m[1])
    return steps, cached, failed


def _failure(tag: str, text: str, lines: list[str], steps: dict[int, str],
             failed: int | None) -> BuildFailed:
    if failed is not None:
        # The failing vertex's own output, without BuildKit's "#N 12.3" prefixes.
        own = [m[2] for line in lines if (m := _OUTPUT.match(line.rstrip("\n"))) and int(m[1]) == failed]
        own = [line for line in own if not line.startswith("sha256:")]
        # Not every vertex is a Dockerfile step ("[internal] load metadata for ..."): then its
        # first line names it.
        step = steps.get(failed) or own[0]
    else:
        step = None
        # Failed before any step ran (a Dockerfile syntax error, a missing base image): the end of the log.
        own = [line.rstrip("\n") for line in lines if line.strip()]
    tail = "\n".join(own[-TAIL_LINES:])
    where = f"at step {step}" if step else "before any step ran"
    if _NO_SPACE.search(text):
        free = human(engine.disk_free_bytes())
        return BuildOutOfSpace(
            f"Building {tag} ran out of disk space {where} (Docker's disk has {free} free now). "
            f"{FREE_SPACE_HINT}\n{tail}", step=step, tail=tail, log=text)
    return BuildFailed(f"Building {tag} failed {where}:\n{tail}", step=step, tail=tail, log=text)
