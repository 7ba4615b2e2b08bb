"""The ticket router's API: which team should answer a message.

    waitress-serve --port 8080 serve:app

POST /route  {"message": "..."}  ->  {"team": "billing", "score": 0.87}
GET  /health                      ->  {"status": "ok"}

Env MODEL_PATH: the pipeline train.py wrote (default: model.joblib beside this file).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import joblib
from flask import Flask, abort, request

#: Longer messages are cut: the words at the start say enough, and the work per request stays bounded.
MAX_CHARS = 5000

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("serve")

model = joblib.load(os.environ.get("MODEL_PATH", Path(__file__).with_name("model.joblib")))
log.info("model loaded: teams %s", ", ".join(model.classes_))
app = Flask(__name__)


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/route")
def route():
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"].strip():
        abort(400, 'send {"message": "..."} with a non-empty string')
    scores = model.predict_proba([body["message"][:MAX_CHARS]])[0]
    best = scores.argmax()
    return {"team": str(model.classes_[best]), "score": round(float(scores[best]), 4)}
