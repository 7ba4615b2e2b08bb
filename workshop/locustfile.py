"""The soak's traffic, for locust: users of the classifier's API, and clients that get it wrong.

    locust -f workshop/locustfile.py --host http://127.0.0.1:8080 --sentences dev.tsv

`python -m workshop.soak` runs it against an image and reads locust's CSV files; run by hand,
locust's web UI shows the same figures live. Runs under locust (gevent), so nothing in the
workshop package imports it.

Each kind of request has its own name in locust's tables, and each checks the status it
expects: a 4xx that answers a bad input is a success, a 503 where a 200 was expected is a failure
("503 where 200 was expected"), so locust's failure table lists failures by kind.
"""

from __future__ import annotations

import csv
import json
import random
from typing import Any

import requests
from locust import HttpUser, between, events, task

#: Short reviews, for texts of every length: SST-2's dev sentences (the --sentences file).
SENTENCES: list[str] = []


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--sentences", required=True, help="a TSV file with a 'content' column (SST-2's dev.tsv)")


@events.init.add_listener
def _load_sentences(environment, **_) -> None:
    with open(environment.parsed_options.sentences, encoding="utf-8", newline="") as file:
        SENTENCES[:] = [row["content"] for row in csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)]


def long_text(length: int | None = None) -> str:
    """Sentences joined to `length` characters (random: 1,000 to 3,000); the model reads ~2,000."""
    length = length or random.randint(1000, 3000)
    text = ""
    while len(text) < length:
        text += random.choice(SENTENCES) + " "
    return text


@events.test_start.add_listener
def _largest_first(environment, **_) -> None:
    """Before the users: the largest request of each kind once, so that the model's buffers (ONNX
    Runtime keeps what it allocated) reach their size first, and memory that grows after the
    warm-up means a leak, not a longer text than any so far."""
    for body in ({"text": long_text(3000)}, {"texts": sorted(SENTENCES, key=len)[-8:]}):
        requests.post(f"{environment.host}/classify", json=body, timeout=60).raise_for_status()


#: Bad inputs, each with the status its answer must have: (name, method, path, keyword arguments).
MISTAKES: list[tuple[str, int, str, str, dict[str, Any]]] = [
    ("bad: not JSON", 400, "POST", "/classify", {"data": b"{text: oops", "headers": {"Content-Type": "application/json"}}),
    ("bad: empty text", 400, "POST", "/classify", {"json": {"text": "  "}}),
    ("bad: text not a string", 400, "POST", "/classify", {"json": {"text": ["a list"]}}),
    ("bad: 65 texts", 422, "POST", "/classify", {"json": {"texts": ["fine"] * 65}}),
    ("bad: 100,001 characters", 422, "POST", "/classify", {"json": {"text": "a" * 100_001}}),
    ("bad: 1.5 MB body", 413, "POST", "/classify", {"data": json.dumps({"text": "b" * 1_500_000})}),
    ("bad: upload not UTF-8", 400, "POST", "/classify-file", {"files": {"file": ("scan.bin", bytes(range(256)) * 4)}}),
    ("bad: no file field", 400, "POST", "/classify-file", {"files": {"upload": ("review.txt", b"fine")}}),
    ("bad: unknown path", 404, "GET", "/classify/all", {}),
    ("bad: wrong method", 405, "GET", "/classify", {}),
]


class Reader(HttpUser):
    """Someone's script: mostly one short review at a time, sometimes a long one, a batch or a file."""

    wait_time = between(0.5, 2.0)

    def expect(self, name: str, status: int, method: str, path: str, **kwargs) -> None:
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            if response.status_code == 0:
                return  # no answer at all: locust reports the connection's error as the failure
            if response.status_code != status:
                return response.failure(f"{response.status_code} where {status} was expected")
            try:
                body = response.json()
            except ValueError:
                return response.failure(f"{status} without a JSON body")
            needed = "error" if status >= 400 else "result" if path.startswith("/classify") else None
            if needed and needed not in body:
                return response.failure(f'{status} without "{needed}"')
            response.success()  # the answer it should be, a 4xx included

    @task(10)
    def short_review(self) -> None:
        self.expect("short review", 200, "POST", "/classify", json={"text": random.choice(SENTENCES)})

    @task(2)
    def long_review(self) -> None:
        self.expect("long review", 200, "POST", "/classify", json={"text": long_text()})

    @task(2)
    def batch(self) -> None:
        texts = random.sample(SENTENCES, 8)
        self.expect("batch of 8", 200, "POST", "/classify", json={"texts": texts})

    @task(2)
    def upload(self) -> None:
        text = " ".join(random.sample(SENTENCES, 5)).encode()
        self.expect("file upload", 200, "POST", "/classify-file", files={"file": ("review.txt", text)})

    @task(1)
    def health(self) -> None:
        self.expect("health", 200, "GET", "/health")

    @task(2)
    def mistake(self) -> None:
        name, status, method, path, kwargs = random.choice(MISTAKES)
        self.expect(name, status, method, path, **kwargs)
