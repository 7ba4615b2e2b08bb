"""Shared fixtures: the real sentiment model, loaded once per test session."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium: Debian's own build (Playwright's browser downloads need more than PyPI)."""
    if CHROMIUM is None or importlib.util.find_spec("playwright") is None:
        why = ("needs a Chromium on PATH (Debian: apt-get install chromium) and Playwright "
               "(pip install -r requirements-dev.txt)")
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: they {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # As root (CI, containers) Chromium refuses to start inside its own sandbox.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


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
