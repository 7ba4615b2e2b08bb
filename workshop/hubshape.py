"""A model of the hub model's shape, for its bytes and its speed only: untrained, its answers mean nothing.

The workshop's default model, distilbert-base-uncased-finetuned-sst-2-english, comes from the
Hugging Face Hub, which our CI cannot reach. Its architecture is public (DistilBERT: 768 wide, 6
layers, 12 attention heads, a 30,522-word vocabulary, two labels), so a model of that shape with
random weights has the same files as far as sizes go (its model.safetensors has the hub's byte
count, 267,832,560) and the same work per sentence. Its tokenizer is the offline model's WordPiece
vocabulary, BERT's uncased one, which DistilBERT shares. `python -m workshop.claims --hub-model`
reads the bytes of the folder and of its ONNX export:

    python -m workshop.hubshape OUT            # OUT/model: the folder; OUT/onnx: app/export_onnx.py's export
    python -m workshop.claims --hub-model OUT/model OUT/onnx --derive-arm64

The export runs in the images' own exporter (onnx.Dockerfile's `exporter` stage, from the build cache).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workshop import config

log = logging.getLogger("workshop.hubshape")

#: distilbert-base-uncased-finetuned-sst-2-english's config.json, the fields that set its size.
SHAPE: dict[str, Any] = {"vocab_size": 30522, "dim": 768, "hidden_dim": 3072, "n_layers": 6, "n_heads": 12,
                         "max_position_embeddings": 512}
#: The hub model's model.safetensors, in bytes (its repository's file listing).
HUB_WEIGHTS_BYTES = 267_832_560
CARD = """# Untrained DistilBERT of the hub model's shape

Stands in for `{model}` where the Hugging Face Hub cannot be reached, for sizes and speed only:
its weights are random (`python -m workshop.hubshape`), so its labels mean nothing. Never serve it.
"""


def make(folder: Path, tokenizer_dir: Path | None = None) -> Path:
    """Write an untrained DistilBERT classifier of the hub model's shape to `folder`; return it."""
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizerFast

    source = tokenizer_dir or config.MODEL_DIR or config.SHARED_DIR / "models" / "sst2-minilm-l6"
    tokenizer = DistilBertTokenizerFast(tokenizer_object=AutoTokenizer.from_pretrained(source).backend_tokenizer)
    if len(tokenizer) != SHAPE["vocab_size"]:
        raise ValueError(f"{source}'s tokenizer has {len(tokenizer)} tokens; the hub model's has {SHAPE['vocab_size']}")
    torch.manual_seed(0)
    # num_labels: transformers' typed signature of DistilBertConfig leaves it out (PretrainedConfig
    # sets it from keyword arguments at run time, as it does here).
    model = DistilBertForSequenceClassification(DistilBertConfig(  # type: ignore[call-arg]
        **SHAPE, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1}))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "README.md").write_text(CARD.format(model=config.DEFAULT_MODEL_ID))
    log.info("wrote %s: model.safetensors %s bytes (the hub's: %s)", folder,
             f"{(folder / 'model.safetensors').stat().st_size:,}", f"{HUB_WEIGHTS_BYTES:,}")
    return folder


@contextlib.contextmanager
def exporter() -> Iterator[str]:
    """onnx.Dockerfile's exporter stage (torch, transformers, onnxruntime) as a temporary image."""
    from workshop.build import build
    from workshop.engine import client

    tag = f"workshop-exporter:{uuid.uuid4().hex[:8]}"
    build(config.dockerfile("onnx"), tag, target="exporter", quiet=True)
    try:
        yield tag
    finally:
        client().images.remove(tag, force=True)


def export(folder: Path, onnx_folder: Path) -> Path:
    """Export `folder` with app/export_onnx.py in the exporter image, into `onnx_folder`."""
    from workshop.run import RunFailed, run_container

    onnx_folder.mkdir(parents=True, exist_ok=True)
    with exporter() as image:
        done = run_container(image, ["python", "/app/export_onnx.py", "/model", "/onnx"], volumes={
            str(config.REPO_ROOT / "app"): {"bind": "/app", "mode": "ro"},
            str(folder.resolve()): {"bind": "/model", "mode": "ro"},
            str(onnx_folder.resolve()): {"bind": "/onnx", "mode": "rw"}})
    if done.exit_code:
        raise RunFailed(f"app/export_onnx.py failed on {folder}:\n{done.stderr[-2000:]}", exit_code=done.exit_code,
                        tail=done.stderr[-2000:])
    return onnx_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.hubshape", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for model/ (the model) and onnx/ (its ONNX export)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    export(make(args.out / "model"), args.out / "onnx")
    print(f"python -m workshop.claims --hub-model {args.out / 'model'} {args.out / 'onnx'} --derive-arm64")
    return 0


if __name__ == "__main__":
    sys.exit(main())
