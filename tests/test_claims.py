"""The lessons' size claims hold on every platform's recorded sizes, with our stand-in model or the
hub's, and each one can fail."""

from __future__ import annotations

import http.server
import json
import random
import threading
import zipfile

import pytest
import requests

from workshop import claims

RECORDED = json.loads(claims.PLATFORM_SIZES.read_text())
PLATFORMS = RECORDED["platforms"]

#: Every claim false at once: slim bigger than naive, multistage bigger than slim, the cache image
#: 2 MB off multistage, final half of naive and of multistage.
BROKEN = {"naive": 1.0e9, "slim": 1.2e9, "multistage": 1.3e9, "cache": 1.302e9, "final": 0.6e9}


@pytest.mark.parametrize("sentence", claims.CLAIMS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_claim_holds_on_every_platform(platform, sentence):
    """Each size claim is true for the sizes measured on x86_64 and those derived for arm64, each
    with our stand-in model and with the hub model's files, the model's files left out as the
    lessons leave them out."""
    images, test = claims.CLAIMS[sentence]
    sizes = claims.without_model(PLATFORMS[platform]["sizes"], PLATFORMS[platform]["model_bytes"])
    assert test(sizes), {image: sizes[image] for image in images}


def test_the_recorded_tables_cover_both_platforms_both_models_and_every_image():
    """platform_sizes.json holds x86_64's measured table and arm64's derived ones, each also with the
    hub model, each with every lesson image and the model files of the four that carry one."""
    assert "linux/amd64" in PLATFORMS and any(name.startswith("linux/arm64") for name in PLATFORMS)
    assert {f"{name}, the hub model" for name in PLATFORMS if "hub model" not in name} <= set(PLATFORMS)
    for table in PLATFORMS.values():
        assert set(table["sizes"]) >= {*claims.TORCH_IMAGES, "onnx", "final"}
        assert set(table["model_bytes"]) == set(claims.MODEL_IMAGES)


def test_with_the_hub_model_the_whole_final_image_is_over_an_eighth_of_naive():
    """Why the claims leave the model out: the hub model's 268 MB of weights alone make the final
    image more than an eighth of naive, though its runtime is a twentieth."""
    table = PLATFORMS["linux/amd64, the hub model"]
    assert table["model_bytes"]["final"] > 250e6
    assert table["sizes"]["final"] > table["sizes"]["naive"] / 8
    assert claims.final_twentieth_of_naive(claims.without_model(table["sizes"], table["model_bytes"]))


@pytest.mark.parametrize("sentence", claims.CLAIMS)
def test_every_claim_can_fail(sentence):
    """Each claim is false for sizes that contradict it."""
    _, test = claims.CLAIMS[sentence]
    assert test(BROKEN) is False


def test_check_prints_each_claim_and_names_the_false_ones(capsys):
    """check() prints every applicable claim with its verdict and raises AssertionError naming each false one."""
    with pytest.raises(AssertionError) as failure:
        claims.check(BROKEN)
    printed = capsys.readouterr().out
    for sentence in claims.CLAIMS:
        assert f"{sentence}: False" in printed
        assert sentence in str(failure.value)


def test_check_returns_the_verdicts_when_all_hold(capsys):
    """check() on the x86_64 sizes (the model left out) returns every claim as True and prints them."""
    table = PLATFORMS["linux/amd64"]
    assert claims.check(claims.without_model(table["sizes"], table["model_bytes"])) == dict.fromkeys(claims.CLAIMS, True)
    assert capsys.readouterr().out.count(": True") == len(claims.CLAIMS)


def test_evaluate_takes_only_the_claims_whose_images_it_has():
    """With naive and slim alone, evaluate() judges lesson 03's claim and nothing else."""
    assert claims.evaluate({"naive": 3e9, "slim": 1e9}) == {claims.slim_beats_naive.sentence: True}


def test_evaluate_without_a_claim_to_judge_says_what_to_pass():
    """Sizes of images no claim compares give a ValueError naming the expected keys."""
    with pytest.raises(ValueError, match="keyed by name"):
        claims.evaluate({"bert-classifier:naive": 3e9})


def test_derive_swaps_torch_in_torch_images_only():
    """derive() moves every torch image by the difference in torch's size and leaves onnx and final as measured."""
    measured = {"naive": 2_000, "multistage": 1_000, "onnx": 300, "final": 100}
    assert claims.derive(measured, torch_here=700, torch_there=450) == \
        {"naive": 1_750, "multistage": 750, "onnx": 300, "final": 100}


def test_recorded_arm64_tables_follow_from_the_x86_table():
    """The arm64 tables are exactly the x86_64 table with the recorded torch sizes swapped (no hand edits)."""
    torch = RECORDED["torch"]
    measured = PLATFORMS["linux/amd64"]["sizes"]
    here = torch["x86_64"]["installed_bytes"]
    assert PLATFORMS["linux/arm64, PyPI's aarch64 torch"]["sizes"] == \
        claims.derive(measured, here, torch["aarch64"]["installed_bytes"])
    assert PLATFORMS["linux/arm64, CPU-only torch"]["sizes"] == \
        claims.derive(measured, here, torch["aarch64 without CUDA"]["installed_bytes"])


def _wheel(path):
    noise = random.Random(0).randbytes  # incompressible, so the zip directory is a small part of the file
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        wheel.writestr("torch/lib/libtorch_cpu.so", noise(50_000))
        wheel.writestr("torch/lib/libtorch_cuda.so", noise(70_000))
        wheel.writestr("torch/__init__.py", noise(1_000))
    return path


def test_installed_bytes_sums_uncompressed_sizes_and_leaves_out_prefixes(tmp_path):
    """installed_bytes() is the sum of the files' uncompressed sizes, less the files under `skip`."""
    with zipfile.ZipFile(_wheel(tmp_path / "t.whl")) as wheel:
        assert claims.installed_bytes(wheel) == 121_000
        assert claims.installed_bytes(wheel, claims.CUDA_ONLY) == 51_000


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one file, honouring `Range: bytes=a-b` as a package host does (or ignoring it)."""

    body = b""
    honour_ranges = True
    sent = 0

    def do_GET(self):
        start, end = 0, len(self.body) - 1
        ranged = self.honour_ranges and self.headers.get("Range", "").startswith("bytes=")
        if ranged:
            start, end = (int(part) for part in self.headers["Range"][len("bytes="):].split("-"))
        self.send_response(206 if ranged else 200)
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(self.body[start:end + 1])
        type(self).sent += end - start + 1

    def log_message(self, *args):
        pass


@pytest.fixture
def file_server(tmp_path):
    path = _wheel(tmp_path / "t.whl")
    _RangeHandler.body, _RangeHandler.sent = path.read_bytes(), 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/t.whl", len(_RangeHandler.body)
    server.shutdown()
    server.server_close()
    _RangeHandler.honour_ranges = True


def test_a_remote_wheel_is_sized_from_its_zip_directory_alone(file_server):
    """Over HTTP range requests, a wheel's installed size matches the local reading, fetching less than the file."""
    url, size = file_server
    with requests.Session() as session:
        remote = zipfile.ZipFile(claims._RangeReader(session, url, size))
        assert claims.installed_bytes(remote) == 121_000
    assert 0 < _RangeHandler.sent < size / 2


def test_a_host_without_range_support_is_refused(file_server):
    """A server that answers a range request with the whole file is refused, not silently downloaded from."""
    url, size = file_server
    _RangeHandler.honour_ranges = False
    with requests.Session() as session, pytest.raises(claims.RangesUnsupported, match="ignores range requests"):
        zipfile.ZipFile(claims._RangeReader(session, url, size))
