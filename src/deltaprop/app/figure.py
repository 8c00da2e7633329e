"""The report's figure: a :class:`matplotlib.figure.Figure` on the Agg canvas, its size and
resolution, and the epoch axis the training curves share.

The canvas is chosen here and only here (no ``pyplot``, no global state, no display
needed); matplotlib is imported when a figure is made, never by the numeric modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DPI", "SIZE", "WIDE", "ReportFigure", "epoch_axis", "epoch_numbers", "new_figure"]

DPI = 100
"""Resolution of the PNG files: a figure of ``w × h`` inches is ``100 w × 100 h`` pixels."""

SIZE = (7.2, 4.5)
"""Size in inches of the single-panel figures (720 × 450 pixels)."""

WIDE = (12.0, 4.5)
"""Size in inches of the gradient-flow comparison (1200 × 450 pixels)."""


@dataclass
class ReportFigure:
    """A figure of the report.

    Attributes
    ----------
    name : str
        File stem: the PNG is ``<name>.png``.
    title : str
        Heading in the report.
    caption : str
        One or two sentences saying how to read the figure.
    figure : matplotlib.figure.Figure
    """

    name: str
    title: str
    caption: str
    figure: Figure


def new_figure(size: tuple[float, float] = SIZE) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def epoch_numbers(n: int) -> np.ndarray:
    return np.arange(1, n + 1)


def epoch_axis(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
