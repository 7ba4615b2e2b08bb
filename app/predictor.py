"""Classify the sentiment of a text file with a Hugging Face pipeline.

    python app/predictor.py FILE

Env MODEL_ID selects the model: a Hugging Face Hub id or a local folder in the same layout. A
folder holding a model.onnx (app/export_onnx.py writes one) runs without torch, on ONNX Runtime.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from wordcount import count_words  # our C extension: the reason slim images need a compiler

DEFAULT_MODEL_ID = "distilbert-base-uncased-finetuned-sst-2-english"
#: Texts the model reads at once: a batch is padded to its longest text, so batches are formed
#: from texts of similar length (sorted) and kept small.
BATCH_SIZE = 8

log = logging.getLogger(__name__)


class InputError(ValueError):
    """Text that cannot be classified; the message is safe to show to users."""


def configure_logging() -> None:
    """Log to stderr at env LOG_LEVEL (default INFO); does nothing if logging is already set up."""
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@dataclass(frozen=True)
class Classifier:
    """A loaded model: ``predict(texts)`` gives one {'label', 'score'} dict per text."""

    name: str  # the Hub id or folder it came from
    predict: Callable[[list[str]], list[dict]]


def load_classifier(model_id: str | None = None) -> Classifier:
    """Load the model once; callers keep the classifier and reuse it."""
    model_id = model_id or os.environ.get("MODEL_ID", DEFAULT_MODEL_ID)
    log.info("loading model %s", model_id)
    if (Path(model_id) / "model.onnx").is_file():
        # Imported here: the torch-free image has onnxruntime, and no torch or transformers.
        from onnx_classifier import OnnxClassifier

        return Classifier(model_id, OnnxClassifier(model_id))
    import transformers

    # Progress bars are noise in container logs; warnings still go through transformers' logger.
    transformers.logging.disable_progress_bar()
    pipeline = transformers.pipeline("text-classification", model=model_id)
    # The model reads at most 512 tokens: cut longer texts instead of failing on them.
    return Classifier(model_id, partial(pipeline, truncation=True))


def classify(classifier: Classifier, texts: list[str], source: str) -> list[dict]:
    """One {'label', 'score'} dict per text, in order; ``source`` names the texts in the log."""
    log.info("classifying %s (%d words)", source, sum(count_words(text) for text in texts))
    by_length = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    results: list[dict] = [{}] * len(texts)
    for start in range(0, len(texts), BATCH_SIZE):
        batch = by_length[start : start + BATCH_SIZE]
        for i, result in zip(batch, classifier.predict([texts[i] for i in batch]), strict=True):
            results[i] = result
    return results


def decode_text(data: bytes, name: str) -> str:
    """The UTF-8 text in ``data``, or InputError if it is not text or only whitespace."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{name} is not UTF-8 text") from None
    if not text.strip():
        raise InputError(f"{name} is empty")
    return text


def main(argv: list[str]) -> int:
    configure_logging()
    # In a container this process is PID 1, and the kernel gives PID 1 no default action for
    # SIGTERM: without a handler, `docker stop` waits its 10 s and then kills.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    if len(argv) != 1:
        log.error("usage: python app/predictor.py FILE")
        return 2
    path = Path(argv[0])
    try:
        text = decode_text(path.read_bytes(), path.name)
    except OSError as error:  # missing file, a directory, no permission...
        log.error("cannot read %s: %s", path, error.strerror)
        return 1
    except InputError as error:
        log.error("%s", error)
        return 1
    result = classify(load_classifier(), [text], source=path.name)
    print("--- Classification Result ---")
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
