"""Export the sentiment model to ONNX for the torch-free runtime; runs in an image's builder.

    python export_onnx.py MODEL_DIR OUT_DIR [--int8]

OUT_DIR gets model.onnx (the graph, already optimized by ONNX Runtime) and model.onnx.data (its
weights), the tokenizer and config files app/onnx_classifier.py reads, the model card (README.md)
when MODEL_DIR has one, and SHA256SUMS of them all. With --int8 the weights are quantized to 8-bit
integers (about a quarter of the size, a little less accurate: lesson 08 measures how much).
Needs torch, transformers, onnx and onnxruntime: the builder has them, the runtime image never does.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import onnxruntime
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

log = logging.getLogger("export_onnx")

#: ONNX operator set: ONNX Runtime 1.15 and later run it.
OPSET = 17
#: The weights' file, beside model.onnx (ONNX's "external data"). ONNX Runtime maps a file of
#: weights into memory; weights inside the graph's protobuf are parsed and copied first, which
#: made the final image's session about 0.14 s slower to load (README, `python -m workshop.bench`).
WEIGHTS = "model.onnx.data"


def export(model_dir: str, out_dir: Path, *, int8: bool = False) -> Path:
    """Write OUT_DIR/model.onnx and its weights (and the tokenizer and config beside them); return
    the model's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    # Two texts of different lengths, so the traced graph keeps batch and length variable.
    sample = tokenizer(["A fine film.", "An awful, boring mess of a film."], padding=True, return_tensors="pt")
    # The tokenizer's outputs that the model takes, in the order its forward() takes them: DistilBERT
    # has no token_type_ids (a BERT tokenizer in front of it makes them anyway). The exporter passes
    # them by position, so they must be forward()'s first parameters, as in BERT and DistilBERT.
    parameters = list(inspect.signature(model.forward).parameters)
    inputs = [name for name in parameters if name in sample]
    if parameters[: len(inputs)] != inputs:
        raise ValueError(f"{type(model).__name__}.forward does not take {inputs} first: cannot export it by position")
    variable = {name: {0: "batch", 1: "tokens"} for name in inputs}
    target = out_dir / "model.onnx"
    # The tracer warns about Python conditions it turns into constants; none depends on the input here.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    with tempfile.TemporaryDirectory() as scratch:
        exported = Path(scratch) / "model.onnx"
        # The TorchScript exporter (dynamo=False): a BERT classifier traces cleanly, fast.
        torch.onnx.export(model, tuple(sample[name] for name in inputs), str(exported), input_names=inputs,
                          output_names=["logits"], dynamic_axes={**variable, "logits": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # Dynamic quantization: int8 weights, activations quantized on the fly. No calibration data.
            quantized = Path(scratch) / "model-int8.onnx"
            quantize_dynamic(str(exported), str(quantized), weight_type=QuantType.QInt8)
            exported = quantized
        optimize(exported, target)
    tokenizer.save_pretrained(out_dir)
    model.config.save_pretrained(out_dir)
    card = Path(model_dir) / "README.md"
    if card.is_file():  # the model card (licence, training data, limitations) goes where the model goes
        shutil.copyfile(card, out_dir / "README.md")
    write_checksums(out_dir)
    size = target.stat().st_size + (out_dir / WEIGHTS).stat().st_size
    log.info("exported %s to %s and %s (%.1f MB%s)", model_dir, target, WEIGHTS, size / 1e6, ", int8" if int8 else "")
    return target


def optimize(source: Path, target: Path) -> None:
    """Write `source` optimized by ONNX Runtime to `target`, its weights to WEIGHTS beside it.

    ONNX Runtime rewrites every graph it loads (constants folded, a layer's small operations fused
    into one); done here once, each start of the server skips that work (about 30 ms of the final
    image's start, README). The EXTENDED level's rewrites suit any CPU; the level above adds
    layout changes for the CPU it runs on, which this builder's CPU may not be.
    """
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", WEIGHTS)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def write_checksums(folder: Path) -> Path:
    """SHA256SUMS in `folder`: one line per file, as sha256sum writes it (`sha256sum -c SHA256SUMS`
    in the folder checks them), so anyone can tell that the files are the ones exported."""
    lines = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != "SHA256SUMS"):
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        lines.append(f"{digest.hexdigest()}  {path.name}\n")
    target = folder / "SHA256SUMS"
    target.write_text("".join(lines))
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
