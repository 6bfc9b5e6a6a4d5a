"""Model selection over a grid of fits (state counts K or ranks R, several seeds each): score, rank, choose.

A grid value is judged on two things (Zhang & Saxena 2024 choose K this way): how well its fits predict held-out
data (co-smoothing, averaged over seeds) and how consistently its seeds recover the same discrete states
(:func:`~nwb_dyn.analysis.metrics.states.across_seed_state_variability`). Each criterion ranks the grid values;
the chosen value has the smallest sum of ranks, ties going to the better co-smoothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy.stats import rankdata

from nwb_dyn.analysis.metrics.states import across_seed_state_variability
from nwb_dyn.errors import ConfigError

#: Metrics that score held-out prediction, best first, with the sign that makes larger better.
HELD_OUT_SCORES: tuple[tuple[str, float], ...] = (
    ("co_bps", 1.0),
    ("co_mse", -1.0),
    ("heldin_bps", 1.0),
    ("heldin_mse", -1.0),
)


class GridFit(NamedTuple):
    """One fitted grid point: the grid value (K or R), its seed, its metrics, and its states (B, T) or None."""

    value: int
    seed: int
    metrics: Mapping[str, float]
    states: np.ndarray | None = None


class GridSummary(NamedTuple):
    """One grid value over its seeds.

    score_name: the metric used (``co_bps``, ...); mean_score / sd_score: its mean and SD over seeds, signed so
    that larger is better; state_variability: 1 − mean pairwise matched agreement of the seeds' states (NaN
    without states or with one seed); best_seed: the seed with the best score; rank: 1 = chosen.
    """

    value: int
    score_name: str
    mean_score: float
    sd_score: float
    state_variability: float
    best_seed: int
    rank: int


def held_out_score(metrics: Mapping[str, float]) -> tuple[str, float]:
    """The first available metric of :data:`HELD_OUT_SCORES`, signed so that larger is better."""
    for name, sign in HELD_OUT_SCORES:
        if name in metrics:
            return name, sign * float(metrics[name])
    raise ConfigError(
        f"a fit has none of the metrics {[name for name, _ in HELD_OUT_SCORES]} needed to rank models; "
        "hold out some units (--heldout-fraction) so that co-smoothing can be scored"
    )


def rank_grid(fits: Sequence[GridFit]) -> list[GridSummary]:
    """Summaries of every grid value, ordered best first (rank 1 = the value to choose).

    Scores that are NaN (not scorable) rank last. Grid values whose fits carry no states, or only one seed,
    get NaN variability and the same (middle) variability rank, so states never penalise a model without them.
    """
    if not fits:
        raise ConfigError("model selection needs at least one fitted grid point")
    summaries = []
    for value in sorted({fit.value for fit in fits}):
        group = [fit for fit in fits if fit.value == value]
        named_scores = [held_out_score(fit.metrics) for fit in group]
        scores = np.array([score for _, score in named_scores])
        finite = np.isfinite(scores)
        states = [fit.states for fit in group if fit.states is not None]
        variability = across_seed_state_variability(states) if len(states) >= 2 else float("nan")
        best = group[int(np.nanargmax(np.where(finite, scores, -np.inf)))] if finite.any() else group[0]
        summaries.append(
            GridSummary(
                value=value,
                score_name=named_scores[0][0],
                mean_score=float(scores[finite].mean()) if finite.any() else float("nan"),
                sd_score=float(scores[finite].std()) if finite.any() else float("nan"),
                state_variability=variability,
                best_seed=best.seed,
                rank=0,
            )
        )
    mean_scores = np.array([summary.mean_score for summary in summaries])
    variabilities = np.array([summary.state_variability for summary in summaries])
    score_ranks = rankdata(np.where(np.isfinite(mean_scores), -mean_scores, np.inf), method="min")
    variability_ranks = rankdata(
        np.where(np.isfinite(variabilities), variabilities, np.inf), method="average"
    )
    variability_ranks = np.where(np.isfinite(variabilities), variability_ranks, (len(summaries) + 1) / 2)
    order = sorted(
        range(len(summaries)), key=lambda i: (score_ranks[i] + variability_ranks[i], score_ranks[i])
    )
    return [summaries[i]._replace(rank=position + 1) for position, i in enumerate(order)]
