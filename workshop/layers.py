"""What ``docker images`` and ``docker history`` show, as pandas objects for notebooks, and each
image's size as every figure of the workshop counts it.

    image_summary("bert-classifier:slim")      # one image: size, layer count, platform
    layer_table("bert-classifier:slim")        # docker history, oldest first, instructions cleaned
    a = analyze("bert-classifier:naive")       # every layer's files, waste (ours and dive's)

Everything goes through the Docker SDK. `analyze` lives here rather than in `workshop.analysis`
because the sizes need it (on the containerd image store, an image's size takes a read of its
layers): it reads the image once as a stream (`workshop.savestream`), builds the analysis
(`workshop.analysis`) and keeps it (`workshop.analysis_store`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import docker.errors
from docker.models.images import Image

from workshop import analysis_store, engine
from workshop.analysis import ImageAnalysis, build_analysis, clean_instruction, no_cycle_collection
from workshop.engine import human
from workshop.imagetar import read_saved_image
from workshop.savestream import saved_stream

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
    if engine.image_store() == "containerd" and not analysis_store.known(img.id):
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
    cached = analysis_store.in_memory(img.id)
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
    cached = analysis_store.in_memory(img.id)
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


def analyze(image: str | Image, *, compressed: bool | Callable[[str, int], bool] = False) -> ImageAnalysis:
    """Read every layer of `image` once, as a stream, and work out files, changes and waste.

    With `compressed=True`, also gzip each layer on the fly to report the size a registry
    would store (a function of a layer's name and tar size instead picks the layers to gzip:
    `Layer.compressed_bytes` is None for the others); much slower (zlib managed about 11 MB/s
    on our 2-core CI machine, so ~1.5 minutes per GB). Results are cached per image ID, in
    memory and in analyses_dir() (see `workshop.analysis_store`).
    """
    img = _image(image)
    cached = analysis_store.recall(img.id)
    if cached is not None and (cached.compressed_bytes is not None or not compressed):
        if (cached.image, cached.tags) != (_name(image), list(img.tags)):  # the same image by another name
            cached = dataclasses.replace(cached, image=_name(image), tags=list(img.tags))
            analysis_store.remember(cached, store=False)
        return cached
    log.info("reading %s (%s) layer by layer%s", _name(image), human(img.attrs["Size"]),
             ", gzipping each" if compressed else "")
    # Docker Engine before 25 writes the whole tarball to its own temp dir before it sends the
    # first byte (see savestream.SAVE_TIMEOUT), and needs about the image's size free on its disk for it.
    engine.ensure_disk(img.attrs["Size"], f"reading {_name(image)} (the engine writes it out first)")
    with no_cycle_collection():
        try:
            with saved_stream(img) as stream:
                saved = read_saved_image(stream, compressed=compressed)
        except docker.errors.APIError as error:
            if "no space left" in str(error).lower():
                raise engine.DiskFull(f"the engine ran out of disk writing out {_name(image)}. "
                                      f"{engine.FREE_SPACE_HINT}") from error
            raise
        analysis = build_analysis(saved, _name(image), img.id, list(img.tags))
        analysis_store.remember(analysis)
    return analysis


def inspect_report(image: str | Image, *, compressed: bool = False) -> dict:
    """The JSON-able report behind ``python -m workshop inspect IMAGE --json``: the analysis, with
    the image's size as every figure of the workshop counts it (`image_size`; `dive.size_bytes`
    is dive's count, the layers' files alone)."""
    return {**analyze(image, compressed=compressed).to_dict(), "size_bytes": image_size(image)}
