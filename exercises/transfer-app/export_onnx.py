"""Export the trained ticket router to ONNX, so that it serves without scikit-learn.

    python export_onnx.py model.joblib router.onnx

Reads the pipeline train.py wrote and writes one ONNX file that ONNX Runtime runs: the TF-IDF
step, the logistic regression and their fitted numbers, as a graph. serve.py loads either file
(MODEL_PATH ending in .onnx or not); the ONNX one needs only onnxruntime and numpy.
"""

from __future__ import annotations

import json
import logging
import sys

import joblib
from skl2onnx import to_onnx
from skl2onnx.common.data_types import StringTensorType
from sklearn.feature_extraction.text import TfidfVectorizer

log = logging.getLogger("export_onnx")


def main(source: str, out: str) -> None:
    model = joblib.load(source)
    vectorizer, classifier = model.steps[0][1], model.steps[-1][1]
    options = {
        # Probabilities as a plain table (one column per team), not a list of dicts.
        id(classifier): {"zipmap": False},
        # ONNX Runtime splits words with this regular expression, scikit-learn's default token
        # pattern, and lowercases in the C.UTF-8 locale, which every image has (the default,
        # en_US.UTF-8, is not installed in slim images: the model would not load).
        TfidfVectorizer: {"tokenexp": vectorizer.token_pattern.removeprefix("(?u)"), "locale": "C.UTF-8"},
    }
    graph = to_onnx(model, initial_types=[("message", StringTensorType([None, 1]))], options=options)
    # The teams, in the order of the probabilities' columns: serve.py reads them back.
    graph.metadata_props.add(key="classes", value=json.dumps([str(team) for team in model.classes_]))
    with open(out, "wb") as f:
        f.write(graph.SerializeToString())
    log.info("exported %s to %s (%d bytes)", source, out, graph.ByteSize())


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if len(sys.argv) != 3:
        sys.exit("usage: python export_onnx.py MODEL.joblib MODEL.onnx")
    main(sys.argv[1], sys.argv[2])
