"""What ``docker images``, ``docker history`` and dive show, as pandas objects for notebooks.

    image_summary("bert-classifier:slim")      # one image: size, layer count, platform
    layer_table("bert-classifier:slim")        # docker history, oldest first, instructions cleaned
    a = analyze("bert-classifier:naive")       # every layer's files, waste (ours and dive's)
    a.waste_by_layer(); a.largest_files(); a.largest_dirs(); a.layer_tree(3)
    diff_images("bert-classifier:naive", "bert-classifier:slim")
    explorer(a)                                # a widget to browse the layers

Everything goes through the Docker SDK: `analyze` streams the image like ``docker save`` does and
reads it in one pass (see `workshop.imagetar`); the waste figures come from `workshop.waste`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import heapq
import json
import logging
import math
import pickle
import re
import socket
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import docker.errors
import requests
from docker.models.images import Image

from workshop import config, engine
from workshop.engine import human
from workshop.imagetar import BUFFER_SIZE, SavedImage, open_chunks, read_saved_image
from workshop.waste import Change, DiveFigures, FinalFile, dive_figures, squash, waste_rows

# pandas is imported where a table is made: `python -m workshop inspect` starts and runs
# without it (a third of a second and about 40 MB less).
if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Instructions that only change the image's metadata, never its files (no layer).
METADATA_INSTRUCTIONS = frozenset({
    "ARG", "CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD", "SHELL",
    "STOPSIGNAL", "USER", "VOLUME",
})
#: Seconds to wait for the engine to start sending an image: Docker Engine before 25 writes the
#: whole tarball out first, minutes for a multi-GB image, longer than the client's usual timeout.
SAVE_TIMEOUT = 3600
#: Analyses kept in memory (notebooks ask several questions about the same image in a row).
CACHE_SIZE = 4
_cache: OrderedDict[str, ImageAnalysis] = OrderedDict()
#: Analyses kept on disk too, one file per image ID: an image ID names its exact layers, so a
#: second run of the notebooks (an instructor's rehearsal) reads none of them again. Bump the
#: version when ImageAnalysis or the waste rules change. `python -m workshop clean` empties it.
ANALYSIS_VERSION = 4


def analyses_dir() -> Path:
    """Where analyses are stored: `analyses` in config.CACHE_DIR (as it is when asked)."""
    return config.CACHE_DIR / "analyses"

# `docker history` shows what the builder recorded: "/bin/sh -c #(nop) CMD ..." (classic builder),
# "|2 A=1 B=2 /bin/sh -c ..." (classic RUN with build args), "RUN |1 A=1 /bin/sh -c ... # buildkit".
_SHELL_FORM = re.compile(r"^(?:RUN )?(?:\|\d+ .*?)?/bin/sh -c (.*)$", re.DOTALL)


def clean_instruction(created_by: str) -> str:
    """The Dockerfile instruction behind a history entry, without the builder's decorations."""
    text = re.sub(r"\s*# buildkit$", "", created_by.strip())
    match = _SHELL_FORM.match(text)
    if not match:
        return text
    body = match.group(1).strip()
    if body.startswith("#(nop)"):
        return body.removeprefix("#(nop)").strip()
    return f"RUN {body}"


def _image(image: str | Image) -> Image:
    return image if isinstance(image, Image) else engine.get_image(image)


def _name(image: str | Image) -> str:
    if isinstance(image, str):
        return image
    return image.tags[0] if image.tags else image.short_id


def image_size(image: str | Image) -> int:
    """The size of `image` as every figure of the workshop counts it: the bytes of the files its
    layers hold, uncompressed (what dive calls the image's size).

    The classic image store's `docker image inspect` Size is that figure (it counts each layer's
    files as it stores the layer; for a layer imported or pulled rather than built, symlinks'
    targets too: a few kB over dive's). The containerd image store's Size is the compressed content
    instead, a third of it or a little more, and its `docker image ls` adds the unpacked snapshots
    to that, about one and a half times it: there the layers are read (`analyze`, once per image:
    it is cached).
    """
    img = _image(image)
    if engine.image_store() == "containerd":
        return analyze(img).size_bytes
    return img.attrs["Size"]


def known_image_size(image: str | Image) -> int | None:
    """`image_size` where it needs no read of the image's layers (the classic store, or an image
    read before), else None."""
    img = _image(image)
    if engine.image_store() == "containerd" and img.id not in _cache and not _stored_path(img.id).exists():
        return None
    return image_size(img)


#: What each of the three size figures counts, per image store (see `size_figures`).
SIZE_MEANINGS = {
    "classic": {"docker image ls": "the layers' files, uncompressed",
                "docker image inspect": "the same figure"},
    "containerd": {"docker image ls": "disk used: the compressed layers plus the unpacked copy containers run from",
                   "docker image inspect": "the compressed layers (what a pull downloads)"},
}


def size_figures(image: str | Image) -> pd.DataFrame:
    """The size of `image` three ways on this engine: what `docker image ls` shows, what `docker
    image inspect` says, and `image_size`, the one every figure of the workshop uses (dive's)."""
    import pandas as pd
    img = _image(image)
    store = engine.image_store()
    listed = next(entry["Size"] for entry in img.client.api.images() if entry["Id"] == img.id)
    rows = [(f"`{command}` ({store} store)", size, SIZE_MEANINGS[store][command])
            for command, size in (("docker image ls", listed), ("docker image inspect", img.attrs["Size"]))]
    rows.append(("the workshop (image_size)", image_size(img), "the layers' files, uncompressed (as dive counts)"))
    frame = pd.DataFrame(rows, columns=["figure", "size_bytes", "counts"])
    frame.insert(2, "size", frame["size_bytes"].map(human))
    return frame


def image_summary(image: str | Image) -> pd.Series:
    """What ``docker image ls`` and ``docker image inspect`` say about one image, with its size as
    `image_size` counts it on either image store.

    `compressed_bytes` is None until ``analyze(image, compressed=True)`` has measured it.
    """
    import pandas as pd
    img = _image(image)
    attrs = img.attrs
    size = image_size(img)
    cached = _cache.get(img.id)
    return pd.Series({
        "size_bytes": size,
        "size": human(size),
        "compressed_bytes": cached.compressed_bytes if cached else None,
        "layers": len(attrs.get("RootFS", {}).get("Layers", [])),
        "architecture": attrs.get("Architecture"),
        "os": attrs.get("Os"),
        "id": img.id,
        "tags": list(img.tags),
        "created": pd.Timestamp(attrs["Created"]),
    }, name=_name(image))


def layer_bytes(image: str | Image, path: str) -> int:
    """Bytes of the layers of `image` whose instruction names `path` ("/opt/model": the model's COPY),
    counted as `image_size` counts them (on the containerd store, `docker history` gives each
    layer's snapshot's disk use instead: its files rounded up to whole disk blocks)."""
    if engine.image_store() == "containerd":
        return sum(layer.size_bytes for layer in analyze(image).layers if path in layer.command)
    table = layer_table(image)
    return int(table.loc[table["instruction"].str.contains(path, regex=False), "size_bytes"].sum())


def looks_empty(instruction: str, size_bytes: int) -> bool:
    """Whether a history entry made no layer, judged from its instruction and size alone."""
    return size_bytes == 0 and instruction.split(" ", 1)[0].upper() in METADATA_INSTRUCTIONS


def layer_table(image: str | Image, base: str | Image | None = None) -> pd.DataFrame:
    """``docker history``, oldest first: one row per Dockerfile instruction.

    `empty` marks metadata-only entries (no layer). The engine's history API does not say which
    those are, so unless the image was analyzed (which reads its config), it is inferred: an
    entry adds a layer if it has bytes or is not a metadata instruction (ENV, LABEL, CMD, ...).
    With `base` (the image named in the Dockerfile's last FROM), column `from` says which rows came
    with it and which the Dockerfile added; a base the workshop built locally for a room without
    Docker Hub (label workshop.stand-in) is named as such, as its rows differ from Docker Hub's.
    """
    import pandas as pd
    img = _image(image)
    history = list(reversed(img.history()))
    rows = [{
        "index": index,
        "instruction": clean_instruction(entry.get("CreatedBy") or "") or entry.get("Comment", ""),
        "size_bytes": entry["Size"],
        "size": human(entry["Size"]),
        "created": pd.Timestamp(entry["Created"], unit="s", tz="UTC"),
    } for index, entry in enumerate(history)]
    cached = _cache.get(img.id)
    flags = [bool(h.get("empty_layer")) for h in cached.history] if cached else []
    if len(flags) != len(rows):
        flags = [looks_empty(row["instruction"], row["size_bytes"]) for row in rows]
    for row, empty in zip(rows, flags, strict=True):
        row["empty"] = empty
    columns = ["index", "instruction", "size_bytes", "size", "created", "empty"]
    if base is not None:
        base_img = _image(base)
        base_history = list(reversed(base_img.history()))
        if [(e.get("CreatedBy"), e["Size"]) for e in history[:len(base_history)]] != \
                [(e.get("CreatedBy"), e["Size"]) for e in base_history]:
            raise ValueError(f"{_name(image)} does not start with the layers of {_name(base)} as it is on this "
                             f"machine now: rebuild {_name(image)}, or name the base its Dockerfile uses")
        stand_in = "workshop.stand-in" in (base_img.labels or {})
        origin = f"base {_name(base)}" + (" (local stand-in)" if stand_in else "")
        for row in rows:
            row["from"] = origin if row["index"] < len(base_history) else "this Dockerfile"
        columns.append("from")
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class Layer:
    """One filesystem layer of an analyzed image."""

    index: int
    command: str  # the cleaned instruction that made it
    created_by: str  # as the builder recorded it
    size_bytes: int  # bytes of content in the layer (what dive shows per layer)
    tar_bytes: int  # length of the layer's tar (content, headers and padding)
    compressed_bytes: int | None  # gzip size (level 6, like a registry push), if measured
    digest: str  # the layer's diff ID (sha256 of its uncompressed tar)
    files: list[Change] = field(repr=False)  # every path it touches, marked added/modified/...


@dataclass
class ImageAnalysis:
    """Everything `analyze` learned from one pass over an image's layers."""

    image: str
    id: str
    tags: list[str]
    layers: list[Layer]
    files: list[FinalFile] = field(repr=False)  # the final (squashed) filesystem
    dive: DiveFigures = field(repr=False)
    #: Our waste: dive's figure plus the bytes dive misses (see `workshop.waste`).
    wasted_bytes: int
    compressed_bytes: int | None
    history: list[dict] = field(repr=False)
    _waste: list[dict] = field(repr=False)

    @property
    def size_bytes(self) -> int:
        """Bytes of content over all layers (dive's image size; ~ `docker image ls` SIZE)."""
        return sum(layer.size_bytes for layer in self.layers)

    @property
    def missed_by_dive(self) -> int:
        """Wasted bytes dive does not count (files under deleted or opaque directories)."""
        return self.wasted_bytes - self.dive.wasted_bytes

    # The analysis cache pickles some 170,000 file records for the naive image: as plain tuples
    # they pickle in a third of the time named tuples take (each calls back into Python).
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["files"] = [tuple(f) for f in self.files]
        # Plain tuples in the pickle, not Changes: __setstate__ makes them Changes again.
        state["layers"] = [dataclasses.replace(layer, files=cast("list[Change]", [tuple(c) for c in layer.files]))
                           for layer in self.layers]
        return state

    def __setstate__(self, state: dict) -> None:
        state["files"] = list(map(FinalFile._make, state["files"]))
        state["layers"] = [dataclasses.replace(layer, files=list(map(Change._make, layer.files)))
                           for layer in state["layers"]]
        self.__dict__.update(state)

    def __str__(self) -> str:
        return (f"{self.image}: {human(self.size_bytes)} in {len(self.layers)} layers, "
                f"{human(self.wasted_bytes)} wasted ({human(self.dive.wasted_bytes)} by dive's count)")

    def _command(self, index: int | None) -> str | None:
        return None if index is None else self.layers[index].command

    def waste_by_layer(self) -> pd.DataFrame:
        """Which layer added the wasted bytes, and which later layer deleted or overwrote them.

        One row per (layer, removed_by, how). `counted_by_dive` says whether dive's figure
        includes those bytes; dive also counts the surviving copy of a path it saw twice
        (`how` = "kept ..."). The rows sum to `wasted_bytes`.
        """
        import pandas as pd
        rows = [{
            "layer": row["layer"],
            "instruction": self._command(row["layer"]),
            "wasted_bytes": row["wasted_bytes"],
            "wasted": human(row["wasted_bytes"]),
            "files": row["files"],
            "removed_by": row["removed_by"],
            "removed_by_instruction": self._command(row["removed_by"]),
            "how": row["how"],
            "counted_by_dive": row["counted_by_dive"],
        } for row in self._waste]
        columns = ["layer", "instruction", "wasted_bytes", "wasted", "files", "removed_by",
                   "removed_by_instruction", "how", "counted_by_dive"]
        frame = pd.DataFrame(rows, columns=columns).astype({"removed_by": "Int64"})
        return frame.sort_values(["wasted_bytes", "layer"], ascending=[False, True], ignore_index=True)

    def largest_files(self, n: int = 20) -> pd.DataFrame:
        """The `n` largest files of the final filesystem, and the layer each comes from."""
        import pandas as pd
        return pd.DataFrame(self._largest_files(n), columns=["path", "size_bytes", "size", "layer", "instruction"])

    def _largest_files(self, n: int) -> list[dict]:
        files = heapq.nsmallest(n, (f for f in self.files if f.kind in ("file", "hardlink")), key=lambda f: (-f.size, f.path))
        return [{"path": "/" + f.path, "size_bytes": f.size, "size": human(f.size),
                 "layer": f.layer, "instruction": self.layers[f.layer].command} for f in files]

    def largest_dirs(self, n: int = 20, depth: int = 3) -> pd.DataFrame:
        """The `n` largest directories of the final filesystem, cut at `depth` levels.

        Each file counts in its directory, or in its ancestor `depth` levels below /, so the
        rows never overlap and add up to the whole filesystem (like the leaves of ``du -d``).
        """
        frame = _by_directory(self.files, depth).sort_values(["size_bytes", "path"], ascending=[False, True])
        frame = frame.head(n).reset_index(drop=True)
        frame.insert(2, "size", frame["size_bytes"].map(human))
        return frame

    def layer_tree(self, index: int, max_depth: int | None = None) -> pd.DataFrame:
        """The paths layer `index` touches, each marked added / modified / removed / unchanged.

        Directories that appear only because something inside them changed are left out (they
        are "unchanged"). With `max_depth`, deeper paths are summed into their ancestor at that
        depth, one row per (directory, change). For "removed", `size_bytes` is what it hides.
        """
        import pandas as pd
        groups: dict[tuple[str, str], dict] = {}
        for change in self.layers[index].files:
            if change.kind == "dir" and change.change == "unchanged":
                continue
            parts = change.path.split("/")
            deeper = max_depth is not None and len(parts) > max_depth
            path = "/" + "/".join(parts[:max_depth] if deeper else parts)
            row = groups.setdefault((path, change.change), {
                "path": path, "kind": "dir" if deeper else change.kind, "change": change.change,
                "size_bytes": 0, "files": 0})
            row["size_bytes"] += change.size
            row["files"] += change.files if change.change == "removed" else int(change.kind != "dir")
            if deeper:
                row["kind"] = "dir"
        frame = pd.DataFrame(list(groups.values()), columns=["path", "kind", "change", "size_bytes", "files"])
        frame.insert(4, "size", frame["size_bytes"].map(human))
        return frame.sort_values(["path", "change"], ignore_index=True)

    def to_dict(self) -> dict:
        """A JSON-able summary (what ``python -m workshop inspect IMAGE --json`` prints)."""
        ratio = self.dive.user_wasted_percent
        return {
            "image": self.image,
            "id": self.id,
            "tags": self.tags,
            "size_bytes": self.size_bytes,
            "compressed_bytes": self.compressed_bytes,
            "layers": [{
                "index": layer.index, "command": layer.command, "size_bytes": layer.size_bytes,
                "compressed_bytes": layer.compressed_bytes, "digest": layer.digest, "paths": len(layer.files),
            } for layer in self.layers],
            "wasted_bytes": self.wasted_bytes,
            "missed_by_dive": self.missed_by_dive,
            "dive": {
                "size_bytes": self.size_bytes,
                "wasted_bytes": self.dive.wasted_bytes,
                "efficiency": self.dive.efficiency,
                "user_wasted_percent": ratio if math.isfinite(ratio) else None,
                "inefficient_files": [
                    {"path": path, "count": count, "size_bytes": size}
                    for path, count, size in self.dive.inefficient_files[:20]],
            },
            "wasted_by_layer": [
                {**row, "instruction": self._command(row["layer"]),
                 "removed_by_instruction": self._command(row["removed_by"])}
                for row in sorted(self._waste, key=lambda r: (-r["wasted_bytes"], r["layer"]))],
            "largest_files": self._largest_files(10),
        }


def _by_directory(files: Iterable[FinalFile], depth: int) -> pd.DataFrame:
    """Bytes and file count per directory, each file in its parent cut to `depth` levels.

    Like ``du``, data shared by hardlinks counts once, under the first of its paths.
    """
    import pandas as pd
    sums: dict[str, list[int]] = {}
    seen: set[tuple[int, str]] = set()
    for f in files:
        if f.kind not in ("file", "hardlink"):
            continue
        data = (f.layer, f.link if f.kind == "hardlink" else f.path)
        parts = f.path.split("/")[:-1][:depth]
        row = sums.setdefault("/" + "/".join(parts), [0, 0])
        row[0] += 0 if data in seen else f.size
        row[1] += 1
        seen.add(data)
    return pd.DataFrame([{"path": path, "size_bytes": size, "files": count} for path, (size, count) in sums.items()],
                        columns=["path", "size_bytes", "files"])


def _build(saved: SavedImage, name: str, image_id: str, tags: list[str]) -> ImageAnalysis:
    history = saved.config.get("history") or []
    layered = iter([h for h in history if not h.get("empty_layer")])
    diff_ids = saved.config.get("rootfs", {}).get("diff_ids", [])
    entries = [layer.entries for layer in saved.layers]
    squashed = squash(entries)
    # dive reads a layer that `docker save` wrote as a symlink as an empty tar.
    dive = dive_figures([[] if layer.alias_of else layer.entries for layer in saved.layers],
                        [0 if layer.alias_of else layer.size_bytes for layer in saved.layers])
    rows = waste_rows(squashed, dive)
    layers = []
    for index, layer in enumerate(saved.layers):
        entry = next(layered, None)
        # `docker import` leaves created_by empty and says so in the comment.
        created_by = (entry.get("created_by") or entry.get("comment") or "") if entry else "(missing)"
        layers.append(Layer(
            index=index, command=clean_instruction(created_by), created_by=created_by,
            size_bytes=layer.size_bytes, tar_bytes=layer.tar_bytes, compressed_bytes=layer.compressed_bytes,
            digest=diff_ids[index] if index < len(diff_ids) else "", files=squashed.changes[index],
        ))
    return ImageAnalysis(
        image=name, id=image_id, tags=tags, layers=layers, files=squashed.files, dive=dive,
        wasted_bytes=dive.wasted_bytes + sum(r["wasted_bytes"] for r in rows if not r["counted_by_dive"]),
        compressed_bytes=(sum(layer.compressed_bytes or 0 for layer in saved.layers)
                          if saved.layers and all(layer.compressed_bytes is not None for layer in saved.layers)
                          else None),
        history=history, _waste=rows,
    )


@contextlib.contextmanager
def _no_cycle_collection():
    """Pause Python's cyclic garbage collector while an image is read and stacked.

    The naive image makes some 400,000 objects (file records, tree nodes), none of them in a
    reference cycle; the collector would walk them all again each time a few thousand more
    were made, and find nothing: a second of the naive image's 7 (measured 2026-12-01).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def analyze_tar(stream: BinaryIO | Iterable[bytes], *, name: str = "image", compressed: bool = False) -> ImageAnalysis:
    """Analyze a `docker save` tarball: an open binary file, or an iterable of byte chunks."""
    reader = cast(BinaryIO, stream) if hasattr(stream, "read") else open_chunks(stream)
    with _no_cycle_collection():
        saved = read_saved_image(reader, compressed=compressed)
        return _build(saved, name, "", saved.repo_tags)


def analyze(image: str | Image, *, compressed: bool | Callable[[str, int], bool] = False) -> ImageAnalysis:
    """Read every layer of `image` once, as a stream, and work out files, changes and waste.

    With `compressed=True`, also gzip each layer on the fly to report the size a registry
    would store (a function of a layer's name and tar size instead picks the layers to gzip:
    `Layer.compressed_bytes` is None for the others); much slower (zlib managed about 11 MB/s
    on our 2-core CI machine, so ~1.5 minutes per GB). Results are cached per image ID, in
    memory and in analyses_dir().
    """
    img = _image(image)
    cached = _cache.get(img.id) or _stored(img.id)
    if cached is not None and (cached.compressed_bytes is not None or not compressed):
        if (cached.image, cached.tags) != (_name(image), list(img.tags)):  # the same image by another name
            cached = dataclasses.replace(cached, image=_name(image), tags=list(img.tags))
        _remember(cached, store=False)
        return cached
    log.info("reading %s (%s) layer by layer%s", _name(image), human(img.attrs["Size"]),
             ", gzipping each" if compressed else "")
    # Docker Engine before 25 writes the whole tarball to its own temp dir before it sends the
    # first byte (see SAVE_TIMEOUT), and needs about the image's size free on its disk for it.
    engine.ensure_disk(img.attrs["Size"], f"reading {_name(image)} (the engine writes it out first)")
    with _no_cycle_collection():
        try:
            with _saved_stream(img) as stream:
                saved = read_saved_image(stream, compressed=compressed)
        except docker.errors.APIError as error:
            if "no space left" in str(error).lower():
                raise engine.DiskFull(f"the engine ran out of disk writing out {_name(image)}. "
                                      f"{engine.FREE_SPACE_HINT}") from error
            raise
        analysis = _build(saved, _name(image), img.id, list(img.tags))
        _remember(analysis)
    return analysis


@contextlib.contextmanager
def _saved_stream(img: Image) -> Iterator[BinaryIO]:
    """The engine's `docker save` response for `img`, as a file read front to back."""
    api = img.client.api
    url_path = f"/v{api.api_version}/images/{urllib.parse.quote(img.id, safe='')}/get"
    socket_path = _unix_socket(api)
    if socket_path:
        with _saved_stream_unix(socket_path, url_path) as stream:
            yield stream
    else:  # TCP, SSH, a Windows named pipe: through docker-py's session (a requests.Session)
        with _saved_stream_sdk(api, url_path) as stream:
            yield stream


def _unix_socket(api: docker.APIClient) -> str | None:
    """The path of the engine's Unix socket, if docker-py talks to the engine through one."""
    return getattr(api.get_adapter(api.base_url), "socket_path", None)


@contextlib.contextmanager
def _saved_stream_unix(socket_path: str, url_path: str) -> Iterator[BinaryIO]:
    """The save response read straight from the engine's Unix socket, asked in HTTP/1.0.

    Asked in HTTP/1.1, the engine sends the tarball in chunked framing, some 80,000 pieces of
    32 KB for the naive image, each undone in Python; asked in HTTP/1.0, it sends the tarball as
    it is and closes the connection at its end. For the naive image's 2.7 GB, from the first byte
    to the last, parsing included: 2.2 to 3.2 s instead of 3.4 to 4.2 s, and the whole analysis
    1.9 to 2.7 s of CPU instead of 3.1 to 4.0 s (2026-12-01, four runs each, alternating); a bare
    read of the response took 1.8 to 2.1 s instead of 2.4 to 2.8 s (six each)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(SAVE_TIMEOUT)
        sock.connect(socket_path)
        sock.sendall(f"GET {url_path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode("ascii"))
        with sock.makefile("rb", buffering=BUFFER_SIZE) as response:
            _, _, status_reason = response.readline(65536).decode("latin-1").rstrip().partition(" ")
            status, _, reason = status_reason.partition(" ")
            headers = {}
            while (line := response.readline(65536)) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("transfer-encoding", "identity").lower() != "identity":
                raise RuntimeError(f"the engine at {socket_path} answered an HTTP/1.0 request with "
                                   f"Transfer-Encoding: {headers['transfer-encoding']} (a proxy in between?)")
            if status != "200":  # the engine's error (a full disk) as docker-py would raise it
                length = headers.get("content-length", "")
                body = response.read(int(length)) if length.isdigit() else response.read()
                try:
                    explanation = json.loads(body)["message"]
                except (ValueError, KeyError, TypeError):
                    explanation = body.decode("utf-8", "replace").strip()
                error = docker.errors.NotFound if status == "404" else docker.errors.APIError
                raise error(f"{status} {reason}", explanation=explanation)
            yield cast(BinaryIO, response)  # a BufferedReader (typeshed cannot tell from "rb" and a size)


@contextlib.contextmanager
def _saved_stream_sdk(api: docker.APIClient, url_path: str) -> Iterator[BinaryIO]:
    """The save response through docker-py's client, which is a requests.Session: its public get,
    with SAVE_TIMEOUT for this request alone (the session's client, shared between threads, keeps
    its usual timeout). requests makes a bytes object of each of the engine's chunks: 0.91 s of
    user time for the naive image's 2.7 GB, against 0.45 s when http.client's response below it
    was read directly through a private attribute (means of three, 2026-12-01), a cost left to the
    transports other than the engine's Unix socket."""
    response = api.get(api.base_url + url_path, stream=True, timeout=SAVE_TIMEOUT)
    try:
        try:
            response.raise_for_status()
        except requests.exceptions.HTTPError as error:  # the engine's error (a full disk) as docker-py's
            docker.errors.create_api_error_from_http_exception(error)
        yield open_chunks(response.iter_content(BUFFER_SIZE))
    finally:
        response.close()


def _stored_path(image_id: str) -> Path:
    return analyses_dir() / f"v{ANALYSIS_VERSION}-{image_id.removeprefix('sha256:')}.pickle"


def _stored(image_id: str) -> ImageAnalysis | None:
    """The analysis of `image_id` an earlier run stored, if any (a damaged file is read again)."""
    try:
        with _stored_path(image_id).open("rb") as stored, _no_cycle_collection():
            analysis = pickle.load(stored)  # noqa: S301  (our own cache, written by _remember)
    except FileNotFoundError:
        return None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as error:
        # a file cut short, or written by another version of this module: read the image again
        log.warning("ignoring the stored analysis of %s: %s", image_id[:19], error)
        return None
    return analysis if isinstance(analysis, ImageAnalysis) and analysis.id == image_id else None


def forget(image_id: str) -> None:
    """Drop the analysis of `image_id` from memory and disk (its image was removed)."""
    _cache.pop(image_id, None)
    _stored_path(image_id).unlink(missing_ok=True)


def _remember(analysis: ImageAnalysis, *, store: bool = True) -> None:
    """Keep `analysis` in memory, and on disk unless `store` is False (a disk that refuses costs a warning)."""
    _cache[analysis.id] = analysis
    _cache.move_to_end(analysis.id)
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    if not store or not analysis.id:
        return
    path = _stored_path(analysis.id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            pickle.dump(analysis, out, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)
    except OSError as error:
        log.warning("could not store the analysis of %s in %s: %s", analysis.image, analyses_dir(), error)


def inspect_report(image: str | Image, *, compressed: bool = False) -> dict:
    """The JSON-able report behind ``python -m workshop inspect IMAGE --json``: the analysis, with
    the image's size as every figure of the workshop counts it (`image_size`; `dive.size_bytes`
    is dive's count, the layers' files alone)."""
    return {**analyze(image, compressed=compressed).to_dict(), "size_bytes": image_size(image)}


def diff_images(a: str | Image | ImageAnalysis, b: str | Image | ImageAnalysis, *, depth: int = 2) -> pd.DataFrame:
    """What differs between two images' final filesystems, per directory, largest change first.

    Directories are cut at `depth` levels as in `ImageAnalysis.largest_dirs`; `files_added`
    and `files_removed` count paths present in only one of the two images.
    """
    import pandas as pd
    first, second = (x if isinstance(x, ImageAnalysis) else analyze(x) for x in (a, b))
    left = _by_directory(first.files, depth).set_index("path")
    right = _by_directory(second.files, depth).set_index("path")
    frame = pd.DataFrame({"bytes_a": left["size_bytes"], "bytes_b": right["size_bytes"]}).fillna(0).astype("int64")
    frame["delta"] = frame["bytes_b"] - frame["bytes_a"]
    paths_a = {f.path for f in first.files if f.kind in ("file", "hardlink")}
    paths_b = {f.path for f in second.files if f.kind in ("file", "hardlink")}
    frame["files_added"] = _count_by_directory(paths_b - paths_a, depth).reindex(frame.index, fill_value=0)
    frame["files_removed"] = _count_by_directory(paths_a - paths_b, depth).reindex(frame.index, fill_value=0)
    frame = frame[(frame["delta"] != 0) | (frame["files_added"] > 0) | (frame["files_removed"] > 0)]
    frame = frame.assign(change=frame["delta"].map(lambda d: ("+" if d > 0 else "-" if d < 0 else "") + human(abs(d))))
    order = frame["delta"].abs().sort_values(ascending=False, kind="stable").index
    return frame.loc[order].rename_axis("directory").reset_index()


def _count_by_directory(paths: Iterable[str], depth: int) -> pd.Series:
    import pandas as pd
    counts: dict[str, int] = {}
    for path in paths:
        key = "/" + "/".join(path.split("/")[:-1][:depth])
        counts[key] = counts.get(key, 0) + 1
    return pd.Series(counts, dtype="int64")
