"""Small synthetic fits (``NeuralData`` + ``ModelProducts`` + ``FitRecord``) to exercise the results writer/reader."""

from __future__ import annotations

import datetime

import numpy as np

from nwb_dyn.analysis.products import FixedPointSet, GeneratedSamples, ModelProducts
from nwb_dyn.extract import NeuralData, SessionInfo
from nwb_dyn.results.writer import FitRecord

SPIKE_GRID_S = 0.001


def mock_neural_data(
    num_windows: int = 4,
    num_bins: int = 20,
    num_channels: int = 5,
    bin_width_s: float = 0.02,
    contiguous: bool = False,
    seed: int = 0,
) -> NeuralData:
    """Poisson counts in ``num_windows`` windows listed in *reverse* time order (writers must sort them).

    Windows are 1 s apart (gaps between them) unless ``contiguous``, when they abut. The session has a subject
    without age or sex, a trials table with one condition column, and units (ids 10, 11, ...) whose spike times
    lie on a 1 ms grid and carry no resolution. values/mask: (B, T, D); bin_start_s: (B, T).
    """
    rng = np.random.default_rng(seed)
    window_span = num_bins * bin_width_s
    starts = np.arange(num_windows) * (window_span if contiguous else window_span + 1.0)
    starts = starts[::-1].copy()
    bin_start_s = starts[:, None] + np.arange(num_bins)[None, :] * bin_width_s
    unit_ids = np.arange(10, 10 + num_channels, dtype=np.int64)
    session_end = float(starts.max() + window_span)
    spike_times = [
        np.unique(np.round(rng.uniform(0.0, session_end, 40) / SPIKE_GRID_S) * SPIKE_GRID_S) for _ in unit_ids
    ]
    session = SessionInfo(
        identifier="mock-session",
        session_description="synthetic session for results tests",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        session_id="mock",
        institution="nowhere",
        lab="none",
        experimenter=["Doe, Jane"],
        subject={"subject_id": "M1", "species": "Mus musculus"},
        trials={
            "start_time": np.sort(starts),
            "stop_time": np.sort(starts) + window_span,
            "condition": np.array([f"c{index % 2}" for index in range(num_windows)]),
        },
        trial_column_descriptions={"condition": "Task condition."},
        units_ids=unit_ids,
        units_spike_times=spike_times,
    )
    return NeuralData(
        values=rng.poisson(1.0, (num_windows, num_bins, num_channels)).astype(np.float32),
        mask=np.ones((num_windows, num_bins, num_channels), dtype=bool),
        bin_start_s=bin_start_s,
        bin_width_s=bin_width_s,
        trial_ids=np.arange(num_windows, dtype=np.int64)[::-1].copy(),
        window_intervals_s=np.stack([starts, starts + window_span], axis=1),
        channel_ids=unit_ids,
        observation="counts",
        data_path="units",
        split=np.array(["train", "val"] * (num_windows // 2) + ["train"] * (num_windows % 2)),
        held_out=np.zeros(num_channels, dtype=bool),
        session=session,
    )


def _sticky_states(rng: np.random.Generator, shape: tuple[int, int], num_states: int) -> np.ndarray:
    """(B, T) states that mostly stay put, so segments span several bins."""
    states = np.zeros(shape, dtype=np.int64)
    states[:, 0] = rng.integers(0, num_states, shape[0])
    for step in range(1, shape[1]):
        switch = rng.random(shape[0]) < 0.2
        states[:, step] = np.where(switch, rng.integers(0, num_states, shape[0]), states[:, step - 1])
    return states


def mock_model_products(
    data: NeuralData, rank: int = 2, num_states: int | None = 3, num_units: int = 6, seed: int = 0
) -> ModelProducts:
    """Random but well-formed products for ``data``: latents, rates, states (if ``num_states``), fixed points, samples.

    The weights are random arrays shaped like a model's; they are for storage tests, not for rebuilding.
    """
    rng = np.random.default_rng(seed)
    shape = (data.num_windows, data.num_bins)
    states = probabilities = None
    if num_states is not None:
        states = _sticky_states(rng, shape, num_states)
        logits = rng.standard_normal((*shape, num_states))
        logits[np.arange(shape[0])[:, None], np.arange(shape[1])[None, :], states] += 5.0
        probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    # enough generated runs that time (runs × T) outnumbers channels, as nwbinspector's orientation check wants
    runs = max(2, -(-data.num_channels // data.num_bins) + 1)
    eigenvalues = rng.standard_normal((3, rank)) + 1j * rng.standard_normal((3, rank))
    return ModelProducts(
        family="lowrank",
        latents=rng.standard_normal((*shape, rank)),
        latent_estimate="smoothed",
        rates=rng.gamma(2.0, 0.5, (*shape, data.num_channels)),
        weights={
            "m": rng.standard_normal((num_units, rank)).astype(np.float32),
            "decay_logit": np.asarray(0.3, dtype=np.float32),
        },
        hyperparameters={"rank": rank, "num_units": num_units, "num_channels": data.num_channels},
        states=states,
        state_probabilities=probabilities,
        samples=GeneratedSamples(
            latents=rng.standard_normal((runs, data.num_bins, rank)),
            observations=rng.poisson(1.0, (runs, data.num_bins, data.num_channels)).astype(np.float64),
            seed=seed,
        ),
        fixed_points=FixedPointSet(
            location=rng.standard_normal((3, rank)),
            stable=np.abs(eigenvalues).max(1) < 1,
            eigenvalues=eigenvalues,
            state=np.array([0, 1, 1]) if num_states is not None else None,
            region=rng.integers(0, 2, (3, num_units)).astype(np.int8),
        ),
        metrics={"co_bps": 0.12},
    )


def mock_fit_record(seed: int = 0) -> FitRecord:
    """Provenance of a fit of a local file."""
    return FitRecord(
        source={
            "kind": "local",
            "location": "/data/sub-M1_ses-mock_ecephys.nwb",
            "sha256": "ab" * 32,
            "etag": None,
        },
        config={"model": "lowrank", "seed": seed, "data": {"bin_width_s": 0.02}},
        seed=seed,
        versions={"nwb-dyn": "0.1.0", "pynwb": "4.2.0"},
        command="nwb-dyn fit /data/sub-M1_ses-mock_ecephys.nwb --model lowrank",
        training_summary={"epochs": 2, "global_steps": 4},
    )
