"""The torch-free backend: the model exported to ONNX, run by ONNX Runtime, tokenized by `tokenizers`.

app/export_onnx.py writes the folder it reads (model.onnx, tokenizer.json, config.json...) in the
image's builder; this module needs only numpy, tokenizers and onnxruntime. It gives the same
answers as the transformers pipeline: same tokens, same logits, the same softmax.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

# ONNX Runtime's Linux wheels send usage telemetry and keep a device id in $HOME (read-only in
# our images, hence a warning). Off, before the import: onnxruntime reads it once, at start-up.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402  (after the setting above)
import onnxruntime  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402


def cpu_quota() -> float | None:
    """The container's CPU quota in CPUs (docker run --cpus), None if it has none."""
    try:  # cgroup v2: "max 100000", or "150000 100000" for 1.5 CPUs
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except OSError:
        try:  # cgroup v1: a quota of -1 for none
            quota = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text().strip()
            period = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    return None if quota in ("max", "-1") else int(quota) / int(period)


def usable_cpus() -> int:
    """CPUs this process may run on: its CPU set (--cpuset-cpus), at most its quota rounded up."""
    count = len(os.sched_getaffinity(0))
    quota = cpu_quota()
    return max(1, min(count, math.ceil(quota))) if quota else count


class OnnxClassifier:
    """Call it with a list of texts: one {'label', 'score'} dict per text, the top label's probability."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text())
        tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
        self.labels = {int(index): label for index, label in config["id2label"].items()}
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # The model reads at most 512 tokens: cut longer texts, as the pipeline's truncation=True does.
        max_length = min(tokenizer_config.get("model_max_length", 512), config["max_position_embeddings"])
        self.tokenizer.enable_truncation(max_length)
        # A batch becomes one rectangle: shorter texts padded, the attention mask hiding the padding.
        pad_token = tokenizer_config.get("pad_token", "[PAD]")
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id(pad_token), pad_token=pad_token)
        # ONNX Runtime sizes its thread pool to the machine's cores, not to the CPUs the container
        # may use: on one CPU, two threads take turns and a prediction takes twice as long.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = usable_cpus()
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self.input_names = [node.name for node in self.session.get_inputs()]

    def __call__(self, texts: list[str]) -> list[dict]:
        encodings = self.tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feed = {name: np.array(columns[name], dtype=np.int64) for name in self.input_names}
        (logits,) = self.session.run(["logits"], feed)
        # Softmax, shifted by the row maximum so that exp() cannot overflow.
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = exp / exp.sum(axis=1, keepdims=True)
        best = probabilities.argmax(axis=1)
        return [{"label": self.labels[int(i)], "score": float(row[i])} for i, row in zip(best, probabilities, strict=True)]
