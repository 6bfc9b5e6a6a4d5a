"""``mock_<TypeName>`` factories: one small valid instance of every ``ndx-dyn`` type (keyword overrides win)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hdmf.common import VectorData

from nwb_dyn.ndx import (
    DiscreteStateSeries,
    DynamicsModel,
    FitProvenance,
    FixedPointTable,
    GeneratedSeries,
    LatentSeries,
    ModelParameter,
    RateSeries,
    StateProbabilitySeries,
    StateSegments,
)

_NUM_TIMES = 50
_RATE_HZ = 50.0


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def mock_LatentSeries(seed: int = 0, **overrides: Any) -> LatentSeries:
    """50 bins × 3 latents at 50 Hz, ``estimate="smoothed"``."""
    kwargs = {
        "name": "latents",
        "description": "mock latents",
        "data": _rng(seed).standard_normal((_NUM_TIMES, 3)).astype(np.float32),
        "estimate": "smoothed",
        "starting_time": 0.0,
        "rate": _RATE_HZ,
    }
    return LatentSeries(**{**kwargs, **overrides})


def mock_DiscreteStateSeries(seed: int = 0, **overrides: Any) -> DiscreteStateSeries:
    """50 bins of states in 0..2 at 50 Hz."""
    kwargs = {
        "name": "states",
        "description": "mock states",
        "data": _rng(seed).integers(0, 3, _NUM_TIMES).astype(np.int32),
        "num_states": 3,
        "starting_time": 0.0,
        "rate": _RATE_HZ,
    }
    return DiscreteStateSeries(**{**kwargs, **overrides})


def mock_StateProbabilitySeries(seed: int = 0, **overrides: Any) -> StateProbabilitySeries:
    """50 bins × 3 state probabilities (rows sum to one) at 50 Hz."""
    weights = _rng(seed).random((_NUM_TIMES, 3))
    kwargs = {
        "name": "state_probabilities",
        "description": "mock state probabilities",
        "data": (weights / weights.sum(1, keepdims=True)).astype(np.float32),
        "starting_time": 0.0,
        "rate": _RATE_HZ,
    }
    return StateProbabilitySeries(**{**kwargs, **overrides})


def mock_RateSeries(seed: int = 0, **overrides: Any) -> RateSeries:
    """50 bins × 4 channels of expected counts, channel ids 10..13, no units region."""
    kwargs = {
        "name": "rates",
        "description": "mock rates",
        "data": _rng(seed).gamma(2.0, 0.1, (_NUM_TIMES, 4)).astype(np.float32),
        "channel_ids": np.arange(10, 14, dtype=np.int64),
        "starting_time": 0.0,
        "rate": _RATE_HZ,
    }
    return RateSeries(**{**kwargs, **overrides})


def mock_GeneratedSeries(seed: int = 0, **overrides: Any) -> GeneratedSeries:
    """Two generated runs of 25 bins × 3 latents."""
    kwargs = {
        "name": "generated_latents",
        "description": "mock generated latents",
        "data": _rng(seed).standard_normal((_NUM_TIMES, 3)).astype(np.float32),
        "content": "latents",
        "num_runs": 2,
        "seed": seed,
        "conditioning": "free-running from the learned initial-state distribution",
        "starting_time": 0.0,
        "rate": _RATE_HZ,
    }
    return GeneratedSeries(**{**kwargs, **overrides})


def mock_StateSegments(seed: int = 0, **overrides: Any) -> StateSegments:
    """Five abutting segments of random states in trial 0."""
    segments = StateSegments(**{"name": "state_segments", "description": "mock segments", **overrides})
    for index, state in enumerate(_rng(seed).integers(0, 3, 5)):
        segments.add_interval(start_time=0.2 * index, stop_time=0.2 * (index + 1), state=int(state), trial=0)
    return segments


def mock_FixedPointTable(seed: int = 0, with_state: bool = True, **overrides: Any) -> FixedPointTable:
    """Three fixed points in 2-D, one a stable focus (complex pair), with states and unit-slope regions, laid out
    as the writer lays them out (:func:`nwb_dyn.results.containers.fixed_point_table`); ``overrides`` replace the
    table's name, description, kind or eigenvalue_reading."""
    from nwb_dyn.analysis.products import FixedPointSet
    from nwb_dyn.results.containers import fixed_point_table

    rng = _rng(seed)
    eigenvalues = np.array([[0.5 + 0.3j, 0.5 - 0.3j], [1.2, 0.4], [0.9, -0.2]])
    points = FixedPointSet(
        location=rng.standard_normal((3, 2)),
        stable=np.all(np.abs(eigenvalues) < 1, axis=1),
        eigenvalues=eigenvalues,
        state=np.arange(3, dtype=np.int64) % 2 if with_state else None,
        region=rng.integers(0, 2, (3, 4)).astype(np.int8),
    )
    table = fixed_point_table(points, "mock")
    columns = [VectorData(name=c.name, description=c.description, data=c.data) for c in table.columns]
    settings = {
        "name": "fixed_points",
        "description": "mock fixed points",
        "kind": table.kind,
        "eigenvalue_reading": table.eigenvalue_reading,
        **overrides,
    }
    return FixedPointTable(**settings, num_latents=table.num_latents, id=np.arange(3), columns=columns)


def mock_DynamicsModel(seed: int = 0, **overrides: Any) -> DynamicsModel:
    """A model with a matrix, a vector and a scalar (stored as one element) parameter."""
    rng = _rng(seed)
    parameters = [
        ModelParameter(name="m", data=rng.standard_normal((4, 2)).astype(np.float32)),
        ModelParameter(name="observation.readout.bias", data=rng.standard_normal(3).astype(np.float32)),
        ModelParameter(name="decay_logit", data=np.array([0.25], dtype=np.float32)),
    ]
    kwargs = {
        "name": "model",
        "family": "lowrank",
        "hyperparameters": '{"rank": 2, "num_units": 4, "num_channels": 3}',
        "training_summary": '{"epochs": 1}',
        "metrics": '{"val_loss": 1.5}',
        "model_parameters": parameters,
    }
    return DynamicsModel(**{**kwargs, **overrides})


def mock_FitProvenance(**overrides: Any) -> FitProvenance:
    """Provenance of a fit of a DANDI asset."""
    kwargs = {
        "name": "provenance",
        "source_kind": "dandi",
        "source_location": "dandiset:000140@0.220113.0408/sub-Jenkins/sub-Jenkins_ses-small_desc-test_ecephys.nwb",
        "dandiset_id": "000140",
        "dandiset_version": "0.220113.0408",
        "asset_path": "sub-Jenkins/sub-Jenkins_ses-small_desc-test_ecephys.nwb",
        "asset_id": "00000000-0000-0000-0000-000000000000",
        "sha256": "ca8a0bef5f189eafb9db1961d617e065cb461360718fde1c16a538922a6fa5fe",
        "versions": '{"nwb-dyn": "0.1.0"}',
        "config": '{"seed": 0}',
        "seed": 0,
        "command": "nwb-dyn fit dandiset:000140",
    }
    return FitProvenance(**{**kwargs, **overrides})
