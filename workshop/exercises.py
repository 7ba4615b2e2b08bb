"""Exercises: one source in ``solutions/``, learner copies generated into ``exercises/``.

Every exercise is one file in ``solutions/`` whose stem is its id:

- ``NN-name.ipynb``: code cells hold ``### BEGIN SOLUTION [hint]`` / ``### END SOLUTION`` lines
  (as nbgrader does). The learner copy gets ``# YOUR CODE HERE`` and
  ``raise NotImplementedError("hint")`` in their place, and no outputs.
- ``NN-name.Dockerfile``: lines ``# BEGIN SOLUTION[: hint]`` / ``# END SOLUTION``; the learner copy
  gets one ``# YOUR CODE HERE: hint`` comment in their place.

Each exercise registers its check with :func:`exercise` (the checks live in
``workshop/exercise_checks.py``). A check raises :class:`workshop.checks.CheckFailed` with one
sentence telling the learner what is still wrong:

- a Dockerfile exercise's check receives the path of the Dockerfile to check;
- a notebook exercise's check receives the notebook's own variables: the notebook's last cell
  calls ``verify("NN-name", answer)``, and :func:`check` executes the whole notebook.

From a terminal (repository root)::

    python -m workshop check                      # list the exercises
    python -m workshop check 04-runtime-stage     # check exercises/04-runtime-stage.*
    python -m workshop check 04-runtime-stage --solution
    python -m workshop generate-exercises [--check]
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import logging
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4.rwbase import rejoin_lines

from workshop import config
from workshop.checks import CheckFailed

log = logging.getLogger(__name__)

SOLUTIONS_DIR = config.REPO_ROOT / "solutions"
EXERCISES_DIR = config.REPO_ROOT / "exercises"
#: The module whose import registers every exercise's check.
CHECKS_MODULE = "workshop.exercise_checks"
SUFFIXES = (".ipynb", ".Dockerfile")
#: Exercise notebooks build images, so a cell may run as long as a cold build.
CELL_TIMEOUT = 3600

_NB_BEGIN = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION\b(?P<hint>.*)$")
_NB_END = re.compile(r"^\s*### END SOLUTION\s*$")
_DF_BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION\b(?P<hint>.*)$")
_DF_END = re.compile(r"^\s*# END SOLUTION\s*$")
_ANY_MARKER = re.compile(r"#\s*(BEGIN|END) SOLUTION\b")

NOTEBOOK_HINT = "write the code this exercise asks for"
DOCKERFILE_HINT = "write the instructions this exercise asks for"
#: Exercise notebooks carry no author's metadata: only what Jupyter needs to pick a kernel.
NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


class MarkerError(ValueError):
    """A solution file whose BEGIN/END SOLUTION markers do not pair up."""


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    lesson: str
    #: Raises CheckFailed with a learner's sentence; may return a short "OK: ..." message.
    check: Callable[..., str | None]


_REGISTRY: dict[str, Exercise] = {}


def exercise(exercise_id: str, *, title: str, lesson: str) -> Callable:
    """Register the decorated function as the check of exercise ``exercise_id``."""

    def register(func: Callable[..., str | None]) -> Callable[..., str | None]:
        known = _REGISTRY.get(exercise_id)
        # Re-importing the checks module registers the same function again: that is fine.
        if known and known.check.__qualname__ != func.__qualname__:
            raise ValueError(f"exercise {exercise_id} already has a check: {known.check.__qualname__}")
        _REGISTRY[exercise_id] = Exercise(exercise_id, title, lesson, func)
        return func

    return register


def registry() -> dict[str, Exercise]:
    """Every registered exercise, by id."""
    importlib.import_module(CHECKS_MODULE)
    return dict(sorted(_REGISTRY.items()))


def get(exercise_id: str) -> Exercise:
    exercises = registry()
    if exercise_id not in exercises:
        raise LookupError(f"no exercise {exercise_id!r}; known: {', '.join(exercises) or 'none'}")
    return exercises[exercise_id]


def source_path(exercise_id: str, directory: Path) -> Path:
    """The exercise's file in ``directory`` (``solutions/`` or ``exercises/``)."""
    paths = [directory / f"{exercise_id}{suffix}" for suffix in SUFFIXES]
    found = [p for p in paths if p.exists()]
    if len(found) != 1:
        raise LookupError(f"expected one of {', '.join(p.name for p in paths)} in {directory}, found {len(found)}")
    return found[0]


# ---------------------------------------------------------------------------------------------
# The generator


def _hint(text: str, default: str) -> str:
    # "### BEGIN SOLUTION: find the layer" and "### BEGIN SOLUTION find the layer" both hint.
    return text.strip().lstrip(":").strip() or default


def _replace_regions(text: str, begin: re.Pattern, end: re.Pattern, stub: Callable[[str, str], list[str]],
                     where: str) -> tuple[str, int]:
    """``text`` with each BEGIN/END region replaced by ``stub(indent, hint)``, and the region count."""
    out: list[str] = []
    inside = False
    regions = 0
    for number, line in enumerate(text.split("\n"), 1):
        if match := begin.match(line):
            if inside:
                raise MarkerError(f"{where}, line {number}: BEGIN SOLUTION inside another solution region")
            inside = True
            regions += 1
            out.extend(stub(match["indent"], match["hint"]))
        elif end.match(line):
            if not inside:
                raise MarkerError(f"{where}, line {number}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: BEGIN SOLUTION is never closed by END SOLUTION")
    return "\n".join(out), regions


def _notebook_stub(indent: str, hint: str) -> list[str]:
    # json.dumps writes a valid Python string literal for any hint, quotes and unicode included.
    message = json.dumps(_hint(hint, NOTEBOOK_HINT), ensure_ascii=False)
    return [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError({message})"]


def _dockerfile_stub(indent: str, hint: str) -> list[str]:
    return [f"{indent}# YOUR CODE HERE: {_hint(hint, DOCKERFILE_HINT)}"]


def exercise_notebook(solution: nbformat.NotebookNode, where: str = "notebook") -> nbformat.NotebookNode:
    """The learner copy of a solution notebook: regions stubbed, outputs and author metadata gone."""
    nb = copy.deepcopy(solution)
    regions = 0
    for index, cell in enumerate(nb.cells):
        cell_where = f"{where}, cell {index}"
        # Tags stay: nbval and the lesson's instructions rely on them.
        cell.metadata = nbformat.from_dict({"tags": cell.metadata["tags"]} if cell.metadata.get("tags") else {})
        if nb.nbformat_minor >= 5 and "id" not in cell:
            cell.id = f"cell-{index}"  # a stable id: nbformat would otherwise invent a random one
        if cell.cell_type != "code":
            if _ANY_MARKER.search(cell.source):
                raise MarkerError(f"{cell_where}: solution markers belong in code cells only")
            continue
        cell.outputs = []
        cell.execution_count = None
        cell.source, found = _replace_regions(cell.source, _NB_BEGIN, _NB_END, _notebook_stub, cell_where)
        if _ANY_MARKER.search(cell.source):
            raise MarkerError(f"{cell_where}: a solution marker that is not on a line of its own")
        regions += found
    if not regions:
        raise MarkerError(f"{where}: no ### BEGIN SOLUTION region, so the exercise would be its solution")
    nb.metadata = copy.deepcopy(NOTEBOOK_METADATA)
    return nb


def exercise_dockerfile(solution: str, where: str = "Dockerfile") -> str:
    """The learner copy of a solution Dockerfile: each region becomes a ``# YOUR CODE HERE`` line."""
    text, regions = _replace_regions(solution, _DF_BEGIN, _DF_END, _dockerfile_stub, where)
    if _ANY_MARKER.search(text):
        raise MarkerError(f"{where}: a solution marker that is not on a line of its own")
    if not regions:
        raise MarkerError(f"{where}: no '# BEGIN SOLUTION' region, so the exercise would be its solution")
    return text


def _render(path: Path) -> str:
    where = f"solutions/{path.name}"
    if path.suffix == ".ipynb":
        # from_dict, not nbformat.read: reading may "repair" the notebook with random cell ids.
        solution = rejoin_lines(nbformat.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        return nbformat.writes(exercise_notebook(solution, where)) + "\n"
    return exercise_dockerfile(path.read_text(encoding="utf-8"), where)


#: Hints for the Dockerfile exercises, folded (`<details>`), appended to exercises/README.md.
HINTS_FILE = "hints.md"


def _readme(exercises: list[Exercise], files: Mapping[str, str], hints: str = "") -> str:
    rows = "\n".join(
        f"| {ex.lesson} | {ex.title} | [{files[ex.id]}]({files[ex.id]}) | `python -m workshop check {ex.id}` |"
        for ex in sorted(exercises, key=lambda ex: (ex.lesson, ex.id))
    )
    return f"""# Exercises

One exercise per file; each belongs to the lesson of the same number (in `learner/`, your edition of the lessons).
Edit the files here. Each region to fill in is marked `# YOUR CODE HERE`.

- A notebook exercise ends with a cell that checks your answer: run it top to bottom.
- A Dockerfile exercise is checked from a terminal at the repository root, with the command below;
  it builds your Dockerfile and tells you what is still wrong.
- Each Dockerfile's header also gives the `docker build` to type yourself. Its `$BUILD_FLAGS` is
  empty at home; in a room with a package cache or without internet,
  `eval "$(python -m workshop flags)"` sets it (and `$RUN_FLAGS`) in your terminal, as the
  notebooks have them.

Stuck? `python -m workshop check ID --solution` runs the same check on the reference solution,
which is in `solutions/`.

| Lesson | Exercise | File | Check |
| --- | --- | --- | --- |
{rows}

These files are generated from `solutions/` by `python -m workshop generate-exercises`
(instructors only: it overwrites your work here).
""" + (f"\n{hints.strip()}\n" if hints.strip() else "")


def render_all(solutions_dir: Path = SOLUTIONS_DIR,
               exercises: Mapping[str, Exercise] | None = None) -> dict[str, str]:
    """File name -> content of everything ``exercises/`` should hold."""
    exercises = registry() if exercises is None else exercises
    sources = sorted(p for p in solutions_dir.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    ids = [p.name.removesuffix(p.suffix) for p in sources]
    if unregistered := sorted(set(ids) - set(exercises)):
        raise LookupError(f"no check registered for {', '.join(unregistered)} (see {CHECKS_MODULE})")
    if missing := sorted(set(exercises) - set(ids)):
        raise LookupError(f"no file in {solutions_dir} for registered exercises {', '.join(missing)}")
    if duplicated := sorted({i for i in ids if ids.count(i) > 1}):
        raise LookupError(f"more than one solution file for {', '.join(duplicated)}")
    files = {p.name: _render(p) for p in sources}
    hints = solutions_dir / HINTS_FILE
    files["README.md"] = _readme(list(exercises.values()), dict(zip(ids, (p.name for p in sources), strict=True)),
                                 hints.read_text() if hints.is_file() else "")
    return files


def generate(check_only: bool = False, *, solutions_dir: Path = SOLUTIONS_DIR, exercises_dir: Path = EXERCISES_DIR,
             exercises: Mapping[str, Exercise] | None = None) -> list[Path]:
    """Regenerate ``exercises_dir`` from ``solutions_dir``.

    Returns the files that differ from what the generator writes (changed, new, or stale ones
    whose solution is gone); with ``check_only`` nothing is written.
    """
    return sync(render_all(solutions_dir, exercises), exercises_dir, check_only=check_only,
                generated=lambda p: p.suffix in SUFFIXES or p.name == "README.md")


def sync(wanted: Mapping[str, str], directory: Path, *, check_only: bool, generated: Callable[[Path], bool]) -> list[Path]:
    """Make `directory` hold `wanted` (file name -> text): write what differs, remove the files
    `generated` claims that are no longer wanted. Return those files; with `check_only`, touch nothing."""
    changed = [directory / name for name, text in wanted.items()
               if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != text]
    stale = sorted(p for p in directory.glob("*") if p.is_file() and p.name not in wanted and generated(p))
    if not check_only:
        directory.mkdir(parents=True, exist_ok=True)
        for path in changed:
            # newline="\n": the same bytes on Windows, so the CI comparison holds everywhere.
            path.write_text(wanted[path.name], encoding="utf-8", newline="\n")
            log.info("wrote %s", path)
        for path in stale:
            path.unlink()
            log.info("removed %s (no longer generated)", path)
    return changed + stale


def report_sync(changed: list[Path], check_only: bool, folder: str, source: str, command: str) -> int:
    """Print what `sync` did (or, checking, what it would do) to `folder`; the command's exit code."""
    if check_only and changed:
        print(f"{folder} is out of date with {source} for: " + ", ".join(p.name for p in changed)
              + f"\nrun: python -m workshop {command}")
        return 1
    print(f"{folder} is up to date" + ("" if check_only else f" ({len(changed)} file(s) written)"))
    return 0


# ---------------------------------------------------------------------------------------------
# Checks


def verify(exercise_id: str, *args, **kwargs) -> None:
    """Run a notebook exercise's check on the notebook's variables (the exercise's last cell)."""
    ex = get(exercise_id)
    message = ex.check(*args, **kwargs)
    if message:
        print(message)
    print(f"Solved: {ex.title} ({exercise_id}).")


def _learner_sentence(nb: nbformat.NotebookNode, error: Exception, path: Path) -> str:
    """One sentence for a notebook that stopped with ``error`` (nbclient's CellExecutionError)."""
    ename, evalue = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    if ename == "CheckFailed":
        return evalue
    cell = next((c for c in nb.cells if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)),
                None)
    where = f"the cell In [{cell.execution_count}]" if cell is not None else "a cell"
    if ename == "NotImplementedError":
        return (f"{path.name} is not finished: {where} still raises NotImplementedError ({evalue}); "
                f"replace the '# YOUR CODE HERE' lines there with your code.")
    return f"{path.name}: {where} raised {ename}: {evalue}. Fix it and run the notebook again from the top."


def _run_notebook(path: Path) -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    # The kernel starts in the notebook's folder: it finds `workshop` through PYTHONPATH.
    pythonpath = os.pathsep.join(filter(None, [str(config.REPO_ROOT), os.environ.get("PYTHONPATH")]))
    log.info("executing %s", path)
    try:
        # The kernel's own log lines (start-up warnings) would land in the calling cell's output, and
        # differ from one Jupyter front end to another; its cells' output comes through nbclient.
        client.execute(env={**os.environ, "PYTHONPATH": pythonpath}, stderr=subprocess.DEVNULL)
    except CellExecutionError as error:
        raise CheckFailed(_learner_sentence(nb, error, path)) from None


def check(exercise_id: str, solution: bool = False, *, solutions_dir: Path = SOLUTIONS_DIR,
          exercises_dir: Path = EXERCISES_DIR, exercises: Mapping[str, Exercise] | None = None) -> str | None:
    """Check the learner's copy (or with ``solution``, the reference); raise CheckFailed if wrong.

    Returns what a Dockerfile exercise's check says on success (notebooks say it in their last cell).
    """
    ex = get(exercise_id) if exercises is None else exercises[exercise_id]
    path = source_path(exercise_id, solutions_dir if solution else exercises_dir)
    log.info("checking %s: %s", exercise_id, path)
    if path.suffix == ".ipynb":
        _run_notebook(path)
        return None
    return ex.check(path)


# ---------------------------------------------------------------------------------------------
# Command line (wired by ``python -m workshop``)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="check an exercise (without ID: list them)")
    p.add_argument("exercise", nargs="?", metavar="ID")
    p.add_argument("--solution", action="store_true", help="check the reference solution instead")
    p = sub.add_parser("generate-exercises", help="regenerate exercises/ from solutions/")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if exercises/ is out of date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    if args.command == "generate-exercises":
        return report_sync(generate(check_only=args.check), args.check, "exercises/", "solutions/", args.command)

    if args.exercise is None:
        for ex in registry().values():
            print(f"{ex.id:<28} lesson {ex.lesson}  {ex.title}")
        return 0
    try:
        get(args.exercise)
    except LookupError as error:
        print(f"error: {error}")
        return 2
    which = "solution" if args.solution else "exercise"
    try:
        message = check(args.exercise, solution=args.solution)
    except CheckFailed as failure:
        print(f"[FAIL] {args.exercise} ({which}): {failure}")
        return 1
    print(f"[OK] {args.exercise} ({which}) passes its check" + (f": {message}" if message else ""))
    return 0
