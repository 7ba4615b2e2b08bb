"""app/export_onnx.py on the hub model's architecture (DistilBERT), in the images' own exporter.

The hub model cannot be downloaded here, so a DistilBERT of a few thousand weights stands in for
its shape (untrained: it checks that the export runs and agrees with torch, not what it answers).
It is given both tokenizers a DistilBERT may meet: the hub model's own (no token_type_ids) and a
BERT tokenizer, which makes token_type_ids that DistilBERT's forward() does not take.
"""

from __future__ import annotations

import pytest

from workshop import config, hubshape
from workshop.run import run_container

SCRIPT = r"""
import shutil, subprocess, sys
import numpy as np, onnxruntime, torch
from transformers import (AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification,
                          DistilBertTokenizerFast)

tokenizer = AutoTokenizer.from_pretrained("/tokenizer")
if sys.argv[1] == "distilbert":  # as the hub model's folder has it
    tokenizer = DistilBertTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer)
assert ("token_type_ids" in tokenizer("a")) == (sys.argv[1] == "bert")
torch.manual_seed(0)
config = DistilBertConfig(vocab_size=len(tokenizer), dim=32, hidden_dim=64, n_layers=2, n_heads=2,
                          num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"})
model = DistilBertForSequenceClassification(config).eval()
model.save_pretrained("/tmp/model")
tokenizer.save_pretrained("/tmp/model")
subprocess.run([sys.executable, "/app/export_onnx.py", "/tmp/model", "/tmp/onnx"], check=True)

texts = ["A warm, funny film.", "Dull."]
feed = tokenizer(texts, padding=True, return_tensors="np")
session = onnxruntime.InferenceSession("/tmp/onnx/model.onnx")
names = [node.name for node in session.get_inputs()]
print("inputs=" + " ".join(names))
onnx_logits = session.run(None, {name: feed[name].astype(np.int64) for name in names})[0]
with torch.no_grad():
    torch_logits = model(**{name: torch.tensor(feed[name]) for name in names}).logits.numpy()
print("difference=" + str(float(np.abs(onnx_logits - torch_logits).max())))
"""


@pytest.fixture(scope="module")
def exporter() -> str:
    """The exporter stage of onnx.Dockerfile (torch, transformers, onnxruntime), from the build cache."""
    with hubshape.exporter() as tag:
        yield tag


@pytest.mark.docker
@pytest.mark.parametrize("tokenizer", ["distilbert", "bert"])
def test_a_distilbert_classifier_exports_and_agrees_with_torch(exporter, model_dir, tokenizer):
    """The export takes the inputs DistilBERT's forward() takes, by name and in its order, and the
    ONNX graph's logits equal torch's to float32 rounding."""
    done = run_container(exporter, ["python", "-c", SCRIPT, tokenizer], timeout=600, volumes={
        str(config.REPO_ROOT / "app"): {"bind": "/app", "mode": "ro"},
        str(model_dir): {"bind": "/tokenizer", "mode": "ro"}})
    assert done.exit_code == 0, done.stderr[-3000:]
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert lines["inputs"] == "input_ids attention_mask", done.stdout
    assert float(lines["difference"]) < 1e-4, done.stdout
