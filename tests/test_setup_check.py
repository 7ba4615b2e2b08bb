"""The setup check (notebook 00 and `python -m workshop.setup_check`) on this machine and on broken ones."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from workshop import engine, setup_check
from workshop.config import REPO_ROOT

LINE = re.compile(r"^(\[(OK|WARN|FAIL)\] .+?: .+|       fix: .+|Ready for the workshop.*|\d+ check\(s\) failed: .*)$")


def run_script(**env: str | None) -> subprocess.CompletedProcess:
    """`python -m workshop.setup_check` with `env` changed (None removes a variable)."""
    environ = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for name, value in env.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run([sys.executable, "-m", "workshop.setup_check"], cwd=REPO_ROOT, env=environ,
                          capture_output=True, text=True, timeout=300, check=False)


def lines_of(output: str, name: str) -> list[str]:
    return [line for line in output.splitlines() if re.match(rf"\[\w+\] {re.escape(name)}: ", line)]


@pytest.mark.docker
def test_script_reports_this_machine_ready(model_dir):
    """On the CI machine (engine running, pinned packages, offline model) every line is OK or WARN and it exits 0."""
    done = run_script(WORKSHOP_MODEL_DIR=str(model_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert all(LINE.match(line) for line in lines), done.stdout
    assert lines[-1].startswith("Ready for the workshop")
    for name in ("python", "C compiler", "docker (Python SDK)", "docker (CLI)", "disk", "memory", "architecture",
                 "torch", "model"):
        assert len(lines_of(done.stdout, name)) == 1, f"no line for {name}:\n{done.stdout}"
    assert lines_of(done.stdout, "model") == [f"[OK] model: offline: {model_dir} (NEGATIVE, POSITIVE)"]
    assert any(line.startswith("[OK] base python:3.11-bookworm") for line in lines), done.stdout


def test_base_images_are_the_real_images_the_dockerfiles_start_from():
    """Stage names, build-arg bases and `scratch` (no image: Docker's empty start) are not asked for."""
    from workshop import setup_check

    bases = setup_check.base_images()
    assert {"python:3.11-bookworm", "python:3.11-slim-bookworm", "debian:bookworm-slim"} <= set(bases)
    assert not {"scratch", "builder", "final", "model"} & {base.lower() for base in bases}
    assert all("$" not in base for base in bases)


def test_dead_engine_fails_with_how_to_start_it(tmp_path):
    """With DOCKER_HOST at a dead socket, the SDK and CLI lines fail, each with its fix, and the exit status is 1."""
    done = run_script(DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert all(LINE.match(line) for line in lines), done.stdout
    sdk = lines.index("[FAIL] docker (Python SDK): no engine reachable")
    assert "Start it" in lines[sdk + 1] and lines[sdk + 1].startswith("       fix: ")
    cli = [i for i, line in enumerate(lines) if line.startswith("[FAIL] docker (CLI): ")]
    assert cli and "systemctl start docker" in lines[cli[0] + 1]
    assert lines[-1].endswith("check(s) failed: fix them before the workshop.")


def test_missing_docker_cli_fails_with_the_setting_to_change():
    """A WORKSHOP_DOCKER that names no program fails the CLI line and says to install Docker or fix the setting."""
    done = run_script(WORKSHOP_DOCKER="/nonexistent/docker")
    assert done.returncode == 1
    assert "[FAIL] docker (CLI): no '/nonexistent/docker' command" in done.stdout
    assert "set WORKSHOP_DOCKER" in done.stdout


@pytest.mark.parametrize(("files", "expected"), [
    ([], "has no config.json"),
    (["config.json"], "lacks weights and a tokenizer"),
    (["config.json", "model.safetensors"], "lacks a tokenizer"),
])
def test_incomplete_offline_model_folder_fails(tmp_path, files, expected):
    """In offline mode a model folder without config, weights or tokenizer fails the model line, naming what is missing."""
    for name in files:
        (tmp_path / name).write_text("{}")
    done = run_script(WORKSHOP_MODEL_DIR=str(tmp_path))
    assert done.returncode == 1
    [line] = lines_of(done.stdout, "model")
    assert line.startswith("[FAIL] model: offline mode, but ") and line.endswith(expected)


def test_hub_offline_without_a_model_folder_fails():
    """HF_HUB_OFFLINE without WORKSHOP_MODEL_DIR fails: nothing could load the model."""
    # WORKSHOP_SETTINGS="": no settings file, which would set WORKSHOP_MODEL_DIR again.
    done = run_script(WORKSHOP_MODEL_DIR=None, HF_HUB_OFFLINE="1", WORKSHOP_SETTINGS="")
    assert done.returncode == 1
    assert lines_of(done.stdout, "model") == [
        "[FAIL] model: HF_HUB_OFFLINE is set but WORKSHOP_MODEL_DIR is not: nothing can load the model"]


@pytest.mark.docker
def test_disk_below_the_need_warns_with_both_numbers():
    """Less free disk than needed is a WARN that states the free space and the need; enough is OK."""
    [low] = setup_check.check_disk(need_bytes=10**15)
    assert low.status == setup_check.WARN
    assert re.fullmatch(r"\S+ \w?B free on Docker's disk; the workshop needs about 1000 TB, 1000 TB more", low.detail)
    assert "docker system df" in low.fix
    [enough] = setup_check.check_disk(need_bytes=engine.disk_free_bytes() // 2)
    assert enough.status == setup_check.OK


def test_no_c_compiler_on_path_fails_with_how_to_install_one(tmp_path):
    """With PATH at an empty folder no compiler is found: the line fails, names what it looked for, and says
    how to install one on this system."""
    done = run_script(PATH=str(tmp_path), CC=None)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    [line] = lines_of(done.stdout, "C compiler")
    assert re.fullmatch(r"\[FAIL\] C compiler: none found \(.*\bgcc\b.*\): pip install ./app/wordcount cannot "
                        r"build the app's C extension", line), line
    fix = lines[lines.index(line) + 1]
    expected = "xcode-select --install" if sys.platform == "darwin" else "sudo apt-get install build-essential python3-dev"
    assert fix.startswith("       fix: ") and expected in fix


def test_a_c_compiler_on_path_is_ok():
    """On this machine (which builds app/wordcount) the compiler line names the compiler found."""
    [result] = setup_check.check_compiler()
    assert result.status == setup_check.OK and result.detail.startswith("/")


@pytest.mark.parametrize(("gib", "status"), [
    (2, setup_check.FAIL),
    (3.7, setup_check.WARN),  # Docker Desktop set to 4 GB: its VM reports a little less
    (6, setup_check.WARN),
    (7.7, setup_check.OK),
    (32, setup_check.OK),
])
def test_engine_memory_is_judged_against_the_lessons_need(gib, status):
    """Under 4 GiB fails, under 8 GiB warns, and each says where to give Docker more; a VM's slightly
    smaller report of its setting counts as the setting."""
    [result] = setup_check.judge_memory(int(gib * 2**30))
    assert (result.name, result.status) == ("memory", status)
    assert result.detail.startswith(f"the Docker engine has {gib:.1f} GiB; the lessons need 4 GiB, 8 GiB recommended")
    if status != setup_check.OK:
        assert "Docker Desktop: Settings > Resources > Memory" in result.fix


@pytest.mark.docker
def test_memory_line_reads_the_engines_memory():
    """The memory check reports the engine's MemTotal."""
    [result] = setup_check.check_memory()
    assert f"{engine.client().info()['MemTotal'] / 2**30:.1f} GiB" in result.detail


def test_package_versions_are_compared_with_the_pins(tmp_path):
    """A pinned package at its version is OK, at another version WARN, and missing FAIL."""
    nbval = metadata.version("nbval")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# comment\nnbval=={nbval}\npytest==0.0.1\nno-such-package-h5==1.0\n")
    results = {r.name: r for r in setup_check.check_packages(requirements)}
    assert (results["nbval"].status, results["nbval"].detail) == (setup_check.OK, nbval)
    assert results["pytest"].status == setup_check.WARN
    assert results["pytest"].detail == f"{metadata.version('pytest')} installed, the workshop was tested with 0.0.1"
    assert results["no-such-package-h5"].status == setup_check.FAIL
    assert "pip install -r requirements.txt" in results["no-such-package-h5"].fix


def test_a_crashing_check_is_one_fail_line_and_the_report_goes_on():
    """A check that raises becomes a FAIL line with the error, and the checks after it still run."""
    def check_broken():
        raise RuntimeError("boom\nsecond line")

    results = setup_check.run_checks((check_broken, setup_check.check_python))
    assert [str(r).splitlines()[0] for r in results][0] == "[FAIL] broken: RuntimeError: boom"
    assert results[1].name == "python"


def test_notebook_00_stops_at_its_assertion_when_a_check_fails(tmp_path):
    """Executed in a fresh kernel on a machine with a broken setting, notebook 00 fails in its assertion cell."""
    path = REPO_ROOT / "notebooks" / "00-setup-check.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "WORKSHOP_MODEL_DIR": str(tmp_path)}
    with pytest.raises(CellExecutionError) as caught:
        client.execute(env=env)
    assert caught.value.ename == "AssertionError"
    assert "fix the [FAIL] lines above before lesson 01" in caught.value.evalue
    report = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs)
    assert f"[FAIL] model: offline mode, but {Path(tmp_path)} has no config.json" in report
