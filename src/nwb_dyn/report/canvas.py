"""What every report figure shares: one fixed pixel size, the state colours, and the "does not apply" signal."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # the report is written to files, never shown; Agg needs no display

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: Every figure is saved at exactly this size (width, height) in pixels, so pages lay out predictably.
FIGURE_SIZE_PX: tuple[int, int] = (1000, 600)
DPI = 100


class NotApplicable(Exception):
    """Raised by a figure function when its figure does not apply to this result; the message says why."""


def new_figure(rows: int = 1, columns: int = 1, **subplot_options: object) -> tuple[Figure, np.ndarray]:
    """A figure of :data:`FIGURE_SIZE_PX` with a ``rows`` × ``columns`` array of axes (always 2-D)."""
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(FIGURE_SIZE_PX[0] / DPI, FIGURE_SIZE_PX[1] / DPI),
        dpi=DPI,
        squeeze=False,
        **subplot_options,
    )
    return figure, axes


def state_colours(num_states: int) -> np.ndarray:
    """(K, 4) RGBA colours, one per discrete state (or condition), distinct for up to 10 and cycling after."""
    palette = plt.get_cmap("tab10").colors
    return np.array([(*palette[k % len(palette)], 1.0) for k in range(num_states)])


def save_png(figure: Figure, path: str) -> None:
    """Write ``figure`` as a PNG of exactly :data:`FIGURE_SIZE_PX` and free its memory."""
    figure.savefig(path, dpi=DPI, format="png")
    plt.close(figure)
