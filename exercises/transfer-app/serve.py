"""The ticket router's API: which team should answer a message.

    waitress-serve --port 8080 serve:app

POST /route  {"message": "..."}  ->  {"team": "billing", "score": 0.87}
GET  /health                      ->  {"status": "ok"}

Env MODEL_PATH: the pipeline train.py wrote (default: model.joblib beside this file), or its
ONNX export (a path ending in .onnx, written by export_onnx.py), which needs only onnxruntime.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
from flask import Flask, abort, request

#: Longer messages are cut: the words at the start say enough, and the work per request stays bounded.
MAX_CHARS = 5000

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("serve")


class OnnxRouter:
    """The ONNX export, run by ONNX Runtime, answering as the scikit-learn pipeline does."""

    def __init__(self, path: str) -> None:
        import onnxruntime  # here, not at the top: the scikit-learn image does not have it

        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.classes_ = json.loads(self.session.get_modelmeta().custom_metadata_map["classes"])

    def predict_proba(self, messages: list[str]) -> np.ndarray:
        _, probabilities = self.session.run(None, {"message": np.array(messages, dtype=object).reshape(-1, 1)})
        return probabilities

    def predict(self, messages: list[str]) -> list[str]:
        return [self.classes_[i] for i in self.predict_proba(messages).argmax(axis=1)]


def load(path: str):
    """The model at `path`, the ONNX export or the scikit-learn pipeline."""
    if path.endswith(".onnx"):
        return OnnxRouter(path)
    import joblib  # here, not at the top: the ONNX image has no scikit-learn to unpickle with

    return joblib.load(path)


model = load(str(os.environ.get("MODEL_PATH", Path(__file__).with_name("model.joblib"))))
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
