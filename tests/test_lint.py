"""The code is linted: `ruff check` with the configuration in pyproject.toml passes on the repository."""

from __future__ import annotations

import subprocess
import sys

from workshop import config


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=config.REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
