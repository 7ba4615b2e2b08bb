"""workshop.journey: the load generator against a real HTTP server on loopback, the caches, the
build ledger, the README table, and one real image measured end to end."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import threading
import uuid
from http.server import ThreadingHTTPServer

import pytest
from jsonhttp import JSONHandler

from workshop import config, journey, loadtest, reporting
from workshop.build import build, ledger
from workshop.engine import client, get_image


class _Classifier(JSONHandler):
    """POST /classify like the app: POSITIVE when "good" is in a text; every `fail_every`-th request a 500."""

    fail_every = 0
    count = 0
    batches: list[int] = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802  (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            type(self).count += 1
            fail = self.fail_every and self.count % self.fail_every == 0
        texts = body["texts"] if "texts" in body else [body["text"]]
        type(self).batches.append(len(texts))
        if fail:
            self.send_json(500, {"error": "internal server error"})
        else:
            self.send_json(200, {"result": [{"label": "POSITIVE" if "good" in t else "NEGATIVE", "score": 0.9}
                                            for t in texts]})

    def do_GET(self):  # noqa: N802  (http.server's naming)
        with self.lock:
            type(self).count += 1
        self.send_json(200, {"status": "ok"})


@pytest.fixture
def server():
    """A classifier on 127.0.0.1 in a thread; yields (url of /classify, handler class)."""
    handler = type("Handler", (_Classifier,), {"count": 0, "batches": [], "fail_every": 0})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/classify", handler
    httpd.shutdown()
    httpd.server_close()


def test_percentile_interpolates_like_numpy():
    """Percentiles interpolate linearly between ranks; an empty list has none."""
    values = [0.4, 0.1, 0.3, 0.2]
    assert loadtest.percentile(values, 50) == pytest.approx(0.25)
    assert loadtest.percentile(values, 95) == pytest.approx(0.385)
    assert loadtest.percentile([], 50) != loadtest.percentile([], 50)  # NaN


def test_load_counts_every_request_and_every_error(server):
    """Four clients for a moment: every request is either a timed answer or an error (every 5th is a 500)."""
    url, handler = server
    handler.fail_every = 5
    result = loadtest.load(url, {"text": "good"}, seconds=0.5, concurrency=4)
    assert result.requests == handler.count > 0
    assert result.errors == handler.count // 5
    assert len(result.seconds) == handler.count - handler.count // 5
    assert result.per_second == pytest.approx(len(result.seconds) / result.elapsed)
    assert 0 < result.p50_ms <= result.p95_ms


def test_cpu_set_reads_docker_cpuset_strings():
    """--cpuset-cpus syntax: single CPUs, ranges and lists; nothing for none."""
    assert [loadtest.cpu_set(t) for t in ("1", "1-3", "0,2-3", "", None)] == [{1}, {1, 2, 3}, {0, 2, 3}, set(), set()]


def test_load_away_from_the_containers_cpus_leaves_the_caller_alone(server):
    """With away_from, only load's own threads move to the other CPUs: the caller keeps its CPUs,
    and when no other CPU is left (all taken by the containers) the threads stay where they are."""
    url, handler = server
    mine = os.sched_getaffinity(0)
    for away in (str(min(mine)), ",".join(map(str, sorted(mine)))):
        result = loadtest.load(url, {"text": "good"}, seconds=0.2, concurrency=2, away_from=away)
        assert result.errors == 0 and len(result.seconds) == handler.count > 0
        assert os.sched_getaffinity(0) == mine
        handler.count = 0


def test_load_without_a_payload_times_gets(server):
    """payload=None: GET requests (bench's /health figure), each answered with JSON, none an error."""
    url, handler = server
    result = loadtest.load(url.replace("/classify", "/health"), None, seconds=0.2)
    assert result.errors == 0 and len(result.seconds) == handler.count > 0


def test_load_counts_refused_connections_as_errors(server):
    """A server that is gone answers nothing: all requests are errors, no latency is reported."""
    url, _ = server
    dead = url.rsplit(":", 1)[0] + ":9/classify"  # the discard port: nothing listens there
    result = loadtest.load(dead, {"text": "good"}, seconds=0.2)
    assert result.errors == result.requests > 0 and result.seconds == []


def test_classify_all_sends_chunks_and_scores_labels(server):
    """Texts go out 32 at a time; labels come back in order and score against SST-2's 0/1 labels."""
    url, handler = server
    texts = [f"{'good' if i % 3 else 'bad'} film {i}" for i in range(70)]
    labels, errors = loadtest.classify_all(url, texts)
    assert (handler.batches, errors) == ([32, 32, 6], 0)
    assert labels == ["POSITIVE" if i % 3 else "NEGATIVE" for i in range(70)]
    gold = [1] * 70
    assert loadtest.accuracy(labels, gold) == pytest.approx(sum(1 for i in range(70) if i % 3) / 70)
    assert loadtest.agreement(labels, labels) == 1.0
    assert loadtest.agreement([None, "POSITIVE"], [None, "POSITIVE"]) == 0.5  # a failed text never agrees


def test_classify_all_marks_a_failed_chunk(server):
    """A chunk answered with a 500 counts as one error and leaves its texts without a label."""
    url, handler = server
    handler.fail_every = 2
    labels, errors = loadtest.classify_all(url, ["good"] * 40)
    assert errors == 1 and labels == ["POSITIVE"] * 32 + [None] * 8


def test_sst2_dev_has_the_labelled_sentences():
    """The shared dev set: 872 sentences, labels 0 and 1."""
    frame = loadtest.sst2_dev()
    assert len(frame) == 872 and set(frame["label"]) == {0, 1}
    assert frame["sentence"].str.len().min() > 0


def test_default_cpus_leave_cpu_0_to_the_load_generator():
    """Containers get every CPU but the first, when there are at least two."""
    assert [loadtest.default_cpus(n) for n in (1, 2, 4)] == [None, "1", "1-3"]


def test_cold_build_is_the_latest_one_without_cached_steps():
    """From the ledger: the last build of that tag and Dockerfile that ran every step, no target."""
    entries = [
        {"tag": "t:1", "dockerfile": "a.Dockerfile", "target": None, "seconds": 90.0, "cold": True},
        {"tag": "t:1", "dockerfile": "a.Dockerfile", "target": None, "seconds": 80.0, "cold": True},
        {"tag": "t:1", "dockerfile": "a.Dockerfile", "target": None, "seconds": 2.0, "cold": False},
        {"tag": "t:1", "dockerfile": "a.Dockerfile", "target": "builder", "seconds": 70.0, "cold": True},
        {"tag": "t:2", "dockerfile": "a.Dockerfile", "target": None, "seconds": 60.0, "cold": True},
        # BuildKit had all of t:4 and printed four COPY steps, none cached: not a cold build.
        {"tag": "t:4", "dockerfile": "a.Dockerfile", "target": None, "seconds": 0.2, "cached_steps": 0, "cold": False},
        {"tag": "t:5", "dockerfile": "a.Dockerfile", "target": None, "seconds": 50.0, "cached_steps": 0},  # an old line
    ]
    assert journey.cold_build("t:1", "a.Dockerfile", entries)["seconds"] == 80.0
    assert journey.cold_build("t:3", "a.Dockerfile", entries) is None
    assert journey.cold_build("t:4", "a.Dockerfile", entries) is None
    assert journey.cold_build("t:5", "a.Dockerfile", entries)["seconds"] == 50.0


REPORT = {
    "machine": {"cpu": "Test CPU", "cores": 2, "memory_bytes": 8e9, "kernel": "6.1", "docker": "27.0",
                "date": "2026-11-28T10:00:00+00:00"},
    "params": {"cpus": "1", "seconds": 10, "starts": 5, "sentences": 872},
    "images": [
        {"image": "cache", "tag": "bert-classifier:cache", "measured": True, "size_bytes": 1_290_000_000,
         "compressed_bytes": 500_000_000, "layers": 6, "wasted_bytes": 3_410_000, "dive_wasted_bytes": 3_410_000,
         "model_bytes": 0, "cold_build_s": 100.4, "rebuild_s": 3.21, "start_median_s": 7.64,
         "latency_p50_ms": 31.2, "latency_p95_ms": 35.9, "throughput_rps": 32.56, "memory_peak_bytes": 325_700_000,
         "accuracy": 0.8876, "agreement": 1.0, "errors": 0,
         "components": {"base OS + Python + app": 1, "other Python packages": 2,
                        "torch + CUDA libraries": 3, "model files": 0}},
        {"image": "final", "tag": "bert-classifier:final", "measured": False, "note": "not built"},
    ],
}


def test_time_cold_builds_writes_each_figure_into_the_report(monkeypatch):
    """--cold-builds times the measured images asked for, and says where each figure comes from."""
    timed = []
    monkeypatch.setattr(journey, "timed_cold_build", lambda name: timed.append(name) or 100.0 + len(timed))
    report = {"images": [{"image": "naive", "tag": "t:naive", "measured": True, "cold_build_s": 1.0},
                         {"image": "cache", "tag": "t:cache", "measured": True, "cold_build_s": None},
                         {"image": "final", "tag": "t:final", "measured": False}]}
    journey.time_cold_builds(report, ["cache", "final"], progress=lambda _: None)
    assert timed == ["cache"]  # final was not measured: nothing to time it for
    assert [row.get("cold_build_s") for row in report["images"]] == [1.0, 101.0, None]
    assert report["images"][1]["cold_build_source"].startswith("timed with --no-cache and pip's cache mounts emptied")
    assert "cold_builds_timed" in report


def test_readme_table_renders_the_saved_json(tmp_path):
    """The README table comes from journey.json alone: machine line, one row per image, skipped ones named."""
    path = reporting.save(REPORT, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "journey-latency.svg", "journey-size.svg", "journey-start.svg", "journey.json"]
    text = reporting.readme_table(reporting.load_report(path))
    lines = text.splitlines()
    assert lines[0].startswith("Measured on Test CPU (2 cores, 8 GB memory), kernel 6.1, Docker 27.0, on 2026-11-28")
    assert lines[4] == ("| `bert-classifier:cache` | 1.29 GB | 500 MB | 6 | 3.41 MB / 3.41 MB | - | 100 s | 3.2 s "
                        "| 7.6 s | 31 / 36 ms | 32.6 | 0 | 326 MB | 88.8% |")
    assert lines[-1] == "Not built when measured: `bert-classifier:final`."
    timed = reporting.readme_table({**REPORT, "cold_builds_timed": "2026-11-29T09:00:00+00:00"}).splitlines()
    assert timed[-1].startswith("Cold builds timed on 2026-11-29 by `python -m workshop.journey --cold-builds`")


def test_update_readme_rewrites_only_the_journey_block(tmp_path):
    """--update-readme replaces the lines between the markers and keeps everything around them."""
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n{reporting.README_START}\nold table\n{reporting.README_END}\nafter\n")
    reporting.update_readme(REPORT, readme)
    assert readme.read_text() == (f"# Title\n\nbefore\n{reporting.README_START}\n{reporting.readme_table(REPORT)}\n"
                                  f"{reporting.README_END}\nafter\n")
    readme.write_text("# no block\n")
    with pytest.raises(LookupError, match="no journey block"):
        reporting.update_readme(REPORT, readme)


def test_a_cold_build_ran_a_run_step_itself():
    """Cold: nothing but FROM from the cache and at least one RUN run. A build that BuildKit had
    whole reports a few COPY steps, none marked cached: that is not a cold build."""
    from workshop.build import BuildResult, is_cold

    def result(steps, cached):
        return BuildResult("t:1", 1.0, "", steps, cached, "sha256:x", 1)

    steps = ["[1/3] FROM docker.io/library/debian:bookworm-slim", "[2/3] RUN make", "[3/3] COPY app /app"]
    assert is_cold(result(steps, steps[:1]))
    assert not is_cold(result(steps, steps[:2]))
    assert not is_cold(result(["[final 1/2] COPY --from=rootfs /rootfs /", "[final 2/2] COPY app /srv"], []))


@pytest.mark.docker
def test_build_records_every_build_in_the_ledger(tmp_path, monkeypatch):
    """Each successful build appends one line; the first, with nothing cached, counts as cold."""
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(cache_dir=tmp_path))  # the ledger: tmp_path / builds.jsonl
    dockerfile = tmp_path / "Dockerfile"
    marker = uuid.uuid4().hex  # unique per run: never in the build cache
    dockerfile.write_text(f"FROM debian:bookworm-slim\nRUN echo {marker} > /marker\n")
    tag = "bert-classifier:test-journey-ledger"
    try:
        build(dockerfile, tag, context=tmp_path, quiet=True)
        build(dockerfile, tag, context=tmp_path, quiet=True)
    finally:
        client().images.remove(tag)
    first, second = ledger(tmp_path / "builds.jsonl")
    assert (first["tag"], first["dockerfile"], first["cold"], second["cold"]) == (tag, "Dockerfile", True, False)
    assert second["cached_steps"] == 1 and second["steps"] == 2


def _gzip_of_layers(image: str) -> dict[str, int]:
    """Every layer's gzip size (level 6), computed here from `docker save` independently, by diff ID."""
    import hashlib

    data = b"".join(client().api.get_image(get_image(image).id))
    sizes = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as outer:
        for member in outer.getmembers():
            if member.isreg() and (member.name.endswith("layer.tar") or member.name.startswith("blobs/")):
                tar = outer.extractfile(member).read()
                sizes["sha256:" + hashlib.sha256(tar).hexdigest()] = len(gzip.compress(tar, 6, mtime=0))
    return sizes


@pytest.mark.docker
def test_compressed_sizes_are_gzip_level_6_and_cached_per_layer(tmp_path):
    """Sizes equal gzip -6 of each layer tar (give or take gzip's header); a cached layer is never read again."""
    cache = tmp_path / "gzip.json"
    base = "debian:bookworm-slim"
    sizes = journey.compressed_layer_sizes(base, cache=cache)
    expected = _gzip_of_layers(base)
    diff_ids = get_image(base).attrs["RootFS"]["Layers"]
    # Python's gzip header carries no file name, zlib's gzip framing neither: the same bytes.
    assert sizes == [expected[d] for d in diff_ids]
    # A planted figure for the shared base layer survives: python:3.11-slim-bookworm's run reads only its own layers.
    stored = json.loads(cache.read_text())
    stored[diff_ids[0]]["gzip_bytes"] = 12345
    cache.write_text(json.dumps(stored))
    slim = journey.compressed_layer_sizes("python:3.11-slim-bookworm", cache=cache)
    slim_ids = get_image("python:3.11-slim-bookworm").attrs["RootFS"]["Layers"]
    assert slim_ids[0] == diff_ids[0] and slim[0] == 12345
    assert all(isinstance(s, int) and s > 0 for s in slim)
    assert journey.compressed_layer_sizes("python:3.11-slim-bookworm", cache=cache, compute=False) == slim


@pytest.mark.docker
def test_compressed_sizes_and_waste_come_from_one_read(tmp_path, monkeypatch):
    """One `docker save` stream per image: the gzip sizes' read also gives the waste, so the
    journey's read_image after compressed_layer_sizes asks the engine for nothing more."""
    from workshop import analysis_store, layers

    image = "python:3.11-slim-bookworm"
    analysis_store.forget(get_image(image).id)
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(cache_dir=tmp_path))
    saves = []
    real = layers.saved_stream  # as analyze looks it up

    def counted(img):  # every save asked of the engine, whichever the transport
        saves.append(img.id)
        return real(img)

    monkeypatch.setattr(layers, "saved_stream", counted)
    sizes = journey.compressed_layer_sizes(image, cache=tmp_path / "gzip.json")
    figures = journey.read_image(image, dive="no", cache=tmp_path / "reads.json")
    assert len(saves) == 1, f"{len(saves)} reads of {image}"
    assert all(isinstance(s, int) and s > 0 for s in sizes)
    assert figures["dive_source"] == "workshop (dive-compatible)" and figures["wasted_bytes"] >= 0


@pytest.mark.docker
def test_measure_image_production_end_to_end(tmp_path, monkeypatch):
    """The production image measured briefly: two starts timed (the second container is the one
    measured under load), no errors, SST-2 accuracy well above chance, model baked in."""
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(cache_dir=tmp_path))
    try:
        get_image(f"{config.IMAGE_REPO}:production")
    except LookupError:
        build("production", f"{config.IMAGE_REPO}:production", quiet=True)
    params = journey.Params(seconds=1, warmup=0.5, starts=2, compressed=False, read_max_bytes=0, rebuild=(),
                            dive="no")
    sentences = loadtest.sst2_dev(limit=64)
    row = journey.measure_image("production", params, sentences=sentences)
    assert row["measured"] and row["errors"] == 0
    assert len(row["start_s"]) == 2 and all(s > 0 for s in row["start_s"])
    assert row["latency_requests"] > 0 and row["throughput_requests"] > 0
    assert row["accuracy"] > 0.75 and len(row["labels"]) == 64
    assert row["model_bytes"] > 10**7 and row["model_note"] == "baked in at /opt/model"
    assert row["components"]["torch + CUDA libraries"] > 10**8
    assert sum(row["components"].values()) == row["size_bytes"]
    assert row["memory_peak_bytes"] > 10**8 and row["memory_source"]
    assert row["compressed_bytes"] is None and row["wasted_bytes"] is None  # nothing cached, nothing read
    assert not client().containers.list(all=True, filters={"label": "workshop", "ancestor": row["tag"]})


@pytest.mark.docker
def test_missing_image_is_skipped_with_a_note():
    """An image that is not built is reported, not measured."""
    row = journey.measure_image("no-such-lesson", journey.Params(), sentences=loadtest.sst2_dev(limit=1))
    assert row == {"image": "no-such-lesson", "tag": f"{config.IMAGE_REPO}:no-such-lesson", "measured": False,
                   "note": "not built on this machine (python -m workshop build no-such-lesson); skipped"}


def test_each_chart_draws_its_own_figure_on_its_own_axis(tmp_path):
    """The saved size, start and latency charts each hold one axes whose title and unit say what its bars are."""
    import matplotlib

    matplotlib.use("Agg")
    figures = reporting.charts(REPORT, tmp_path)
    expected = {"size": ("GB on disk", "Image size by what the bytes are"),
                "start": ("seconds", "docker run to the first answer"),
                "latency": ("ms", "POST /classify latency")}
    for key, (unit, title) in expected.items():
        (ax,) = figures[key].axes
        assert ax.get_ylabel() == unit and ax.get_title().startswith(title), key
        assert (tmp_path / f"journey-{key}.svg").is_file()
    assert len({id(f) for f in figures.values()}) == 3
    # The size chart's bars are the components alone (4 stacked parts of one image), no start bars.
    assert len(figures["size"].axes[0].patches) == 4


def test_reuse_shows_the_stored_row_only_for_the_same_image_and_settings(tmp_path, monkeypatch):
    """Params.reuse: the row stored for an image ID and settings comes back without measuring;
    another image ID or other settings measure again; agreement follows this run's reference."""
    from types import SimpleNamespace

    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(cache_dir=tmp_path))
    images = {"bert-classifier:a": SimpleNamespace(id="sha256:aaa", attrs={})}
    monkeypatch.setattr(journey.engine, "get_image", lambda tag: images[tag])
    measured = []

    def fake_measure(name, tag, image, params, *, sentences, reference):
        measured.append((name, image.id))
        return {"image": name, "tag": tag, "measured": True, "id": image.id, "note": "",
                "labels": ["POSITIVE", "NEGATIVE"], "agreement": 1.0}

    monkeypatch.setattr(journey, "_measure_image", fake_measure)
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(image_repo="bert-classifier"))
    params = journey.Params(reuse=True, sentences=2)
    first = journey.measure_image("a", params, sentences=None)
    again = journey.measure_image("a", params, sentences=None, reference=["POSITIVE", "POSITIVE"])
    assert measured == [("a", "sha256:aaa")]
    assert again["labels"] == first["labels"] and again["agreement"] == 0.5
    assert "reused: same image, same settings" in again["note"]
    journey.measure_image("a", journey.Params(reuse=True, sentences=3), sentences=None)  # other settings
    images["bert-classifier:a"] = SimpleNamespace(id="sha256:bbb", attrs={})             # a rebuilt image
    journey.measure_image("a", params, sentences=None)
    journey.measure_image("a", journey.Params(reuse=False, sentences=2), sentences=None)  # asked not to reuse
    assert measured == [("a", "sha256:aaa"), ("a", "sha256:aaa"), ("a", "sha256:bbb"), ("a", "sha256:bbb")]


def test_params_from_env_and_a_warmup_never_longer_than_the_measurement(monkeypatch):
    """WORKSHOP_JOURNEY_* override the notebook's choices; CI's 1 s loads warm up for 1 s, not 2."""
    # Only these three set (CI sets some others), as config reads them: once, into its SETTINGS.
    settings = config.Settings.from_env({"WORKSHOP_JOURNEY_SECONDS": "1", "WORKSHOP_JOURNEY_REBUILD": "none",
                                         "WORKSHOP_JOURNEY_CPUS": ""})
    monkeypatch.setattr(config, "SETTINGS", settings)
    params = journey.Params.from_env(seconds=10.0, starts=3, rebuild=("final",))
    assert (params.seconds, params.warmup, params.starts, params.rebuild, params.cpus) == (1.0, 1.0, 3, (), None)
    assert journey.Params(seconds=10.0).warmup == 2.0
