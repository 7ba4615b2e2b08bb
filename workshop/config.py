"""Where things are, read once from the environment.

Every setting has a default that works on a learner's laptop with internet access; our CI and
air-gapped classrooms override them with environment variables (see README, "Offline mode").
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Read-only folder with the local model and data set (never copied into the repo).
SHARED_DIR = Path(os.environ.get("WORKSHOP_SHARED", REPO_ROOT.parent / "shared")).resolve()

#: Offline mode: a local model folder in Hugging Face layout. When set, containers get it
#: mounted read-only and MODEL_ID points at it; when unset, images download from the hub.
MODEL_DIR = Path(os.environ["WORKSHOP_MODEL_DIR"]).resolve() if os.environ.get("WORKSHOP_MODEL_DIR") else None

#: The docker CLI used for builds (BuildKit). Everything else goes through the Docker SDK.
DOCKER_CLI = os.environ.get("WORKSHOP_DOCKER", "docker")

#: The model the app uses when MODEL_ID is not set (the tutorial's).
DEFAULT_MODEL_ID = "distilbert-base-uncased-finetuned-sst-2-english"

#: Where containers see the offline model folder.
CONTAINER_MODEL_DIR = "/models/local"

IMAGE_REPO = "bert-classifier"

#: Per-user cache of measurements that are slow to repeat (compressed layer sizes, image reads).
CACHE_DIR = Path(os.environ.get("WORKSHOP_CACHE_DIR", Path.home() / ".cache" / "workshop")).expanduser()

#: Append-only JSON-lines record of every successful build (see `workshop.build`): lesson 07
#: reads the cold build times from it instead of emptying the build cache again.
BUILD_LEDGER = Path(os.environ.get("WORKSHOP_BUILD_LEDGER", CACHE_DIR / "builds.jsonl")).expanduser()

#: Where `python -m workshop.journey` and notebook 07 write their measurements and charts.
RESULTS_DIR = Path(os.environ.get("WORKSHOP_RESULTS_DIR", REPO_ROOT / "results")).expanduser()

#: Offline stand-ins for the later chapters' downloads, as build args: a local index with the
#: CPU torch wheel (for https://download.pytorch.org/whl/cpu) and an image holding the model
#: folder (for the Hub). workshop/offline.sh prepares both. build() passes each one only to a
#: Dockerfile that declares that ARG; on a learner's machine none is set and the defaults apply.
OFFLINE_BUILD_ARGS = {
    arg: os.environ[env]
    for arg, env in (("TORCH_INDEX_URL", "WORKSHOP_TORCH_INDEX_URL"), ("MODEL_SOURCE", "WORKSHOP_MODEL_IMAGE"))
    if os.environ.get(env)
}


def offline() -> bool:
    """True when images must not reach the Hugging Face Hub."""
    return MODEL_DIR is not None


def dockerfile(name: str) -> Path:
    """Path of ``dockerfiles/<name>.Dockerfile``."""
    return REPO_ROOT / "dockerfiles" / f"{name}.Dockerfile"
