"""The first cell of every notebook: quiet libraries, readable logs.

    from workshop.notebook import setup
    setup()

Progress bars and library warnings land on stderr, differ from run to run and from machine to
machine, and bury what the lesson shows (CI compares cell outputs, so they would also break it).
The workshop's own messages (which image is building, where a server listens) are shown as
plain lines.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
import warnings

#: Read by the libraries when they are imported, and inherited by subprocesses (the app run
#: locally in lesson 01), so set them before anything imports transformers.
QUIET_ENV = {
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    # The tokenizers library warns when a process forks after it used threads (our servers do).
    "TOKENIZERS_PARALLELISM": "false",
}


def setup(level: int = logging.INFO) -> None:
    """Silence progress bars and library warnings; show the workshop's log lines on stdout."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    # Already imported (a re-run cell): tell the libraries directly, env vars are read only once.
    if "transformers" in sys.modules:
        sys.modules["transformers"].logging.set_verbosity_error()
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    # Deprecation notices are for the libraries' authors, not for the learners.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|transformers)\b")
    # stdout, not stderr: a cell shows them in order with the build log, without the red.
    # Only our own modules talk at INFO; libraries (urllib3, docker) stay at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout, force=True)
    logging.getLogger("workshop").setLevel(level)
    _like_a_terminal()


def _like_a_terminal() -> None:
    """Shell cells (`!docker build ...`) run as they would in a terminal at the repository's root,
    with the docker client the workshop builds with (workshop/setup.sh may have picked one that is
    not first on PATH) and BuildKit on (Docker 20's client needs to be told)."""
    from workshop import config

    os.chdir(config.REPO_ROOT)
    os.environ.setdefault("DOCKER_BUILDKIT", "1")
    # A `!` line runs in a pseudo-terminal: BuildKit would draw its live progress with escape
    # codes, which a notebook shows as pages of noise. The plain log reads as in a CI log.
    os.environ.setdefault("BUILDKIT_PROGRESS", "plain")
    chosen = shutil.which(config.DOCKER_CLI)
    if chosen and shutil.which("docker") != chosen:
        folder = config.CACHE_DIR / "bin"
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / "docker"
        if not (link.is_symlink() and os.readlink(link) == chosen):
            link.unlink(missing_ok=True)
            link.symlink_to(chosen)
        os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


def docker_flags() -> tuple[str, str]:
    """What your `docker build` and `docker run` need beyond the lesson's command, as text for a
    shell cell (`!docker build $BUILD_FLAGS ...`): the build network and arguments of a classroom
    package cache or an offline room, the model folder an offline room mounts. Both are empty on
    a laptop with internet access."""
    from workshop import config
    from workshop.build import build_network
    from workshop.run import docker_run_command, model_options

    build = build_network()
    for name, value in config.BUILD_ARGS.items():
        build += ["--build-arg", f"{name}={value}"]
    run = docker_run_command("IMAGE", **model_options())[3:-1]  # the options between "run --rm" and the image
    return shlex.join(build), shlex.join(run)


def dockerfile_diff(before: str, after: str, *, comments: bool = False) -> str:
    """What changed from dockerfiles/<before>.Dockerfile to dockerfiles/<after>.Dockerfile, as a
    unified diff: in the later lessons, each Dockerfile is the previous one plus one idea. Comment
    and blank lines are left out unless `comments` (the files explain themselves at length; the
    diff is about the instructions)."""
    import difflib

    from workshop import config

    def lines(name: str) -> list[str]:
        text = config.dockerfile(name).read_text().splitlines(keepends=True)
        return text if comments else [line for line in text if line.strip() and not line.lstrip().startswith("#")]

    return "".join(difflib.unified_diff(lines(before), lines(after), f"{before}.Dockerfile", f"{after}.Dockerfile", n=1))
