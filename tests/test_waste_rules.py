"""waste.py's rules, one row each: a stack of layers, dive's wasted bytes, ours, and how ours differs.

Each row is one rule of waste.py's docstring, written as the layers a Dockerfile step leaves
(the entries a layer tar lists). No Docker, no tar: `squash` and `dive_figures` on the entries.
The images behind the rules are in tests/test_dive_compat.py, against the dive binary.
"""

from __future__ import annotations

import pytest

from workshop.imagetar import Entry
from workshop.waste import DELETED, DELETED_WITH_DIR, KEPT, OPAQUE, OVERWRITTEN, REPLACED, dive_figures, squash, waste_rows


def d(path: str) -> Entry:
    return Entry(path, "dir", 0, is_dir=True)


def f(path: str, size: int, digest: int = 0) -> Entry:
    return Entry(path, "file", size, digest=digest or size)


def wh(path: str) -> Entry:
    """The whiteout that deletes `path`."""
    parent, _, name = path.rpartition("/")
    return Entry(f"{parent}/.wh.{name}" if parent else f".wh.{name}", "whiteout", 0)


def opq(directory: str) -> Entry:
    return Entry(f"{directory}/.wh..wh..opq", "opaque", 0)


#: rule -> (layers, dive's wasted bytes, our wasted bytes, {how: bytes} for the bytes dive misses)
RULES = {
    # A path seen as a leaf in two layers: every copy counts in dive's figure, the survivor too.
    "overwritten": ([[f("app.py", 100, 1)], [f("app.py", 150, 2)]], 250, 250, {}),
    # The same bytes copied again (COPY of an unchanged file in a later layer): both copies count.
    "copied again": ([[f("app.py", 100, 1)], [f("app.py", 100, 1)]], 200, 200, {}),
    # A file deleted in a later layer: its whiteout is a leaf of size 0 at the same path.
    "deleted file": ([[f("big.bin", 100)], [wh("big.bin")]], 100, 100, {}),
    # rm -rf lists/* expands to one whiteout per file: each path is a leaf twice, dive counts it.
    "deleted by a glob": ([[d("lists"), f("lists/a", 100), f("lists/b", 200)], [wh("lists/a"), wh("lists/b")]],
                          300, 300, {}),
    # rm -rf /data: the files under /data are leaves once each, /data a leaf only as the whiteout.
    "deleted directory": ([[d("data"), f("data/x", 100), f("data/y", 200)], [wh("data")]], 0, 300,
                          {DELETED_WITH_DIR: 300}),
    # ... unless a layer below had the directory empty (a leaf there): then dive counts the
    # whiteout at the size of what it deletes.
    "deleted directory once empty": ([[d("lists")], [d("lists"), f("lists/p", 500)], [wh("lists")]], 500, 500, {}),
    # rm -rf /tmp/x && mkdir /tmp/x in one RUN: an opaque marker, which dive never reads.
    "opaque directory": ([[d("cache"), f("cache/x", 100)], [d("cache"), opq("cache"), f("cache/y", 10)]], 0, 100,
                         {OPAQUE: 100}),
    # A directory replaced by a file: no path is a leaf twice.
    "directory replaced by a file": ([[d("conf"), f("conf/a", 100)], [f("conf", 5)]], 0, 100, {REPLACED: 100}),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_waste_rule(rule):
    layers, dive_wasted, ours, missed = RULES[rule]
    dive = dive_figures(layers, [sum(entry.size for entry in layer) for layer in layers])
    rows = waste_rows(squash(layers), dive)
    assert dive.wasted_bytes == dive_wasted
    assert sum(row["wasted_bytes"] for row in rows) == ours
    only_ours: dict[str, int] = {}
    for row in rows:
        if not row["counted_by_dive"]:
            only_ours[row["how"]] = only_ours.get(row["how"], 0) + row["wasted_bytes"]
    assert only_ours == missed


def test_the_rules_name_every_way_bytes_are_lost():
    """Together the rows meet each way waste_rows names: deleted, with a directory, hidden by an
    opaque one, overwritten, replaced, and kept (a copy dive counts though it ships)."""
    hows = set()
    for layers, *_ in RULES.values():
        dive = dive_figures(layers, [sum(entry.size for entry in layer) for layer in layers])
        hows |= {row["how"] for row in waste_rows(squash(layers), dive)}
    assert hows == {DELETED, DELETED_WITH_DIR, OPAQUE, OVERWRITTEN, REPLACED, KEPT}
