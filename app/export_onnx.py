"""Export the sentiment model to ONNX for the torch-free runtime; runs in an image's builder.

    python export_onnx.py MODEL_DIR OUT_DIR [--int8]

OUT_DIR gets model.onnx and the tokenizer and config files app/onnx_classifier.py reads. With
--int8 the weights are quantized to 8-bit integers (about a quarter of the size, a little less
accurate: lesson 06 measures how much). Needs torch, transformers, onnx and onnxruntime: the
builder has them, the runtime image never does.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

log = logging.getLogger("export_onnx")

#: ONNX operator set: ONNX Runtime 1.15 and later run it.
OPSET = 17


def export(model_dir: str, out_dir: Path, *, int8: bool = False) -> Path:
    """Write OUT_DIR/model.onnx (and the tokenizer and config beside it); return the model's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    # Two texts of different lengths, so the traced graph keeps batch and length variable.
    sample = tokenizer(["A fine film.", "An awful, boring mess of a film."], padding=True, return_tensors="pt")
    inputs = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]
    variable = {name: {0: "batch", 1: "tokens"} for name in inputs}
    target = out_dir / "model.onnx"
    # The tracer warns about Python conditions it turns into constants; none depends on the input here.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = Path(scratch) / "model.onnx" if int8 else target
        # The TorchScript exporter (dynamo=False): a BERT classifier traces cleanly, fast.
        torch.onnx.export(model, tuple(sample[name] for name in inputs), str(fp32), input_names=inputs,
                          output_names=["logits"], dynamic_axes={**variable, "logits": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # Dynamic quantization: int8 weights, activations quantized on the fly. No calibration data.
            quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8)
    tokenizer.save_pretrained(out_dir)
    model.config.save_pretrained(out_dir)
    log.info("exported %s to %s (%.1f MB%s)", model_dir, target, target.stat().st_size / 1e6, ", int8" if int8 else "")
    return target


def main() -> None:
    # Our own progress at INFO; onnxruntime's quantizer logs a line per tensor at INFO, so not that.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="a folder in Hugging Face layout (the image's /model)")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--int8", action="store_true", help="quantize the weights to int8")
    args = parser.parse_args()
    export(args.model_dir, args.out_dir, int8=args.int8)


if __name__ == "__main__":
    main()
