"""Lessons 08 and 09's images: the torch-free onnx image and the distroless final image, on the real engine.

Plus what they run outside Docker: app/main.py (the final image's entry point) and the prune file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
import requests
from conftest import APP_DIR
from jsonhttp import free_port

from workshop import checks, config, loadtest, measure, prune
from workshop.build import build
from workshop.engine import client, get_image
from workshop.layers import layer_bytes
from workshop.run import run_container, serve

PROD, ONNX, FINAL, DEBUG = (f"{config.IMAGE_REPO}:{name}" for name in ("production", "onnx", "final", "final-debug"))
PRUNE = config.REPO_ROOT / "dockerfiles" / "onnx.prune"


@pytest.fixture(scope="module")
def images() -> None:
    """The lesson's images, built once for the module (from the cache after lesson 09 or setup)."""
    build("production", PROD, quiet=True)
    build("onnx", ONNX, quiet=True)
    build("final", FINAL, quiet=True)
    build("final", DEBUG, target="debug", quiet=True)


def test_every_prune_line_has_globs_and_a_reason():
    """Each cut in dockerfiles/onnx.prune names what it deletes and why that is safe."""
    cuts = prune.read_cuts(PRUNE)
    assert len(cuts) >= 5
    assert all(cuts["globs"].map(len) > 0) and all(cuts["why"].str.len() > 10), cuts


def test_main_serve_runs_gunicorn_with_the_app_settings(model_dir):
    """`python main.py serve` (the final image's API command) serves the app on $PORT from app/."""
    port = free_port()
    env = {**os.environ, "MODEL_ID": str(model_dir), "HF_HUB_OFFLINE": "1", "PORT": str(port)}
    process = subprocess.Popen([sys.executable, "main.py", "serve"], cwd=APP_DIR, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or busy loading the model
                time.sleep(0.5)
        answer = requests.post(f"http://127.0.0.1:{port}/classify", json={"text": "A superb film."}, timeout=60)
        assert answer.json()["result"][0]["label"] == "POSITIVE"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
    assert "Booting worker" in output  # gunicorn, not Flask's development server


@pytest.mark.docker
def test_final_default_command_prints_the_batch_result(images):
    """With no arguments the final image classifies the sample file, offline and read-only."""
    done = run_container(FINAL, network_mode="none", read_only=True)
    assert done.exit_code == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[0] == "--- Classification Result ---"
    assert re.findall(r"'label': '(\w+)'", done.stdout) == ["POSITIVE"]
    assert "telemetry" not in done.stderr  # ORT_DISABLE_TELEMETRY: no device id, no warning


@pytest.mark.docker
def test_final_serves_the_same_api_read_only_as_a_non_root_user(images):
    """`serve` starts the API: /health names the baked model, long texts are truncated, bad input is a 400."""
    with serve(FINAL, command=["serve"], read_only=True) as server:
        assert server.get("/health").json() == {"status": "ok", "model": "/opt/model"}
        assert server.classify("a wonderful, moving film. " * 2000)[0]["label"] == "POSITIVE"
        bad = server.post("/classify", json={"text": 3})
        assert (bad.status_code, set(bad.json())) == (400, {"error"})
        server.container.reload()
        assert server.container.attrs["Config"]["User"] == "10001:10001"


@pytest.mark.docker
@pytest.mark.parametrize("tag, command", [(FINAL, ["/dev/stdin"]), (PROD, ["python", "predictor.py", "/dev/stdin"])],
                         ids=["final", "production"])
def test_batch_run_stops_on_docker_stop(images, tag, command):
    """The batch run is PID 1, which the kernel gives no default SIGTERM action: the app's own
    handler makes `docker stop` end it with 143 (SIGTERM) rather than 137 (killed 10 s later).
    /dev/stdin, held open, keeps the batch run waiting for its input."""
    container = client().containers.run(tag, command, detach=True, stdin_open=True, labels={"workshop": "1"})
    try:
        time.sleep(3)  # Python has started and waits on its input
        container.stop(timeout=10)
        assert container.wait(timeout=30)["StatusCode"] == 143, container.logs()[-2000:]
    finally:
        container.remove(force=True)


@pytest.mark.docker
def test_onnx_runtime_threads_follow_the_containers_cpus(images):
    """ONNX Runtime gets as many threads as the container may use: its CPU set, or its quota
    rounded up, not the host's core count (which it would take by itself)."""
    probe = ["-c", "import onnx_classifier as o; s = o.OnnxClassifier('/opt/model').session; "
                   "print(o.usable_cpus(), s.get_session_options().intra_op_num_threads)"]
    cores = len(os.sched_getaffinity(0))
    for options, expected in (({}, cores), ({"cpuset_cpus": "0"}, 1), ({"nano_cpus": 500_000_000}, 1)):
        done = run_container(FINAL, probe, entrypoint=["python3"], **options)
        assert done.exit_code == 0, done.stderr[-2000:]
        assert done.stdout.split() == [str(expected)] * 2, options


@pytest.mark.docker
def test_final_has_no_shell_and_the_debug_variant_has_busybox(images):
    """The final image has no sh, apt-get or pip; final-debug adds /busybox/sh and nothing else changes."""
    for tool in ("sh", "apt-get", "pip"):
        checks.tool_absent(FINAL, tool)
    checks.tool_present(DEBUG, "sh")
    shell = run_container(DEBUG, ["-c", "id -u && ls /busybox/sh"], entrypoint=["/busybox/sh"])
    assert (shell.exit_code, shell.stdout.split()) == (0, ["10001", "/busybox/sh"])
    assert get_image(DEBUG).attrs["Config"]["Entrypoint"] == get_image(FINAL).attrs["Config"]["Entrypoint"]


@pytest.mark.docker
def test_final_names_its_model_and_carries_its_card_and_checksums(images, model_dir):
    """The model labels name the model built in (here: the local folder, config.BUILD_ARGS), the
    model card is the source's README.md, and SHA256SUMS checks out against the shipped files."""
    labels = get_image(FINAL).labels
    expected = {k: v for k, v in config.BUILD_ARGS.items() if k.startswith("MODEL_") and k != "MODEL_SOURCE"}
    if not expected:  # built from the Hub: the Dockerfile's own defaults
        expected = {"MODEL_ID": "distilbert-base-uncased-finetuned-sst-2-english",
                    "MODEL_REVISION": "714eb0fa89d2f80546fda750413ed43d93601a13", "MODEL_LICENSE": "Apache-2.0"}
    assert {key: labels.get(f"workshop.model.{key.removeprefix('MODEL_').lower()}") for key in expected} == expected
    def model_labels(image: str) -> dict[str, str]:
        return {k: v for k, v in get_image(image).labels.items() if k.startswith("workshop.model.")}

    assert model_labels(FINAL) == model_labels(ONNX) == model_labels(PROD)
    card = run_container(DEBUG, ["-c", "cat /opt/model/README.md"], entrypoint=["/busybox/sh"])
    if config.MODEL_DIR is not None:
        assert card.stdout == (model_dir / "README.md").read_text()
    sums = run_container(DEBUG, ["-c", "cd /opt/model && sha256sum -c SHA256SUMS"], entrypoint=["/busybox/sh"])
    assert sums.exit_code == 0, sums.stdout + sums.stderr
    assert {line.rsplit(":", 1)[0] for line in sums.stdout.splitlines()} >= {
        "model.onnx", "model.onnx.data", "README.md", "config.json"}


@pytest.mark.docker
def test_the_models_weights_sit_beside_its_graph(images):
    """model.onnx holds the graph only; the weights are in model.onnx.data, which ONNX Runtime maps
    into memory instead of parsing them out of the graph (a faster start: README's bench)."""
    sizes = run_container(FINAL, ["-c", "import os; print(os.path.getsize('/opt/model/model.onnx'), "
                                        "os.path.getsize('/opt/model/model.onnx.data'))"], entrypoint=["python3"])
    graph, weights = map(int, sizes.stdout.split())
    assert graph < 1_000_000 < 10_000_000 < weights, (graph, weights)


@pytest.mark.docker
def test_the_graph_is_shipped_optimized(images):
    """app/export_onnx.py saves the graph as ONNX Runtime rewrote it, so the server does not rewrite
    it at every start. torch's exporter writes standard ONNX operators only; ONNX Runtime's fused
    ones (FusedMatMul here) live in its own operator domain, com.microsoft."""
    for image in (FINAL, ONNX):
        found = run_container(image, ["-c", "print(b'com.microsoft' in open('/opt/model/model.onnx', 'rb').read())"],
                              entrypoint=["python3"])
        assert found.stdout.strip() == "True", (image, found.stdout, found.stderr)


@pytest.mark.docker
def test_structure_test_passes_the_final_image_and_fails_the_onnx_one(images):
    """final.cst.yaml's checks all pass on final; on onnx (slim base, dpkg's own database, su and
    passwd setuid root) the no-shell, status.d and setuid checks fail."""
    final = measure.structure_test(FINAL, "dockerfiles/final.cst.yaml")
    onnx = measure.structure_test(ONNX, "dockerfiles/final.cst.yaml")
    assert len(final) >= 15 and final["passed"].all(), final[~final["passed"]]
    failed = {name.split(" (")[0] for name in onnx.loc[~onnx["passed"], "test"]}
    assert {"File Existence Test: no shell", "Command Test: no setuid or setgid file",
            "File Existence Test: what scanners read to know the Debian packages"} <= failed, failed


@pytest.mark.docker
def test_scanners_see_the_final_images_debian_packages_and_release(images):
    """syft (an SBOM tool; vulnerability scanners read the same files) lists the Debian packages
    of the distroless image with their versions, and its Debian release."""
    debs = measure.debian_packages(FINAL)
    assert {"libc6", "libssl3", "python3.11-minimal", "libpython3.11-stdlib", "libstdc++6"} <= set(debs), debs
    assert all(debs.values())
    done = subprocess.run(["syft", FINAL, "-o", "json", "-q"], capture_output=True, text=True, timeout=600, check=False)
    distro = json.loads(done.stdout)["distro"]
    assert (distro["id"], distro["versionID"]) == ("debian", "12")


@pytest.mark.docker
def test_final_runtime_overhead_is_under_100_mb_and_under_a_fifth_of_production(images):
    """Size minus the model layer stays within lesson 09's budget; production is over 5x bigger."""
    size = get_image(FINAL).attrs["Size"]
    model = layer_bytes(FINAL, "/opt/model")
    assert 80e6 < model < 100e6  # the float32 export of the shared model, about 91 MB
    assert size - model <= 100e6  # the budget lesson 09 states and checks in its claims
    assert size * 5 < get_image(PROD).attrs["Size"]


@pytest.mark.docker
def test_onnx_images_give_torch_labels_on_sst2_dev_sentences(images):
    """The first 200 SST-2 dev sentences: final and onnx give the production image's labels on 99%+."""
    texts = loadtest.sst2_dev(limit=200)["sentence"].tolist()
    torch_labels = loadtest.labels_through(PROD, texts, command=["gunicorn"], tmpfs={"/tmp": "size=64m"})
    for tag, command in ((ONNX, ["gunicorn"]), (FINAL, ["serve"])):
        assert loadtest.agreement(loadtest.labels_through(tag, texts, command=command), torch_labels) >= 0.99


@pytest.mark.docker
def test_pruned_venv_keeps_every_library_the_app_loads(images):
    """Started in the final image, the app loads only libraries that are there; the C API library is not."""
    libraries = prune.loaded_libraries(FINAL, python="python3")
    assert libraries["loaded"].any()
    assert not libraries["library"].str.contains("libonnxruntime.so").any()
    cuts = prune.cut_sizes(build("onnx", f"{config.IMAGE_REPO}:onnx-venv", target="venv", quiet=True).tag, PRUNE)
    assert (cuts["bytes"] > 0).all(), cuts[cuts["bytes"] == 0]  # every cut deletes something real


#: Runs in the image: each installed distribution whose RECORD lists a top-level module or
#: package that is gone (its metadata would tell a scanner it is there).
_ORPHANS = r"""
import importlib.metadata, json
orphans = {}
for dist in importlib.metadata.distributions():
    tops = {f.parts[0] for f in dist.files or [] if not f.parts[0].endswith((".dist-info", ".data"))
            and f.parts[0] not in ("..", "__pycache__")}
    missing = sorted(top for top in tops if not dist.locate_file(top).exists())
    if missing:
        orphans[dist.metadata["Name"]] = missing
print(json.dumps(orphans))
"""


@pytest.mark.docker
def test_pruning_leaves_no_package_metadata_without_its_modules(images):
    """A cut deletes a package whole: no dist-info left that names a module the image lacks."""
    done = run_container(FINAL, ["-c", _ORPHANS], entrypoint=["python3"], network_mode="none")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


@pytest.mark.docker
def test_no_python_source_is_left_outside_the_app(images):
    """final.Dockerfile keeps the standard library and the venv as compiled modules only (the app's
    own sources stay: final.cst.yaml checks them compiled)."""
    done = run_container(FINAL, ["-c", _SOURCES], entrypoint=["python3"], network_mode="none")
    assert done.exit_code == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["sources"] == [], f"Python sources left outside the app: {found['sources']}"
    assert found["compiled"] > 500  # the standard library and the venv (858 on 2026-12-01)


#: Runs in the image: the .py files under /usr and /opt (at most 5), and the .pyc count there.
_SOURCES = r"""
import json, os
files = [os.path.join(d, f) for r in ("/usr", "/opt") for d, _, fs in os.walk(r) for f in fs]
print(json.dumps({"sources": [f for f in files if f.endswith(".py")][:5],
                  "compiled": sum(f.endswith(".pyc") for f in files)}))
"""


@pytest.mark.docker
def test_shared_objects_carry_no_symbol_table(images):
    """final.Dockerfile strips every shared object of the venv (`strip --strip-unneeded`), and
    Debian's own libraries come stripped: no ELF file under /opt and /usr keeps a symbol table.
    The onnx image's venv, never stripped, shows that the probe tells the two apart."""
    final = _symbol_tables(FINAL)
    assert final["elf"] > 20 and final["with_symtab"] == [], final  # 48 ELF files on 2026-12-01
    assert any("/opt/venv/" in path for path in _symbol_tables(ONNX)["with_symtab"])


def _symbol_tables(image: str) -> dict:
    done = run_container(image, ["-c", _SYMTAB], entrypoint=["python3"], network_mode="none")
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


#: Runs in the image: how many 64-bit ELF files /opt and /usr hold, and those (at most 5) with a
#: .symtab section (section type 2, SHT_SYMTAB) in their section header table.
_SYMTAB = r"""
import json, os, struct
def symtab(path):
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:5] != b"\x7fELF\x02":
            return None
        order = "<" if head[5] == 1 else ">"
        (offset,) = struct.unpack_from(order + "Q", head, 0x28)
        size, count = struct.unpack_from(order + "HH", head, 0x3A)
        f.seek(offset)
        table = f.read(size * count)
    return any(struct.unpack_from(order + "I", table, i * size + 4)[0] == 2 for i in range(count))
paths = [os.path.join(d, f) for r in ("/opt", "/usr") for d, _, fs in os.walk(r) for f in fs]
found = {p: symtab(p) for p in paths if os.path.isfile(p) and not os.path.islink(p)}
print(json.dumps({"elf": sum(v is not None for v in found.values()),
                  "with_symtab": [p for p, v in found.items() if v][:5]}))
"""
