"""The batch classifier, run as learners and images run it: python app/predictor.py FILE."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import APP_DIR, REPO_ROOT

SAMPLE = APP_DIR / "sample_data" / "sample_text.txt"


def run_predictor(*args: str, model_dir: Path, log_level: str = "INFO"):
    """Run the script from the repo root, as in the images (WORKDIR /srv)."""
    env = {**os.environ, "MODEL_ID": str(model_dir), "HF_HUB_OFFLINE": "1", "LOG_LEVEL": log_level}
    command = [sys.executable, "app/predictor.py", *args]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)


def parse_result(stdout: str) -> list[dict]:
    header, result = stdout.splitlines()
    assert header == "--- Classification Result ---"
    return ast.literal_eval(result)


def test_sample_file_is_positive_and_logs_its_word_count(model_dir):
    """The images' default command prints the header and the result list, logs the word count."""
    proc = run_predictor("app/sample_data/sample_text.txt", model_dir=model_dir)
    assert proc.returncode == 0, proc.stderr
    [result] = parse_result(proc.stdout)
    assert result["label"] == "POSITIVE" and 0.5 < result["score"] <= 1
    words = len(SAMPLE.read_text(encoding="utf-8").split())
    assert f"classifying sample_text.txt ({words} words)" in proc.stderr


def test_input_longer_than_the_model_limit_is_truncated_quietly(model_dir, tmp_path):
    """10,000 words (far over 512 tokens) are classified, nothing on stderr at WARNING level."""
    long_file = tmp_path / "long.txt"
    long_file.write_text("a wonderful, moving and beautiful film. " * 1500, encoding="utf-8")
    proc = run_predictor(str(long_file), model_dir=model_dir, log_level="WARNING")
    assert proc.returncode == 0, proc.stderr
    assert [r["label"] for r in parse_result(proc.stdout)] == ["POSITIVE"]
    assert proc.stderr == ""  # no progress bars, no truncation advice


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),  # missing file
        ("directory", "cannot read"),  # exists but cannot be read as a file
        (b"caf\xe9 au lait", "is not UTF-8 text"),  # Latin-1
        (b"", "is empty"),
        (b" \n\t\n", "is empty"),
    ],
    ids=["missing", "unreadable", "not-utf8", "empty", "whitespace-only"],
)
def test_bad_file_is_one_error_line_and_a_failing_exit(model_dir, tmp_path, content, message):
    """A file that cannot be classified gets a one-line error (no traceback) and a non-zero exit."""
    path = tmp_path / "input.txt"
    if content == "directory":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    proc = run_predictor(str(path), model_dir=model_dir)
    assert proc.returncode != 0
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert "ERROR" in line and message in line


def test_missing_argument_prints_usage(model_dir):
    """Without a FILE argument the script says how to call it and exits with status 2."""
    proc = run_predictor(model_dir=model_dir)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert "usage: python app/predictor.py FILE" in line
