"""The instructor guide's notes match the lessons they are about."""

from __future__ import annotations

import json
import re

import pytest

from workshop import config

GUIDE = config.REPO_ROOT / "instructor" / "guide.md"
LESSONS = sorted((config.REPO_ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _prompts(path) -> int:
    """How many **Predict.** prompts the lesson's text has."""
    cells = json.loads(path.read_text())["cells"]
    return sum("".join(cell["source"]).count("**Predict.**") for cell in cells if cell["cell_type"] == "markdown")


def _cited(lesson: str) -> int:
    """How many predictions the guide's section on `lesson` cites: the items, separated by ';', of
    its **Predict** bullet's first sentence (parenthesized asides left out); 0 without one."""
    section = re.search(rf"^### {lesson} · .*?(?=^##)", GUIDE.read_text(), re.M | re.S)
    assert section, f"the guide has no section ### {lesson} · ..."
    bullet = re.search(r"^- \*\*Predict\*\*:?(.*?)(?=^- |\Z)", section[0], re.M | re.S)
    if not bullet:
        return 0
    sentence = re.sub(r"\([^)]*\)", "", " ".join(bullet[1].split())).split(". ")[0]
    return len(sentence.split(";"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda path: path.stem)
def test_the_guide_cites_each_lessons_predictions_and_no_other(path):
    """Each lesson's **Predict.** prompts are the ones its section of the guide tells the instructor
    to ask for, as many and in the same lesson (a prompt moved or added shows up here)."""
    lesson = path.stem.split("-", 1)[0]
    assert _cited(lesson) == _prompts(path), (
        f"lesson {lesson} asks {_prompts(path)} predictions; the guide's section cites {_cited(lesson)}")


def test_every_lesson_asks_for_a_prediction_from_02_on():
    assert all(_prompts(path) >= 1 for path in LESSONS if path.stem >= "02")
