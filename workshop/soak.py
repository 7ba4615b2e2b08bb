"""A soak: minutes of mixed traffic against an image's API on one CPU, its memory read every 10 s.

    python -m workshop.soak                       # the final image, 10 minutes, 8 locust users
    python -m workshop.soak --minutes 1 --users 4 --memory none

The image runs as lesson 09 runs it in production (`run.HARDENED`: read-only, no capabilities,
64 processes, one CPU), except for its memory limit: with `--memory auto` (the default) a
1-minute soak without a limit measures the container's peak first, and the soak runs under that
peak + 20 %, so an out-of-memory kill would show. The traffic is workshop/locustfile.py (locust,
a standard load tool): short and long reviews, batches, uploads and bad inputs, each checked for
the status it should get. Every 10 s the report gives the rate, p50/p99 over the last 10 s and
the container's memory as `docker stats` shows it; then locust's table by kind of request and its
failures by kind. It passes when nothing failed, the memory grew under 5 % after the warm-up and
the container was neither killed nor restarted.

Which tool measures what: locust's users wait between requests and open many connections, as a
crowd of scripts does (failures, memory and latency under mixed load); the journey's keep-alive
client (workshop.loadtest) sends one kind of request back to back and measures the model's own
latency and throughput; workshop.burst measures a crowd arriving at once.
"""

from __future__ import annotations

import argparse
import csv
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workshop import config, images, run
from workshop.loadtest import SST2_DEV, peak_memory

log = logging.getLogger(__name__)

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
#: How often the container's memory is read, and the report's rows.
INTERVAL = 10
#: The soak's memory limit with --memory auto: the peak a soak without a limit measured, plus this.
HEADROOM = 0.2
#: The shortest warm-up, in seconds: memory may still grow in it.
WARM_UP = 60
#: Memory may grow by less than this after the warm-up.
MAX_GROWTH = 0.05


def memory_in_use(container) -> int:
    """The container's memory as `docker stats` shows it: usage less the page cache it could drop."""
    stats = container.stats(stream=False, one_shot=True)["memory_stats"]
    inactive = stats.get("stats", {})
    return stats["usage"] - inactive.get("inactive_file", inactive.get("total_inactive_file", 0))


@dataclass
class Row:
    seconds: int
    requests_per_second: float
    p50_ms: float | None  # over the last 10 s (locust's current percentiles)
    p99_ms: float | None
    failures: int  # so far
    memory_bytes: int


@dataclass
class Soak:
    image: str
    seconds: int
    users: int
    mem_limit: int | None
    rows: list[Row]
    kinds: list[dict[str, str]]  # locust's _stats.csv: one row per kind of request, then "Aggregated"
    failures: list[dict[str, str]]  # locust's _failures.csv: kind, error, occurrences
    peak_bytes: int | None
    peak_source: str
    oom_killed: bool
    restarts: int
    server_errors: list[str] = field(default_factory=list)  # the container's log lines that report one
    problems: list[str] = field(default_factory=list)

    @property
    def warm_up(self) -> int:
        """Seconds after which memory must stay flat: the first half of the run, a minute at least.
        Memory rises for minutes while threads start and the allocators settle (README measured
        it flat from the fifth minute of ten); a leak keeps growing in the second half."""
        return max(WARM_UP, self.seconds // 2)

    def memory_growth(self, after: int | None = None) -> float:
        """From the sample at `after` seconds (default: the warm-up's end) to the highest one since."""
        since = [row.memory_bytes for row in self.rows if row.seconds >= (self.warm_up if after is None else after)]
        return max(since) / since[0] - 1 if len(since) > 1 else 0.0

    def failures_by_kind(self) -> str:
        return "; ".join(f"{f['Occurrences']} x {f['Name']}: {f['Error']}" for f in self.failures)

    def check(self) -> list[str]:
        """What went wrong, one sentence each; empty when the soak passed."""
        problems = []
        if self.failures:
            problems.append(f"requests failed: {self.failures_by_kind()}")
        if len([row for row in self.rows if row.seconds >= self.warm_up]) < 2:
            problems.append("too short to tell whether memory grows: run for 2 intervals after the warm-up at least")
        elif (growth := self.memory_growth()) >= MAX_GROWTH:
            problems.append(f"memory grew {100 * growth:.1f} % after the first {self.warm_up} s (at most {100 * MAX_GROWTH:g} %)")
        if self.oom_killed:
            problems.append(f"the kernel killed a process of the container for memory (limit {_mb(self.mem_limit)})")
        if self.restarts:
            problems.append(f"the container restarted {self.restarts} time(s)")
        if self.server_errors:
            problems.append(f"the server logged {len(self.server_errors)} error(s), the first: {self.server_errors[0]}")
        return problems

    def report(self, *, verdict: bool = True) -> str:
        limit = f"--memory {_mb(self.mem_limit)}" if self.mem_limit else "no memory limit"
        lines = [f"{self.image}: {self.seconds} s, {self.users} locust users, one CPU, {limit}",
                 f"{'s':>5} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6} {'memory':>9}"]
        for row in self.rows:
            lines.append(f"{row.seconds:>5} {row.requests_per_second:>6.1f} {_ms(row.p50_ms):>7} {_ms(row.p99_ms):>7} "
                         f"{row.failures:>6} {_mb(row.memory_bytes):>9}")
        lines.append(f"{'kind of request':<26} {'count':>6} {'failed':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
        for kind in self.kinds:
            lines.append(f"{kind['Name']:<26} {kind['Request Count']:>6} {kind['Failure Count']:>6} {kind['50%']:>7} "
                         f"{kind['99%']:>7} {float(kind['Max Response Time']):>7.0f}")
        lines.append(f"failures by kind: {self.failures_by_kind() or 'none'}")
        lines.append(f"memory: {100 * self.memory_growth():+.1f} % after the first {self.warm_up} s "
                     f"({100 * self.memory_growth(WARM_UP):+.1f} % after the first {WARM_UP} s); peak "
                     f"{_mb(self.peak_bytes)} ({self.peak_source}); OOM killed: {'yes' if self.oom_killed else 'no'}; "
                     f"restarts: {self.restarts}; server errors logged: {len(self.server_errors)}")
        if verdict:
            lines.append("passed" if not self.problems else "FAILED: " + " ".join(self.problems))
        return "\n".join(lines)


def _mb(size: int | None) -> str:
    return "?" if size is None else f"{size / 2**20:.0f} MiB"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def soak(image: str, *, seconds: int, users: int = 8, mem_limit: int | None = None) -> Soak:
    """Run the locust scenario against `image` for `seconds`; the container as lesson 09 runs it."""
    options: dict[str, Any] = {k: v for k, v in run.HARDENED.items() if k != "mem_limit"}
    if mem_limit:
        options["mem_limit"] = f"{mem_limit // 2**20}m"  # as `docker run --memory` is typed
    command = images.serve_command(image.rsplit(":", 1)[-1])
    with tempfile.TemporaryDirectory() as folder, run.serve(image, command=command, **options) as server:
        prefix = str(Path(folder) / "soak")
        locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", server.url,
                  "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
                  # Users finish the request they are in when the time is up: none is cut off.
                  "--stop-timeout", "30", "--csv", prefix, "--csv-full-history", "--only-summary",
                  "--loglevel", "WARNING", "--sentences", str(config.SHARED_DIR / SST2_DEV)]
        log.info("$ %s", " ".join(locust[2:]))
        began = time.time()
        process = subprocess.Popen(locust, stdout=subprocess.DEVNULL)
        memory: list[tuple[int, int]] = []
        while process.poll() is None:
            time.sleep(max(0.0, began + INTERVAL * (len(memory) + 1) - time.time()))
            if process.poll() is None:
                memory.append((int(time.time() - began), memory_in_use(server.container)))
        server.container.reload()
        state = server.container.attrs["State"]
        peak, source = peak_memory(server.container)
        rows = _rows(Path(prefix + "_stats_history.csv"), began, memory)
        result = Soak(image, seconds, users, mem_limit, rows, _read(prefix + "_stats.csv"),
                      _read(prefix + "_failures.csv"), peak, source, state["OOMKilled"], server.container.attrs["RestartCount"],
                      server_errors(server.container.logs(stdout=False).decode(errors="replace")))
    result.problems = result.check()
    return result


def server_errors(log: str) -> list[str]:
    """Lines of the server's log (stderr) that report a failure: gunicorn's errors (a worker that
    died or timed out) and the app's (an unhandled error's traceback); 4xx answers log at INFO."""
    return [line for line in log.splitlines() if any(mark in line for mark in ("[ERROR]", "[CRITICAL]", " ERROR ", "Traceback"))]


def _read(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def _rows(history: Path, began: float, memory: list[tuple[int, int]]) -> list[Row]:
    """One row per memory sample, with locust's aggregated figures of the same second (or the last before)."""
    totals = [row for row in _read(str(history)) if row["Name"] == "Aggregated"]
    rows = []
    for seconds, used in memory:
        last = next((row for row in reversed(totals) if int(row["Timestamp"]) <= began + seconds), totals[0] if totals else {})
        rows.append(Row(seconds, _number(last, "Requests/s") or 0.0, _number(last, "50%"), _number(last, "99%"),
                        int(_number(last, "Total Failure Count") or 0), used))
    return rows


def _number(row: dict[str, str], column: str) -> float | None:
    """A figure of locust's CSV, None where locust has none yet ("N/A")."""
    value = row.get(column, "N/A")
    return None if value in ("N/A", "") else float(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default=images.tag("final"))
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--users", type=int, default=8, help="locust users, each waiting 0.5 to 2 s between requests")
    parser.add_argument("--memory", default="auto",
                        help="the container's memory limit: 'auto' (a 1-minute soak's peak + 20 %%), 'none', or MiB")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    limit = None
    if args.memory == "auto":
        probe = soak(args.image, seconds=60, users=args.users)
        print("The peak, measured without a limit first:", probe.report(verdict=False), sep="\n", flush=True)
        if probe.peak_bytes is None:
            parser.error("the engine reports no peak memory: give --memory in MiB")
        limit = int(probe.peak_bytes * (1 + HEADROOM)) // 2**20 * 2**20
        print(f"The soak's limit: that peak + {100 * HEADROOM:g} %, {_mb(limit)}\n", flush=True)
    elif args.memory != "none":
        limit = int(float(args.memory)) * 2**20
    result = soak(args.image, seconds=round(args.minutes * 60), users=args.users, mem_limit=limit)
    print(result.report())
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
