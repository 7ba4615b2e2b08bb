"""HTTP API around the classifier.

    python app/server.py                         # Flask's server on 0.0.0.0:$PORT (default 8080)
    gunicorn --chdir app 'server:create_app()'   # a production server, same app

POST /classify       {"text": "..."}            ->  {"result": [{"label": ..., "score": ...}]}
                     {"texts": ["...", ...]}    ->  {"result": [one {"label", "score"} per text]}
POST /classify-file  multipart field "file"     ->  {"result": [...], "filename": "..."}
GET  /health         liveness: {"status": "ok", "model": ...}; never waits for the model
GET  /ready          readiness: 200 while a request could queue for the model, else 503

Every request's work is bounded (`Limits`, from the environment): the body's size (413), the
number of texts and characters per text (422), and the wait for the model (503 with Retry-After).
A client's mistake gets {"error": "..."} with a 4xx status and one line in the log, never a 5xx.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from dataclasses import dataclass

from flask import Flask, Request, abort, request
from predictor import InputError, classify, configure_logging, decode_text, load_classifier
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, ServiceUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """How much work one request may ask for; `from_env` reads the variables named in brackets."""

    max_body_bytes: int = 1024 * 1024  # [MAX_BODY_BYTES] larger bodies: 413
    max_texts: int = 64  # [MAX_TEXTS] texts in one /classify body: more is a 422
    max_text_chars: int = 100_000  # [MAX_TEXT_CHARS] the model reads ~2,000 of them; longer: 422
    wait_seconds: float = 10.0  # [MODEL_WAIT_SECONDS] for the model, then 503
    max_waiting: int = 4  # [MAX_WAITING] requests queued for the model; one more: 503 at once

    @classmethod
    def from_env(cls) -> Limits:
        names = {"max_body_bytes": "MAX_BODY_BYTES", "max_texts": "MAX_TEXTS", "max_text_chars": "MAX_TEXT_CHARS",
                 "wait_seconds": "MODEL_WAIT_SECONDS", "max_waiting": "MAX_WAITING"}
        return cls(**{field: type(getattr(cls, field))(os.environ[var]) for field, var in names.items()
                      if os.environ.get(var)})


class BoundedRequest(Request):
    """A request whose body is read within the limit, whichever way it comes.

    Uploads stay in memory (bodies are at most max_body_bytes): werkzeug would write those over
    500 KB to a temporary file, and /tmp is not writable on a read-only root filesystem. A body
    sent in chunks (no Content-Length) is read only up to the limit, and werkzeug stops there
    quietly: one byte more behind it means the body was too large.
    """

    def _get_file_stream(self, *args, **kwargs) -> io.BytesIO:
        return io.BytesIO()

    def get_data(self, *args, **kwargs):  # JSON bodies (uploads: the form parser raises the 413 itself)
        data = super().get_data(*args, **kwargs)
        if self.content_length is None and self.environ.get("wsgi.input_terminated"):
            if self.environ["wsgi.input"].read(1):
                raise RequestEntityTooLarge()
        return data


def _texts_from_json(limits: Limits) -> list[str]:
    """The texts of a /classify body, or a 4xx saying what is wrong with it."""
    try:
        body = request.get_json(force=True, silent=True)  # force: accept JSON whatever the Content-Type
    except RecursionError:  # nesting deeper than Python's JSON parser goes
        body = None
    if not isinstance(body, dict):
        abort(400, 'body must be a JSON object such as {"text": "..."}')
    if ("text" in body) == ("texts" in body):
        abort(400, 'give exactly one of "text" (a string) or "texts" (a list of strings)')
    if "text" in body:
        if not isinstance(body["text"], str):
            abort(400, '"text" must be a string')
        texts = [body["text"]]
    else:
        texts = body["texts"]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            abort(400, '"texts" must be a non-empty list of strings')
        if len(texts) > limits.max_texts:
            abort(422, f"at most {limits.max_texts} texts per request (MAX_TEXTS); send the rest in more requests")
    for text in texts:
        _check_text(text, limits)
    return texts


def _check_text(text: str, limits: Limits) -> None:
    if not text.strip():
        abort(400, "texts must not be empty")
    if len(text) > limits.max_text_chars:
        abort(422, f"a text has at most {limits.max_text_chars} characters (MAX_TEXT_CHARS)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # JSON allows "\ud800", a half of a character
        abort(400, "texts must be valid Unicode (a lone surrogate such as \\ud800 is not)")


def create_app(classifier=None, *, limits: Limits | None = None) -> Flask:
    """The Flask app; loads the model unless a classifier is given (tests inject one)."""
    configure_logging()  # gunicorn calls this factory directly, so set up logging here too
    limits = limits or Limits.from_env()
    if classifier is None:
        classifier = load_classifier()
    # A first prediction before serving: /health then means "the model answers", and a broken
    # model stops the server at startup instead of failing the first user.
    classify(classifier, ["warm-up"], source="warm-up text")
    # One prediction at a time: the fast tokenizer fails with "Already borrowed" when threads
    # share it (huggingface/tokenizers#537), and the model already uses every core for one
    # prediction. Before it, a bounded queue with a bounded wait: a busy server says so (503)
    # instead of piling up requests that their clients gave up on long ago.
    model = threading.Lock()
    queue = threading.BoundedSemaphore(limits.max_waiting)

    def predict(texts: list[str], source: str) -> list[dict]:
        if not queue.acquire(blocking=False):
            abort(503, f"{limits.max_waiting} requests are already waiting for the model; try again shortly")
        try:
            got_model = model.acquire(timeout=limits.wait_seconds)
        finally:
            queue.release()
        if not got_model:
            abort(503, f"the model stayed busy for {limits.wait_seconds:g} s; try again shortly")
        try:
            return classify(classifier, texts, source)
        finally:
            model.release()

    app = Flask(__name__)
    app.request_class = BoundedRequest
    app.config["MAX_CONTENT_LENGTH"] = limits.max_body_bytes  # Flask answers 413 to larger bodies

    @app.get("/health")
    def health():
        return {"status": "ok", "model": classifier.name}

    @app.get("/ready")
    def ready():
        if not queue.acquire(blocking=False):
            abort(503, "busy: the queue for the model is full")
        queue.release()
        return {"status": "ready"}

    @app.post("/classify")
    def classify_json():
        texts = _texts_from_json(limits)
        return {"result": predict(texts, f"{len(texts)} text(s)")}

    @app.post("/classify-file")
    def classify_file():
        upload = request.files.get("file")
        if upload is None:
            abort(400, 'send the file as multipart form field "file"')
        name = upload.filename or "file"
        try:
            text = decode_text(upload.read(), name)
        except InputError as error:
            abort(400, str(error))
        _check_text(text, limits)
        return {"result": predict([text], name), "filename": name}

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        log.info("413 on %s %s: %s bytes", request.method, request.path, request.content_length or "chunked")
        return {"error": f"request body is larger than {limits.max_body_bytes} bytes (MAX_BODY_BYTES)"}, 413

    @app.errorhandler(HTTPException)
    def http_error(error):  # 400, 404, 405...: JSON instead of Flask's HTML pages
        log.info("%d on %s %s: %s", error.code, request.method, request.path, error.description)
        # Keep the error's own headers (a 405's Allow), but not its HTML content type.
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        if isinstance(error, ServiceUnavailable):
            headers["Retry-After"] = "1"
        return {"error": error.description}, error.code, headers

    @app.errorhandler(Exception)
    def internal_error(error):
        # The traceback goes to the log; the client learns nothing about our internals.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return {"error": "internal server error"}, 500

    return app


if __name__ == "__main__":
    # Flask's development server: fine for the workshop; use gunicorn in production.
    create_app().run(host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))
