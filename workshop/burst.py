"""A burst of clients at once: how many requests the API serves, refuses, and how fast.

    python -m workshop.burst                         # the app's own server, python app/server.py
    python -m workshop.burst --image bert-classifier:final

64 clients (threads, each with its own keep-alive connection) send 4 short reviews each, all
starting together, while another process asks GET /health every 50 ms: the figures README's
"Serving" states. The health probe has a process of its own because in this one it would share
the GIL with the 64 client threads, and waiting for it added up to 60 ms to what it measured
(2026-12-07, ten bursts on the final image: 16 to 85 ms from a thread here, 8 to 28 ms from
another process). The app's server runs on this machine's loopback, pinned to one CPU
(taskset); an image runs with `--cpus 1`. The model's service time on one CPU is what
MAX_QUEUE_SECONDS is derived from.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from workshop import config, images, run
from workshop.loadtest import REVIEW, percentile

log = logging.getLogger(__name__)


@dataclass
class Burst:
    statuses: dict[int, int]
    seconds: list[float]  # of each 200, from sending to the last byte of the answer
    health_seconds: list[float]
    wall_seconds: float

    def summary(self, name: str) -> str:
        answered = self.statuses.get(200, 0)
        total = sum(self.statuses.values())
        others = ", ".join(f"{n} x {status}" for status, n in sorted(self.statuses.items()) if status != 200) or "none"
        return (f"{name}: {answered}/{total} answered 200 ({100 * answered / total:.1f} %), others: {others}; "
                f"200s p50 {1000 * percentile(self.seconds, 50):.0f} ms, p99 {1000 * percentile(self.seconds, 99):.0f} ms, "
                f"max {1000 * max(self.seconds, default=0):.0f} ms; GET /health max "
                f"{1000 * max(self.health_seconds, default=0):.0f} ms over {len(self.health_seconds)} probes; "
                f"burst took {self.wall_seconds:.2f} s")


def burst(host: str, port: int, *, clients: int = 64, requests_each: int = 4) -> Burst:
    statuses: dict[int, int] = {}
    seconds: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        start.wait()
        for i in range(requests_each):
            body = json.dumps({"text": f"{REVIEW} ({number}.{i})"})
            sent = time.perf_counter()
            try:
                connection.request("POST", "/classify", body=body, headers={"Content-Type": "application/json"})
                answer = connection.getresponse()
                answer.read()
                status = answer.status
            except OSError:
                status, connection = 0, http.client.HTTPConnection(host, port, timeout=60)  # 0: no answer
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    seconds.append(time.perf_counter() - sent)
        connection.close()

    # "spawn": a fresh interpreter, safe to start from a process that runs threads (a notebook's kernel).
    context = multiprocessing.get_context("spawn")
    probing, done, probed = context.Event(), context.Event(), context.Queue()
    probe = context.Process(target=_probe_health, args=(host, port, probing, done, probed), daemon=True)
    probe.start()
    if not probing.wait(timeout=60):
        probe.kill()
        raise RuntimeError(f"the health probe got no answer from http://{host}:{port}/health")
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    done.set()
    health = probed.get(timeout=60)
    probe.join(timeout=10)
    return Burst(statuses, seconds, health, wall)


def _probe_health(host: str, port: int, probing, done, probed) -> None:
    """GET /health every 50 ms until `done` is set, in a process of its own; puts the latencies on
    `probed`. The first answer sets `probing`: the burst starts once the probe runs."""
    connection = http.client.HTTPConnection(host, port, timeout=60)
    seconds: list[float] = []
    while not done.is_set():
        sent = time.perf_counter()
        connection.request("GET", "/health")
        connection.getresponse().read()
        seconds.append(time.perf_counter() - sent)
        probing.set()
        time.sleep(0.05)
    connection.close()
    probed.put(seconds)


@contextmanager
def app_server(port: int):
    """`python app/server.py` on loopback, with the shared model, until the block ends."""
    env = {**os.environ, "PORT": str(port), "MODEL_ID": str(config.MODEL_DIR or config.SHARED_DIR / "models" / "sst2-minilm-l6"),
           "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "WARNING"}
    # On one CPU, as an image runs with --cpus 1: the last one, so the load generator has the others.
    cpus = os.cpu_count() or 1
    pinned = ["taskset", "-c", str(cpus - 1)] if cpus > 1 else []
    process = subprocess.Popen([*pinned, sys.executable, "app/server.py"], cwd=config.REPO_ROOT, env=env)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("python app/server.py did not start") from None
                time.sleep(0.5)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.burst", description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", help="measure this image's API, served as lesson 10 serves it")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=4, help="per client")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.image:
        command = images.serve_command(args.image.rsplit(":", 1)[-1])  # as lesson 10 serves it
        with run.serve(args.image, command=command, read_only=True, tmpfs={"/tmp": ""}, nano_cpus=10**9) as server:
            host, port = server.url.removeprefix("http://").split(":")
            result = burst(host, int(port), clients=args.clients, requests_each=args.requests)
        name = f"{args.image} (--cpus 1)"
    else:
        with app_server(8097) as (host, port):
            result = burst(host, port, clients=args.clients, requests_each=args.requests)
        name = "python app/server.py (one CPU)"
    print(result.summary(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
