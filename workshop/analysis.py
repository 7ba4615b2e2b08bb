"""The analysis of one image: its layers, the files each adds, changes or removes, the final
filesystem and the bytes it wastes (ours and dive's), as `ImageAnalysis`.

`analyze_tar` builds one from a ``docker save`` tarball in one pass (see `workshop.imagetar`; the
waste figures come from `workshop.waste`). Apart from the engine and the cache:
`workshop.layers.analyze` reads an engine's image into one, `workshop.analysis_store` keeps it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import heapq
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, cast

from workshop.engine import human
from workshop.imagetar import SavedImage, open_chunks, read_saved_image
from workshop.waste import Change, DiveFigures, FinalFile, dive_figures, squash, waste_rows

# pandas is imported where a table is made: `python -m workshop inspect` starts and runs
# without it (a third of a second and about 40 MB less).
if TYPE_CHECKING:
    import pandas as pd

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
        frame = by_directory(self.files, depth).sort_values(["size_bytes", "path"], ascending=[False, True])
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


def by_directory(files: Iterable[FinalFile], depth: int) -> pd.DataFrame:
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


def build_analysis(saved: SavedImage, name: str, image_id: str, tags: list[str]) -> ImageAnalysis:
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
def no_cycle_collection():
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
    with no_cycle_collection():
        saved = read_saved_image(reader, compressed=compressed)
        return build_analysis(saved, name, "", saved.repo_tags)
