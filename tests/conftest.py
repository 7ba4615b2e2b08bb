"""Shared fixtures: the real sentiment model, loaded once per test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_DIR = REPO_ROOT / "app"
# predictor and server are top-level modules, as in the images (WORKDIR /srv, app in /srv/app);
# the repo root makes `workshop` importable whatever directory pytest starts from.
sys.path[:0] = [str(APP_DIR), str(REPO_ROOT)]
# The tests never reach the Hugging Face Hub; set before transformers is first imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from workshop import config  # noqa: E402  (needs the sys.path line above)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The local sentiment model: env WORKSHOP_MODEL_DIR, else the shared folder's copy."""
    path = config.MODEL_DIR or config.SHARED_DIR / "models" / "sst2-minilm-l6"
    if not (path / "config.json").is_file():
        pytest.fail(f"no model in {path}: set WORKSHOP_MODEL_DIR or WORKSHOP_SHARED (see README)")
    return path


@pytest.fixture(scope="session")
def classifier(model_dir: Path):
    """The app's classifier on the local model (a transformers pipeline, about 10 s to load)."""
    import predictor

    return predictor.load_classifier(str(model_dir))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start test_torchcost's network-bound resolution now, if its tests are selected: the tests
    collected before it run while pip waits for PyPI."""
    for item in session.items:
        if (module := getattr(item, "module", None)) is not None and module.__name__.endswith("test_torchcost"):
            module.start_resolving()
            break
