"""environment.yml (conda, for learners) and requirements.txt (pip, for CI) pin the same packages,
and each lock (requirements.lock, what setup.sh installs; app/*.lock, what the images install; all
hashed) has every pin at its version."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from workshop import lock, requirements
from workshop.config import REPO_ROOT

#: conda-forge names that differ from the PyPI name of the same package.
CONDA_TO_PYPI = {"pytorch": "torch", "docker-py": "docker", "py-tokenizers": "tokenizers"}
#: conda-only entries that are the environment itself rather than one of the pinned packages.
NOT_PINNED = {"python", "pip"}


def requirements_pins(text: str) -> dict[str, str]:
    """Package -> version from ``name==version`` lines; anything else that installs is an error."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        assert match, f"requirements.txt: {line!r} is not pinned as name==version"
        pins[requirements.key(match[1])] = match[2]
    return pins


def environment_pins(text: str) -> dict[str, str]:
    """Package -> version from environment.yml: conda-forge entries (PyPI names) and the pip list."""
    env = yaml.safe_load(text)
    pins = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for line in entry["pip"]:
                pins.update(requirements_pins(line))
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(?:==?\s*([^\s=]+))?", entry.strip())
        assert match, f"environment.yml: cannot read {entry!r}"
        name = CONDA_TO_PYPI.get(match[1], match[1])
        if name in NOT_PINNED:
            continue
        assert match[2], f"environment.yml: {entry!r} has no version pin"
        pins[requirements.key(name)] = match[2]
    return pins


def test_environment_yml_pins_the_same_packages_and_versions_as_requirements_txt():
    """Every pin in requirements.txt is in environment.yml with the same version, and nothing else is."""
    pip = requirements_pins((REPO_ROOT / "requirements.txt").read_text())
    conda = environment_pins((REPO_ROOT / "environment.yml").read_text())
    assert conda == pip


def test_environment_yml_uses_the_python_the_images_use():
    """The learners' Python is the images' Python (3.11), so the app runs the same on both."""
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert env["channels"] == ["conda-forge"]


def test_drift_is_detected_in_either_section():
    """A version changed in the conda section or the pip section, or a package dropped, makes the pins differ."""
    pip = requirements_pins("torch==2.13.0\npandas==3.1.1\n")
    assert environment_pins("dependencies:\n  - pandas==3.1.1\n  - pip:\n      - torch==2.13.0\n") == pip
    assert environment_pins("dependencies:\n  - pandas=3.1.0\n  - pip:\n      - torch==2.13.0\n") != pip
    assert environment_pins("dependencies:\n  - pandas==3.1.1\n  - pip:\n      - torch==2.12.0\n") != pip
    assert environment_pins("dependencies:\n  - pandas==3.1.1\n") != pip
    assert environment_pins("dependencies:\n  - pytorch==2.13.0\n  - pandas==3.1.1\n") == pip


def test_a_package_pinned_in_several_requirement_files_has_one_version():
    """The host's requirements and lock, the images' (app/) and the transfer app's agree on every
    package they share: an image and the notebooks never run two versions of the same library."""
    files = [REPO_ROOT / "requirements.txt", REPO_ROOT / "requirements-dev.txt", REPO_ROOT / "requirements.lock",
             *sorted((REPO_ROOT / "app").glob("*requirements.txt")), *sorted((REPO_ROOT / "app").glob("*.lock")),
             *sorted((REPO_ROOT / "exercises" / "transfer-app").glob("*requirements.txt"))]
    # A lock may hold two versions of one package, each for some Pythons (a marker on its line:
    # soupsieve for Python before 3.11.5 and after): every file that has it must have the same set.
    seen: dict[str, dict[str, frozenset[str]]] = {}
    for path in files:
        versions: dict[str, set[str]] = {}
        for line in requirements.source_lines(path) if path.suffix == ".lock" else path.read_text().splitlines():
            for name, version in requirements.pins(line).items():
                versions.setdefault(name, set()).add(version)
        for name, found in versions.items():
            seen.setdefault(name, {})[str(path.relative_to(REPO_ROOT))] = frozenset(found)
    differ = {name: where for name, where in seen.items() if len(set(where.values())) > 1}
    assert not differ, f"one package, several versions: {differ}"
    assert seen["torch"] == {"requirements.txt": {"2.13.0"}, "app/torch-requirements.txt": {"2.13.0"}}
    assert len(seen["huggingface-hub"]) == 5, "transformers' hub client is in the host's lock and the images' four"


def _copy_lock_sources(root):
    """Every lock and what it is resolved from (wordcount's folder too, which uv reads), under `root`."""
    for entry in lock.LOCKS:
        for name in (*entry.sources, entry.path):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_ROOT / name, root / name)
    shutil.copy(REPO_ROOT / "app" / "torch-requirements.txt", root / "app")
    shutil.copytree(REPO_ROOT / "app" / "wordcount", root / "app" / "wordcount",
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "*.so"))


def test_every_lock_has_every_pin_at_its_version_and_every_package_hashed():
    """requirements.lock (setup.sh) and app/*.lock (the Dockerfiles), installed with --require-hashes,
    were written from today's pins."""
    assert lock.problems() == []


def test_a_lock_out_of_step_with_the_pins_is_named(tmp_path):
    """A pin changed without `python -m workshop lock` (torch's too, in the file a source includes), a
    requirement that is no pin, a package without hashes, an entry gone that another needs, or torch
    in the lock (it is installed on its own): each is a sentence naming the lock, the package and
    what to do. A local folder (`./app/wordcount`) is no pin and no problem: it is left out."""
    _copy_lock_sources(tmp_path)
    assert lock.problems(tmp_path) == []
    host = tmp_path / "requirements.txt"
    text = host.read_text().replace("flask==3.1.3", "flask==3.1.2").replace("torch==2.13.0", "torch==2.14.0")
    host.write_text(text + "newpkg>=1.0\n")
    image = tmp_path / "app" / "onnx-requirements.txt"
    image.write_text(image.read_text().replace("tokenizers==0.23.3", "tokenizers==0.23.4"))
    locked = tmp_path / "requirements.lock"
    text = locked.read_text()
    # docker loses its hashes; jinja2 (which markupsafe's entry names as needing it) its whole entry
    for name, version, left in (("docker", "7.1.0", "docker==7.1.0\n"),
                                ("jinja2", requirements.pins(text)["jinja2"], "")):
        entry = re.search(rf"^{name}=={re.escape(version)} \\\n(?:    --hash=.*\n)+(?:    #.*\n)*", text, re.MULTILINE)
        assert entry, f"the lock's {name} entry is not where this test looks for it"
        text = text.replace(entry[0], left)
    locked.write_text(text + "torch==2.13.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    found = lock.problems(tmp_path)
    assert found == [
        "requirements.txt: 'newpkg>=1.0' is not pinned as name==version, so the lock cannot be checked against it",
        "requirements.txt pins torch==2.14.0, app/torch-requirements.txt (torch's pin for the images and the locks) "
        "has 2.13.0: make them the same",
        "requirements.txt pins flask==3.1.2, requirements.lock has 3.1.3: run `python -m workshop lock`",
        "requirements.lock has torch, which setup.sh and CI install on its own before the lock",
        "requirements.lock: docker has no hash (pip's --require-hashes would refuse the install)",
        "requirements.lock: jinja2 is named as a requirer but has no entry: run `python -m workshop lock`",
        "app/onnx-requirements.txt pins tokenizers==0.23.4, app/onnx-requirements.lock has 0.23.3: "
        "run `python -m workshop lock`",
    ], found
    (tmp_path / "app" / "torch-requirements.txt").write_text("torch==2.14.0\n")
    found = lock.problems(tmp_path)
    assert "app/export-requirements.txt pins torch==2.14.0, app/export-requirements.lock was resolved with 2.13.0: " \
           "run `python -m workshop lock`" in found
    assert "requirements.txt pins torch==2.14.0, requirements.lock was resolved with 2.13.0: " \
           "run `python -m workshop lock`" in found
    (tmp_path / "requirements.lock").unlink()
    assert lock.problems(tmp_path)[0] == "requirements.lock is missing: run `python -m workshop lock`"


def test_every_lock_is_what_the_lock_command_writes_today(tmp_path):
    """`python -m workshop lock` run again (uv against PyPI, keeping the locks' versions) writes the
    same files: no package was added to, dropped from or changed in the pins' trees since."""
    pytest.importorskip("uv", reason="uv is pinned in requirements-dev.txt (pip install -r requirements-dev.txt)")
    _copy_lock_sources(tmp_path)
    try:
        written = lock.write(tmp_path)
    except LookupError as error:  # torch's requirements come from the CPU build installed here
        pytest.skip(str(error))
    for path in written:
        name = str(path.relative_to(tmp_path))
        assert path.read_text() == (REPO_ROOT / name).read_text(), f"{name} is stale: run `python -m workshop lock`"


def test_every_image_installs_its_packages_from_a_lock_with_hashes():
    """Each `pip install` of a Dockerfile (the dev container's too) is one of three: torch alone
    (--no-deps, from PyTorch's CPU index, whose files are not PyPI's), a lock with --require-hashes,
    or the app's C extension, a folder (hash mode takes none) built after the lock."""
    paths = [*sorted((REPO_ROOT / "dockerfiles").glob("*.Dockerfile")), REPO_ROOT / ".devcontainer" / "Dockerfile"]
    kinds = {}
    unlocked = []
    for path in paths:
        commands = re.split(r"&&|;|\n", path.read_text().replace("\\\n", " "))
        for command in (" ".join(c.split()) for c in commands if re.search(r"\bpip install\b", c)):
            if re.search(r"--no-deps --index-url \"\$TORCH_INDEX_URL\" -r \S*torch-requirements\.txt$", command):
                kind = "torch"
            elif re.search(r"--require-hashes -r \S+\.lock$", command):
                kind = "lock"
            elif command.endswith(" ./app/wordcount"):
                kind = "folder"
            else:
                unlocked.append(f"{path.name}: {command}")
                continue
            kinds.setdefault(path.name, []).append(kind)
    assert unlocked == []
    assert kinds["naive.Dockerfile"] == ["torch", "lock", "folder"]
    assert kinds["final.Dockerfile"] == ["torch", "lock", "lock", "folder"]  # the exporter's, the runtime's venv
    assert kinds["Dockerfile"] == ["torch", "lock"]  # the dev container: the workshop's own environment


def test_a_cuda_torch_is_refused_as_the_source_of_torchs_requirements(monkeypatch):
    """PyPI's Linux torch declares the CUDA libraries: a lock made from it would install them."""
    monkeypatch.setattr(lock.importlib.metadata, "version", lambda name: "2.13.0")
    monkeypatch.setattr(lock.importlib.metadata, "requires",
                        lambda name: ["filelock", 'nvidia-cublas==13.1.1.3; platform_system == "Linux"', 'pyyaml; extra == "pyyaml"'])
    with pytest.raises(LookupError, match="CUDA build .*nvidia-cublas"):
        lock.torch_requirements("2.13.0")
    monkeypatch.setattr(lock.importlib.metadata, "requires", lambda name: ["filelock", 'pyyaml; extra == "pyyaml"'])
    assert lock.torch_requirements("2.13.0") == ["filelock"]
    with pytest.raises(LookupError, match="the pin is 2.14.0"):
        lock.torch_requirements("2.14.0")
