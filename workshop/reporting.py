"""The journey's report, read and written: journey.json, its tables, its charts, README's block.

Pure presentation: nothing here measures or talks to Docker. `workshop.journey` measures and
calls `save`; lesson 10 and `python -m workshop.journey --readme` show what was saved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from workshop import config
from workshop.engine import human

#: Size groups of the stacked chart, bottom to top.
COMPONENTS = ("base OS + Python + app", "other Python packages", "torch + CUDA libraries", "model files")
#: README.md's journey block lies between these lines; `--update-readme` rewrites it.
README_START = "<!-- journey: written by python -m workshop.journey --update-readme -->"
README_END = "<!-- journey: end -->"


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


