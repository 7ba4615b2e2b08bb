"""The layer inspector: streaming `docker save` reader, squashed view, waste, tables and widget.

The first tests feed generated `docker save` tarballs (both layouts) through the reader; the
rest build small images with known waste on the real engine (tags ``workshoptest-layers:*``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import socket
import socketserver
import subprocess
import sys
import tarfile
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest
from jsonhttp import JSONHandler
from testimages import DOCKERFILES, FILL_DATA, PREFIX, build_test_image, remove_test_images

from workshop import config, engine
from workshop.analysis import analyze_tar, clean_instruction
from workshop.explorer import explorer
from workshop.imagediff import diff_images
from workshop.imagetar import open_chunks, read_saved_image
from workshop.layers import (
    analyze,
    image_size,
    image_summary,
    inspect_report,
    layer_table,
    looks_empty,
)
from workshop.waste import Change, FinalFile

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000

# --- generated docker save tarballs ----------------------------------------------------------

def _member(name: str, data: bytes = b"", **fields) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    padding = b"\0" * (-len(data) % tarfile.BLOCKSIZE)
    return info.tobuf(format=tarfile.PAX_FORMAT) + data + padding


def _end() -> bytes:
    return b"\0" * (2 * tarfile.BLOCKSIZE)


def _layer(*members: tuple) -> bytes:
    """A layer tar from (name, data) files, (name, None) directories, (name, "->", target) links."""
    out = []
    for member in members:
        if len(member) == 3:
            name, arrow, target = member
            out.append(_member(name, type=tarfile.LNKTYPE if arrow == "=>" else tarfile.SYMTYPE, linkname=target))
        elif member[1] is None:
            out.append(_member(member[0], type=tarfile.DIRTYPE, mode=0o755))
        else:
            out.append(_member(member[0], member[1], mode=0o644))
    return b"".join(out) + _end()


SYNTHETIC_LAYERS = [
    _layer(("data", None), ("data/a", b"a" * 1000), ("data/sub", None), ("data/sub/b", b"b" * 2000),
           ("etc", None), ("etc/config", b"x" * 10), ("keep", b"k" * 300), ("keep-link", "=>", "keep"),
           ("tmp", None)),
    _layer(("etc", None), ("etc/config", b"y" * 20), ("tmp", None), ("tmp/.wh..wh..opq", b""),
           ("tmp/new", b"n"), ("link", "->", "etc/config")),
    _layer((".wh.data", b""), (".wh.keep", b"")),
]
SYNTHETIC_HISTORY = [
    {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
    {"created_by": "/bin/sh -c #(nop)  ENV A=1", "empty_layer": True},
    {"created_by": "RUN /bin/sh -c write config # buildkit"},
    {"created_by": "RUN |1 X=1 /bin/sh -c rm -rf /data /keep # buildkit"},
]


def _saved(layers: list[bytes], layout: str) -> bytes:
    """A whole `docker save` tarball; layers are written newest first, so order must come from JSON."""
    config_doc = {"history": SYNTHETIC_HISTORY, "rootfs": {"type": "layers", "diff_ids": [
        f"sha256:{index:064x}" for index in range(len(layers))]}}
    names = [f"{'%064x' % (index + 100)}/layer.tar" if layout == "legacy" else f"blobs/sha256/{index + 100:064x}"
             for index in range(len(layers))]
    out = [_member(name, data) for name, data in reversed(list(zip(names, layers, strict=True)))]
    if layout == "legacy":
        out.append(_member("cfg.json", json.dumps(config_doc).encode()))
        out.append(_member("manifest.json", json.dumps(
            [{"Config": "cfg.json", "RepoTags": ["synthetic:1"], "Layers": names}]).encode()))
    else:
        manifest = {"config": {"digest": "sha256:" + "c" * 64},
                    "layers": [{"digest": "sha256:" + name.rsplit("/", 1)[1]} for name in names]}
        out.append(_member("blobs/sha256/" + "c" * 64, json.dumps(config_doc).encode()))
        out.append(_member("blobs/sha256/" + "d" * 64, json.dumps(manifest).encode()))
        out.append(_member("index.json", json.dumps({"manifests": [{"digest": "sha256:" + "d" * 64}]}).encode()))
    return b"".join(out) + _end()


def _chunks(data: bytes, size: int = 4096) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


@pytest.mark.parametrize("layout", ["legacy", "oci"])
def test_generated_tarball_is_read_in_manifest_order_with_whiteouts_applied(layout):
    """Both save layouts give layers in manifest order and a final tree with whiteouts and opaque dir applied."""
    analysis = analyze_tar(_chunks(_saved(SYNTHETIC_LAYERS, layout)), name="synthetic")
    assert [layer.digest for layer in analysis.layers] == [f"sha256:{i:064x}" for i in range(3)]
    assert [layer.command for layer in analysis.layers] == [
        "ADD file:abc in /", "RUN write config", "RUN rm -rf /data /keep"]
    final = {f.path: (f.kind, f.size) for f in analysis.files}
    assert final == {
        "etc": ("dir", 0), "etc/config": ("file", 20), "keep-link": ("hardlink", 300),
        "tmp": ("dir", 0), "tmp/new": ("file", 1), "link": ("symlink", 0),
    }
    changes = {(c.path, c.change) for c in analysis.layers[2].files}
    assert changes == {("data", "removed"), ("keep", "removed")}
    assert {(c.path, c.change) for c in analysis.layers[1].files} == {
        ("etc", "unchanged"), ("etc/config", "modified"), ("tmp", "unchanged"), ("tmp/new", "added"),
        ("link", "added")}


def test_generated_tarball_waste_counts_what_dive_misses():
    """Bytes under a deleted directory count in our waste, not in dive's; a hardlinked file's bytes stay."""
    analysis = analyze_tar(_chunks(_saved(SYNTHETIC_LAYERS, "legacy")))
    # dive: /etc/config seen twice (10 + 20 bytes); /keep seen twice (300 + a 0-byte whiteout).
    assert analysis.dive.wasted_bytes == 330
    # ours adds /data (deleted whole: 3000 bytes, missed by dive); /keep's bytes live on in keep-link.
    assert analysis.wasted_bytes == 330 + 3000
    rows = analysis.waste_by_layer().set_index(["layer", "how"])
    assert rows.loc[(0, "deleted with its directory"), "wasted_bytes"] == 3000
    assert rows.loc[(0, "deleted with its directory"), "removed_by"] == 2
    assert not rows.loc[(0, "deleted with its directory"), "counted_by_dive"]
    assert rows["wasted_bytes"].sum() == analysis.wasted_bytes


def test_a_layer_tar_without_its_end_blocks_stops_at_the_end_of_its_member():
    """A layer is read in place from the outer tar, never past its member: a layer tar that lacks
    the two zero blocks that end a tar leaves the members after it (the next layer, the JSON) intact."""
    layers = [SYNTHETIC_LAYERS[0], SYNTHETIC_LAYERS[1].removesuffix(_end()), SYNTHETIC_LAYERS[2]]
    assert layers[1] != SYNTHETIC_LAYERS[1]
    analysis = analyze_tar(_chunks(_saved(layers, "legacy")), name="synthetic")
    assert analysis.wasted_bytes == 330 + 3000
    assert {(c.path, c.change) for c in analysis.layers[1].files} == {
        ("etc", "unchanged"), ("etc/config", "modified"), ("tmp", "unchanged"), ("tmp/new", "added"),
        ("link", "added")}


@pytest.mark.parametrize("enabled", [True, False])
def test_reading_an_image_leaves_the_garbage_collector_as_it_was(enabled):
    """The collector is paused while an image is read and stacked, then left as the caller had it,
    also when the tarball turns out to be no image."""
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        analyze_tar(_chunks(_saved(SYNTHETIC_LAYERS, "oci")))
        assert gc.isenabled() == enabled
        with pytest.raises(ValueError, match="not a docker save tarball"):
            analyze_tar(_chunks(SYNTHETIC_LAYERS[0]))
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()


def _big_saved_image(layer_bytes: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """A legacy `docker save` stream whose one layer holds a `layer_bytes` file, made on the fly."""
    header = tarfile.TarInfo("big.bin")
    header.size = layer_bytes
    inner_header = header.tobuf(format=tarfile.PAX_FORMAT)
    inner_size = len(inner_header) + layer_bytes + (-layer_bytes % 512) + 1024
    outer = tarfile.TarInfo("0" * 64 + "/layer.tar")
    outer.size = inner_size
    yield outer.tobuf(format=tarfile.PAX_FORMAT)
    yield inner_header
    zeros = bytes(chunk)
    for start in range(0, layer_bytes, chunk):
        yield zeros[: min(chunk, layer_bytes - start)]
    yield b"\0" * (-layer_bytes % 512) + _end() + b"\0" * (-inner_size % 512)
    config_doc = json.dumps({"history": [{"created_by": "big"}], "rootfs": {"diff_ids": ["sha256:0"]}}).encode()
    yield _member("cfg.json", config_doc)
    yield _member("manifest.json", json.dumps([{"Config": "cfg.json", "Layers": ["0" * 64 + "/layer.tar"]}]).encode())
    yield _end()


def test_reader_streams_a_large_layer_without_holding_it():
    """A 300 MB layer is read (and gzipped) with a small, bounded amount of Python memory."""
    tracemalloc.start()
    try:
        analysis = analyze_tar(_big_saved_image(300 * MB), compressed=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert analysis.layers[0].size_bytes == 300 * MB
    assert analysis.largest_files(1)["size_bytes"].tolist() == [300 * MB]
    assert 0 < analysis.compressed_bytes < MB  # zeros compress ~1000:1
    assert peak < 10 * MB, f"peak Python memory {peak / MB:.1f} MB"


@pytest.mark.parametrize(("created_by", "instruction"), [
    ('/bin/sh -c #(nop)  CMD ["bash"]', 'CMD ["bash"]'),
    ("/bin/sh -c #(nop) COPY file:0123abcd in /srv ", "COPY file:0123abcd in /srv"),
    ("/bin/sh -c apt-get update", "RUN apt-get update"),
    ("|2 A=1 B=two /bin/sh -c make", "RUN make"),
    ("RUN |2 EXTRA_PACKAGES= RECIPE=6c18 /bin/sh -c apt-get update  && rm -rf /x # buildkit",
     "RUN apt-get update  && rm -rf /x"),
    ("RUN /bin/sh -c pip install -r requirements.txt # buildkit", "RUN pip install -r requirements.txt"),
    ("COPY app/ /srv/app/ # buildkit", "COPY app/ /srv/app/"),
    ("ENV PORT=8080", "ENV PORT=8080"),
])
def test_clean_instruction_strips_builder_decorations(created_by, instruction):
    """History entries of both builders read as the Dockerfile instruction that made them."""
    assert clean_instruction(created_by) == instruction


# --- real images -------------------------------------------------------------------------------

docker_engine = pytest.mark.docker


@pytest.fixture(scope="module")
def images():
    """Tag of every test image, built once for this module and removed afterwards."""
    built = {name: build_test_image(name) for name in DOCKERFILES}
    yield built
    remove_test_images(built)


def _run(image: str, *command: str) -> str:
    return engine.client().containers.run(image, list(command), remove=True).decode()


def on_containerd_store() -> bool:
    return engine.image_store() == "containerd"


@docker_engine
@pytest.mark.parametrize(("name", "dive_bytes", "our_bytes"), [
    ("overwrite", 5 * MB, 5 * MB),
    ("delete-file", 3 * MB, 3 * MB),
    ("delete-dir", 0, 3 * MB),
    ("opaque-dir", {"classic": 0, "containerd": 1 * MB}, 3 * MB),
    ("compress", 0, 0),
])
def test_known_waste_is_found(images, name, dive_bytes, our_bytes):
    """Each injected waste shows up: dive's way where dive sees it, and always in ours.

    A directory removed and re-created in one RUN is a layer that differs between the stores:
    the classic store's builder takes overlayfs's upper directory (the directory marked opaque,
    which dive misses), the containerd store's compares the two trees and writes a whiteout per
    removed entry (dive counts /data/a's 1 MB, and misses /data/sub, a directory)."""
    if isinstance(dive_bytes, dict):
        dive_bytes = dive_bytes[engine.image_store()]
    analysis = analyze(images[name])
    assert (analysis.dive.wasted_bytes, analysis.wasted_bytes) == (dive_bytes, our_bytes)
    assert analysis.missed_by_dive == our_bytes - dive_bytes


@docker_engine
@pytest.mark.parametrize(("name", "dive_sees_it"), [("apt-glob", True), ("apt-dir", True), ("apt-opaque", False)])
def test_apt_lists_removed_in_a_later_layer_are_waste(images, name, dive_sees_it):
    """The package lists `apt-get update` left are wasted whichever way a later layer removes them.

    dive sees the glob (one whiteout per file) and, here, the whole directory (the base image has
    it empty, so the path was a leaf before); it misses the opaque directory, which only the
    classic store writes (the containerd store's layer has a whiteout per file instead).
    """
    dive_sees_it = dive_sees_it or on_containerd_store()
    list_bytes = int(_run(images[name], "cat", "/apt-list-bytes"))
    assert list_bytes > MB
    analysis = analyze(images[name])
    assert analysis.wasted_bytes == list_bytes
    assert analysis.dive.wasted_bytes == (list_bytes if dive_sees_it else 0)
    rows = analysis.waste_by_layer()
    assert rows["layer"].tolist() == [1]
    assert rows["removed_by"].tolist() == [2]
    assert rows["removed_by_instruction"].iloc[0].startswith("RUN rm -rf /var/lib/apt/lists")


@docker_engine
def test_waste_by_layer_names_the_layer_that_added_and_the_one_that_deleted(images):
    """A directory deleted whole shows as 3 MB from the filling layer, removed by the rm layer, missed by dive."""
    rows = analyze(images["delete-dir"]).waste_by_layer()
    assert rows[["layer", "wasted_bytes", "files", "removed_by", "how", "counted_by_dive"]].values.tolist() == [
        [1, 3 * MB, 2, 2, "deleted with its directory", False]]
    assert rows["instruction"].iloc[0] == FILL_DATA
    assert rows["removed_by_instruction"].iloc[0] == "RUN rm -rf /data"


def _find(image: str) -> dict[str, tuple[str, int]]:
    """The container's root filesystem as `find -xdev` sees it: path -> (type letter, size)."""
    listing = _run(image, "find", "/", "-xdev", "-printf", "%P\\t%y\\t%s\\n")
    entries = {}
    for line in listing.splitlines():
        path, kind, size = line.split("\t")
        entries[path] = (kind, int(size))
    return entries


# Paths Docker adds or mounts over at run time: the container shows them, not the image's layers.
RUNTIME_PATHS = {"", ".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab"}
RUNTIME_MOUNTS = ("proc/", "sys/", "dev/")


def _hidden_at_run_time(path: str) -> bool:
    return path in RUNTIME_PATHS or path.startswith(RUNTIME_MOUNTS)

FIND_TYPES = {"file": "f", "hardlink": "f", "dir": "d", "symlink": "l"}


@docker_engine
@pytest.mark.parametrize("name", ["links", "delete-dir", "opaque-dir"])
def test_squashed_tree_matches_the_running_container(images, name):
    """The final filesystem (paths, types, file sizes) is exactly what `find` lists in a container."""
    found = {path: entry for path, entry in _find(images[name]).items() if not _hidden_at_run_time(path)}
    ours = {f.path: f for f in analyze(images[name]).files if not _hidden_at_run_time(f.path)}
    assert set(ours) == set(found)
    for path, f in ours.items():
        if f.kind not in FIND_TYPES:
            continue
        kind, size = found[path]
        assert kind == FIND_TYPES[f.kind], path
        if kind == "f":
            assert size == f.size, path


@docker_engine
def test_links_and_whiteouts_in_the_final_tree(images):
    """Symlinks and hardlinks keep their kind and target; a whiteout removes the path; a fifo is kept."""
    files = {f.path: f for f in analyze(images["links"]).files}
    assert "links/a" not in files
    assert (files["links/b"].kind, files["links/b"].size, files["links/b"].link) == ("hardlink", MB, "links/a")
    assert (files["links/c"].kind, files["links/c"].link) == ("symlink", "a")
    assert (files["links/dirlink"].kind, files["links/dirlink"].link) == ("symlink", "/links/dir")
    assert files["links/fifo"].kind == "other"


@docker_engine
def test_layers_follow_the_image_config_order(images):
    """Layers come out bottom to top, with the engine's diff IDs and the instructions that made them."""
    image = engine.get_image(images["links"])
    analysis = analyze(image)
    assert [layer.digest for layer in analysis.layers] == image.attrs["RootFS"]["Layers"]
    assert [layer.command for layer in analysis.layers][1:] == [DOCKERFILES["links"][0], DOCKERFILES["links"][2]]
    changes = {(c.path, c.change) for c in analysis.layers[2].files}
    assert {("links/a", "removed"), ("links/dirlink", "added")} <= changes


@docker_engine
def test_layer_tree_marks_added_modified_removed(images):
    """The overwrite shows as modified, the first write as added, the rm as removed with the bytes it hides."""
    overwrite = analyze(images["overwrite"])
    blob = ["change", "size_bytes"]
    assert overwrite.layer_tree(1).query("path == '/blob'")[blob].values.tolist() == [["added", 3 * MB]]
    assert overwrite.layer_tree(2).query("path == '/blob'")[blob].values.tolist() == [["modified", 2 * MB]]
    removed = analyze(images["delete-dir"]).layer_tree(2)
    assert removed[["path", "kind", "change", "size_bytes", "files"]].values.tolist() == [
        ["/data", "dir", "removed", 3 * MB, 2]]
    filled = analyze(images["delete-dir"]).layer_tree(1, max_depth=1)
    assert filled.query("path == '/data'")[["kind", "change", "size_bytes", "files"]].values.tolist() == [
        ["dir", "added", 3 * MB, 2]]


@docker_engine
def test_image_summary_matches_the_engine(images):
    """image_summary reports the image's size (the engine's on the classic store, the layers' files
    on either: no more than a few kB apart there), layer count, platform, id and tags."""
    image = engine.get_image(images["links"])
    summary = image_summary(images["links"])
    assert summary["size_bytes"] == image_size(image)
    if on_containerd_store():
        assert summary["size_bytes"] == analyze(image).size_bytes
    else:
        assert summary["size_bytes"] == image.attrs["Size"]
        assert abs(summary["size_bytes"] - analyze(image).size_bytes) < 100_000
    assert summary["layers"] == 3
    assert (summary["architecture"], summary["os"]) == (image.attrs["Architecture"], "linux")
    assert (summary["id"], summary["tags"]) == (image.id, [images["links"]])


@docker_engine
def test_layer_table_is_docker_history_oldest_first(images):
    """layer_table lists history oldest first with cleaned instructions; `empty` agrees with the image config."""
    image = engine.get_image(images["links"])
    table = layer_table(image)
    assert table["index"].tolist() == list(range(4))
    assert table["instruction"].tolist() == ["Imported from -", *DOCKERFILES["links"]]
    assert table["size_bytes"].tolist() == [entry["Size"] for entry in reversed(image.history())]
    config_flags = [bool(h.get("empty_layer")) for h in analyze(image).history]
    assert config_flags == [False, False, True, False]
    assert layer_table(image)["empty"].tolist() == config_flags
    # Without an analysis at hand, layer_table guesses from instruction and size; same answer here.
    assert [looks_empty(i, s) for i, s in zip(table["instruction"], table["size_bytes"], strict=True)] == config_flags


@docker_engine
def test_layer_table_says_which_rows_came_with_the_base_image(images):
    """With `base`, column `from` marks the base's rows (a local stand-in named so) and the Dockerfile's own;
    a base the image does not start with is refused with the fix."""
    base = engine.get_image("debian:bookworm-slim")
    table = layer_table(images["links"], base="debian:bookworm-slim")
    ours = table["from"] == "this Dockerfile"
    assert table.loc[ours, "instruction"].tolist() == DOCKERFILES["links"]
    assert set(table.loc[~ours, "from"]) == {
        "base debian:bookworm-slim" + (" (local stand-in)" if "workshop.stand-in" in (base.labels or {}) else "")}
    assert (~ours).sum() == len(base.history())
    with pytest.raises(ValueError, match="does not start with the layers of .*: rebuild"):
        layer_table("debian:bookworm-slim", base=images["links"])


@docker_engine
def test_largest_files_and_dirs_of_the_final_filesystem(images):
    """largest_files puts the biggest file first with its layer; largest_dirs rows add up to all file bytes."""
    analysis = analyze(images["compress"])
    top = analysis.largest_files(20)
    assert top.iloc[0]["path"] == "/zeros"
    assert top.query("layer == 1")[["path", "size_bytes", "instruction"]].values.tolist() == [
        ["/zeros", 10 * MB, DOCKERFILES["compress"][0]], ["/random", 3 * MB, DOCKERFILES["compress"][0]]]
    assert top["size_bytes"].is_monotonic_decreasing
    dirs = analysis.largest_dirs(n=10_000, depth=2)
    assert dirs["path"].is_unique
    total = sum(f.size for f in analysis.files if f.kind == "file")
    assert dirs["size_bytes"].sum() == total
    assert dirs.set_index("path").loc["/", "size_bytes"] == 13 * MB  # /zeros and /random
    assert dirs["size_bytes"].is_monotonic_decreasing


@docker_engine
def test_diff_images_shows_the_directories_that_changed(images):
    """Between the two /data images, /data lost 3 MB and gained one file, /data/sub disappeared."""
    frame = diff_images(images["delete-dir"], images["opaque-dir"], depth=2).set_index("directory")
    columns = ["bytes_a", "bytes_b", "delta", "files_added", "files_removed"]
    assert frame.loc["/data", columns].tolist() == [0, 4, 4, 1, 0]
    assert "/data/sub" not in frame.index
    frame = diff_images(images["delete-dir"], images["compress"])
    assert frame.iloc[0]["directory"] == "/" and frame.iloc[0]["delta"] == 13 * MB


@docker_engine
def test_compressed_sizes_are_measured_on_request(images):
    """With compressed=True each layer is gzipped on the fly: random bytes stay, zeros almost vanish."""
    analysis = analyze(images["compress"], compressed=True)
    layer = analysis.layers[1]
    assert 3 * MB < layer.compressed_bytes < 3 * MB + 100_000
    assert analysis.compressed_bytes == sum(layer.compressed_bytes for layer in analysis.layers)
    assert image_summary(images["compress"])["compressed_bytes"] == analysis.compressed_bytes
    assert analyze(images["compress"]) is analysis  # the compressed analysis serves later calls


@docker_engine
def test_analysis_is_cached_per_image_id(images):
    """Asking twice, by tag or by Image object, reads the image once."""
    first = analyze(images["overwrite"])
    assert analyze(engine.get_image(images["overwrite"])) is first


@docker_engine
def test_a_stored_analysis_serves_the_next_run_and_clean_forgets_it(images, monkeypatch, tmp_path):
    """A new process (a notebook re-run) finds the analysis on disk and reads no layer again;
    under another tag of the same image it carries that tag's name. forget() drops it, with the
    files earlier versions of the cache stored for that image."""
    from workshop import analysis_store, layers

    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(cache_dir=tmp_path))
    first = analyze(images["delete-file"])
    analysis_store._cache.clear()  # what a new kernel starts with

    def no_read(*args, **kwargs):
        raise AssertionError("the image was read again")

    monkeypatch.setattr(layers, "read_saved_image", no_read)
    alias = f"{images['delete-file']}-alias"
    engine.client().images.get(images["delete-file"]).tag(alias)
    try:
        again = analyze(alias)
        assert (again.id, again.wasted_bytes, len(again.layers)) == (first.id, first.wasted_bytes, len(first.layers))
        assert again.image == alias
        # the cache stores the file records as plain tuples; they come back as the named tuples they were
        assert (again.files, again.layers) == (first.files, first.layers)
        assert {type(f) for f in again.files} == {FinalFile}
        assert {type(c) for layer in again.layers for c in layer.files} == {Change}
        # an earlier version's file of the same image (the module's classes moved, say) goes too
        (tmp_path / "analyses" / f"v{analysis_store.ANALYSIS_VERSION - 1}-{first.id.removeprefix('sha256:')}.pickle").write_bytes(b"")
        analysis_store.forget(first.id)
        assert not list((tmp_path / "analyses").iterdir())
        with pytest.raises(AssertionError, match="read again"):
            analyze(images["delete-file"])
    finally:
        engine.client().images.remove(alias)


@docker_engine
def test_missing_image_is_a_lookup_error_that_says_to_build_it():
    """An unknown tag raises LookupError telling the learner to build the image first."""
    with pytest.raises(LookupError, match="build it first"):
        analyze(f"{PREFIX}:does-not-exist")


@docker_engine
def test_report_is_json_and_matches_the_cli(images):
    """inspect_report is JSON-able, and `python -m workshop inspect IMAGE --json` prints the same report."""
    report = inspect_report(images["delete-dir"])
    assert json.loads(json.dumps(report)) == report
    assert (report["wasted_bytes"], report["dive"]["wasted_bytes"]) == (3 * MB, 0)
    assert [layer["size_bytes"] for layer in report["layers"]][1:] == [3 * MB, 0]
    assert report["wasted_by_layer"][0]["removed_by_instruction"] == "RUN rm -rf /data"
    done = subprocess.run([sys.executable, "-m", "workshop", "inspect", images["delete-dir"], "--json"],
                          cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == report


@docker_engine
def test_explorer_follows_the_selected_layer(images):
    """The widget shows the picked layer's instruction, files and the waste it causes, and updates on change."""
    analysis = analyze(images["delete-dir"])
    widget = explorer(analysis)
    widget.layer.value = 1
    assert "mkdir -p /data/sub" in widget.details.value
    assert "<td>/data/sub/b</td>" in widget.files.value
    assert "Bytes this layer added that count as waste: 3 MB" in widget.waste.value
    widget.depth.value = 1
    assert "<td>/data/sub/b</td>" not in widget.files.value
    assert "<td>/data</td>\n      <td>dir</td>\n      <td>3 MB</td>" in widget.files.value
    widget.layer.value = 2
    assert "rm -rf /data" in widget.details.value
    assert "Bytes of earlier layers this layer deletes or overwrites: 3 MB" in widget.waste.value


@docker_engine
def test_analysis_of_a_real_image_streams(images):
    """Analyzing python:3.11-slim-bookworm (~150 MB) allocates a small fraction of its size in Python memory."""
    image = engine.get_image("python:3.11-slim-bookworm")
    tracemalloc.start()
    try:
        analysis = analyze_tar(image.client.api.get_image(image.id))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert analysis.size_bytes > 100 * MB
    assert peak < analysis.size_bytes / 5, f"peak Python memory {peak / MB:.1f} MB"


FULL_DISK = {"message": "write /var/lib/docker/tmp/docker-export-1/layer.tar: no space left on device"}


@contextlib.contextmanager
def engine_that_answers(socket_path: Path, status: int, body: dict) -> Iterator[None]:
    """An HTTP server on a Unix socket answering every GET with `status` and a JSON `body`, as
    the engine answers a save it cannot write out."""

    class Answer(JSONHandler):
        def do_GET(self) -> None:  # noqa: N802  (the name http.server calls)
            self.send_json(status, body)

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    with Server(str(socket_path), Answer) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield
        finally:
            server.shutdown()
            thread.join()


@docker_engine
def test_a_full_disk_while_the_engine_writes_the_image_out_is_a_disk_full_error(images, monkeypatch, tmp_path):
    """When the engine cannot write the tarball out, it answers the save request with an HTTP 500
    and "no space left on device" (here a server on a Unix socket answering the same way): the
    learner gets DiskFull with the free-space hint, not a raw APIError."""
    from workshop import analysis_store, savestream

    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS.replace(cache_dir=tmp_path))  # nothing stored from an earlier read
    analysis_store._cache.clear()
    monkeypatch.setattr(savestream, "_unix_socket", lambda api: str(tmp_path / "engine.sock"))  # the save request only
    with engine_that_answers(tmp_path / "engine.sock", 500, FULL_DISK), \
            pytest.raises(engine.DiskFull, match="ran out of disk"):
        analyze(images["delete-file"])


def test_a_full_disk_through_docker_py_is_its_api_error_with_the_engines_message(monkeypatch):
    """The save request through docker-py (any transport but a Unix socket; here an engine on
    loopback TCP that answers the save with an HTTP 500) raises docker-py's APIError, with the
    engine's message that analyze turns into DiskFull."""
    from workshop import savestream

    class Answer(JSONHandler):
        def do_GET(self) -> None:  # noqa: N802  (the name http.server calls)
            if self.path.endswith("/version"):  # docker-py asks the engine's API version first
                self.send_json(200, {"ApiVersion": "1.41", "Version": "20.10.24"})
            else:
                self.send_json(500, FULL_DISK)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Answer) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        api = docker.APIClient(base_url=f"tcp://127.0.0.1:{server.server_address[1]}")
        try:
            with pytest.raises(docker.errors.APIError, match="no space left on device"), \
                    savestream._saved_stream_sdk(api, f"/v1.41/images/sha256%3A{'a' * 64}/get"):
                pass
        finally:
            server.shutdown()
            thread.join()


@docker_engine
def test_an_image_is_read_from_the_engines_http_response_as_docker_py_would_read_it(images):
    """analyze asks the engine's Unix socket in HTTP/1.0 and reads the tarball from the socket as
    it comes; any other transport goes through docker-py's session (here on the same socket).
    Both give what docker-py's get_image gives, layer for layer and file for file."""
    from workshop import savestream

    image = engine.get_image(images["delete-dir"])
    with savestream.saved_stream(image) as stream:
        assert isinstance(stream.raw, socket.SocketIO)
        ours = read_saved_image(stream)
    with savestream._saved_stream_sdk(image.client.api, f"/v{image.client.api.api_version}/images/{image.id}/get") as stream:
        through_sdk = read_saved_image(stream)
    theirs = read_saved_image(open_chunks(image.client.api.get_image(image.id)))
    for saved in (ours, through_sdk):
        assert [layer.entries for layer in saved.layers] == [layer.entries for layer in theirs.layers]
        assert (saved.config, len(saved.layers)) == (theirs.config, 3)
