"""The code is linted: `ruff check` with the configuration in pyproject.toml passes on the repository,
and `mypy` (its [tool.mypy] there) finds no type errors in the package."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from workshop import config


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=config.REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (pinned in requirements-dev.txt: pip install -r requirements-dev.txt)")
def test_mypy_finds_nothing():
    # No arguments: the files and options are pyproject.toml's [tool.mypy], read from the repository's root.
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=config.REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
