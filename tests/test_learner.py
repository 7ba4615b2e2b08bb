"""The learner's edition (learner/): generated from notebooks/, no answers on screen, Docker typed by the learner."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from workshop import config, learner

#: Lessons whose every Docker command the learner types (issue: "learners type Docker").
TYPED_LESSONS = ("02", "03", "04")
#: What the learner has typed by the end of lesson 04.
TYPED_COMMANDS = {
    "docker build": r"^!docker build ", "docker run (batch)": r"^!docker run --rm ",
    "docker run -d -p (the API)": r"^!docker run -d .*-p \S+:8080 ", "curl": r"^!curl .*/classify$",
    "docker ps": r"^!docker ps\b", "docker logs": r"^!docker logs ", "docker exec": r"^!docker exec ",
    "docker stop": r"^!docker stop ", "docker history": r"^!docker history ", "docker image ls": r"^!docker image ls\b",
    "a Dockerfile of their own": r"^%%writefile \S+\.Dockerfile\nFROM ",
}
_LINK = re.compile(r"\]\((?![a-z]+:|#)([^)\s#]+)(?:#[^)\s]*)?\)")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _reference(lesson: str) -> Path:
    return next(path for path in learner.lessons() if path.name.startswith(f"{lesson}-"))


def test_the_learners_edition_is_up_to_date():
    """learner/ is what `python -m workshop generate-learner` writes from notebooks/ (edit those, then run it)."""
    stale = learner.generate(check_only=True)
    assert not stale, f"out of date: {[path.name for path in stale]}; run: python -m workshop generate-learner"


@pytest.mark.parametrize("path", learner.lessons(), ids=lambda path: path.stem)
def test_no_answer_is_on_screen_before_the_learner_runs_the_cell(path):
    """No outputs, execution counts or run times in the learner's copy: every figure, log and verdict
    appears only when the learner runs its cell, after the prompt above it."""
    for index, cell in enumerate(_cells(learner.LEARNER_DIR / path.name)):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}, cell {index}"
        assert "execution" not in cell["metadata"], f"{path.name}, cell {index}"


@pytest.mark.parametrize("lesson", TYPED_LESSONS)
def test_the_learner_types_each_docker_command_that_the_text_above_spells_out(lesson):
    """Every shell command of lessons 02 to 04 is tagged type-it: empty in the learner's copy, and given
    word for word, in backticks, by the nearest Markdown cell above it."""
    reference = _cells(_reference(lesson))
    copy = _cells(learner.LEARNER_DIR / _reference(lesson).name)
    typed = 0
    for index, cell in enumerate(reference):
        if cell["cell_type"] != "code" or not _source(cell).lstrip().startswith("!"):
            continue
        where = f"lesson {lesson}, cell {cell['id']}"
        assert learner.TYPE_IT in cell["metadata"].get("tags", []), f"{where}: a shell command the learner does not type"
        text = next(_source(above) for above in reversed(reference[:index]) if above["cell_type"] == "markdown")
        assert f"`{_source(cell).strip()}`" in text, f"{where}: the text above does not give the command"
        assert copy[index]["id"] == cell["id"] and _source(copy[index]) == "", where
        typed += 1
    assert typed >= 3, f"lesson {lesson}: {typed} commands to type"


def test_by_the_end_of_lesson_04_the_learner_has_typed_the_everyday_docker_commands():
    typed = [_source(cell).strip() for lesson in TYPED_LESSONS for cell in _cells(_reference(lesson))
             if learner.TYPE_IT in cell["metadata"].get("tags", [])]
    missing = [name for name, pattern in TYPED_COMMANDS.items() if not any(re.search(pattern, line) for line in typed)]
    assert not missing, f"never typed in lessons 02 to 04: {missing}"


def test_the_dockerfile_the_learner_writes_is_not_spelled_out_above_it():
    """The Dockerfile a learner writes in lessons 02 to 04 is theirs: the text before it gives the goal,
    not its lines (the check after it explains a wrong one)."""
    written = 0
    for lesson in TYPED_LESSONS:
        cells = _cells(_reference(lesson))
        for index, cell in enumerate(cells):
            source = _source(cell)
            if not (learner.TYPE_IT in cell["metadata"].get("tags", []) and source.startswith("%%writefile")):
                continue
            before = "\n".join(_source(above) for above in cells[:index] if above["cell_type"] == "markdown")
            for line in source.splitlines()[1:]:
                assert line.strip() not in before, f"lesson {lesson}, cell {cell['id']}: `{line}` is given above it"
            written += 1
    assert written, "no Dockerfile of the learner's own in lessons 02 to 04"


@pytest.mark.parametrize("path", learner.lessons(), ids=lambda path: path.stem)
def test_every_relative_link_of_the_learners_copy_leads_to_a_file(path):
    """The copy sits in learner/, one folder deep like notebooks/: links to ../exercises/ work as they
    are, links to the notebooks' own folder (the glossary) are rewritten to ../notebooks/."""
    broken = []
    for cell in _cells(learner.LEARNER_DIR / path.name):
        if cell["cell_type"] == "markdown":
            broken += [target for target in _LINK.findall(_source(cell))
                       if not (learner.LEARNER_DIR / target).exists()]
    assert not broken, f"{path.name}: {broken}"


def test_reset_puts_a_lesson_back_and_keeps_the_learners_copy(tmp_path):
    learner_dir, backups = tmp_path / "learner", tmp_path / "backups"
    learner.generate(learner_dir=learner_dir)
    lesson = learner_dir / _reference("04").name
    fresh = lesson.read_text()
    lesson.write_text(fresh.replace('"source": []', '"source": ["!docker ps"]', 1))
    said = learner.reset("04", learner_dir=learner_dir, backup_dir=backups)
    assert lesson.read_text() == fresh
    kept = list(backups.glob("04-*.ipynb"))
    assert len(kept) == 1 and "!docker ps" in kept[0].read_text() and str(kept[0]) in said
    assert learner.reset("04-multi-stage", learner_dir=learner_dir, backup_dir=backups).startswith("04-multi-stage.ipynb")
    with pytest.raises(LookupError, match=r"no lesson '44': the lessons are 00, 01, 02"):
        learner.reset("44", learner_dir=learner_dir, backup_dir=backups)


def test_the_learner_command_opens_jupyterlab_on_the_learners_edition():
    """`python -m workshop learner --print` says what it runs: JupyterLab at the repository's root
    (so the lessons' links to exercises/ work), opening learner/README.md."""
    done = subprocess.run([sys.executable, "-m", "workshop", "learner", "--print"], capture_output=True, text=True,
                          cwd=config.REPO_ROOT, check=True)
    assert done.stdout.startswith("$ jupyter lab "), done.stdout
    assert f"--ServerApp.root_dir={config.REPO_ROOT}" in done.stdout
    url = re.search(r"--LabApp.default_url=/lab/tree/(\S+)", done.stdout)[1]
    assert (config.REPO_ROOT / url).is_file(), url
