"""The settings file setup.sh writes, the environment over it, and the build args they make."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from workshop import config
from workshop.config import REPO_ROOT, read_settings

#: What a fresh process of the workshop package sees, as JSON.
PROBE = ("import json, os; from workshop import config; print(json.dumps({'docker': config.DOCKER_CLI, "
         "'model_dir': str(config.MODEL_DIR), 'build_args': config.BUILD_ARGS, "
         "'hf_offline': os.environ.get('HF_HUB_OFFLINE')}))")


def probe(settings, **env: str) -> dict:
    """config as a new process sees it, with `settings` as its settings file and only `env` exported."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "WORKSHOP_SETTINGS": str(settings)}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env}, cwd="/", capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def test_settings_file_reaches_a_process_with_nothing_exported(tmp_path):
    """A new terminal's process, started in any folder, gets setup's choices from the file."""
    settings = tmp_path / "settings.env"
    settings.write_text("# written by setup.sh\nWORKSHOP_DOCKER=/usr/bin/docker\nHF_HUB_OFFLINE=1\n"
                        f"WORKSHOP_MODEL_DIR={tmp_path}\nWORKSHOP_TORCH_INDEX_URL=http://127.0.0.1:8765/simple\n")
    seen = probe(settings)
    assert seen == {"docker": "/usr/bin/docker", "model_dir": str(tmp_path), "hf_offline": "1",
                    "build_args": {"TORCH_INDEX_URL": "http://127.0.0.1:8765/simple"}}


def test_environment_wins_over_the_settings_file(tmp_path):
    """A variable exported in the shell overrides the recorded one."""
    settings = tmp_path / "settings.env"
    settings.write_text("WORKSHOP_DOCKER=/usr/bin/docker\n")
    assert probe(settings, WORKSHOP_DOCKER="/opt/docker")["docker"] == "/opt/docker"
    assert probe("")["docker"] == "docker"  # WORKSHOP_SETTINGS="": no file at all


def test_classroom_cache_routes_pypi_and_torch_through_one_trusted_index(tmp_path):
    """WORKSHOP_PACKAGE_CACHE becomes PIP_INDEX_URL and TORCH_INDEX_URL, and pip trusts its host."""
    seen = probe("", WORKSHOP_PACKAGE_CACHE="http://192.168.1.10:5000/")
    assert seen["build_args"] == {"PIP_INDEX_URL": "http://192.168.1.10:5000/index/",
                                  "TORCH_INDEX_URL": "http://192.168.1.10:5000/index/",
                                  "PIP_TRUSTED_HOST": "192.168.1.10"}


def test_a_malformed_settings_line_names_the_file_line_and_fix(tmp_path):
    """A line that is not KEY=VALUE fails with its place and the command that rewrites the file."""
    settings = tmp_path / "settings.env"
    settings.write_text("WORKSHOP_DOCKER=/usr/bin/docker\nnot a setting\n")
    with pytest.raises(ValueError, match=r"line 2: expected KEY=VALUE.*setup\.sh"):
        read_settings(settings)


def test_every_dockerfile_that_runs_pip_declares_the_download_args():
    """Each pip install can take the classroom cache as build args, and the CPU torch index when
    a requirements file it installs names torch (the transfer app's does not)."""
    missing = {}
    for path in sorted((REPO_ROOT / "dockerfiles").glob("*.Dockerfile")) + sorted((REPO_ROOT / "solutions").glob("*.Dockerfile")):
        text = path.read_text()
        if "pip install" not in text:
            continue
        installs_torch = any(re.search(r"^torch\b", (REPO_ROOT / name).read_text(), re.MULTILINE)
                             for name in set(re.findall(r"app/[\w-]*requirements\.(?:txt|lock)", text)))
        wanted = {"PIP_INDEX_URL", "PIP_TRUSTED_HOST"} | ({"TORCH_INDEX_URL"} if installs_torch else set())
        absent = {arg for arg in wanted if f"ARG {arg}" not in text}
        if absent:
            missing[path.name] = sorted(absent)
    assert missing == {}


def test_torch_cpu_index_is_the_dockerfiles_default():
    """config's CPU index and every Dockerfile's TORCH_INDEX_URL default are the same URL."""
    defaults = {line.split("=", 1)[1] for path in (REPO_ROOT / "dockerfiles").glob("*.Dockerfile")
                for line in path.read_text().splitlines() if line.startswith("ARG TORCH_INDEX_URL=")}
    assert defaults == {config.TORCH_CPU_INDEX}


def test_a_terminal_gets_the_notebooks_flags_from_the_flags_command(tmp_path):
    """`eval "$(python -m workshop flags)"` in bash gives $BUILD_FLAGS and $RUN_FLAGS that split into the
    same words the notebooks pass (an offline room's settings: a model folder, a local torch index)."""
    settings = tmp_path / "settings.env"
    (tmp_path / "model").mkdir()
    settings.write_text(f"WORKSHOP_MODEL_DIR={tmp_path / 'model'}\nWORKSHOP_MODEL_IMAGE=workshop-model:local\n"
                        "WORKSHOP_TORCH_INDEX_URL=http://127.0.0.1:8765/simple\nWORKSHOP_BUILD_NETWORK=host\n")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "WORKSHOP_SETTINGS": str(settings)}
    script = (f'eval "$({sys.executable} -m workshop flags)" && printf "%s\\n" $BUILD_FLAGS && echo -- '
              '&& printf "%s\\n" $RUN_FLAGS')
    done = subprocess.run(["bash", "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    build, run = (part.split() for part in done.stdout.split("--\n"))
    assert build[0] == "--network=host" and "MODEL_REVISION=local-folder" in build
    assert "TORCH_INDEX_URL=http://127.0.0.1:8765/simple" in build
    assert run[:2] == ["-v", f"{tmp_path / 'model'}:/models/local:ro"] and "HF_HUB_OFFLINE=1" in run


def test_every_setting_the_code_reads_is_in_readmes_table():
    """Each WORKSHOP_* variable the package, its scripts, CI or the tests read has its row in README's
    Settings table, and the table names none that nothing reads."""
    sources = [*REPO_ROOT.glob("workshop/*.py"), *REPO_ROOT.glob("workshop/*.sh"), *REPO_ROOT.glob("tests/*.py"),
               *REPO_ROOT.glob(".devcontainer/*"), REPO_ROOT / ".ci" / "run"]
    name = re.compile(r"\bWORKSHOP_[A-Z_]*[A-Z]\b")
    read = {found for path in sources if path.is_file() for found in name.findall(path.read_text())}
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Settings\n"):readme.index("\n## Offline mode\n")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    listed = {found for row in rows for found in name.findall(row.split(" | ")[0])}
    assert read - listed == set(), f"settings the code reads that README's table lacks: {sorted(read - listed)}"
    assert listed - read == set(), f"settings in README's table that nothing reads: {sorted(listed - read)}"
