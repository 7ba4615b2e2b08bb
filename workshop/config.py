"""Where things are, read once from the environment.

Every setting has a default that works on a learner's laptop with internet access; air-gapped
rooms override them with environment variables (see README, "Offline mode"). What
`workshop/setup.sh` chose is recorded in a settings file (`.workshop.env` at the repository root,
KEY=VALUE lines) and read here, so that a new terminal, Jupyter and pytest see the same choices
without exporting anything; a variable set in the environment always wins over the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The settings file setup.sh writes; WORKSHOP_SETTINGS names another one, or "" for none.
SETTINGS_FILE = Path(os.environ.get("WORKSHOP_SETTINGS", REPO_ROOT / ".workshop.env")) \
    if os.environ.get("WORKSHOP_SETTINGS") != "" else None


def read_settings(path: Path | None = SETTINGS_FILE) -> dict[str, str]:
    """KEY=VALUE lines of `path` (blank lines and # comments skipped); {} if there is no file."""
    if path is None or not path.is_file():
        return {}
    settings = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{path}, line {number}: expected KEY=VALUE, found {line!r}. "
                             "Run `bash workshop/setup.sh` again to rewrite it.")
        settings[key.strip()] = value.strip()
    return settings


def write_setting(key: str, value: str, path: Path | None = SETTINGS_FILE) -> Path:
    """Set KEY=VALUE in the settings file (replacing the key's line, or adding one); return the file."""
    if path is None:
        raise ValueError("WORKSHOP_SETTINGS is empty: there is no settings file to write to")
    lines = path.read_text().splitlines() if path.is_file() else []
    kept = [line for line in lines if line.partition("=")[0].strip() != key]
    path.write_text("\n".join([*kept, f"{key}={value}"]) + "\n")
    return path


# Set before anything below reads the environment, and before transformers is imported anywhere
# (HF_HUB_OFFLINE is read at import); child processes (docker, Jupyter kernels) inherit them.
for _key, _value in read_settings().items():
    os.environ.setdefault(_key, _value)

#: Read-only folder with the local model and data set (never copied into the repo).
SHARED_DIR = Path(os.environ.get("WORKSHOP_SHARED", REPO_ROOT.parent / "shared")).resolve()

#: Offline mode: a local model folder in Hugging Face layout. When set, containers get it
#: mounted read-only and MODEL_ID points at it; when unset, images download from the hub.
MODEL_DIR = Path(os.environ["WORKSHOP_MODEL_DIR"]).resolve() if os.environ.get("WORKSHOP_MODEL_DIR") else None

#: The docker CLI used for builds (BuildKit). Everything else goes through the Docker SDK.
#: setup.sh records one that can build (see workshop.dockercli) when plain `docker` cannot.
DOCKER_CLI = os.environ.get("WORKSHOP_DOCKER", "docker")

#: The model the app uses when MODEL_ID is not set (the tutorial's).
DEFAULT_MODEL_ID = "distilbert-base-uncased-finetuned-sst-2-english"

#: Where containers see the offline model folder.
CONTAINER_MODEL_DIR = "/models/local"

#: The repository every workshop image is tagged in (tests set another one to stay apart).
IMAGE_REPO = os.environ.get("WORKSHOP_IMAGE_REPO", "bert-classifier")

#: Where workshop/current-engine.sh keeps the current Docker engine it runs beside Debian 12's
#: (sid's packages, the engine's data root): `python -m workshop clean` stops it and deletes its data.
ENGINE_DIR = Path(os.environ.get("WORKSHOP_ENGINE_DIR", "/var/lib/workshop-engine"))

#: Per-user cache of measurements that are slow to repeat (compressed layer sizes, image reads).
CACHE_DIR = Path(os.environ.get("WORKSHOP_CACHE_DIR", Path.home() / ".cache" / "workshop")).expanduser()

_BUILD_LEDGER = os.environ.get("WORKSHOP_BUILD_LEDGER")


def build_ledger() -> Path:
    """Append-only JSON-lines record of every successful build (see `workshop.build`): lesson 10
    reads the cold build times from it instead of emptying the build cache again.
    WORKSHOP_BUILD_LEDGER, else builds.jsonl in CACHE_DIR (as CACHE_DIR is when asked)."""
    return Path(_BUILD_LEDGER).expanduser() if _BUILD_LEDGER else CACHE_DIR / "builds.jsonl"

#: Where `python -m workshop.journey` and notebook 07 write their measurements and charts.
RESULTS_DIR = Path(os.environ.get("WORKSHOP_RESULTS_DIR", REPO_ROOT / "results")).expanduser()

#: A classroom package cache (`python -m workshop cache serve` on the instructor's machine): its
#: base URL, e.g. http://192.168.1.10:5000. When set, every build's pip goes through it, for
#: PyPI and PyTorch's CPU wheels alike (the cache serves both on one index).
PACKAGE_CACHE = os.environ.get("WORKSHOP_PACKAGE_CACHE", "").rstrip("/") or None

#: PyPI's package index (the images' pip default; the lock's hashes are its files').
PYPI_INDEX = "https://pypi.org/simple"

#: PyTorch's CPU-only wheel index, where every image's torch comes from (PyPI's torch for Linux
#: x86_64 is the CUDA build). The Dockerfiles carry the same URL as the TORCH_INDEX_URL default.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


#: A local stand-in for TORCH_CPU_INDEX (workshop/offline.sh starts one), or None.
LOCAL_TORCH_INDEX = os.environ.get("WORKSHOP_TORCH_INDEX_URL") or None

#: The folder of that local index (workshop/offline.sh fills it: simple/torch/ holds the wheel).
WHEELHOUSE = Path(os.environ.get("WORKSHOP_WHEELHOUSE") or "/var/tmp/workshop-wheelhouse")

#: An image holding the model's files in /model, built from instead of the Hub (build arg
#: MODEL_SOURCE; workshop/offline.sh makes one), or None.
MODEL_IMAGE = os.environ.get("WORKSHOP_MODEL_IMAGE") or None

#: How many fresh containers to start to time a first answer, where a call does not say: the
#: journey's (default 5) and the lessons' (default 3). CI starts one; None: each one's default.
JOURNEY_STARTS = int(os.environ["WORKSHOP_JOURNEY_STARTS"]) if os.environ.get("WORKSHOP_JOURNEY_STARTS") else None


def _build_args() -> dict[str, str]:
    args = {}
    if PACKAGE_CACHE:
        args["PIP_INDEX_URL"] = args["TORCH_INDEX_URL"] = f"{PACKAGE_CACHE}/index/"
        # The cache speaks plain http on the room's network: pip uses such an index only for a
        # host it is told to trust (it trusts loopback alone by itself).
        args["PIP_TRUSTED_HOST"] = urlsplit(PACKAGE_CACHE).hostname or ""
    # Offline stand-ins: a local index with the CPU torch wheel (for TORCH_CPU_INDEX) and an image
    # holding the model folder (for the Hub); workshop/offline.sh prepares both. An explicit local
    # torch index wins over the cache's.
    if LOCAL_TORCH_INDEX:
        args["TORCH_INDEX_URL"] = LOCAL_TORCH_INDEX
    if MODEL_IMAGE:
        args["MODEL_SOURCE"] = MODEL_IMAGE
    if "MODEL_SOURCE" in args and MODEL_DIR is not None:
        # The images' model labels then name the local model, not the Hub's: a folder has no
        # revision, and its README states no licence of its own.
        args.update(MODEL_ID=MODEL_DIR.name, MODEL_REVISION="local-folder", MODEL_LICENSE="NOASSERTION")
    return args


#: Build args for the downloads: the classroom cache and the offline stand-ins. build() passes
#: each one only to a Dockerfile that declares that ARG; on a learner's machine with internet
#: access none is set and the Dockerfiles' defaults apply.
BUILD_ARGS = _build_args()


#: The network of every build's RUN steps: unset (Docker's default, with internet access) on a
#: learner's machine; "host" where the builds' package index listens on the machine's loopback
#: (offline rooms and our CI: setup.sh --offline records it). It is part of BuildKit's cache key,
#: so the builds you type and the workshop's helpers must agree on it.
BUILD_NETWORK = os.environ.get("WORKSHOP_BUILD_NETWORK") or None


def offline() -> bool:
    """True when images must not reach the Hugging Face Hub."""
    return MODEL_DIR is not None


def dockerfile(name: str) -> Path:
    """Path of ``dockerfiles/<name>.Dockerfile``."""
    return REPO_ROOT / "dockerfiles" / f"{name}.Dockerfile"
