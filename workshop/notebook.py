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


def dockerfile_diff(before: str, after: str) -> str:
    """What changed from dockerfiles/<before>.Dockerfile to dockerfiles/<after>.Dockerfile, as a
    unified diff: in the later lessons, each Dockerfile is the previous one plus one idea."""
    import difflib

    from workshop import config

    old, new = (config.dockerfile(name).read_text().splitlines(keepends=True) for name in (before, after))
    return "".join(difflib.unified_diff(old, new, f"{before}.Dockerfile", f"{after}.Dockerfile", n=1))
