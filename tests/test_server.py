"""The HTTP API over real HTTP on loopback: Flask's app in a werkzeug server, and under gunicorn."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
import requests
from conftest import REPO_ROOT
from predictor import Classifier
from server import Limits, create_app
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
    for var in ("MAX_BODY_BYTES", "MAX_TEXTS", "MAX_TEXT_CHARS", "MODEL_WAIT_SECONDS", "MAX_WAITING"):
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


def test_a_busy_model_answers_503_with_retry_after_and_health_never_waits(classifier):
    """One slow prediction holds the model: the next request waits wait_seconds and gets a 503
    with Retry-After; with the queue full, /ready says 503 and a third request is refused at once;
    /health answers throughout; once the model is free, requests are served again."""
    release = threading.Event()

    def slow(texts):
        if "slow" in texts[0]:
            release.wait(30)
        return classifier.predict(texts)

    limits = Limits(wait_seconds=1.0, max_waiting=1)
    with serving(create_app(Classifier(classifier.name, slow), limits=limits)) as base_url:
        holder = threading.Thread(target=requests.post, args=(f"{base_url}/classify",), kwargs={"json": {"text": "slow"}})
        holder.start()
        time.sleep(0.5)
        waiter = {}
        queued = threading.Thread(target=lambda: waiter.update(r=requests.post(f"{base_url}/classify", json={"text": "ok"})))
        queued.start()
        time.sleep(0.2)
        assert requests.get(f"{base_url}/health", timeout=5).status_code == 200  # while the model is held
        assert_error(requests.get(f"{base_url}/ready"), 503)
        refused = requests.post(f"{base_url}/classify", json={"text": "ok"})
        assert "already waiting" in assert_error(refused, 503) and refused.headers["Retry-After"] == "1"
        queued.join()
        assert "busy for 1 s" in assert_error(waiter["r"], 503) and waiter["r"].headers["Retry-After"] == "1"
        release.set()
        holder.join()
        assert requests.get(f"{base_url}/ready").json() == {"status": "ready"}
        assert requests.post(f"{base_url}/classify", json={"text": POSITIVE}).status_code == 200


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_serves_with_the_images_settings(model_dir, tmp_path):
    """`cd app && gunicorn` (app/gunicorn.conf.py, as the images run it) loads the model, is healthy,
    classifies, answers a 12 MB upload with its 413 (not a broken pipe), makes no control
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
        assert list(tmp_path.iterdir()) == []
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and "Shutting down" in output, output[-2000:]
    assert "classifying 2 text(s)" in output  # the app's own logging works under gunicorn
