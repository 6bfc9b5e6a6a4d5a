"""How many windows a post-fit computation (posterior, forecasts) holds at once, from a memory budget.

Per-particle arrays of a whole session do not fit in memory: at 5 ms bins a 1 s window has T = 200 bins, and K
particles' expected observations for 64 such windows and 200 channels are K · 64 · 200 · 200 floats, 330 MB at K = 32.
A chunk of 128 MiB keeps the kernels' tensors large (the cost per window stays flat) and the session's other arrays
(its values, masks and posterior rates, several hundred MB each for such a session) the main use of memory.
Each computation says what one window costs it (its largest per-particle arrays, summed) and takes as many windows as
fit in the budget, at least one.
"""

from __future__ import annotations

#: Bytes the per-particle arrays of one chunk of windows may take (the default of every post-fit computation).
DEFAULT_MEMORY_BUDGET_BYTES = 128 * 2**20
FLOAT32_BYTES = 4


def windows_per_chunk(bytes_per_window: int, budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES) -> int:
    """The number of windows whose arrays (``bytes_per_window`` each) fit in ``budget_bytes``; at least 1."""
    if budget_bytes <= 0:
        raise ValueError(f"memory budget {budget_bytes!r} bytes must be > 0")
    return max(1, int(budget_bytes // max(1, bytes_per_window)))
