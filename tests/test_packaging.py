"""The workshop package declares what it imports (pyproject.toml), and requirements.txt pins it.

`pip install .` gives a package whose modules import: every third-party module a workshop module
imports belongs to a distribution pyproject.toml names (in `dependencies`, or in the extra that
module needs), and every name there has its one pin in requirements.txt or requirements-dev.txt.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
import venv
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from workshop import lock, requirements
from workshop.config import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
#: The modules that need an extra, and which one (everything else needs `dependencies` alone).
EXTRA_OF = {"explorer": "notebooks", "hubshape": "model", "locustfile": "load"}


def _third_party_imports(path: Path) -> set[str]:
    """Top-level names of the modules `path` imports (anywhere in it) that are not the standard library's."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name != "workshop"}


MODULES = sorted((REPO_ROOT / "workshop").glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_every_import_is_declared(path):
    """Each third-party module is provided by a declared distribution: `dependencies`, or the
    module's own extra."""
    declared = {requirements.key(name) for name in PYPROJECT["dependencies"]}
    if extra := EXTRA_OF.get(path.stem):
        declared |= {requirements.key(name) for name in PYPROJECT["optional-dependencies"][extra]}
    providers = packages_distributions()
    for module in _third_party_imports(path):
        dists = {requirements.key(dist) for dist in providers.get(module, [module])}
        assert dists & declared, f"workshop/{path.name} imports {module} ({', '.join(sorted(dists))}), " \
                                 "which pyproject.toml does not declare for it"


def _workshop_imports(path: Path) -> set[str]:
    """The workshop modules `path` imports, anywhere in it (inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "workshop":
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("workshop."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("workshop.")}
    return names & {module.stem for module in MODULES}


def test_no_module_imports_one_that_imports_it_back():
    """The package's imports form no cycle, even through imports made inside a function: each
    module can be read knowing only those below it."""
    graph = {path.stem: _workshop_imports(path) - {path.stem} for path in MODULES}

    def cycle_from(module: str, path: list[str]) -> list[str] | None:
        for imported in sorted(graph[module]):
            if imported in path:
                return [*path[path.index(imported):], imported]
            if found := cycle_from(imported, [*path, imported]):
                return found
        return None

    for module in sorted(graph):
        cycle = cycle_from(module, [module])
        assert cycle is None, "an import cycle: " + " -> ".join(cycle)


def test_every_declared_name_has_one_pin():
    pins = {name: version for source in lock.LOCKS[0].sources
            for name, version in requirements.pins((REPO_ROOT / source).read_text()).items()}
    names = PYPROJECT["dependencies"] + [name for extra in PYPROJECT["optional-dependencies"].values() for name in extra]
    for name in names:
        assert not re.search(r"[<>=!~]", name), f"pyproject.toml pins {name}: pins live in requirements.txt"
        assert requirements.key(name) in pins, f"{name} is declared in pyproject.toml but pinned in no requirements file"


def test_pip_install_in_an_empty_venv_imports_every_module(tmp_path):
    """`pip install .` (with requirements.txt as constraints) in a new venv: each module that needs
    no extra imports."""
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", REPO_ROOT / "requirements.txt",
                    REPO_ROOT], check=True, cwd=tmp_path, timeout=900)
    plain = [path.stem for path in MODULES if path.stem not in EXTRA_OF]
    done = subprocess.run([python, "-c", f"import importlib; [importlib.import_module('workshop.' + m) for m in {plain!r}]"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
