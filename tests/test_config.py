"""The settings file setup.sh writes, the environment over it, the one settings object they make
(config.SETTINGS) and the build args derived from it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

from workshop import config
from workshop.config import REPO_ROOT, Settings, read_settings

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


# --- the settings object -----------------------------------------------------------------------

#: What Settings.from_env gives with nothing set: the defaults every module had before.
DEFAULTS = Settings(
    shared_dir=(REPO_ROOT.parent / "shared").resolve(), model_dir=None, docker_cli="docker",
    image_repo="bert-classifier", engine_dir=Path("/var/lib/workshop-engine"),
    cache_dir=Path.home() / ".cache" / "workshop", build_ledger_file=None, results_dir=REPO_ROOT / "results",
    package_cache=None, local_torch_index=None, wheelhouse=Path("/var/tmp/workshop-wheelhouse"), model_image=None,
    build_network=None)


def test_nothing_set_gives_the_defaults():
    """An empty environment: every field its default, no ledger of its own, no build args, online."""
    settings = Settings.from_env({})
    assert settings == DEFAULTS
    assert all(getattr(settings, f.name) is None for f in fields(Settings) if f.name.startswith("journey_"))
    assert settings.build_ledger == Path.home() / ".cache" / "workshop" / "builds.jsonl"
    assert settings.build_args == {} and not settings.offline()


#: One row per setting: the variable, a value, the field it sets and what the field then holds.
ROWS = [
    ("WORKSHOP_SHARED", "/srv/shared/../shared", "shared_dir", Path("/srv/shared")),
    ("WORKSHOP_MODEL_DIR", "/models/x/", "model_dir", Path("/models/x")),
    ("WORKSHOP_DOCKER", "/usr/bin/docker", "docker_cli", "/usr/bin/docker"),
    ("WORKSHOP_IMAGE_REPO", "cleantest-1", "image_repo", "cleantest-1"),
    ("WORKSHOP_ENGINE_DIR", "/opt/engine", "engine_dir", Path("/opt/engine")),
    ("WORKSHOP_CACHE_DIR", "~/cache2", "cache_dir", Path.home() / "cache2"),
    ("WORKSHOP_BUILD_LEDGER", "~/ledger.jsonl", "build_ledger_file", Path.home() / "ledger.jsonl"),
    ("WORKSHOP_RESULTS_DIR", "~/results", "results_dir", Path.home() / "results"),
    ("WORKSHOP_PACKAGE_CACHE", "http://192.168.1.10:5000/", "package_cache", "http://192.168.1.10:5000"),
    ("WORKSHOP_TORCH_INDEX_URL", "http://127.0.0.1:8765/simple", "local_torch_index", "http://127.0.0.1:8765/simple"),
    ("WORKSHOP_WHEELHOUSE", "/var/tmp/wheels", "wheelhouse", Path("/var/tmp/wheels")),
    ("WORKSHOP_MODEL_IMAGE", "workshop-model:local", "model_image", "workshop-model:local"),
    ("WORKSHOP_BUILD_NETWORK", "host", "build_network", "host"),
    ("WORKSHOP_JOURNEY_STARTS", "1", "journey_starts", 1),
    ("WORKSHOP_JOURNEY_SECONDS", "2.5", "journey_seconds", 2.5),
    ("WORKSHOP_JOURNEY_CPUS", "", "journey_cpus", ""),  # set, and empty: no pinning
    ("WORKSHOP_JOURNEY_READ_MAX_GB", "all", "journey_read_max_gb", "all"),
    ("WORKSHOP_JOURNEY_COMPRESSED", "no", "journey_compressed", False),
    ("WORKSHOP_JOURNEY_DIVE", "yes", "journey_dive", "yes"),
    ("WORKSHOP_JOURNEY_REBUILD", "onnx, final,", "journey_rebuild", ("onnx", "final")),
    ("WORKSHOP_JOURNEY_SENTENCES", "128", "journey_sentences", 128),
    ("WORKSHOP_JOURNEY_REUSE", "1", "journey_reuse", True),
]


@pytest.mark.parametrize(("variable", "value", "field", "expected"), ROWS, ids=[row[0] for row in ROWS])
def test_each_variable_sets_its_field_and_no_other(variable, value, field, expected):
    settings = Settings.from_env({variable: value})
    assert getattr(settings, field) == expected
    assert settings.replace(**{field: getattr(DEFAULTS, field)}) == DEFAULTS


def test_the_table_has_a_row_for_every_field():
    assert sorted(row[2] for row in ROWS) == sorted(f.name for f in fields(Settings))


def test_empty_means_unset_where_it_always_did_and_a_malformed_number_names_its_variable():
    """`or None` settings take "" as unset; the journey's numbers, flags and lists take "" as unset too."""
    empty = Settings.from_env(dict.fromkeys(["WORKSHOP_MODEL_DIR", "WORKSHOP_PACKAGE_CACHE", "WORKSHOP_TORCH_INDEX_URL",
                                             "WORKSHOP_WHEELHOUSE", "WORKSHOP_MODEL_IMAGE", "WORKSHOP_BUILD_NETWORK",
                                             "WORKSHOP_BUILD_LEDGER", "WORKSHOP_JOURNEY_STARTS", "WORKSHOP_JOURNEY_SECONDS",
                                             "WORKSHOP_JOURNEY_READ_MAX_GB", "WORKSHOP_JOURNEY_COMPRESSED",
                                             "WORKSHOP_JOURNEY_DIVE", "WORKSHOP_JOURNEY_REBUILD",
                                             "WORKSHOP_JOURNEY_SENTENCES", "WORKSHOP_JOURNEY_REUSE"], ""))
    assert empty == DEFAULTS
    assert Settings.from_env({"WORKSHOP_JOURNEY_REBUILD": "none"}).journey_rebuild == ()
    assert Settings.from_env({"WORKSHOP_JOURNEY_READ_MAX_GB": "0.5"}).journey_read_max_gb == 0.5
    with pytest.raises(ValueError, match="WORKSHOP_JOURNEY_STARTS='three'"):
        Settings.from_env({"WORKSHOP_JOURNEY_STARTS": "three"})


def test_replace_leaves_the_original_and_derived_values_follow(tmp_path):
    """replace makes another object; the ledger, the build args and offline() follow its fields."""
    base = Settings.from_env({})
    changed = base.replace(cache_dir=tmp_path, package_cache="http://10.0.0.9:5000", model_image="model:local",
                           model_dir=tmp_path / "sst2")
    assert base == DEFAULTS and base.build_ledger == DEFAULTS.cache_dir / "builds.jsonl" and base.build_args == {}
    assert changed.build_ledger == tmp_path / "builds.jsonl"
    assert changed.build_args == {"PIP_INDEX_URL": "http://10.0.0.9:5000/index/", "TORCH_INDEX_URL": "http://10.0.0.9:5000/index/",
                                  "PIP_TRUSTED_HOST": "10.0.0.9", "MODEL_SOURCE": "model:local", "MODEL_ID": "sst2",
                                  "MODEL_REVISION": "local-folder", "MODEL_LICENSE": "NOASSERTION"}
    assert changed.offline() and not base.offline()
    assert changed.replace(build_ledger_file=tmp_path / "own.jsonl").build_ledger == tmp_path / "own.jsonl"
    # A local torch index wins over the cache's.
    assert changed.replace(local_torch_index="http://127.0.0.1:8765/simple").build_args["TORCH_INDEX_URL"] == \
        "http://127.0.0.1:8765/simple"
    with pytest.raises(FrozenInstanceError):
        base.image_repo = "other"  # type: ignore[misc]


def test_the_modules_names_read_the_settings_when_asked(tmp_path, monkeypatch):
    """config.IMAGE_REPO & co. and build_ledger()/offline() read config.SETTINGS as it is now."""
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(
        image_repo="settingstest", cache_dir=tmp_path, build_ledger_file=None, model_dir=None, package_cache=None, model_image=None,
        local_torch_index="http://127.0.0.1:1/simple", journey_starts=2))
    assert config.IMAGE_REPO == config.SETTINGS.image_repo == "settingstest"
    assert config.CACHE_DIR == tmp_path and config.build_ledger() == tmp_path / "builds.jsonl"
    assert config.BUILD_ARGS == {"TORCH_INDEX_URL": "http://127.0.0.1:1/simple"} and not config.offline()
    assert config.JOURNEY_STARTS == 2
    from workshop.config import IMAGE_REPO
    from workshop.images import tag

    assert IMAGE_REPO == "settingstest" and tag("final") == "settingstest:final"
    for name in ("SHARED_DIR", "MODEL_DIR", "DOCKER_CLI", "IMAGE_REPO", "ENGINE_DIR", "CACHE_DIR", "RESULTS_DIR",
                 "PACKAGE_CACHE", "LOCAL_TORCH_INDEX", "WHEELHOUSE", "MODEL_IMAGE", "JOURNEY_STARTS", "BUILD_ARGS",
                 "BUILD_NETWORK"):  # each typed for mypy, listed by dir(), read from its field
        assert name in config.__annotations__ and name in dir(config)
        assert getattr(config, name) == getattr(config.SETTINGS, name.lower())
    with pytest.raises(AttributeError, match="no attribute 'CACHE_FOLDER'"):
        _ = config.CACHE_FOLDER


def test_the_journeys_settings_reach_params_and_a_callers_argument_wins(monkeypatch):
    """Params.from_env: the notebook's defaults, then the settings that are set; Params(...) and the
    command line's options are the caller's own: no setting overrides them."""
    from workshop import journey

    monkeypatch.setattr(config, "SETTINGS", Settings.from_env({
        "WORKSHOP_JOURNEY_SECONDS": "3", "WORKSHOP_JOURNEY_STARTS": "2", "WORKSHOP_JOURNEY_CPUS": "1-3",
        "WORKSHOP_JOURNEY_READ_MAX_GB": "0.5", "WORKSHOP_JOURNEY_COMPRESSED": "0", "WORKSHOP_JOURNEY_DIVE": "no",
        "WORKSHOP_JOURNEY_REBUILD": "all", "WORKSHOP_JOURNEY_SENTENCES": "16", "WORKSHOP_JOURNEY_REUSE": "yes"}))
    params = journey.Params.from_env(seconds=10.0, starts=5, rebuild=("final",), compressed=True, reuse=False)
    assert (params.seconds, params.starts, params.cpus, params.read_max_bytes, params.compressed, params.dive,
            params.rebuild, params.sentences, params.reuse) == (3.0, 2, "1-3", 500_000_000, False, "no", None, 16, True)
    # Settings not set leave the notebook's choice alone.
    monkeypatch.setattr(config, "SETTINGS", Settings.from_env({"WORKSHOP_JOURNEY_SECONDS": "3"}))
    params = journey.Params.from_env(starts=4, cpus="2", rebuild=("final",), reuse=True)
    assert (params.seconds, params.starts, params.cpus, params.rebuild, params.reuse) == (3.0, 4, "2", ("final",), True)
    assert journey.Params(seconds=7.0).seconds == 7.0

    seen = []

    def stop(names, params, **_):
        seen.append(params)
        raise LookupError("stopped before measuring")

    monkeypatch.setattr(journey, "run_journey", stop)
    level = journey.log.level
    try:
        assert journey.main(["--seconds", "7", "--starts", "1", "--cpus", "", "--rebuild", "none", "--images", "final"]) == 1
    finally:
        journey.log.setLevel(level)  # main sets its logger's level for the command line
    assert (seen[0].seconds, seen[0].starts, seen[0].cpus, seen[0].rebuild) == (7.0, 1, None, ())
