"""workshop.torchcost: what pip would download for torch, resolved from real package metadata."""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import requests

from workshop import config, torchcost
from workshop.torchcost import Cost, Wheel

LOCAL_TORCH_INDEX = "http://127.0.0.1:8765/simple"


def _answers(url: str, **headers: str) -> bool:
    try:
        return requests.get(url, headers=headers, timeout=10,
                            verify=os.environ.get("PIP_CERT") or True).status_code == 200
    except requests.RequestException:
        return False


def _resolve() -> dict[tuple[str, str, str], Cost | str]:
    """torch==2.13.0 resolved once per scenario, in parallel; a str says why a scenario was skipped."""
    skipped: dict[tuple[str, str, str], Cost | str] = {}
    scenarios = []
    if _answers(f"{config.PYPI_INDEX}/torch/", Accept="application/vnd.pypi.simple.v1+json"):
        scenarios += [("torch", "linux/amd64", "PyPI"), ("torch", "linux/arm64", "PyPI")]
    else:
        skipped[("torch", "linux/amd64", "PyPI")] = skipped[("torch", "linux/arm64", "PyPI")] = \
            "PyPI's metadata is unreachable from this machine"
    if not scenarios:
        skipped[("torch", "linux/amd64", "CPU index")] = "PyPI is unreachable (torch's dependencies come from it)"
    elif _answers(f"{LOCAL_TORCH_INDEX}/torch/"):
        scenarios.append(("torch", "linux/amd64", "CPU index"))
    else:
        skipped[("torch", "linux/amd64", "CPU index")] = f"the local torch index at {LOCAL_TORCH_INDEX} does not answer"
    measured = torchcost.measure(scenarios, index=LOCAL_TORCH_INDEX) if scenarios else None
    return {**skipped, **({(c.what, c.platform, c.source): c for c in measured.costs} if measured else {})}


_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchcost")
_resolving: Future | None = None


def start_resolving() -> None:
    """Start the resolution in the background: it mostly waits for PyPI (most of a minute), so
    conftest.py calls this once collection is done, and the tests before these ones run meanwhile."""
    global _resolving
    if _resolving is None:
        _resolving = _pool.submit(_resolve)


@pytest.fixture(scope="module")
def resolved() -> dict[tuple[str, str, str], Cost | str]:
    start_resolving()
    assert _resolving is not None
    return _resolving.result()


def _cost(resolved, *scenario: str) -> Cost:
    cost = resolved[scenario]
    if isinstance(cost, str):
        pytest.skip(cost)
    return cost


def test_pypi_torch_for_linux_x86_64_is_mostly_nvidia_libraries(resolved):
    """PyPI's torch 2.13.0 for linux/amd64 brings nvidia-* wheels that outweigh torch and the rest together."""
    cost = _cost(resolved, "torch", "linux/amd64", "PyPI")
    assert cost.torch is not None and cost.torch.version == "2.13.0"
    assert any(wheel.name.startswith("nvidia") for wheel in cost.wheels)
    assert cost.cuda_bytes > cost.total_bytes / 2
    assert cost.total_bytes > 1e9  # gigabytes, the lesson's claim


def test_pypi_torch_for_linux_aarch64_is_a_cuda_build_too(resolved):
    """PyPI's torch 2.13.0 for linux/arm64 (Docker on Apple Silicon) also brings nvidia wheels, built for aarch64."""
    cost = _cost(resolved, "torch", "linux/arm64", "PyPI")
    assert cost.torch is not None and cost.torch.filename.endswith("aarch64.whl")
    nvidia = [wheel for wheel in cost.wheels if wheel.name.startswith("nvidia")]
    assert nvidia and all(wheel.filename.endswith("aarch64.whl") for wheel in nvidia)
    assert cost.cuda_bytes > cost.total_bytes / 2


def test_cpu_index_gives_a_plus_cpu_torch_with_zero_cuda_bytes(resolved):
    """torch alone from the CPU index (its local stand-in), the rest from PyPI: torch 2.13.0+cpu and no CUDA wheel."""
    cost = _cost(resolved, "torch", "linux/amd64", "CPU index")
    assert cost.torch is not None and cost.torch.version == "2.13.0+cpu"
    assert cost.cuda_bytes == 0, [w.name for w in cost.wheels if w.cuda]
    assert cost.torch.bytes > 0


def test_sizes_add_up_and_only_cuda_distributions_count_as_cuda():
    """Wheels from a report get their sizes by URL, sort largest first; CUDA bytes are the nvidia/cuda/triton ones."""
    def item(name: str, version: str, url: str) -> dict:
        return {"metadata": {"name": name, "version": version}, "download_info": {"url": url}}

    report = {"install": [
        item("torch", "2.13.0", "https://files.example/torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
        item("nvidia-cublas", "13.1.1.3", "https://files.example/nvidia_cublas-13.1.1.3-py3-none-any.whl"),
        item("triton", "3.7.1", "https://files.example/triton-3.7.1-cp311-cp311-manylinux_2_28_x86_64.whl"),
        item("cuda-bindings", "13.5.0", "https://files.example/cuda_bindings-13.5.0-cp311-cp311-linux.whl"),
        item("sympy", "1.14.0", "https://files.example/sympy-1.14.0-py3-none-any.whl"),
        item("torchvision", "0.28.0", "https://cpu.example/torchvision-0.28.0%2Bcpu-cp311-cp311-linux.whl"),
    ]}
    sizes = dict(zip((i["download_info"]["url"] for i in report["install"]), (500, 400, 200, 8, 6, 3), strict=True))
    cost = Cost("torch", "linux/amd64", "PyPI", torchcost.wheels_from_report(report, sizes))
    assert [w.name for w in cost.wheels] == ["torch", "nvidia-cublas", "triton", "cuda-bindings", "sympy", "torchvision"]
    assert cost.wheels[-1] == Wheel("torchvision", "0.28.0", "torchvision-0.28.0+cpu-cp311-cp311-linux.whl", 3)
    assert (cost.total_bytes, cost.cuda_bytes) == (1117, 608)
    assert Cost.from_dict(cost.to_dict()) == cost


def test_recorded_figures_load_and_add_up():
    """results/torch-cost.json holds every scenario, each total the sum of its files, CUDA only in PyPI's ones."""
    data = json.loads(torchcost.RECORD.read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", data["date"]) and data["pip"] == torchcost.RESOLVER_PIP
    assert [(s["what"], s["platform"], s["source"]) for s in data["scenarios"]] == list(torchcost.SCENARIOS)
    for scenario in data["scenarios"]:
        assert scenario["total_bytes"] == sum(p["bytes"] for p in scenario["packages"])
        assert scenario["cuda_bytes"] == sum(p["bytes"] for p in scenario["packages"] if torchcost.is_cuda(p["name"]))
    measurement = torchcost.load(why="offline")
    assert measurement.recorded and data["date"] in measurement.note
    for what in torchcost.WHATS:
        assert measurement.cost(what, "linux/amd64", "PyPI").cuda_bytes > 1e9
        assert measurement.cost(what, "linux/amd64", "CPU index").cuda_bytes == 0
        assert measurement.cost(what, "linux/amd64", "CPU index").torch.version.endswith("+cpu")
        assert measurement.cost(what, "linux/arm64", "PyPI").cuda_bytes > 1e9


def test_cuda_build_command_builds_the_naive_dockerfile_with_torchs_dependencies_from_pypi():
    """The instructor's CUDA build passes TORCH_INDEX_URL=PyPI (an ARG naive.Dockerfile declares, else
    it is ignored) and builds the naive Dockerfile with one change, made by the command's own sed:
    torch's install without --no-deps, so it brings the nvidia-* wheels the image's lock leaves out."""
    command = torchcost.cuda_build_command()
    assert "--build-arg TORCH_INDEX_URL=https://pypi.org/simple " in command and " -f - " in command
    assert "-t bert-classifier:naive-cuda " in command
    naive = config.dockerfile("naive").read_text()
    assert re.search(r"^ARG TORCH_INDEX_URL\b", naive, re.M)
    sed = command.split(" | ")[0]
    edited = subprocess.run(sed, shell=True, capture_output=True, text=True, check=True).stdout
    changed = [(a, b) for a, b in zip(naive.splitlines(), edited.splitlines(), strict=True) if a != b]
    assert len(changed) == 1, changed
    before, after = changed[0]
    assert "-r app/torch-requirements.txt" in after and "--no-deps" in before and "--no-deps" not in after
    assert "--require-hashes -r app/requirements.lock" in edited


def test_figures_resolved_today_serve_the_rest_of_the_day(tmp_path, monkeypatch):
    """measure() keeps its figures for the day; measure_or_recorded() then resolves nothing for
    scenarios already resolved today, and resolves again for another one or on another day."""
    # today's figures: tmp_path / torch-cost-today.json
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(cache_dir=tmp_path))
    wheel = Wheel("torch", "2.13.0", "torch-2.13.0-cp311-cp311-linux.whl", 100)
    cost = Cost("torch", "linux/amd64", "PyPI", (wheel,))
    calls = []

    def fake_resolve(what, platform, source, *, pip=None, index=None):
        calls.append((what, platform, source))
        return Cost(what, platform, source, (wheel,))

    monkeypatch.setattr(torchcost, "resolve", fake_resolve)
    monkeypatch.setattr(torchcost, "resolver_pip", lambda: ["pip"])
    torchcost.measure([("torch", "linux/amd64", "PyPI")])
    again = torchcost.measure_or_recorded([("torch", "linux/amd64", "PyPI")])
    assert calls == [("torch", "linux/amd64", "PyPI")] and again.costs == (cost,) and again.note == ""
    torchcost.measure_or_recorded([("torch", "linux/arm64", "PyPI")])
    assert calls[-1] == ("torch", "linux/arm64", "PyPI")
    kept = json.loads((tmp_path / "torch-cost-today.json").read_text())
    kept["date"] = "2000-01-01"
    (tmp_path / "torch-cost-today.json").write_text(json.dumps(kept))
    torchcost.measure_or_recorded([("torch", "linux/amd64", "PyPI")])
    assert len(calls) == 3
