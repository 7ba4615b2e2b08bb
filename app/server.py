"""HTTP API around the classifier.

    python app/server.py                         # Flask's server on 0.0.0.0:$PORT (default 8080)
    gunicorn --chdir app 'server:create_app()'   # a production server, same app

POST /classify       {"text": "..."}            ->  {"result": [{"label": ..., "score": ...}]}
                     {"texts": ["...", ...]}    ->  {"result": [one {"label", "score"} per text]}
POST /classify-file  multipart field "file"     ->  {"result": [...], "filename": "..."}
GET  /health         {"status": "ok", "model": ...} once the model has answered a warm-up
Bad input gets {"error": "..."} with a 4xx status; bodies over MAX_BODY_BYTES (default 1 MiB) a 413.
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask, abort, request
from predictor import InputError, classify, configure_logging, decode_text, load_classifier
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

log = logging.getLogger(__name__)


def _texts_from_json() -> list[str]:
    """The texts of a /classify body, or a 400 saying what is wrong with it."""
    body = request.get_json(force=True, silent=True)  # force: accept JSON whatever the Content-Type
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
    if not all(text.strip() for text in texts):
        abort(400, "texts must not be empty")
    return texts


def create_app(classifier=None, *, max_body_bytes: int | None = None) -> Flask:
    """The Flask app; loads the model unless a classifier is given (tests inject one)."""
    configure_logging()  # gunicorn calls this factory directly, so set up logging here too
    if classifier is None:
        classifier = load_classifier()
    # A first prediction before serving: /health then means "the model answers", and a broken
    # model stops the server at startup instead of failing the first user.
    classify(classifier, ["warm-up"], source="warm-up text")
    # One prediction at a time: the fast tokenizer fails with "Already borrowed" when threads
    # share it (huggingface/tokenizers#537), and the model already uses every core for one prediction.
    lock = threading.Lock()

    def predict(texts: list[str], source: str) -> list[dict]:
        with lock:
            return classify(classifier, texts, source)

    if max_body_bytes is None:
        max_body_bytes = int(os.environ.get("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes  # Flask answers 413 to larger bodies

    @app.get("/health")
    def health():
        return {"status": "ok", "model": classifier.name}

    @app.post("/classify")
    def classify_json():
        texts = _texts_from_json()
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
        return {"result": predict([text], name), "filename": name}

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        return {"error": f"request body is larger than {max_body_bytes} bytes"}, 413

    @app.errorhandler(HTTPException)
    def http_error(error):  # 400, 404, 405...: JSON instead of Flask's HTML pages
        return {"error": error.description}, error.code

    @app.errorhandler(Exception)
    def internal_error(error):
        # The traceback goes to the log; the client learns nothing about our internals.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return {"error": "internal server error"}, 500

    return app


if __name__ == "__main__":
    # Flask's development server: fine for the workshop; use gunicorn in production.
    create_app().run(host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))
