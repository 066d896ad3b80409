"""One style for every figure: legible at the book's page width (and matplotlib without a display).

:func:`readable` sets every text of a figure to at least :data:`MIN_FONT_PT`; the constants say at
what size the book shows a figure. :mod:`vae_mnist.figures.paper` and :mod:`vae_mnist.figures.beyond`
draw with these.
"""
from __future__ import annotations

import math
import os
import sys
from typing import Optional

import matplotlib  # noqa: E402

# Without a display, draw with Agg. Never set MPLBACKEND in the environment: child processes
# (Jupyter kernels of the book build) would inherit it and lose the inline backend, which turns
# every figure into "<Figure size ...>" text. Inside a kernel, leave its backend alone.
if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND") and "ipykernel" not in sys.modules:
    try:
        matplotlib.use("Agg")
    except Exception:  # pragma: no cover - a backend already in use by an interactive session
        pass

from matplotlib.figure import Figure  # noqa: E402
import numpy as np  # noqa: E402

# --------------------------------------------------------------------------------------
# One style for every figure: legible at the book's page width
# --------------------------------------------------------------------------------------
#: Figures are rendered at DPI (Jupyter's inline backend uses the figure's own dpi) and the book
#: shows a figure at most PAGE_WIDTH_PX wide (the figure column of sphinx-book-theme at a 1280 px
#: window; tests/test_browser.py measures it), scaling wider images down. CAPTION_PX is the size
#: of the book's caption text there. Every text of every figure is at least MIN_FONT_PT, so on
#: the page it is at least CAPTION_PX when the figure is no wider than PAGE_WIDTH_PX:
#: MIN_FONT_PT * DPI / 72 >= CAPTION_PX. Figures are drawn at most PAGE_WIDTH_IN wide.
DPI = 100
PAGE_WIDTH_PX = 672
CAPTION_PX = 16.0
PAGE_WIDTH_IN = PAGE_WIDTH_PX / DPI
MIN_FONT_PT = 12.0
TITLE_FONT_PT = 13.0


def new_figure(figsize) -> Figure:
    # A Figure not registered with pyplot: no global state, no leaked windows; Jupyter
    # still shows it as the cell's result (and glue() stores it). An opaque white background,
    # so that the figure reads the same in the book's dark mode.
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize, dpi=DPI, facecolor="white")
    plt.close(fig)
    return fig


def readable(fig: Figure, layout: bool = True, min_pt: float = MIN_FONT_PT) -> Figure:
    """Raise every text of ``fig`` (tick labels, labels, titles, legends, annotations) to ``min_pt``.

    The one place that makes figures legible on the page; each figure function ends with it.
    ``layout`` re-runs ``tight_layout`` (off for figures placed by hand with ``add_axes``).
    """
    from matplotlib.text import Text

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for which in ("major", "minor"):
                labels = axis.get_ticklabels(minor=which == "minor")
                size = max([t.get_fontsize() for t in labels] + [min_pt])
                axis.set_tick_params(which=which, labelsize=max(size, min_pt))
    for text in fig.findobj(Text):
        if text.get_fontsize() < min_pt:
            text.set_fontsize(min_pt)
    if layout:
        fig.tight_layout()
    return fig


def smallest_text_pt(fig: Figure) -> float:
    """The smallest font size (points) of any visible, non-empty text of ``fig`` after drawing it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    FigureCanvasAgg(fig).draw()
    hidden = set()  # the tick and axis labels of axes drawn without axes (axis("off"))
    for ax in fig.axes:
        if not ax.axison:
            hidden.update(id(t) for axis in (ax.xaxis, ax.yaxis) for t in axis.findobj(Text))
    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
    return min(sizes) if sizes else float("inf")


def shown_width_px(fig: Figure) -> int:
    """The width in pixels of the PNG the book shows for ``fig`` (inline backend: tight bounding box)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    import struct

    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_figure(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    return struct.unpack(">I", buf.getvalue()[16:20])[0]


def smallest_text_on_page_px(fig: Figure) -> float:
    """The smallest text of ``fig`` in CSS pixels when the book shows it (scaled to PAGE_WIDTH_PX)."""
    scale = min(1.0, PAGE_WIDTH_PX / shown_width_px(fig))
    return smallest_text_pt(fig) * fig.dpi / 72.0 * scale


def pad_range(means: Optional[np.ndarray], minimum: float = 3.0, maximum: float = 6.0) -> float:
    """Half-width of the pad: covers 99.5 % of the codes, at least ``minimum``, in steps of 0.5."""
    if means is None or len(means) == 0:
        return minimum
    q = float(np.quantile(np.abs(np.asarray(means)[:, :2]), 0.995))
    return float(min(maximum, max(minimum, math.ceil(2 * q) / 2)))
