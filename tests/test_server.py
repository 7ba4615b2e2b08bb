"""The HTTP API over real HTTP on loopback: Flask's app in a werkzeug server, and under gunicorn."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
import requests
from conftest import REPO_ROOT
from jsonhttp import free_port, send_first
from predictor import Classifier
from server import Admission, Limits, create_app
from werkzeug.serving import make_server

POSITIVE = "What a wonderful, heartwarming film. I loved every minute of it."
NEGATIVE = "A dull, tedious mess. I hated every minute of it."
SMALL_LIMIT = 4096  # bytes; small enough to test 413 without megabytes of traffic
LIMITS = Limits(max_body_bytes=SMALL_LIMIT, max_texts=12, max_text_chars=1000)


@contextmanager
def serving(app):
    """Serve ``app`` on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture(scope="module")
def url(classifier):
    with serving(create_app(classifier, limits=LIMITS)) as base_url:
        yield base_url


def assert_error(response: requests.Response, status: int) -> str:
    """The response is a JSON error with this status; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and body["error"]
    return body["error"]


def test_health_names_the_model(url, model_dir):
    """GET /health answers ok with the model's name once the app is serving."""
    response = requests.get(f"{url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model": str(model_dir)}


def test_classify_one_text(url):
    """{"text"} gets a one-element result list with a label and a score."""
    response = requests.post(f"{url}/classify", json={"text": POSITIVE})
    assert response.status_code == 200
    [result] = response.json()["result"]
    assert set(result) == {"label", "score"}
    assert result["label"] == "POSITIVE" and 0.5 < result["score"] <= 1


def test_classify_many_texts_in_order(url):
    """{"texts"} gets one result per text, in the order sent."""
    response = requests.post(f"{url}/classify", json={"texts": [POSITIVE, NEGATIVE, POSITIVE]})
    assert response.status_code == 200
    assert [r["label"] for r in response.json()["result"]] == ["POSITIVE", "NEGATIVE", "POSITIVE"]


def test_classify_accepts_json_without_content_type(url):
    """A JSON body sent as plain data (curl -d without a header) is still read as JSON."""
    response = requests.post(f"{url}/classify", data=f'{{"text": "{NEGATIVE}"}}')
    assert response.status_code == 200
    assert [r["label"] for r in response.json()["result"]] == ["NEGATIVE"]


def test_classify_file(url):
    """A multipart upload in field "file" is classified and its filename echoed."""
    files = {"file": ("review.txt", POSITIVE.encode("utf-8"), "text/plain")}
    response = requests.post(f"{url}/classify-file", files=files)
    assert response.status_code == 200
    body = response.json()
    assert body["filename"] == "review.txt"
    assert [r["label"] for r in body["result"]] == ["POSITIVE"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": "  \n "},
        {"text": 42},
        {"text": None},
        {"text": ["a list"]},
        {"texts": "not a list"},
        {"texts": []},
        {"texts": ["fine", 3]},
        {"texts": ["fine", ""]},
        {"text": POSITIVE, "texts": [POSITIVE]},
        [POSITIVE],
        POSITIVE,
    ],
    ids=["no-text", "empty", "whitespace", "int", "null", "list-as-text", "texts-str",
         "texts-empty", "texts-int", "texts-empty-item", "both", "json-array", "json-string"],
)
def test_classify_rejects_bad_json(url, body):
    """Missing, empty or mistyped text(s) get a 400 JSON error."""
    assert_error(requests.post(f"{url}/classify", json=body), 400)


def test_classify_rejects_non_json_body(url):
    """A body that is not JSON gets a 400 JSON error."""
    headers = {"Content-Type": "application/json"}
    assert_error(requests.post(f"{url}/classify", data="text=hello", headers=headers), 400)


@pytest.mark.parametrize(
    "files",
    [
        {"document": ("review.txt", b"good", "text/plain")},
        {"file": ("review.txt", "caf\xe9".encode("latin-1"), "text/plain")},
        {"file": ("review.txt", b"", "text/plain")},
        {"file": ("review.txt", b"\n  \n", "text/plain")},
    ],
    ids=["wrong-field", "not-utf8", "empty", "whitespace"],
)
def test_classify_file_rejects_bad_upload(url, files):
    """A missing file field, or a file that is not UTF-8 text or is empty, gets a 400 JSON error."""
    assert_error(requests.post(f"{url}/classify-file", files=files), 400)


def test_classify_file_rejects_plain_json(url):
    """/classify-file without any multipart body gets a 400 JSON error."""
    assert_error(requests.post(f"{url}/classify-file", json={"text": POSITIVE}), 400)


def test_body_over_the_limit_is_413(url):
    """JSON and file bodies over max_body_bytes get a 413 JSON error naming the limit."""
    big_text = "word " * SMALL_LIMIT
    message = assert_error(requests.post(f"{url}/classify", json={"text": big_text}), 413)
    assert str(SMALL_LIMIT) in message
    files = {"file": ("big.txt", big_text.encode("utf-8"), "text/plain")}
    assert_error(requests.post(f"{url}/classify-file", files=files), 413)


def test_body_limit_defaults_to_env_max_body_bytes(classifier, monkeypatch):
    """Without max_body_bytes, the limit comes from env MAX_BODY_BYTES."""
    monkeypatch.setenv("MAX_BODY_BYTES", "100")
    with serving(create_app(classifier)) as base_url:
        assert_error(requests.post(f"{base_url}/classify", json={"text": "x" * 200}), 413)
        assert requests.post(f"{base_url}/classify", json={"text": POSITIVE}).status_code == 200


def test_default_limits_and_an_upload_far_over_them_gets_its_413(classifier, monkeypatch):
    """With neither argument nor env: a body just over 1 MiB gets a 413, and so does an upload of
    12 MB (read to its end, so the client gets the answer instead of a broken pipe)."""
    for var in ("MAX_BODY_BYTES", "MAX_TEXTS", "MAX_TEXT_CHARS", "MAX_QUEUE_SECONDS", "MODEL_WAIT_SECONDS", "DRAIN_BODY_BYTES"):
        monkeypatch.delenv(var, raising=False)
    assert Limits.from_env() == Limits() and Limits().max_body_bytes == 1024 * 1024
    with serving(create_app(classifier)) as base_url:
        body = b'{"text": "' + b"x" * (1024 * 1024) + b'"}'
        assert_error(requests.post(f"{base_url}/classify", data=body), 413)
        files = {"file": ("book.txt", b"word " * (12 * 10**6 // 5), "text/plain")}
        assert_error(requests.post(f"{base_url}/classify-file", files=files), 413)


def test_chunked_body_over_the_limit_is_413(url):
    """A body sent in chunks (no Content-Length) is cut off at the limit with a 413: JSON, and an upload."""
    chunks = (b'{"text": "' if i == 0 else b"word " * 500 for i in range(10))
    assert_error(requests.post(f"{url}/classify", data=chunks), 413)
    upload = requests.Request("POST", f"{url}/classify-file",
                              files={"file": ("big.txt", b"word " * SMALL_LIMIT, "text/plain")}).prepare()
    body = upload.body
    chunked = (body[i:i + 1024] for i in range(0, len(body), 1024))
    headers = {"Content-Type": upload.headers["Content-Type"]}
    assert_error(requests.post(f"{url}/classify-file", data=chunked, headers=headers), 413)


def test_an_upload_under_the_limit_is_parsed_without_a_temporary_file(classifier, monkeypatch):
    """werkzeug writes an upload over 500 KB to a temporary file, and /tmp is not writable on a
    read-only root filesystem: the app keeps uploads in memory. Here no temporary file can be made,
    and 600 KB (under the default 1 MiB) gets the answer about its length, not a 500."""
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    monkeypatch.delenv("MAX_BODY_BYTES", raising=False)
    with serving(create_app(classifier)) as base_url:
        files = {"file": ("long.txt", b"word " * (600 * 1000 // 5), "text/plain")}
        message = assert_error(requests.post(f"{base_url}/classify-file", files=files), 422)
    assert "MAX_TEXT_CHARS" in message


def test_too_many_texts_or_characters_is_422_naming_the_cap(url):
    """More texts than max_texts, or a text longer than max_text_chars, get a 422 naming the cap."""
    message = assert_error(requests.post(f"{url}/classify", json={"texts": ["fine"] * 13}), 422)
    assert "at most 12 texts" in message and "MAX_TEXTS" in message
    message = assert_error(requests.post(f"{url}/classify", json={"text": "a" * 1001}), 422)
    assert "1000 characters" in message and "MAX_TEXT_CHARS" in message
    files = {"file": ("long.txt", b"a" * 1001, "text/plain")}
    assert "MAX_TEXT_CHARS" in assert_error(requests.post(f"{url}/classify-file", files=files), 422)
    assert requests.post(f"{url}/classify", json={"texts": ["fine"] * 12}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [b'{"text": "\\ud800 half a character"}', b"[" * 1500 + b"]" * 1500, b'{"text": "\xff"}'],
    ids=["lone-surrogate", "deep-nesting", "not-utf8"],
)
def test_malformed_bodies_get_a_4xx_and_one_log_line(url, body, caplog):
    """JSON that parses to no text the model can read, or that no parser should follow, is a 400."""
    with caplog.at_level(logging.INFO, logger="server"):
        assert_error(requests.post(f"{url}/classify", data=body), 400)
    [line] = [r.getMessage() for r in caplog.records if r.name == "server"]
    assert line.startswith("400 on POST /classify: ")


def test_batches_are_small_sorted_by_length_and_answers_keep_their_order(classifier):
    """20 texts of mixed lengths: the model sees batches of at most BATCH_SIZE similar lengths,
    and each answer is the one the text gets alone."""
    import predictor

    batches = []

    def recording(texts):
        batches.append([len(t) for t in texts])
        return classifier.predict(texts)

    texts = [(POSITIVE if i % 3 else NEGATIVE) + " really" * (i * 7 % 20) for i in range(20)]
    with serving(create_app(Classifier(classifier.name, recording), limits=Limits())) as base_url:
        batches.clear()  # the warm-up
        together = requests.post(f"{base_url}/classify", json={"texts": texts}).json()["result"]
        alone = [requests.post(f"{base_url}/classify", json={"text": t}).json()["result"][0] for t in texts]
    assert [r["label"] for r in together] == [r["label"] for r in alone]
    first = batches[: -len(texts)]
    assert sum(map(len, first)) == 20 and max(map(len, first)) <= predictor.BATCH_SIZE
    assert [n for b in first for n in b] == sorted(len(t) for t in texts)


def test_unknown_path_is_json_404(url):
    """An unknown URL gets a 404 JSON error, not Flask's HTML page."""
    assert_error(requests.get(f"{url}/nope"), 404)


def test_wrong_method_is_json_405_with_allow(url):
    """GET on a POST-only endpoint gets a 405 JSON error and the Allow header HTTP asks for."""
    response = requests.get(f"{url}/classify")
    assert_error(response, 405)
    assert "POST" in response.headers["Allow"]


TRIGGER = "please fail"
SECRET = "secret-db-password-in-traceback"


def failing(real: Classifier) -> Classifier:
    """The real model, except that a text containing TRIGGER raises an error carrying SECRET."""
    def predict(texts: list[str]) -> list[dict]:
        if any(TRIGGER in text for text in texts):
            raise RuntimeError(SECRET)
        return real.predict(texts)

    return Classifier(real.name, predict)


def test_internal_error_is_logged_but_not_leaked(classifier, caplog):
    """A model exception gets a generic 500 JSON; its text only reaches the log, with traceback."""
    with serving(create_app(failing(classifier))) as base_url:
        with caplog.at_level(logging.ERROR, logger="server"):
            body = {"text": TRIGGER}
            response = requests.post(f"{base_url}/classify", json=body)
        assert response.status_code == 500
        assert response.json() == {"error": "internal server error"}
        assert SECRET not in response.text
        [record] = [r for r in caplog.records if r.name == "server"]
        assert record.exc_info and str(record.exc_info[1]) == SECRET
        # The server keeps serving after the error.
        assert requests.post(f"{base_url}/classify", json={"text": POSITIVE}).status_code == 200


def test_gunicorn_serves_with_the_images_settings(model_dir, tmp_path):
    """`cd app && gunicorn` (app/gunicorn.conf.py, as the images run it) loads the model, is healthy,
    classifies, answers a 12 MB upload and an 8 MB JSON body sent whole by http.client with their
    413s (not a broken pipe), makes no control
    socket under $HOME, and stops within its graceful timeout on SIGTERM."""
    port = free_port()
    env = {**os.environ, "MODEL_ID": str(model_dir), "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]  # the rest: gunicorn.conf.py
    process = subprocess.Popen(command, cwd=REPO_ROOT / "app", env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300  # not an assertion: only a guard against hanging forever
        while True:
            assert process.poll() is None, f"gunicorn exited with {process.returncode}"
            try:
                health = requests.get(f"{url}/health", timeout=60)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn never started listening"
                time.sleep(0.5)
        assert health.status_code == 200 and health.json()["model"] == str(model_dir)
        body = {"texts": [NEGATIVE, POSITIVE]}
        response = requests.post(f"{url}/classify", json=body, timeout=60)
        assert [r["label"] for r in response.json()["result"]] == ["NEGATIVE", "POSITIVE"]
        files = {"file": ("book.txt", b"word " * (12 * 10**6 // 5), "text/plain")}
        assert_error(requests.post(f"{url}/classify-file", files=files, timeout=60), 413)
        status, _, error = send_first(url, "/classify", json.dumps({"text": "x" * 8 * 10**6}).encode(), "application/json")
        assert status == 413 and "MAX_BODY_BYTES" in error["error"]
        assert list(tmp_path.iterdir()) == []
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and "Shutting down" in output, output[-2000:]
    assert "classifying 2 text(s)" in output  # the app's own logging works under gunicorn




# --- admission by time, and a 413 a client that sends first can read ----------------------------


def paced(seconds_per_text: float) -> Classifier:
    """A stand-in model whose service time is `seconds_per_text` per text (asleep: the GIL is free)."""
    def predict(texts):
        time.sleep(seconds_per_text * len(texts))
        return [{"label": "POSITIVE", "score": 0.99} for _ in texts]

    return Classifier(f"paced at {seconds_per_text} s per text", predict)


def burst(base_url: str, clients: int, requests_each: int) -> list[requests.Response]:
    """`clients` threads, each with its own keep-alive session, POST `requests_each` short reviews one after another."""
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        with requests.Session() as session:
            for i in range(requests_each):
                answer = session.post(f"{base_url}/classify", json={"text": f"{POSITIVE} ({number}.{i})"}, timeout=60)
                with lock:
                    answers.append(answer)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_admission_counts_seconds_of_work_and_learns_the_service_time():
    """A request is queued while the work ahead of it, in estimated seconds, stays within the
    bound (always when nothing is queued); each served request moves the estimate toward what it took."""
    admission = Admission(max_seconds=1.0, seconds_per_char=0.001)
    assert admission.admit(1500)  # alone: admitted, however long
    assert not admission.admit(100)  # 1.6 s of work: over the bound
    admission.leave(1500, served_seconds=0.15)  # it took a tenth of the estimate
    assert admission.expected_wait() == 0 and admission.seconds_per_char == pytest.approx(0.00082)
    assert admission.admit(600) and admission.admit(600) and not admission.admit(100)
    assert Admission.chars(["x" * 5000, "short"]) == Admission.READ_CHARS + len("short") + 2 * Admission.OVERHEAD_CHARS


def test_a_burst_of_short_requests_is_served_not_refused():
    """64 clients sending 4 short reviews each, at 6 ms of model time per review (the final image's,
    measured on one CPU): the whole burst is about 1.5 s of work, and every request gets its 200."""
    with serving(create_app(paced(0.006))) as base_url:
        answers = burst(base_url, clients=64, requests_each=4)
    assert len(answers) == 256
    assert [a.status_code for a in answers if a.status_code != 200] == []


def test_work_beyond_the_bound_is_refused_at_once_with_retry_after_and_health_never_waits(classifier):
    """One slow prediction holds the model: with a bound of 0 s the next request is refused at once
    (503, Retry-After, the setting named), /ready says 503, /health answers; once the model is free,
    requests are served and /ready says ready again."""
    release = threading.Event()

    def slow(texts):
        if "slow" in texts[0]:
            release.wait(30)
        return classifier.predict(texts)

    with serving(create_app(Classifier(classifier.name, slow), limits=Limits(max_queue_seconds=0))) as base_url:
        holder = threading.Thread(target=requests.post, args=(f"{base_url}/classify",), kwargs={"json": {"text": "slow"}})
        holder.start()
        time.sleep(0.5)
        assert requests.get(f"{base_url}/health", timeout=5).status_code == 200  # while the model is held
        refused = requests.post(f"{base_url}/classify", json={"text": "ok"}, timeout=5)
        assert "MAX_QUEUE_SECONDS" in assert_error(refused, 503) and int(refused.headers["Retry-After"]) >= 1
        assert_error(requests.get(f"{base_url}/ready", timeout=5), 503)
        release.set()
        holder.join()
        assert requests.get(f"{base_url}/ready").json() == {"status": "ready"}
        assert requests.post(f"{base_url}/classify", json={"text": POSITIVE}).status_code == 200


def test_an_admitted_request_waits_at_most_wait_seconds(classifier):
    """Estimates can be wrong: an admitted request that waits MODEL_WAIT_SECONDS for the model gets a 503 then."""
    release = threading.Event()

    def slow(texts):
        if "slow" in texts[0]:
            release.wait(30)
        return classifier.predict(texts)

    limits = Limits(max_queue_seconds=60, wait_seconds=1.0)
    with serving(create_app(Classifier(classifier.name, slow), limits=limits)) as base_url:
        holder = threading.Thread(target=requests.post, args=(f"{base_url}/classify",), kwargs={"json": {"text": "slow"}})
        holder.start()
        time.sleep(0.5)
        waited = requests.post(f"{base_url}/classify", json={"text": "ok"}, timeout=30)
        assert "busy for 1 s" in assert_error(waited, 503) and int(waited.headers["Retry-After"]) >= 1
        release.set()
        holder.join()


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "workshop-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/plain\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_a_client_that_sends_its_body_first_reads_the_413(url):
    """An 8 MB JSON body and a 12 MB upload, sent whole before reading (http.client): each gets its 413 JSON."""
    status, _, body = send_first(url, "/classify", json.dumps({"text": "x" * 8 * 10**6}).encode(), "application/json")
    assert status == 413 and "MAX_BODY_BYTES" in body["error"]
    status, _, body = send_first(url, "/classify-file", *multipart("book.txt", b"word " * (12 * 10**6 // 5)))
    assert status == 413 and "MAX_BODY_BYTES" in body["error"]


def test_a_burst_beyond_the_bound_is_partly_refused_each_refusal_saying_when_to_retry():
    """At 100 ms per text, 64 clients at once are 6.4 s of work: what fits in MAX_QUEUE_SECONDS is
    served, the rest refused at once with a 503 and a Retry-After; nothing else (no 5xx but 503)."""
    with serving(create_app(paced(0.1), limits=Limits(max_queue_seconds=1.5))) as base_url:
        answers = burst(base_url, clients=64, requests_each=1)
    statuses = sorted({a.status_code for a in answers})
    assert statuses == [200, 503], statuses
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status_code == 503)


def test_the_burst_benchmark_counts_every_answer_and_probes_health():
    """workshop.burst (README's burst figures) against a real server: every request counted by
    status, a latency per 200, /health probed while the burst runs, and the summary says so."""
    from workshop import burst as benchmark

    with serving(create_app(paced(0.002), limits=Limits(max_queue_seconds=0))) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        result = benchmark.burst(host, int(port), clients=8, requests_each=3)
    answered = result.statuses.get(200, 0)
    assert sum(result.statuses.values()) == 24 and set(result.statuses) <= {200, 503} and answered >= 1
    assert len(result.seconds) == answered and result.health_seconds
    assert f"{answered}/24 answered 200" in result.summary("paced")
