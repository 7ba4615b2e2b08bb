"""Where things are: the workshop's settings, read once from the environment into `SETTINGS`.

Every setting has a default that works on a learner's laptop with internet access; air-gapped
rooms override them with environment variables (README, "Settings", lists them all). What
`workshop/setup.sh` chose is recorded in a settings file (`.workshop.env` at the repository root,
KEY=VALUE lines) and read here, so that a new terminal, Jupyter and pytest see the same choices
without exporting anything; a variable set in the environment always wins over the file.

`SETTINGS`, a frozen `Settings`, is built once per process from the environment (the file merged
in) and the defaults. Every module reads it, as `config.SETTINGS.image_repo` or by the module's
older names (`config.IMAGE_REPO`), which read it when asked; no other module reads a WORKSHOP_*
variable. What derives from a setting (the build ledger's path, the build args) is computed when
asked, so a test that swaps in `config.SETTINGS.replace(...)` is seen everywhere. An argument given
to a function wins over a setting.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
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

#: The model the app uses when MODEL_ID is not set (the tutorial's).
DEFAULT_MODEL_ID = "distilbert-base-uncased-finetuned-sst-2-english"

#: Where containers see the offline model folder.
CONTAINER_MODEL_DIR = "/models/local"

#: PyPI's package index (the images' pip default; the lock's hashes are its files').
PYPI_INDEX = "https://pypi.org/simple"

#: PyTorch's CPU-only wheel index, where every image's torch comes from (PyPI's torch for Linux
#: x86_64 is the CUDA build). The Dockerfiles carry the same URL as the TORCH_INDEX_URL default.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Settings:
    """Every WORKSHOP_* setting of the package, parsed once (`from_env`); paths derived from them
    are computed when asked. Tests swap in another with `config.SETTINGS.replace(field=value)`.

    The journey's fields are None when their variable is not set: `journey.Params.from_env` then
    keeps the notebook's own choice."""

    #: Read-only folder with the local model and data set (never copied into the repo).
    shared_dir: Path
    #: Offline mode: a local model folder in Hugging Face layout. When set, containers get it
    #: mounted read-only and MODEL_ID points at it; when unset, images download from the hub.
    model_dir: Path | None
    #: The docker CLI used for builds (BuildKit). Everything else goes through the Docker SDK.
    #: setup.sh records one that can build (see workshop.dockercli) when plain `docker` cannot.
    docker_cli: str
    #: The repository every workshop image is tagged in (tests set another one to stay apart).
    image_repo: str
    #: Where workshop/current-engine.sh keeps the current Docker engine it runs beside Debian 12's
    #: (sid's packages, the engine's data root): `python -m workshop clean` stops it and deletes its data.
    engine_dir: Path
    #: Per-user cache of measurements that are slow to repeat (compressed layer sizes, image reads).
    cache_dir: Path
    #: The build ledger when WORKSHOP_BUILD_LEDGER names one; None: `build_ledger` is in cache_dir.
    build_ledger_file: Path | None
    #: Where `python -m workshop.journey` and notebook 07 write their measurements and charts.
    results_dir: Path
    #: A classroom package cache (`python -m workshop cache serve` on the instructor's machine): its
    #: base URL, e.g. http://192.168.1.10:5000. When set, every build's pip goes through it, for
    #: PyPI and PyTorch's CPU wheels alike (the cache serves both on one index).
    package_cache: str | None
    #: A local stand-in for TORCH_CPU_INDEX (workshop/offline.sh starts one), or None.
    local_torch_index: str | None
    #: The folder of that local index (workshop/offline.sh fills it: simple/torch/ holds the wheel).
    wheelhouse: Path
    #: An image holding the model's files in /model, built from instead of the Hub (build arg
    #: MODEL_SOURCE; workshop/offline.sh makes one), or None.
    model_image: str | None
    #: The network of every build's RUN steps: unset (Docker's default, with internet access) on a
    #: learner's machine; "host" where the builds' package index listens on the machine's loopback
    #: (offline rooms and our CI: setup.sh --offline records it). It is part of BuildKit's cache key,
    #: so the builds you type and the workshop's helpers must agree on it.
    build_network: str | None
    #: How many fresh containers to start to time a first answer, where a call does not say: the
    #: journey's (default 5) and the lessons' (default 3). CI starts one; None: each one's default.
    journey_starts: int | None = None
    #: The journey's seconds of each load measurement.
    journey_seconds: float | None = None
    #: The journey's cpuset for every container ("1", "1-3"); "" for no pinning.
    journey_cpus: str | None = None
    #: Read images up to this many GB in the journey, or "all".
    journey_read_max_gb: float | Literal["all"] | None = None
    #: Gzip the layers not in the cache yet (WORKSHOP_JOURNEY_COMPRESSED 0/no/false: no).
    journey_compressed: bool | None = None
    #: Run the real dive CLI: "auto" (when it is on PATH), "yes" or "no".
    journey_dive: str | None = None
    #: Images the journey rebuilds after a one-line change: names, () for none, or "all".
    journey_rebuild: tuple[str, ...] | Literal["all"] | None = None
    #: Sentences of SST-2 dev to classify.
    journey_sentences: int | None = None
    #: Show an image's figures from an earlier run with the same image and parameters (0/no/false: no).
    journey_reuse: bool | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """The settings `environ` (os.environ, once the settings file is merged in) gives, each
        variable that is not set taking its default."""
        ledger = environ.get("WORKSHOP_BUILD_LEDGER")
        starts = environ.get("WORKSHOP_JOURNEY_STARTS")
        seconds = environ.get("WORKSHOP_JOURNEY_SECONDS")
        gb = environ.get("WORKSHOP_JOURNEY_READ_MAX_GB")
        compressed = environ.get("WORKSHOP_JOURNEY_COMPRESSED")
        rebuild = environ.get("WORKSHOP_JOURNEY_REBUILD")
        sentences = environ.get("WORKSHOP_JOURNEY_SENTENCES")
        reuse = environ.get("WORKSHOP_JOURNEY_REUSE")
        return cls(
            shared_dir=Path(environ.get("WORKSHOP_SHARED", REPO_ROOT.parent / "shared")).resolve(),
            model_dir=Path(environ["WORKSHOP_MODEL_DIR"]).resolve() if environ.get("WORKSHOP_MODEL_DIR") else None,
            docker_cli=environ.get("WORKSHOP_DOCKER", "docker"),
            image_repo=environ.get("WORKSHOP_IMAGE_REPO", "bert-classifier"),
            engine_dir=Path(environ.get("WORKSHOP_ENGINE_DIR", "/var/lib/workshop-engine")),
            cache_dir=Path(environ.get("WORKSHOP_CACHE_DIR", Path.home() / ".cache" / "workshop")).expanduser(),
            build_ledger_file=Path(ledger).expanduser() if ledger else None,
            results_dir=Path(environ.get("WORKSHOP_RESULTS_DIR", REPO_ROOT / "results")).expanduser(),
            package_cache=environ.get("WORKSHOP_PACKAGE_CACHE", "").rstrip("/") or None,
            local_torch_index=environ.get("WORKSHOP_TORCH_INDEX_URL") or None,
            wheelhouse=Path(environ.get("WORKSHOP_WHEELHOUSE") or "/var/tmp/workshop-wheelhouse"),
            model_image=environ.get("WORKSHOP_MODEL_IMAGE") or None,
            build_network=environ.get("WORKSHOP_BUILD_NETWORK") or None,
            journey_starts=_number(int, "WORKSHOP_JOURNEY_STARTS", starts) if starts else None,
            journey_seconds=_number(float, "WORKSHOP_JOURNEY_SECONDS", seconds) if seconds else None,
            journey_cpus=environ.get("WORKSHOP_JOURNEY_CPUS"),
            journey_read_max_gb=("all" if gb == "all" else _number(float, "WORKSHOP_JOURNEY_READ_MAX_GB", gb))
            if gb else None,
            journey_compressed=compressed not in ("0", "no", "false") if compressed else None,
            journey_dive=environ.get("WORKSHOP_JOURNEY_DIVE") or None,
            journey_rebuild=image_names(rebuild) if rebuild else None,
            journey_sentences=_number(int, "WORKSHOP_JOURNEY_SENTENCES", sentences) if sentences else None,
            journey_reuse=reuse not in ("0", "no", "false") if reuse else None,
        )

    def replace(self, **changes: Any) -> Settings:
        """These settings with `changes` (field=value) made; this object stays as it is."""
        return dataclasses.replace(self, **changes)

    @property
    def build_ledger(self) -> Path:
        """Append-only JSON-lines record of every successful build (see `workshop.build`): lesson 10
        reads the cold build times from it instead of emptying the build cache again.
        WORKSHOP_BUILD_LEDGER, else builds.jsonl in cache_dir."""
        return self.build_ledger_file or self.cache_dir / "builds.jsonl"

    @property
    def build_args(self) -> dict[str, str]:
        """Build args for the downloads: the classroom cache and the offline stand-ins. build() passes
        each one only to a Dockerfile that declares that ARG; on a learner's machine with internet
        access none is set and the Dockerfiles' defaults apply."""
        args = {}
        if self.package_cache:
            args["PIP_INDEX_URL"] = args["TORCH_INDEX_URL"] = f"{self.package_cache}/index/"
            # The cache speaks plain http on the room's network: pip uses such an index only for a
            # host it is told to trust (it trusts loopback alone by itself).
            args["PIP_TRUSTED_HOST"] = urlsplit(self.package_cache).hostname or ""
        # Offline stand-ins: a local index with the CPU torch wheel (for TORCH_CPU_INDEX) and an image
        # holding the model folder (for the Hub); workshop/offline.sh prepares both. An explicit local
        # torch index wins over the cache's.
        if self.local_torch_index:
            args["TORCH_INDEX_URL"] = self.local_torch_index
        if self.model_image:
            args["MODEL_SOURCE"] = self.model_image
        if "MODEL_SOURCE" in args and self.model_dir is not None:
            # The images' model labels then name the local model, not the Hub's: a folder has no
            # revision, and its README states no licence of its own.
            args.update(MODEL_ID=self.model_dir.name, MODEL_REVISION="local-folder", MODEL_LICENSE="NOASSERTION")
        return args

    def offline(self) -> bool:
        """True when images must not reach the Hugging Face Hub."""
        return self.model_dir is not None


def image_names(text: str) -> tuple[str, ...] | Literal["all"]:
    """A list of the workshop's images as a setting or an option gives it: "all", "none" (no
    image: ()) or names separated by commas."""
    if text == "all":
        return "all"
    return () if text == "none" else tuple(n.strip() for n in text.split(",") if n.strip())


_N = TypeVar("_N", int, float)


def _number(kind: type[_N], name: str, text: str) -> _N:
    """`text` as an int or a float; a ValueError names the variable (read at import, it stops every command)."""
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: expected {'a whole number' if kind is int else 'a number'}") from None


#: This process's settings: the environment over the settings file over the defaults.
SETTINGS = Settings.from_env(os.environ)

#: The names this module has always had for the settings (config.IMAGE_REPO...): each is its
#: SETTINGS field in upper case and reads SETTINGS when asked (__getattr__), so a test's replaced
#: SETTINGS is seen everywhere. Annotated here for mypy; an annotation alone makes no attribute.
SHARED_DIR: Path
MODEL_DIR: Path | None
DOCKER_CLI: str
IMAGE_REPO: str
ENGINE_DIR: Path
CACHE_DIR: Path
RESULTS_DIR: Path
PACKAGE_CACHE: str | None
LOCAL_TORCH_INDEX: str | None
WHEELHOUSE: Path
MODEL_IMAGE: str | None
JOURNEY_STARTS: int | None
BUILD_ARGS: dict[str, str]
BUILD_NETWORK: str | None


_OLD_NAMES = frozenset(__annotations__)


def __getattr__(name: str) -> Any:
    if name in _OLD_NAMES:
        return getattr(SETTINGS, name.lower())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_OLD_NAMES})


def build_ledger() -> Path:
    """Append-only JSON-lines record of every successful build (see `workshop.build`): lesson 10
    reads the cold build times from it instead of emptying the build cache again.
    WORKSHOP_BUILD_LEDGER, else builds.jsonl in CACHE_DIR (as SETTINGS are when asked)."""
    return SETTINGS.build_ledger


def offline() -> bool:
    """True when images must not reach the Hugging Face Hub."""
    return SETTINGS.offline()


def dockerfile(name: str) -> Path:
    """Path of ``dockerfiles/<name>.Dockerfile``."""
    return REPO_ROOT / "dockerfiles" / f"{name}.Dockerfile"
