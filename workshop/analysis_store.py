"""The cache of image analyses: the last few in memory, and each on disk under its image ID.

Apart from the analysis itself (`workshop.analysis`): what is kept, where, and for how long.
`python -m workshop clean` forgets the analyses of the images it removes.
"""

from __future__ import annotations

import logging
import pickle
from collections import OrderedDict
from pathlib import Path

from workshop import config
from workshop.analysis import ImageAnalysis, no_cycle_collection

log = logging.getLogger(__name__)

#: Analyses kept in memory (notebooks ask several questions about the same image in a row).
CACHE_SIZE = 4
_cache: OrderedDict[str, ImageAnalysis] = OrderedDict()
#: Analyses kept on disk too, one file per image ID: an image ID names its exact layers, so a
#: second run of the notebooks (an instructor's rehearsal) reads none of them again. Bump the
#: version when ImageAnalysis or the waste rules change. `python -m workshop clean` empties it.
ANALYSIS_VERSION = 5  # 5: the classes moved from workshop.layers to workshop.analysis


def analyses_dir() -> Path:
    """Where analyses are stored: `analyses` in config.CACHE_DIR (as it is when asked)."""
    return config.CACHE_DIR / "analyses"


def _stored_path(image_id: str) -> Path:
    return analyses_dir() / f"v{ANALYSIS_VERSION}-{image_id.removeprefix('sha256:')}.pickle"


def in_memory(image_id: str) -> ImageAnalysis | None:
    """The analysis of `image_id` this process already has, if any."""
    return _cache.get(image_id)


def known(image_id: str) -> bool:
    """Whether `image_id` was analysed already, here or by an earlier run (no read needed)."""
    return image_id in _cache or _stored_path(image_id).exists()


def recall(image_id: str) -> ImageAnalysis | None:
    """The analysis of `image_id` from memory, else from disk (then kept in memory too), else None."""
    analysis = _cache.get(image_id) or _stored(image_id)
    if analysis is not None:
        remember(analysis, store=False)
    return analysis


def _stored(image_id: str) -> ImageAnalysis | None:
    """The analysis of `image_id` an earlier run stored, if any (a damaged file is read again)."""
    try:
        with _stored_path(image_id).open("rb") as stored, no_cycle_collection():
            analysis = pickle.load(stored)  # noqa: S301  (our own cache, written by remember)
    except FileNotFoundError:
        return None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as error:
        # a file cut short, or written by another version of this module: read the image again
        log.warning("ignoring the stored analysis of %s: %s", image_id[:19], error)
        return None
    return analysis if isinstance(analysis, ImageAnalysis) and analysis.id == image_id else None


def forget(image_id: str) -> None:
    """Drop the analysis of `image_id` from memory and disk (its image was removed), the files
    of earlier ANALYSIS_VERSIONs included."""
    _cache.pop(image_id, None)
    for path in analyses_dir().glob(f"v*-{image_id.removeprefix('sha256:')}.pickle"):
        path.unlink(missing_ok=True)


def remember(analysis: ImageAnalysis, *, store: bool = True) -> None:
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
