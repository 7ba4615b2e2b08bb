"""Load and accuracy: what a running image's API answers, how fast, and how right.

Used by lesson 10's journey, by `workshop.bench` and by lessons and tests that compare images:
`load` (latency and throughput over loopback HTTP), `classify_all` and `labels_through` (labels
for many texts), `accuracy` and `agreement` against SST-2's dev set, and `peak_memory`.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import requests

from workshop import config, run

#: The text of every latency and throughput request (a sentence of SST-2's length).
REVIEW = "A gorgeous, witty, seductive movie that keeps you guessing right up to the last scene."
#: Texts per POST /classify when measuring accuracy.
CHUNK = 32
#: The SST-2 dev set in the shared folder (columns: label, sentence; label 1 = POSITIVE).
SST2_DEV = Path("data") / "sst2" / "dev.tsv"


def default_cpus(count: int | None = None) -> str | None:
    """CPUs for the containers: all but CPU 0 (left to the load generator) when there are two or more."""
    count = os.cpu_count() if count is None else count
    if not count or count < 2:
        return None
    return "1" if count == 2 else f"1-{count - 1}"


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


def cpu_set(text: str | None) -> set[int]:
    """The CPUs of a cpuset string such as "1", "1-3" or "0,2-3" (empty for None or "")."""
    cpus: set[int] = set()
    for part in filter(None, (text or "").split(",")):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def load(url: str, payload: dict | None, *, seconds: float, concurrency: int = 1, timeout: float = 60,
         away_from: str | None = None) -> Load:
    """POST `payload` to `url` (GET when it is None) from `concurrency` threads, back to back, for `seconds`.

    Each thread keeps one connection open (keep-alive) and sends the same JSON body: Python's
    own http.client, so the client adds as little as it can to what is measured. With
    `away_from` (the containers' cpuset), the threads run on the other CPUs of this process,
    so that the load generator never takes CPU time from the server it measures.
    A request counts as an error unless it gets a 200 with a JSON body (holding "result" for a POST);
    requests started before the deadline are waited for, so `elapsed` can pass `seconds` by one request.
    """
    target = urllib.parse.urlsplit(url)
    host = target.hostname
    if host is None:  # each thread's HTTPConnection would fail, leaving a load of no requests
        raise ValueError(f"no host name in the URL {url!r}")
    method, body = ("GET", None) if payload is None else ("POST", json.dumps(payload).encode())
    headers = {"Content-Type": "application/json"} if body else {}
    others = set(os.sched_getaffinity(0)) - cpu_set(away_from) if hasattr(os, "sched_getaffinity") else set()
    durations: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def client() -> None:
        if away_from and others:
            os.sched_setaffinity(0, others)  # this thread only (Linux: 0 is the calling thread)
        connection = http.client.HTTPConnection(host, target.port, timeout=timeout)
        try:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    connection.request(method, target.path, body, headers)
                    response = connection.getresponse()
                    answer = json.loads(response.read())
                    ok = response.status == 200 and (payload is None or "result" in answer)
                except (OSError, http.client.HTTPException, ValueError):
                    ok = False
                    connection.close()  # the next request opens a new connection
                took = time.perf_counter() - began
                with lock:
                    if ok:
                        durations.append(took)
                    else:
                        errors[0] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(durations, errors[0], time.perf_counter() - start, concurrency)


def latency_and_throughput(url: str, payload: dict, *, seconds: float, warmup: float, concurrency: int,
                           away_from: str | None = None) -> tuple[Load, Load]:
    """Warm up (`warmup` s at `concurrency`), then latency (one client) and throughput
    (`concurrency` clients), `seconds` each: how the journey and the bench measure serving."""
    load(url, payload, seconds=warmup, concurrency=concurrency, away_from=away_from)
    single = load(url, payload, seconds=seconds, concurrency=1, away_from=away_from)
    many = load(url, payload, seconds=seconds, concurrency=concurrency, away_from=away_from)
    return single, many


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
    return cast(list[str], labels)  # no failed request: every text has its label, none is None


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


