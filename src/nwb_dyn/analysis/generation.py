"""How many free-running samples a fit generates for its output file."""

from __future__ import annotations

import math


def generated_run_count(num_windows: int, num_bins: int, num_channels: int, typical: int = 16) -> int:
    """Number of generated runs (trials) of ``num_bins`` steps to store.

    As many as the data has windows, up to ``typical``, but always enough that the concatenated samples have more
    time rows than channels: NWB readers and nwbinspector take the longest axis of a 2-D series for time, so a
    (runs · T, D) array with fewer rows than columns reads as transposed.
    """
    return max(min(num_windows, typical), math.ceil(num_channels / num_bins) + 1)
