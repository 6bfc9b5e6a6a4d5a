"""Model selection: ranking grid values by co-smoothing and across-seed state variability."""

from __future__ import annotations

import numpy as np
import pytest

from nwb_dyn.analysis.metrics.selection import GridFit, held_out_score, rank_grid
from nwb_dyn.errors import ConfigError


def test_ranks_by_mean_score_when_there_are_no_states() -> None:
    fits = [
        GridFit(value=2, seed=0, metrics={"val_co_bps": 0.10}),
        GridFit(value=2, seed=1, metrics={"val_co_bps": 0.20}),
        GridFit(value=3, seed=0, metrics={"val_co_bps": 0.30}),
        GridFit(value=3, seed=1, metrics={"val_co_bps": 0.25}),
        GridFit(value=4, seed=0, metrics={"val_co_bps": float("nan")}),
        GridFit(value=4, seed=1, metrics={"val_co_bps": float("nan")}),
    ]
    ranked = rank_grid(fits)
    assert [summary.value for summary in ranked] == [3, 2, 4]
    assert [summary.rank for summary in ranked] == [1, 2, 3]
    best = ranked[0]
    assert best.mean_score == pytest.approx(0.275) and best.sd_score == pytest.approx(0.025)
    assert best.best_seed == 0 and best.score_name == "val_co_bps" and np.isnan(best.state_variability)


def test_consistent_states_outweigh_a_slightly_better_score() -> None:
    segmentation = np.array([[0, 0, 1, 1, 2, 2]])
    relabelled = (segmentation + 1) % 3
    inconsistent = np.array([[0, 1, 0, 1, 0, 1]])
    fits = [
        GridFit(value=3, seed=0, metrics={"val_co_bps": 0.20}, states=segmentation),
        GridFit(value=3, seed=1, metrics={"val_co_bps": 0.20}, states=relabelled),
        GridFit(value=4, seed=0, metrics={"val_co_bps": 0.21}, states=segmentation),
        GridFit(value=4, seed=1, metrics={"val_co_bps": 0.21}, states=inconsistent),
        GridFit(value=5, seed=0, metrics={"val_co_bps": 0.10}, states=segmentation),
        GridFit(value=5, seed=1, metrics={"val_co_bps": 0.10}, states=segmentation),
    ]
    # Score ranks: K=4 -> 1, K=3 -> 2, K=5 -> 3; variability ranks: K=3 and K=5 share 1.5, K=4 -> 3.
    # Sums: K=3 3.5, K=4 4, K=5 4.5.
    ranked = rank_grid(fits)
    assert [summary.value for summary in ranked] == [3, 4, 5]
    assert ranked[0].state_variability == 0.0
    assert ranked[1].state_variability == pytest.approx(1 - 2 / 6)


def test_gaussian_fits_rank_by_negative_co_smoothing_mse() -> None:
    assert held_out_score({"val_co_mse": 0.5, "val_heldin_mse": 0.1}) == ("val_co_mse", -0.5)


@pytest.mark.parametrize(
    "metrics",
    [
        {"val_heldin_bps": 0.4, "val_trial_d_h": 0.1},  # no units held out
        {"train_co_bps": 0.2, "train_heldin_bps": 0.4},  # no validation windows: everything is in-sample
        {"val_heldin_mse": 0.3},
    ],
)
def test_in_sample_scores_never_rank_models(metrics: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=r"no held-out score .* in-sample .* --heldout-fraction F"):
        held_out_score(metrics)
    fits = [GridFit(value=value, seed=0, metrics=metrics) for value in (2, 3)]
    with pytest.raises(ConfigError, match="data.validation_fraction"):
        rank_grid(fits)
