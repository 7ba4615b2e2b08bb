"""A notebook widget to browse an analyzed image layer by layer, the way dive's TUI does.

Pick a layer: see the instruction that made it, its size, the largest paths it added, changed
or removed, and the waste it leaves or causes. Plain ipywidgets showing HTML tables, so it works
in JupyterLab, VS Code and nbclient alike (and in tests, without a browser).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as widgets
import pandas as pd

from workshop.analysis import ImageAnalysis
from workshop.engine import human
from workshop.layers import analyze

if TYPE_CHECKING:
    from docker.models.images import Image

MARKS = {"added": "+", "modified": "~", "removed": "-", "unchanged": "="}


def explorer(image_or_analysis: str | Image | ImageAnalysis) -> LayerExplorer:
    """A widget to browse an image (a tag, an Image or an analysis already made) layer by layer."""
    analysis = image_or_analysis if isinstance(image_or_analysis, ImageAnalysis) else analyze(image_or_analysis)
    return LayerExplorer(analysis)


class LayerExplorer(widgets.VBox):
    """`layer` (dropdown) and `depth` (slider) drive `details`, `files` and `waste` (HTML)."""

    def __init__(self, analysis: ImageAnalysis, *, top: int = 25):
        self.analysis = analysis
        self.top = top
        largest = max(analysis.layers, key=lambda layer: layer.size_bytes)
        self.layer = widgets.Dropdown(
            options=[(f"{layer.index}: {_short(layer.command, 70)}  ({human(layer.size_bytes)})", layer.index)
                     for layer in analysis.layers],
            value=largest.index, description="Layer", layout=widgets.Layout(width="95%"))
        self.depth = widgets.IntSlider(value=3, min=1, max=8, description="Depth")
        self.details = widgets.HTML()
        self.files = widgets.HTML()
        self.waste = widgets.HTML()
        super().__init__([widgets.HTML(f"<b>{html.escape(str(analysis))}</b>"), self.layer, self.depth,
                          self.details, self.files, self.waste])
        self.layer.observe(self._refresh, names="value")
        self.depth.observe(self._refresh, names="value")
        self._refresh()

    def _refresh(self, _change=None) -> None:
        index, analysis = self.layer.value, self.analysis
        layer = analysis.layers[index]
        compressed = f", {human(layer.compressed_bytes)} gzipped" if layer.compressed_bytes is not None else ""
        self.details.value = (
            f"<p><b>Layer {index}</b>: {human(layer.size_bytes)}{compressed}<br>"
            f"<code>{html.escape(layer.command)}</code><br><small>{html.escape(layer.digest)}</small></p>")

        tree = analysis.layer_tree(index, max_depth=self.depth.value)
        tree = tree.sort_values("size_bytes", ascending=False).head(self.top)
        tree.insert(0, "", tree.pop("change").map(MARKS))
        self.files.value = (
            "<p>Largest paths in this layer (+ added, ~ modified, - removed, = unchanged):</p>"
            + tree.drop(columns="size_bytes").to_html(index=False))

        waste = analysis.waste_by_layer()
        left = waste[waste["layer"] == index]
        caused = waste[waste["removed_by"] == index]
        self.waste.value = (
            _waste_html(f"Bytes this layer added that count as waste: {human(left['wasted_bytes'].sum())}",
                        left, ["wasted", "files", "how", "removed_by", "removed_by_instruction", "counted_by_dive"])
            + _waste_html(f"Bytes of earlier layers this layer deletes or overwrites: "
                          f"{human(caused['wasted_bytes'].sum())}",
                          caused, ["layer", "instruction", "wasted", "files", "how", "counted_by_dive"]))


def _waste_html(title: str, rows: pd.DataFrame, columns: list[str]) -> str:
    table = rows[columns].to_html(index=False) if len(rows) else "<p>none</p>"
    return f"<p><b>{html.escape(title)}</b></p>{table}"


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
