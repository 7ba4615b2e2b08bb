"""What differs between two images' final filesystems, per directory (`diff_images`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from docker.models.images import Image

from workshop.analysis import ImageAnalysis, by_directory
from workshop.engine import human
from workshop.layers import analyze

if TYPE_CHECKING:
    import pandas as pd


def diff_images(a: str | Image | ImageAnalysis, b: str | Image | ImageAnalysis, *, depth: int = 2) -> pd.DataFrame:
    """What differs between two images' final filesystems, per directory, largest change first.

    Directories are cut at `depth` levels as in `ImageAnalysis.largest_dirs`; `files_added`
    and `files_removed` count paths present in only one of the two images.
    """
    import pandas as pd
    first, second = (x if isinstance(x, ImageAnalysis) else analyze(x) for x in (a, b))
    left = by_directory(first.files, depth).set_index("path")
    right = by_directory(second.files, depth).set_index("path")
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
