"""HTTP API around the classifier.

    python app/server.py                         # Flask's server on 0.0.0.0:$PORT (default 8080)
    gunicorn --chdir app 'server:create_app()'   # a production server, same app

POST /classify       {"text": "..."}            ->  {"result": [{"label": ..., "score": ...}]}
                     {"texts": ["...", ...]}    ->  {"result": [one {"label", "score"} per text]}
POST /classify-file  multipart field "file"     ->  {"result": [...], "filename": "..."}
GET  /health         liveness: {"status": "ok", "model": ...}; never waits for the model
GET  /ready          readiness: 200 while a new request would be admitted, else 503

Every request's work is bounded (`Limits`, from the environment): the body's size (413), the
number of texts and characters per text (422), and the wait for the model (503 with Retry-After).
A client's mistake gets {"error": "..."} with a 4xx status and one line in the log, never a 5xx.

Admission is by time, not by count: the model answers one request at a time, and a request is
queued for it while the work already queued (estimated from the service times measured so far)
would keep it waiting at most max_queue_seconds. A burst of short requests is served; only work
that could not start within the bound is refused, at once, with a 503 and Retry-After.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
import time
from dataclasses import dataclass

from flask import Flask, Request, abort, request
from predictor import InputError, classify, configure_logging, decode_text, load_classifier
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, ServiceUnavailable
from werkzeug.formparser import FormDataParser

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """How much work one request may ask for; `from_env` reads the variables named in brackets."""

    max_body_bytes: int = 1024 * 1024  # [MAX_BODY_BYTES] larger bodies: 413
    max_texts: int = 64  # [MAX_TEXTS] texts in one /classify body: more is a 422
    max_text_chars: int = 100_000  # [MAX_TEXT_CHARS] the model reads ~2,000 of them; longer: 422
    # [MAX_QUEUE_SECONDS] the estimated wait for the model beyond which a request is refused at
    # once (503). Why 1.5 s, from measured service times: README, "Serving".
    max_queue_seconds: float = 1.5
    wait_seconds: float = 10.0  # [MODEL_WAIT_SECONDS] an admitted request's longest wait (estimates can be wrong): 503
    # [DRAIN_BODY_BYTES] a body over max_body_bytes is still read up to this many bytes before the
    # 413, so that a client that sends its whole body first reads the answer; larger: connection closed.
    drain_body_bytes: int = 16 * 1024 * 1024

    @classmethod
    def from_env(cls) -> Limits:
        names = {"max_body_bytes": "MAX_BODY_BYTES", "max_texts": "MAX_TEXTS", "max_text_chars": "MAX_TEXT_CHARS",
                 "max_queue_seconds": "MAX_QUEUE_SECONDS", "wait_seconds": "MODEL_WAIT_SECONDS",
                 "drain_body_bytes": "DRAIN_BODY_BYTES"}
        return cls(**{field: type(getattr(cls, field))(os.environ[var]) for field, var in names.items()
                      if os.environ.get(var)})


class Busy(ServiceUnavailable):
    """503: the model has more work queued than a new request should wait for."""

    def __init__(self, description: str, *, retry_after: float) -> None:
        super().__init__(description)
        self.retry_after = retry_after


def _drain(request: Request, limit: int) -> bool:
    """Read and discard what is left of `request`'s body, up to `limit` bytes; False if more is left.

    A client that sends its whole body before it reads (Python's http.client, requests, most
    SDKs) gets a broken pipe instead of the answer when the server closes a connection with the
    body unread. Reading it first costs bandwidth, not memory: chunks are thrown away.
    """
    stream = request.environ.get("wsgi.input")
    length = request.content_length
    if stream is None or (length is not None and length > limit):
        return False
    left = limit if length is None else length
    while left > 0:
        chunk = stream.read(min(64 * 1024, left))
        if not chunk:
            return True
        left -= len(chunk)
    return length is not None or not stream.read(1)


def in_memory(*args, **kwargs) -> io.BytesIO:
    """Where an uploaded file's bytes go while the form is parsed."""
    return io.BytesIO()


class BoundedRequest(Request):
    """A request whose body is read within the limit, whichever way it comes.

    Uploads stay in memory (bodies are at most max_body_bytes): werkzeug would write those over
    500 KB to a temporary file, and /tmp is not writable on a read-only root filesystem. A body
    sent in chunks (no Content-Length) is read only up to the limit, and werkzeug stops there
    quietly: one byte more behind it means the body was too large.
    """

    def make_form_data_parser(self) -> FormDataParser:
        return self.form_data_parser_class(
            stream_factory=in_memory,  # werkzeug's own factory writes a large upload to /tmp
            max_form_memory_size=self.max_form_memory_size,
            max_content_length=self.max_content_length,
            max_form_parts=self.max_form_parts,
            cls=self.parameter_storage_class,
        )

    def get_data(self, *args, **kwargs):  # JSON bodies (uploads: the form parser raises the 413 itself)
        data = super().get_data(*args, **kwargs)
        if self.content_length is None and self.environ.get("wsgi.input_terminated"):
            if self.environ["wsgi.input"].read(1):
                raise RequestEntityTooLarge()
        return data


class Admission:
    """The model's queue, counted in estimated seconds of work rather than in requests.

    A request's cost is its texts' characters (the model reads about READ_CHARS of a text at
    most) plus a fixed overhead per text, times the seconds per character measured so far (a
    moving average of the model's real service times). `admit` queues a request while the work
    ahead of it stays within `max_seconds`, and always when nothing is queued.
    """

    #: Characters of a text the model reads at most (512 tokens of about 4 characters).
    READ_CHARS = 2000
    #: Fixed work per text, in characters: a short review's model time is mostly this part (calls,
    #: tokenizing, the result), so that one costs about as much as 400 characters more of text.
    OVERHEAD_CHARS = 400

    def __init__(self, max_seconds: float, seconds_per_char: float) -> None:
        self.max_seconds = max_seconds
        self.seconds_per_char = seconds_per_char
        self._queued_chars = 0
        self._lock = threading.Lock()

    @classmethod
    def chars(cls, texts: list[str]) -> int:
        return sum(min(len(text), cls.READ_CHARS) + cls.OVERHEAD_CHARS for text in texts)

    def expected_wait(self) -> float:
        with self._lock:
            return self._queued_chars * self.seconds_per_char

    def over(self) -> bool:
        """Whether the work queued now is more than a new request should wait for."""
        return self.expected_wait() > self.max_seconds

    def admit(self, chars: int) -> bool:
        with self._lock:
            if self._queued_chars and (self._queued_chars + chars) * self.seconds_per_char > self.max_seconds:
                return False
            self._queued_chars += chars
            return True

    def leave(self, chars: int, served_seconds: float | None = None) -> None:
        """The request is no longer queued; `served_seconds` is the model's time for it, if it ran."""
        with self._lock:
            self._queued_chars -= chars
            if served_seconds is not None:
                self.seconds_per_char = 0.8 * self.seconds_per_char + 0.2 * served_seconds / chars


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
    warm_up = ["warm-up"]
    classify(classifier, warm_up, source="warm-up text")
    started = time.perf_counter()  # the second prediction: the first one pays for one-time setup
    classify(classifier, warm_up, source="warm-up text")
    # One prediction at a time: the fast tokenizer fails with "Already borrowed" when threads
    # share it (huggingface/tokenizers#537), and the model already uses every core for one
    # prediction. Before it, a queue bounded by the time it would keep a request waiting: a busy
    # server says so at once (503) instead of piling up requests their clients gave up on. The
    # first estimate of the service time is the warm-up's; every served request refines it.
    model = threading.Lock()
    admission = Admission(limits.max_queue_seconds, (time.perf_counter() - started) / Admission.chars(warm_up))

    def predict(texts: list[str], source: str) -> list[dict]:
        chars = Admission.chars(texts)
        if not admission.admit(chars):
            wait = admission.expected_wait()
            raise Busy(f"the model has about {wait:.1f} s of work queued, over {limits.max_queue_seconds:g} s "
                       "(MAX_QUEUE_SECONDS); try again shortly", retry_after=wait)
        served = None
        try:
            if not model.acquire(timeout=limits.wait_seconds):
                raise Busy(f"the model stayed busy for {limits.wait_seconds:g} s; try again shortly",
                           retry_after=limits.max_queue_seconds)
            try:
                started = time.perf_counter()
                results = classify(classifier, texts, source)
                served = time.perf_counter() - started
                return results
            finally:
                model.release()
        finally:
            admission.leave(chars, served)

    app = Flask(__name__)
    app.request_class = BoundedRequest
    app.config["MAX_CONTENT_LENGTH"] = limits.max_body_bytes  # Flask answers 413 to larger bodies

    @app.get("/health")
    def health():
        return {"status": "ok", "model": classifier.name}

    @app.get("/ready")
    def ready():
        if admission.over():
            wait = admission.expected_wait()
            raise Busy(f"busy: about {wait:.1f} s of work queued for the model", retry_after=wait)
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
        answer = {"error": f"request body is larger than {limits.max_body_bytes} bytes (MAX_BODY_BYTES)"}
        if not _drain(request, limits.drain_body_bytes):
            # Too much to read for a refusal: answer, and close instead of reading the rest.
            return answer, 413, {"Connection": "close"}
        return answer, 413

    @app.errorhandler(HTTPException)
    def http_error(error):  # 400, 404, 405...: JSON instead of Flask's HTML pages
        log.info("%d on %s %s: %s", error.code, request.method, request.path, error.description)
        # Keep the error's own headers (a 405's Allow), but not its HTML content type.
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        if isinstance(error, Busy):
            headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
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
