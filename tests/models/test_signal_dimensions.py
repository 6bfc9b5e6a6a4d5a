"""The default low-rank rank (``lowrank.rank: auto``): parallel analysis reads the number of latent dimensions."""

from __future__ import annotations

import numpy as np
import pytest

from nwb_dyn.config import resolve_config
from nwb_dyn.errors import ConfigError
from nwb_dyn.models.initialisation import signal_dimensions


def _population(latent_dims: int, seed: int = 0, trials: int = 30, bins: int = 80, units: int = 25) -> np.ndarray:
    """Poisson counts (B, T, D) driven by ``latent_dims`` slow independent latents (0: constant rates)."""
    rng = np.random.default_rng(seed)
    time = np.arange(bins)[None, :, None]
    phases = rng.uniform(0, 2 * np.pi, size=(trials, 1, max(latent_dims, 1)))
    periods = 20.0 + 7.0 * np.arange(max(latent_dims, 1))
    latents = np.sin(2 * np.pi * time / periods + phases)[..., :latent_dims]
    readout = 0.4 * rng.standard_normal((latent_dims, units))  # mild: exp stays near linear, no extra dimensions
    log_rates = np.log(2.0) + (latents @ readout if latent_dims else 0.0)
    return rng.poisson(np.exp(np.broadcast_to(log_rates, (trials, bins, units)))).astype(np.float32)


@pytest.mark.parametrize("latent_dims", [1, 2, 4])
def test_parallel_analysis_counts_the_latent_dimensions(latent_dims: int) -> None:
    counts = _population(latent_dims)
    assert signal_dimensions(counts, np.ones(counts.shape, bool), smoothing_bins=2.0) == latent_dims


def test_independent_noise_has_one_dimension_the_minimum() -> None:
    counts = _population(0)
    assert signal_dimensions(counts, np.ones(counts.shape, bool), smoothing_bins=2.0) == 1


def test_rank_is_auto_by_default_and_takes_an_integer() -> None:
    assert resolve_config(None, {}).lowrank.rank == "auto"
    assert resolve_config(None, {"lowrank.rank": 4}).lowrank.rank == 4
    with pytest.raises(ConfigError, match="lowrank.rank"):
        resolve_config(None, {"lowrank.rank": "big"})
    with pytest.raises(ConfigError, match="lowrank.rank"):
        resolve_config(None, {"lowrank.rank": 0})


def test_cli_rank_takes_auto_or_an_integer(capsys: pytest.CaptureFixture[str]) -> None:
    from nwb_dyn.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["fit", "session.nwb", "--rank", "auto"]).rank == "auto"
    assert parser.parse_args(["fit", "session.nwb", "--rank", "5"]).rank == 5
    assert parser.parse_args(["fit", "session.nwb", "--rank", "0"]).rank == 0  # refused by the config, by key
    with pytest.raises(SystemExit):
        parser.parse_args(["fit", "session.nwb", "--rank", "many"])
    assert "positive integer or 'auto'" in capsys.readouterr().err
