"""Train the ticket router: which team should answer a customer's message.

    python train.py data/tickets.csv model.joblib

A TF-IDF bag of words and a logistic regression, trained in seconds on the labelled messages in
the CSV (columns: team, message). Writes one file, the fitted pipeline; serve.py loads it.
"""

from __future__ import annotations

import csv
import logging
import sys

import joblib
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

log = logging.getLogger("train")


def main(data: str, out: str) -> None:
    with open(data, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=10, max_iter=1000))
    model.fit([row["message"] for row in rows], [row["team"] for row in rows])
    joblib.dump(model, out)
    log.info("trained on %d messages (%s), wrote %s", len(rows), ", ".join(model.classes_), out)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if len(sys.argv) != 3:
        sys.exit("usage: python train.py DATA.csv MODEL.joblib")
    main(sys.argv[1], sys.argv[2])
