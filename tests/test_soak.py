"""The final image's API under load and through faults, on the real engine, as lesson 09 runs it.

A short soak with locust under the measured peak memory + 20 %, a worker killed mid-request,
`docker stop` with requests in flight, and bodies over the cap from plain clients (http.client
and curl). README's 10-minute figures come from `python -m workshop.soak`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest
import requests
from jsonhttp import send_first

from workshop import config, soak
from workshop.build import build
from workshop.run import HARDENED, serve

FINAL = f"{config.IMAGE_REPO}:final"
LONG = "A slow, tender film about a family that keeps its secrets until the very last scene. " * 30


@pytest.fixture(scope="module")
def final() -> str:
    build("final", FINAL, quiet=True)  # from the cache after setup or lesson 09
    return FINAL


@pytest.mark.docker
def test_a_short_soak_of_mixed_traffic_passes_under_its_peak_memory_plus_20_percent(final):
    """Locust's mixed traffic (reviews, batches, uploads, bad inputs) for a minute without a limit
    measures the peak; two minutes under peak + 20 %: no failure of any kind, no OOM kill, no error
    in the server's log, memory flat after the first minute."""
    probe = soak.soak(final, seconds=40, users=8)
    assert probe.peak_bytes and not probe.failures, probe.report()
    limited = soak.soak(final, seconds=120, users=8, mem_limit=int(probe.peak_bytes * (1 + soak.HEADROOM)))
    assert not limited.problems, limited.report()
    kinds = {kind["Name"] for kind in limited.kinds}
    assert {"short review", "long review", "batch of 8", "file upload"} <= kinds
    assert any(kind.startswith("bad: ") for kind in kinds)  # and each got its own 4xx, or it would have failed
    assert len(limited.rows) >= 11 and all(row.memory_bytes > 0 for row in limited.rows)


def test_the_soak_report_names_what_failed():
    """Failures by kind, memory growth after the warm-up, an OOM kill and an error in the server's
    log each fail the check in words; the log's 4xx lines do not."""
    rows = [soak.Row(s, 5.0, 20.0, 90.0, 0, 100 * 2**20 + s * 2**16) for s in range(10, 130, 10)]
    log = ("[2026-12-07 07:22:58 +0000] [1] [ERROR] Worker (pid:71) exited with code 255.\n"
           "2026-12-07 07:22:58,200 INFO server: 413 on POST /classify: 1500012 bytes\n")
    failed = soak.Soak("img", 120, 8, 120 * 2**20, rows, [], [{"Name": "long review", "Error": "503 where 200 was expected",
                                                               "Occurrences": "3"}], 110 * 2**20, "test", True, 0,
                       soak.server_errors(log))
    problems = " ".join(failed.check())
    assert "3 x long review: 503 where 200 was expected" in problems
    assert "memory grew" not in problems  # 103.8 to 107.5 MiB after the first minute: 3.6 %
    assert "killed a process of the container for memory (limit 120 MiB)" in problems
    assert "logged 1 error(s), the first: [2026-12-07 07:22:58 +0000] [1] [ERROR] Worker (pid:71) exited" in problems
    growing = soak.Soak("img", 120, 8, None, [soak.Row(s, 5.0, 20.0, 90.0, 0, 100 * 2**20 * (1 + s / 1000)) for s in (60, 90, 120)],
                        [], [], None, "test", False, 0)
    assert growing.check() == ["memory grew 5.7 % after the first 60 s (at most 5 %)"]
    short = soak.Soak("img", 60, 8, None, rows[:6], [], [], None, "test", False, 0)
    assert short.check() == ["too short to tell whether memory grows: run for 2 intervals after the warm-up at least"]


def worker_pids(container) -> list[int]:
    """Host PIDs of gunicorn's workers: the children of the container's first process (the master)."""
    container.reload()
    master = container.attrs["State"]["Pid"]
    top = container.top(ps_args="-o pid,ppid")
    return [int(pid) for pid, ppid in top["Processes"] if int(ppid) == master]


@pytest.mark.docker
def test_a_worker_killed_mid_request_fails_that_request_and_the_next_ones_are_served(final):
    """gunicorn's master starts a new worker: the request in flight gets a closed connection (no
    answer at all, not a 5xx), the next request is answered once the new worker has loaded the
    model, and the container neither stops nor restarts."""
    with serve(final, command=["serve"], **HARDENED) as server:
        started = server.container.attrs["State"]["StartedAt"]
        [worker] = worker_pids(server.container)
        outcome: dict[str, object] = {}

        def long_request() -> None:
            try:
                outcome["status"] = requests.post(f"{server.url}/classify", json={"texts": [LONG] * 64}, timeout=60).status_code
            except requests.ConnectionError as error:
                outcome["error"] = error

        client = threading.Thread(target=long_request)
        client.start()
        time.sleep(1)  # 64 long texts take seconds on one CPU: the request is being served
        os.kill(worker, signal.SIGKILL)
        client.join()
        assert "error" in outcome, f"the request was answered ({outcome}) before the worker was killed: make it longer"
        answer = requests.post(f"{server.url}/classify", json={"text": "a fine, warm film"}, timeout=120)
        assert answer.status_code == 200 and answer.json()["result"][0]["label"] == "POSITIVE"
        server.container.reload()
        state = server.container.attrs["State"]
        assert (state["Running"], state["StartedAt"], server.container.attrs["RestartCount"]) == (True, started, 0)
        assert worker_pids(server.container) not in ([], [worker])


@pytest.mark.docker
def test_docker_stop_answers_the_requests_in_flight_and_stops_within_10_s(final):
    """SIGTERM: gunicorn stops accepting, finishes what it has (graceful_timeout 5 s) and exits 0,
    before Docker's SIGKILL 10 s later. Six clients' requests in flight each get their 200."""
    with serve(final, command=["serve"], **HARDENED) as server:
        statuses: list[int | str] = []

        def client() -> None:
            try:
                statuses.append(requests.post(f"{server.url}/classify", json={"texts": [LONG] * 3}, timeout=30).status_code)
            except requests.RequestException as error:
                statuses.append(type(error).__name__)

        clients = [threading.Thread(target=client) for _ in range(6)]
        for thread in clients:
            thread.start()
        time.sleep(0.3)  # every request sent and read; most still queued for the model
        began = time.monotonic()
        server.container.stop(timeout=10)
        took = time.monotonic() - began
        for thread in clients:
            thread.join()
        assert statuses == [200] * 6, statuses
        assert took < 9, f"docker stop took {took:.1f} s: SIGKILL comes at 10 s"
        assert server.container.wait(timeout=10)["StatusCode"] == 0


@pytest.mark.docker
def test_plain_clients_read_the_413_of_a_body_over_the_cap_from_the_image(final, tmp_path):
    """8 MB to /classify, from http.client (sends first) and curl (asks `Expect: 100-continue`;
    gunicorn says continue before the app sees the request, so curl sends and the app drains):
    each reads the 413 and its JSON error. Over DRAIN_BODY_BYTES (16 MiB) the server answers
    and closes without reading: curl still reads the 413 it got while sending."""
    with serve(final, command=["serve"], **HARDENED) as server:
        body = json.dumps({"text": "x" * 8 * 10**6}).encode()
        status, _, answer = send_first(server.url, "/classify", body, "application/json")
        assert status == 413 and "MAX_BODY_BYTES" in answer["error"]
        for size in (8 * 10**6, 20 * 10**6):
            (tmp_path / "body.json").write_bytes(json.dumps({"text": "x" * size}).encode())
            curl = subprocess.run(["curl", "-sS", "-H", "Content-Type: application/json", "--data-binary", "@body.json",
                                   "-w", "\n%{http_code}", f"{server.url}/classify"],
                                  cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
            text, code = curl.stdout.rsplit("\n", 1)
            assert code == "413" and "MAX_BODY_BYTES" in json.loads(text)["error"], (size, curl.stdout, curl.stderr)
        assert server.get("/health").status_code == 200
