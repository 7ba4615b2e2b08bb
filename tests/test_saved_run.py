"""The notebooks' saved outputs come from one run, in lesson order, that the README dates and times.

Jupyter records when each code cell ran (`metadata.execution`). From those timestamps: every code
cell of every lesson and solution notebook was run, the notebooks one after the other in order,
each lesson's machine time fits inside the time its header states, and the README's table of that
run gives the same date and minutes. Re-running one notebook alone (and saving it) fails these
tests: run them all again, in order, and update the README's table (see its "saved outputs").
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from workshop.config import REPO_ROOT

LESSONS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("*.ipynb"))
#: The README's row for each notebook of the run: "| `05-cache-mount.ipynb` | 0.4 | ...", indented in its list.
README_ROW = re.compile(r"^ *\| `(?P<name>[\w-]+)\.ipynb` \| (?P<minutes>[\d.]+) \|", re.MULTILINE)
README_DATE = re.compile(r"The saved outputs of every notebook come from one run, in this order, on (\d{4}-\d{2}-\d{2})")


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _span(path: Path) -> tuple[datetime, datetime]:
    """When the notebook's first code cell started and its last one finished, in its saved run."""
    cells = [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]
    missing = [i for i, cell in enumerate(cells) if "execution" not in cell["metadata"]]
    assert not missing, f"{path.name}: code cells {missing} have no saved run"
    starts = [_stamp(cell["metadata"]["execution"]["iopub.execute_input"]) for cell in cells]
    ends = [_stamp(cell["metadata"]["execution"]["shell.execute_reply"]) for cell in cells]
    assert starts == sorted(starts), f"{path.name}: its cells were not run top to bottom in one go"
    return starts[0], max(ends)


def test_saved_outputs_come_from_one_run_in_lesson_order():
    """Lessons 00 to 10, then the solution notebooks: each started after the previous one ended."""
    spans = [(path.name, *_span(path)) for path in LESSONS + SOLUTIONS]
    for (before, _, ended), (after, started, _) in zip(spans, spans[1:], strict=False):
        assert started >= ended, f"{after} ran before {before} had finished: not one run in order"
    first, last = spans[0][1], spans[-1][2]
    assert (last - first).total_seconds() < 4 * 3600, "the saved outputs span more than one sitting"


def test_each_lesson_runs_within_its_stated_time():
    """A lesson's cells, as saved, took less machine time than the minutes its header states."""
    for path in LESSONS:
        header = "".join(json.loads(path.read_text())["cells"][0]["source"])
        stated = re.search(r"\*\*Time:\*\* (?:about )?(\d+) minutes", header)
        assert stated, f"{path.name}: no '**Time:** about N minutes' in its first cell"
        started, ended = _span(path)
        minutes = (ended - started).total_seconds() / 60
        assert minutes <= int(stated[1]), f"{path.name}: its cells ran {minutes:.1f} min, over the {stated[1]} stated"


def test_readme_dates_and_times_the_run():
    """The README's table of the run names every notebook once, with its minutes as saved (to 0.1),
    and the run's date."""
    readme = (REPO_ROOT / "README.md").read_text()
    date = README_DATE.search(readme)
    assert date, "README.md does not date the notebooks' saved run"
    assert _span(LESSONS[0])[0].date().isoformat() == date[1]
    rows = {row["name"]: float(row["minutes"]) for row in README_ROW.finditer(readme)}
    assert list(rows) == [path.stem for path in LESSONS + SOLUTIONS]
    for path in LESSONS + SOLUTIONS:
        started, ended = _span(path)
        assert rows[path.stem] == pytest.approx((ended - started).total_seconds() / 60, abs=0.051), path.name
