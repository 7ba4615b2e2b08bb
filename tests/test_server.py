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
from server import create_app
from werkzeug.serving import make_server

POSITIVE = "What a wonderful, heartwarming film. I loved every minute of it."
NEGATIVE = "A dull, tedious mess. I hated every minute of it."
SMALL_LIMIT = 4096  # bytes; small enough to test 413 without megabytes of traffic


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
    with serving(create_app(classifier, max_body_bytes=SMALL_LIMIT)) as base_url:
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


def test_body_limit_default_is_one_mebibyte(classifier, monkeypatch):
    """With neither argument nor env, a body just over 1 MiB gets a 413."""
    monkeypatch.delenv("MAX_BODY_BYTES", raising=False)
    with serving(create_app(classifier)) as base_url:
        body = b'{"text": "' + b"x" * (1024 * 1024) + b'"}'
        assert_error(requests.post(f"{base_url}/classify", data=body), 413)


def test_unknown_path_is_json_404(url):
    """An unknown URL gets a 404 JSON error, not Flask's HTML page."""
    assert_error(requests.get(f"{url}/nope"), 404)


def test_wrong_method_is_json_405(url):
    """GET on a POST-only endpoint gets a 405 JSON error."""
    assert_error(requests.get(f"{url}/classify"), 405)


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


def test_gunicorn_serves_the_app_factory(model_dir):
    """`gunicorn --chdir app 'server:create_app()'` loads the model, is healthy and classifies."""
    port = free_port()
    env = {**os.environ, "MODEL_ID": str(model_dir), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "gunicorn", "--chdir", "app", "--bind", f"127.0.0.1:{port}",
               "server:create_app()"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, text=True,
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
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
    assert "classifying 2 text(s)" in output  # the app's own logging works under gunicorn
