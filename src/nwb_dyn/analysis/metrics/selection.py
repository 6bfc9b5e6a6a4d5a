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

#: Stored metrics that score held-out prediction (co-smoothing of held-out units on validation windows), best
#: first, with the sign that makes larger better. In-sample scores (``*_heldin_*``, anything ``train_*``) are never
#: used: they grow with model size whether or not the model generalises.
HELD_OUT_SCORES: tuple[tuple[str, float], ...] = (
    ("val_co_bps", 1.0),
    ("val_co_mse", -1.0),
)

#: How to get a held-out score, for the message that refuses to rank without one.
HOW_TO_HOLD_OUT = (
    "hold units out with --heldout-fraction F (select's default is 0.2) or a boolean 'heldout' column in the "
    "units table, and keep validation windows (config key data.validation_fraction > 0, or a 'split' column in "
    "the trials table)"
)


class GridFit(NamedTuple):
    """One fitted grid point: the grid value (K or R), its seed, its metrics, and its states (B, T) or None."""

    value: int
    seed: int
    metrics: Mapping[str, float]
    states: np.ndarray | None = None


class GridSummary(NamedTuple):
    """One grid value over its seeds.

    score_name: the metric used (``val_co_bps`` or ``val_co_mse``); mean_score / sd_score: its mean and SD over seeds, signed so
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
    """The first available metric of :data:`HELD_OUT_SCORES`, signed so that larger is better.

    Raises ConfigError, saying how to hold data out, when the fit has only in-sample scores: ranking by them would
    favour the biggest model.
    """
    for name, sign in HELD_OUT_SCORES:
        if name in metrics:
            return name, sign * float(metrics[name])
    in_sample = sorted(name for name in metrics if "heldin" in name or name.startswith("train_"))
    raise ConfigError(
        f"a fit has no held-out score ({' or '.join(name for name, _ in HELD_OUT_SCORES)}) to rank models by"
        + (f"; its {', '.join(in_sample)} are in-sample and would favour the biggest model" if in_sample else "")
        + f". To rank models, {HOW_TO_HOLD_OUT}"
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
