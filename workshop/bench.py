"""How fast each image serves, and where the time goes: README's serving figures.

    python -m workshop.bench                          # production, final, onnx-int8; 3 rounds
    python -m workshop.bench final --rounds 1 --seconds 3

For each image, in alternating rounds (so that a busy moment of the machine hits every image
alike), a fresh container on the journey's CPU set: warm-up, then the p50 of one keep-alive
client and the requests per second of four, as lesson 10 measures them (`loadtest.load`), plus
the p50 of `GET /health` from the same client for two seconds (HTTP, gunicorn, Docker's port
forwarding: everything but the app's work). Then the model alone inside the image, on the same
CPUs: the classifier's `predict` on the same review, no HTTP, and its load (imports and model).
Last, where a start goes: the median of five fresh containers from `docker run` to the first
answer (as lesson 10 times it), next to five containers that only run `python3 -c pass` (created,
run and removed: what the engine and the interpreter take before the app does anything).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import pandas as pd

from workshop import config, images, journey, loadtest, measure
from workshop.run import RunFailed, run_container, serve

#: The classifier alone, timed inside the image: its load (imports and model), a warm-up, then
#: the median of 200 calls. Prints both, in seconds and milliseconds.
MODEL_ALONE = f"""
import statistics, sys, time
sys.path.insert(0, ".")
from predictor import load_classifier
loading = time.perf_counter()
classifier = load_classifier()
loaded = time.perf_counter() - loading
for _ in range(20):
    classifier.predict([{loadtest.REVIEW!r}])
times = []
for _ in range(200):
    start = time.perf_counter()
    classifier.predict([{loadtest.REVIEW!r}])
    times.append(time.perf_counter() - start)
print(loaded, statistics.median(times) * 1000)
"""


def serving(tag: str, command: list[str], *, seconds: float, cpus: str | None) -> dict[str, float]:
    options: dict[str, Any] = {"cpuset_cpus": cpus} if cpus else {}
    with serve(tag, command=command, **options) as server:
        url = server.url + "/classify"
        one, many = loadtest.latency_and_throughput(url, {"text": loadtest.REVIEW}, seconds=seconds,
                                                    warmup=min(2.0, seconds), concurrency=4, away_from=cpus)
        health = loadtest.load(server.url + "/health", None, seconds=min(2.0, seconds), away_from=cpus)
    return {"p50_ms": one.p50_ms, "rps_4_clients": many.per_second, "health_p50_ms": health.p50_ms,
            "errors": one.errors + many.errors + health.errors}


def model_alone(tag: str, *, cpus: str | None) -> tuple[float, float]:
    """Seconds to load the classifier (its imports, the model) and milliseconds per prediction,
    inside `tag`. The images measured here have their model baked in: nothing to mount."""
    options: dict[str, Any] = {"cpuset_cpus": cpus} if cpus else {}
    done = run_container(tag, ["-c", MODEL_ALONE], entrypoint=["python3"], **options)  # every image has python3
    if done.exit_code:
        raise RunFailed(f"{tag}: the model alone failed:\n{done.stderr[-2000:]}", exit_code=done.exit_code, tail=done.stderr)
    loaded, predict_ms = done.stdout.split()[-2:]
    return float(loaded), float(predict_ms)


def empty_start_s(tag: str, *, cpus: str | None, runs: int = 5) -> float:
    """Median seconds for a container of `tag` that runs `python3 -c pass`, created to removed."""
    options: dict[str, Any] = {"cpuset_cpus": cpus} if cpus else {}
    seconds = []
    for _ in range(runs):
        start = time.monotonic()
        run_container(tag, ["-c", "pass"], entrypoint=["python3"], **options)
        seconds.append(time.monotonic() - start)
    return statistics.median(seconds)


def start_s(name: str, *, cpus: str | None, runs: int = 5) -> float:
    """Median seconds from `docker run` to the first answer of POST /classify, fresh containers."""
    options: dict[str, Any] = {"cpuset_cpus": cpus} if cpus else {}
    tag = images.tag(name)
    return statistics.median(measure.time_to_first_answer(tag, runs=runs, command=images.serve_command(name), **options))


def bench(names: list[str], *, rounds: int = 3, seconds: float = 5.0, cpus: str | None = None) -> pd.DataFrame:
    cpus = cpus if cpus is not None else loadtest.default_cpus()
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            tag = images.tag(name)
            rows[name].append(serving(tag, images.serve_command(name), seconds=seconds, cpus=cpus))
    alone = {name: model_alone(images.tag(name), cpus=cpus) for name in names}
    starts = {name: start_s(name, cpus=cpus) for name in names}
    empty = {name: empty_start_s(images.tag(name), cpus=cpus) for name in names}
    return pd.DataFrame({
        name: {"p50 (ms)": " / ".join(f"{r['p50_ms']:.1f}" for r in runs),
               "req/s, 4 clients": " / ".join(f"{r['rps_4_clients']:.0f}" for r in runs),
               "GET /health p50 (ms)": f"{statistics.median(r['health_p50_ms'] for r in runs):.1f}",
               "model alone (ms)": f"{alone[name][1]:.1f}",
               "errors": sum(r["errors"] for r in runs),
               "start (s)": f"{starts[name]:.2f}",
               "model load (s)": f"{alone[name][0]:.2f}",
               "python3 -c pass (s)": f"{empty[name]:.2f}"}
        for name, runs in rows.items()
    }).T


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=["production", "final", "onnx-int8"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    cpus = loadtest.default_cpus()
    print(f"{time.strftime('%Y-%m-%d')}, {journey.machine()['cpu']}, containers on CPUs {cpus}; "
          f"model: {config.MODEL_DIR or 'the Hub model'}; one figure per round")
    print(bench(args.names, rounds=args.rounds, seconds=args.seconds, cpus=cpus).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
