"""Helpers for the Clean AI Containers workshop notebooks.

Everything a notebook needs more than once lives here, so that each cell stays short:

- ``run_batch``, ``serve``: run an image, serve it (``from workshop.build import build`` builds
  one with the log streamed live).
- ``image_summary``, ``layer_table``, ``analyze``, ``diff_images``: what ``docker images``,
  ``docker history`` and dive show, through the Docker SDK (``workshop.explorer`` browses).
- ``checks`` and ``exercises``: the checks behind every exercise.

Names are imported on first use, so ``python -m workshop.setup_check`` works even when
half of the workshop's packages are still missing. A name here never shadows a submodule:
``workshop.build`` and ``workshop.explorer`` are modules, whatever was imported before.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "config": "workshop.config",
    "checks": "workshop.checks",
    "exercises": "workshop.exercises",
    "client": "workshop.engine",
    "human": "workshop.engine",
    "DockerUnavailable": "workshop.engine",
    "DiskFull": "workshop.engine",
    "BuildFailed": "workshop.build",
    "run_batch": "workshop.run",
    "serve": "workshop.run",
    "cleanup": "workshop.run",
    "RunFailed": "workshop.run",
    "image_summary": "workshop.layers",
    "layer_table": "workshop.layers",
    "analyze": "workshop.layers",
    "diff_images": "workshop.imagediff",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'workshop' has no attribute {name!r}") from None
    if module == f"workshop.{name}":
        return importlib.import_module(module)
    return getattr(importlib.import_module(module), name)
