"""workshop.bench, README's serving figures: one short round on the final image, on the real engine."""

from __future__ import annotations

import pytest

from workshop import bench, config
from workshop.build import build


@pytest.mark.docker
def test_one_round_on_the_final_image_measures_every_column():
    build("final", f"{config.IMAGE_REPO}:final", quiet=True)
    table = bench.bench(["final"], rounds=1, seconds=0.5)
    row = table.loc["final"]
    assert row["errors"] == 0
    assert float(row["p50 (ms)"]) > float(row["model alone (ms)"]) > 0  # HTTP adds to the model's time
    assert float(row["GET /health p50 (ms)"]) > 0 and float(row["req/s, 4 clients"]) > 0
    # A start is the engine's and Python's (an empty container) plus the app's, model load included.
    assert float(row["start (s)"]) > float(row["python3 -c pass (s)"]) > 0
    assert float(row["start (s)"]) > float(row["model load (s)"]) > 0
