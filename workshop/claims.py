"""The size claims the lessons assert, as pure functions of measured image sizes.

A lesson measures its images on the learner's machine and checks the claims that apply:

    from workshop import claims as size_claims
    size_claims.check({"naive": ..., "slim": ...})     # prints each claim, True/False; fails on a false one

Sizes are `workshop.layers.image_size`'s (the same figure on either image store), less the model's
files in the images that carry them (`without_model`): the model is the room's choice (the hub's
DistilBERT weighs 268 MB, our offline stand-in 92 MB), the runtime around it is the lessons'. With
the hub model the final image is about 365 MB, more than an eighth of naive; its runtime is not.

Every claim holds, with a margin, for the sizes measured on Linux x86_64 and for the sizes an
arm64 machine (Docker on Apple Silicon) gets, where torch's wheel has another size:
tests/data/platform_sizes.json records both, and tests/test_claims.py checks each claim on each.
The arm64 tables are derived from the x86_64 one without building anything, by swapping torch's
installed size for the aarch64 wheel's (read from its zip directory with HTTP range requests):

    python -m workshop.claims --derive-arm64    # rewrite the arm64 tables of platform_sizes.json
    python -m workshop.claims --measure --derive-arm64   # first re-measure the x86_64 table here
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import platform
import sys
import zipfile
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from workshop import config, images

log = logging.getLogger(__name__)

Sizes = Mapping[str, float]  # image name ("naive", "slim", ...) -> bytes

#: Every registered claim: its sentence -> (the images it compares, the test).
CLAIMS: dict[str, tuple[tuple[str, ...], Callable[[Sizes], bool]]] = {}


def claim(sentence: str, *images: str) -> Callable[[Callable[[Sizes], bool]], Callable[[Sizes], bool]]:
    """Register a claim function under the sentence a lesson prints, with the images it needs."""
    def register(function: Callable[[Sizes], bool]) -> Callable[[Sizes], bool]:
        function.sentence = sentence  # type: ignore[attr-defined]
        CLAIMS[sentence] = (images, function)
        return function
    return register


# Thresholds: the weakest of the recorded platforms (tests/data/platform_sizes.json), less a margin
# for what the tables cannot model: the base images (Docker Hub's arm64 python:3.11 is not its amd64
# one) and every other wheel's build. Torch's size moves the ratios most: a bigger torch brings
# naive, slim and multistage closer together, a smaller one brings multistage closer to final.

@claim("slim is at least 20% smaller than naive", "naive", "slim")
def slim_beats_naive(sizes: Sizes) -> bool:
    """Lesson 03: the slim base, without the full image's compilers, -dev libraries and tools (24-28% recorded)."""
    return sizes["slim"] <= 0.80 * sizes["naive"]


@claim("multistage is at least 25% smaller than slim", "slim", "multistage")
def multistage_beats_slim(sizes: Sizes) -> bool:
    """Lesson 04: only the runtime stage ships, with the app's runtime requirements alone (32-40% recorded)."""
    return sizes["multistage"] <= 0.75 * sizes["slim"]


@claim("the cache-mount image is the multi-stage image's size, within 1 MB", "multistage", "cache")
def cache_matches_multistage(sizes: Sizes) -> bool:
    """Lesson 05: a cache mount speeds up the builder and leaves the runtime image as it was (0 bytes apart recorded)."""
    return abs(sizes["cache"] - sizes["multistage"]) <= 1e6


@claim("final, its model left out, is at most a twentieth of naive", "naive", "final")
def final_twentieth_of_naive(sizes: Sizes) -> bool:
    """Lessons 09 and 10: the torch-free distroless runtime against where the journey started
    (3.5-4.1% recorded, with either model)."""
    return sizes["final"] <= sizes["naive"] / 20


@claim("final, its model left out, is at most an eighth of multistage", "multistage", "final")
def final_eighth_of_multistage(sizes: Sizes) -> bool:
    """Lessons 09 and 10: the torch-free distroless runtime against the tutorial's best image
    (6.7-9.5% recorded, with either model)."""
    return sizes["final"] <= sizes["multistage"] / 8


def without_model(sizes: Sizes, model_bytes: Mapping[str, float]) -> dict[str, float]:
    """`sizes` less each image's model files (`model_bytes`, by image name; 0 for the others)."""
    return {name: size - (model_bytes.get(name) or 0) for name, size in sizes.items()}


def evaluate(sizes: Sizes) -> dict[str, bool]:
    """Every claim whose images are all in `sizes`: sentence -> whether it holds."""
    results = {sentence: bool(test(sizes)) for sentence, (images, test) in CLAIMS.items()
               if all(image in sizes for image in images)}
    if not results:
        raise ValueError(f"no size claim compares only images among {sorted(sizes)}: "
                         "pass the sizes of a lesson's images, keyed by name (naive, slim, multistage...).")
    return results


def check(sizes: Sizes) -> dict[str, bool]:
    """Print every claim that applies to `sizes` with True/False; AssertionError naming the false ones."""
    results = evaluate(sizes)
    for sentence, holds in results.items():
        print(f"{sentence}: {holds}")
    failed = [sentence for sentence, holds in results.items() if not holds]
    if failed:  # raised, not asserted: `python -O` must not skip the lesson's check
        raise AssertionError(f"false on this machine: {'; '.join(failed)} (sizes in bytes: {dict(sizes)})")
    return results


# --- The arm64 tables: x86_64's measured sizes with torch's installed size swapped -------------------

#: Where the measured and derived tables live (tests read them).
PLATFORM_SIZES = config.REPO_ROOT / "tests" / "data" / "platform_sizes.json"

#: Images that install torch (onnx and final run on ONNX Runtime, without it).
TORCH_IMAGES = images.WITH_TORCH

AARCH64_WHEEL = "torch-2.13.0-cp311-cp311-manylinux_2_28_aarch64.whl"
#: The CPU build the images install on x86_64, in the local index's folder (config.WHEELHOUSE).
X86_WHEEL = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"

#: Files of PyPI's aarch64 torch that only CUDA loads. PyPI's 2.13.0 wheel for Linux aarch64 is a
#: CUDA build; the CPU index's aarch64 build, which the Dockerfiles install (torch alone comes from
#: that index), has none of them.
CUDA_ONLY = ("torch/lib/libtorch_cuda", "torch/lib/libc10_cuda", "torch/lib/libtorch_nvshmem", "torch/lib/libcaffe2_nvrtc")


def derive(measured: Sizes, torch_here: int, torch_there: int) -> dict[str, int]:
    """`measured` with torch's installed size `torch_here` replaced by `torch_there` in every torch image."""
    return {name: int(size) + (torch_there - torch_here if name in TORCH_IMAGES else 0)
            for name, size in measured.items()}


class RangesUnsupported(RuntimeError):
    """The host sends whole files only (not an OSError: zipfile would take it for a bad zip)."""


class _RangeReader(io.RawIOBase):
    """A remote file, read-only and seekable, fetched piece by piece with HTTP range requests."""

    def __init__(self, session: Any, url: str, size: int):
        super().__init__()
        self.session, self.url, self.size, self.position = session, url, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        return self.position

    def read(self, n: int = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self.position + n)
        if end <= self.position:
            return b""
        # Streamed, so that a host answering with the whole file is refused before its body comes.
        with self.session.get(self.url, headers={"Range": f"bytes={self.position}-{end - 1}"},
                              stream=True, timeout=60) as response:
            response.raise_for_status()
            if response.status_code != 206:
                raise RangesUnsupported(f"{self.url} ignores range requests: its zip directory cannot be read "
                                        "without downloading the whole file; pass a local copy instead.")
            self.position = end
            return response.content


def installed_bytes(wheel: zipfile.ZipFile, skip: tuple[str, ...] = ()) -> int:
    """What installing `wheel` puts on disk (its files' uncompressed sizes), without files starting with `skip`."""
    return sum(info.file_size for info in wheel.infolist() if not info.filename.startswith(skip))


def remote_wheel(session: Any, project: str, filename: str) -> tuple[str, zipfile.ZipFile]:
    """URL and zip directory of PyPI's `filename` (a few range requests, never the whole file)."""
    from workshop.torchcost import pypi_files

    files = pypi_files(session, project)
    if filename not in files:
        raise LookupError(f"PyPI has no {filename}: check the torch version in {__name__}.AARCH64_WHEEL.")
    url = files[filename]["url"]
    return url, zipfile.ZipFile(_RangeReader(session, url, files[filename]["size"]))




#: Images that carry the model: its folder (baked, production) or its ONNX export (onnx, final).
MODEL_IMAGES = images.WITH_MODEL
ONNX_IMAGES = ("onnx", "final")


def folder_bytes(folder: Path) -> int:
    """Bytes of the files in `folder` and below, as an image's layer counts them."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def measure_model(folder: Path, onnx_folder: Path) -> dict[str, Any]:
    """What a model weighs in the images: its folder's files and its ONNX export's (app/export_onnx.py)."""
    return {"folder_bytes": folder_bytes(folder), "onnx_bytes": folder_bytes(onnx_folder)}


def with_model(table: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """`table`'s sizes with its model files swapped for `model`'s (see measure_model)."""
    model_bytes = {name: model["onnx_bytes" if name in ONNX_IMAGES else "folder_bytes"] for name in MODEL_IMAGES}
    sizes = {name: int(size) + model_bytes.get(name, 0) - table["model_bytes"].get(name, 0)
             for name, size in table["sizes"].items()}
    return {"sizes": sizes, "model_bytes": model_bytes}


def measure_here(path: Path = PLATFORM_SIZES) -> None:
    """Write this machine's image sizes (`image_size`) and the model files in them to `path` as
    its linux/amd64 table."""
    from workshop.layers import image_size, layer_bytes

    tags = {name: images.tag(name) for name in images.COMPARED}
    sizes = {name: image_size(tag) for name, tag in tags.items()}
    model_bytes = {name: layer_bytes(tags[name], "/opt/model") for name in MODEL_IMAGES}
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {
        "about": "Image sizes in bytes (workshop.layers.image_size: the layers' files, uncompressed) that the lessons' size claims "
                 "(workshop/claims.py) must hold on; written by `python -m workshop.claims --measure --derive-arm64`.",
        "platforms": {}}
    data["platforms"]["linux/amd64"] = {
        "method": f"measured: workshop.layers.image_size of {config.IMAGE_REPO}:NAME, built from "
                  "dockerfiles/NAME.Dockerfile with CPU torch from the local index (workshop/offline.sh)",
        "measured": date.today().isoformat(), "sizes": sizes, "model_bytes": model_bytes}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def derive_arm64(path: Path = PLATFORM_SIZES, x86_wheel: Path | None = None) -> dict[str, Any]:
    """Rewrite the arm64 tables of `path` from its x86_64 table and both torch wheels (x86_64's from
    the local index's folder unless given); return the file's data."""
    import requests

    x86_wheel = x86_wheel or config.WHEELHOUSE / "simple" / "torch" / X86_WHEEL
    data = json.loads(path.read_text())
    with requests.Session() as session:
        # The same CA bundle as pip (a TLS-inspecting proxy's, in some classrooms).
        session.verify = os.environ.get("PIP_CERT") or session.verify
        url, aarch64 = remote_wheel(session, "torch", AARCH64_WHEEL)
        with zipfile.ZipFile(x86_wheel) as x86:
            torch: dict[str, dict[str, Any]] = {
                "x86_64": {"wheel": x86_wheel.name, "source": f"the local CPU index's file (workshop/offline.sh): {x86_wheel}",
                           "installed_bytes": installed_bytes(x86)},
                "aarch64": {"wheel": AARCH64_WHEEL, "source": url, "installed_bytes": installed_bytes(aarch64)},
                "aarch64 without CUDA": {
                    "wheel": AARCH64_WHEEL, "source": url, "installed_bytes": installed_bytes(aarch64, CUDA_ONLY),
                    "left out": [f"{prefix}*" for prefix in CUDA_ONLY]},
            }
    measured = data["platforms"]["linux/amd64"]["sizes"]
    model_bytes = data["platforms"]["linux/amd64"]["model_bytes"]
    here = torch["x86_64"]["installed_bytes"]
    data["torch"] = torch
    data["torch method"] = ("installed bytes: the sum of the wheel's files' uncompressed sizes (zip directory), "
                            "the aarch64 wheel's read over HTTP range requests, without downloading it")
    data["platforms"]["linux/arm64, PyPI's aarch64 torch"] = {
        "method": "derived: the linux/amd64 sizes, each torch image's torch replaced by PyPI's aarch64 "
                  "wheel (a CUDA build: the largest torch an arm64 image could hold, without its nvidia-* "
                  "dependencies, which the Dockerfiles never install)",
        "sizes": derive(measured, here, torch["aarch64"]["installed_bytes"]), "model_bytes": model_bytes}
    data["platforms"]["linux/arm64, CPU-only torch"] = {
        "method": "derived: the same, with that wheel's CUDA-only libraries left out, an estimate of the "
                  "CPU index's aarch64 build, which the Dockerfiles install (that index is not reachable here)",
        "sizes": derive(measured, here, torch["aarch64 without CUDA"]["installed_bytes"]), "model_bytes": model_bytes}
    if "hub model" in data:  # each table again, with the hub model's files instead of ours
        for name in [name for name in data["platforms"] if "hub model" not in name]:
            data["platforms"][f"{name}, the hub model"] = {
                "method": f"derived: {name}'s sizes, the model's files swapped for the hub model's (see 'hub model')",
                **with_model(data["platforms"][name], data["hub model"])}
    data["derived"] = date.today().isoformat()
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.claims", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", action="store_true",
                        help="first record this machine's image sizes as the linux/amd64 table (x86_64 only)")
    parser.add_argument("--derive-arm64", action="store_true",
                        help=f"rewrite the arm64 tables of {PLATFORM_SIZES.relative_to(config.REPO_ROOT)}")
    parser.add_argument("--hub-model", nargs=2, type=Path, metavar=("FOLDER", "ONNX_FOLDER"),
                        help="first record the hub model's bytes: a folder with its architecture (config.json, "
                             "model.safetensors, tokenizer) and that folder exported by app/export_onnx.py "
                             "(python -m workshop.hubshape OUT makes both)")
    args = parser.parse_args(argv)
    if not args.derive_arm64:
        parser.print_usage(sys.stderr)
        return 2
    if args.measure:
        if platform.machine() != "x86_64":
            parser.error("--measure records the linux/amd64 table: run it on an x86_64 machine")
        measure_here()
    if args.hub_model:
        data = json.loads(PLATFORM_SIZES.read_text())
        data["hub model"] = {
            "name": config.DEFAULT_MODEL_ID, **measure_model(*args.hub_model),
            "method": "measured here on a model of the hub model's architecture (DistilBERT: dim 768, 6 layers, "
                      "12 heads, vocabulary 30,522, two labels; untrained, for its bytes only: "
                      "python -m workshop.hubshape) and its ONNX export; "
                      "its model.safetensors has the hub's byte count (267,832,560)"}
        PLATFORM_SIZES.write_text(json.dumps(data, indent=2) + "\n")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = derive_arm64()
    for name, table in data["platforms"].items():
        log.info("%s: %s", name, ", ".join(f"{name} {size / 1e6:,.0f} MB" for name, size in table["sizes"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
