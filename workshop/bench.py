"""How fast each image serves, and where the time goes: README's serving figures.

    python -m workshop.bench                          # production, final, onnx-int8; 3 rounds
    python -m workshop.bench final --rounds 1 --seconds 3

For each image, in alternating rounds (so that a busy moment of the machine hits every image
alike), a fresh container on the journey's CPU set: warm-up, then the p50 of one keep-alive
client and the requests per second of four, as lesson 10 measures them (`loadtest.load`), plus
the p50 of `GET /health` from the same client for two seconds (HTTP, gunicorn, Docker's port
forwarding: everything but the app's work). Then the model alone inside the image, on the same
CPUs: the classifier's `predict` on the same review, no HTTP.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

from workshop import config, journey, loadtest
from workshop.run import RunFailed, run_container, serve

#: The classifier alone, timed inside the image: load once, warm up, then the median of 200 calls.
MODEL_ALONE = f"""
import statistics, sys, time
sys.path.insert(0, ".")
from predictor import load_classifier
classifier = load_classifier()
for _ in range(20):
    classifier.predict([{loadtest.REVIEW!r}])
times = []
for _ in range(200):
    start = time.perf_counter()
    classifier.predict([{loadtest.REVIEW!r}])
    times.append(time.perf_counter() - start)
print(statistics.median(times) * 1000)
"""


def serving(tag: str, command: list[str], *, seconds: float, cpus: str | None) -> dict[str, float]:
    options = {"cpuset_cpus": cpus} if cpus else {}
    with serve(tag, command=command, **options) as server:
        url = server.url + "/classify"
        one, many = loadtest.latency_and_throughput(url, {"text": loadtest.REVIEW}, seconds=seconds,
                                                    warmup=min(2.0, seconds), concurrency=4, away_from=cpus)
        health = loadtest.load(server.url + "/health", None, seconds=min(2.0, seconds), away_from=cpus)
    return {"p50_ms": one.p50_ms, "rps_4_clients": many.per_second, "health_p50_ms": health.p50_ms,
            "errors": one.errors + many.errors + health.errors}


def model_alone_ms(tag: str, *, cpus: str | None) -> float:
    """The images measured here have their model baked in: nothing to mount."""
    options = {"cpuset_cpus": cpus} if cpus else {}
    done = run_container(tag, ["-c", MODEL_ALONE], entrypoint=["python3"], **options)  # every image has python3
    if done.exit_code:
        raise RunFailed(f"{tag}: the model alone failed:\n{done.stderr[-2000:]}", exit_code=done.exit_code, tail=done.stderr)
    return float(done.stdout.split()[-1])


def bench(names: list[str], *, rounds: int = 3, seconds: float = 5.0, cpus: str | None = None) -> pd.DataFrame:
    cpus = cpus if cpus is not None else loadtest.default_cpus()
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            tag = f"{config.IMAGE_REPO}:{name}"
            rows[name].append(serving(tag, journey.serve_command(name), seconds=seconds, cpus=cpus))
    return pd.DataFrame({
        name: {"p50 (ms)": " / ".join(f"{r['p50_ms']:.1f}" for r in runs),
               "req/s, 4 clients": " / ".join(f"{r['rps_4_clients']:.0f}" for r in runs),
               "GET /health p50 (ms)": f"{statistics.median(r['health_p50_ms'] for r in runs):.1f}",
               "model alone (ms)": f"{model_alone_ms(f'{config.IMAGE_REPO}:{name}', cpus=cpus):.1f}",
               "errors": sum(r["errors"] for r in runs)}
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
