"""What every report figure shares: one fixed pixel size, the state colours, and the "does not apply" signal.

Figures are plain :class:`matplotlib.figure.Figure` objects drawn on the Agg canvas directly, not through pyplot,
so making a report neither needs a display nor changes the backend of the caller's session (e.g. a notebook).
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Every figure is saved at exactly this size (width, height) in pixels, so pages lay out predictably.
FIGURE_SIZE_PX: tuple[int, int] = (1000, 600)
DPI = 100


class NotApplicable(Exception):
    """Raised by a figure function when its figure does not apply to this result; the message says why."""


def new_figure(rows: int = 1, columns: int = 1, **subplot_options: object) -> tuple[Figure, np.ndarray]:
    """A figure of :data:`FIGURE_SIZE_PX` on an Agg canvas with a ``rows`` × ``columns`` array of axes (always 2-D)."""
    figure = Figure(figsize=(FIGURE_SIZE_PX[0] / DPI, FIGURE_SIZE_PX[1] / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False, **subplot_options)
    return figure, axes


def state_colours(num_states: int) -> np.ndarray:
    """(K, 4) RGBA colours, one per discrete state (or condition), distinct for up to 10 and cycling after."""
    palette = colormaps["tab10"].colors
    return np.array([(*palette[k % len(palette)], 1.0) for k in range(num_states)])


def save_png(figure: Figure, path: str) -> None:
    """Write ``figure`` as a PNG of exactly :data:`FIGURE_SIZE_PX`."""
    figure.savefig(path, dpi=DPI, format="png")
