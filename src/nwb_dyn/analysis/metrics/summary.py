"""One call that turns what a fit produced into every metric that applies to it, as a flat name -> float dict.

The training code calls :func:`evaluate_arrays` on the validation split at the end of every fit (the dict is stored
in the output NWB) and ``nwb-dyn evaluate`` calls it again on arrays read back from an output file. A metric is
present only when its inputs are: no held-out units, no co-bps; no conditions, no PSTH R²; and so on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

import numpy as np

from nwb_dyn.analysis.metrics._validation import (
    as_batch_time_channel,
    require_channel_mask,
    require_same_shape,
    row_chunks,
)
from nwb_dyn.analysis.metrics.attractor import (
    BINNING_MAX_DIMENSIONS,
    GMM_MAX_ROWS,
    power_spectrum_hellinger,
    state_space_divergence,
)
from nwb_dyn.analysis.metrics.decoding import cross_validated_decoding_r2, decoding_r2
from nwb_dyn.analysis.metrics.nlb import bits_per_spike, co_bps, fp_bps, psth_r2
from nwb_dyn.analysis.metrics.prediction import k_step_prediction_mse, mean_squared_error
from nwb_dyn.analysis.metrics.spike_stats import compare_spike_statistics
from nwb_dyn.analysis.metrics.states import match_states
from nwb_dyn.errors import ConfigError

#: Fewest evaluation trials for cross-validated decoding: 5 outer folds whose complements still split into 5 folds.
MIN_TRIALS_TO_CROSS_VALIDATE = 10


class DecoderTraining(NamedTuple):
    """Training-split arrays for the behaviour decoders: rates (B_tr, T, D), targets (B_tr, T, P), latents (B_tr, T, R).

    Given, the decoders are fitted on these trials and scored on the evaluation trials (NLB's protocol); omitted,
    they are cross-validated over the evaluation trials alone.
    """

    rates: np.ndarray
    targets: np.ndarray
    latents: np.ndarray | None = None


def evaluate_arrays(
    counts: np.ndarray,
    rates: np.ndarray,
    held_out_units: np.ndarray | None = None,
    *,
    observed_mask: np.ndarray | None = None,
    observation: Literal["poisson", "gaussian"] = "poisson",
    bin_width_s: float | None = None,
    conditions: np.ndarray | None = None,
    psth_smoothing_sd_bins: float = 0.0,
    psth_counts: np.ndarray | None = None,
    psth_conditions: np.ndarray | None = None,
    forward_counts: np.ndarray | None = None,
    forward_rates: np.ndarray | None = None,
    latents: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    decoder_training: DecoderTraining | None = None,
    reference_states: np.ndarray | None = None,
    estimated_states: np.ndarray | None = None,
    generated: np.ndarray | None = None,
    forecasts: Mapping[int, np.ndarray] | None = None,
) -> dict[str, float]:
    """Every applicable metric of one fit's evaluation trials, by name.

    Inputs (B trials, T bins, D channels):
      counts (B, T, D) observed data (spike counts, or signals when ``observation="gaussian"``);
      rates (B, T, D) the model's prediction of them (expected counts per bin, or emission means);
      held_out_units (D,) bool, channels hidden from the model's input (co-smoothing);
      observed_mask (B, T, D) bool, False for bins that were not recorded (e.g. outside a unit's obs_intervals):
        they are left out of every likelihood, R² and MSE, and trials holding any are left out of the comparisons
        with ``generated`` (D_stsp, D_H, spike statistics need whole trajectories);
      bin_width_s, seconds per bin (spike statistics in Hz and s);
      conditions (B,) ints, trial conditions (negative = none) for PSTH R²; psth_smoothing_sd_bins, NLB's spike
        smoothing before the PSTH (``kern_sd`` in bins; 0 = none); psth_counts (B', T, D) and psth_conditions (B',),
        the trials the empirical PSTH averages (NLB: every trial, training ones included; None = these trials);
      forward_counts, forward_rates (B, T_fp, D), the bins after the observed window (forward prediction);
      latents (B, T, R) inferred latents; targets (B, T, P) behaviour to decode from rates and latents;
      decoder_training: training-split arrays to fit the decoders on (None = 5-fold cross-validation over trials);
      reference_states, estimated_states (B, T) ints, true/event labels (negative = none) and the model's states;
      generated (B', T', D) data sampled freely from the model, compared with ``counts``;
      forecasts {k: (B, T, D)} k-step-ahead predictions of ``counts`` (NaN where none).
    Keys: ``co_bps`` / ``heldin_bps`` (Poisson) or ``co_mse`` / ``heldin_mse`` (Gaussian), ``fp_bps`` /
    ``fp_mse``, ``psth_r2``, ``behaviour_r2_rates``, ``behaviour_r2_latents``, ``state_accuracy``,
    ``state_balanced_accuracy`` (after Hungarian label matching: a model's state labels are arbitrary),
    ``trial_d_stsp``, ``trial_d_h`` (see :func:`trial_attractor_metrics`: not the papers' long-run D_stsp / D_H),
    ``spike_<statistic>`` (Poisson, with ``bin_width_s``; see
    :func:`~nwb_dyn.analysis.metrics.spike_stats.compare_spike_statistics`) and ``k_step_mse_<k>``. A metric whose
    inputs cannot score it (e.g. co-bps without held-out spikes) is NaN.
    """
    if observation not in ("poisson", "gaussian"):
        raise ConfigError(f"observation must be 'poisson' or 'gaussian'; got {observation!r}")
    # float32 inputs stay float32 (the likelihoods and errors accumulate in float64 themselves): a whole session
    # at short bins is GBs per (B, T, D) copy
    observed = as_batch_time_channel(counts, "counts", keep_float_dtype=True)
    predicted = as_batch_time_channel(rates, "rates", keep_float_dtype=True)
    require_same_shape(observed, predicted, "counts", "rates")
    if observed_mask is not None:
        mask = np.asarray(observed_mask)
        if mask.dtype != np.bool_:
            raise ConfigError(f"observed_mask must be boolean (True = recorded bin); got dtype {mask.dtype}")
        require_same_shape(observed, mask, "counts", "observed_mask")
        observed = np.where(mask, observed, np.nan)
    metrics: dict[str, float] = {}
    metrics.update(_smoothing_metrics(observed, predicted, held_out_units, observation))
    if forward_counts is not None and forward_rates is not None:
        metrics["fp_bps" if observation == "poisson" else "fp_mse"] = (
            fp_bps(forward_counts, forward_rates)
            if observation == "poisson"
            else mean_squared_error(forward_counts, forward_rates)
        )
    if conditions is not None:
        metrics["psth_r2"] = psth_r2(
            observed, predicted, conditions, psth_smoothing_sd_bins, psth_counts, psth_conditions
        )
    if targets is not None:
        metrics.update(_behaviour_metrics(predicted, latents, targets, decoder_training))
    if reference_states is not None and estimated_states is not None:
        metrics.update(_state_metrics(reference_states, estimated_states))
    complete_trials = None
    if generated is not None:
        complete = np.all(np.isfinite(observed), axis=(1, 2))
        complete_trials = observed if complete.all() else observed[complete]
    if complete_trials is not None and complete_trials.shape[0] > 0:
        metrics.update(trial_attractor_metrics(complete_trials, generated))
        if observation == "poisson" and bin_width_s is not None:
            spike_metrics = compare_spike_statistics(generated, complete_trials, bin_width_s)
            metrics.update({f"spike_{name}": value for name, value in spike_metrics.items()})
    if forecasts:
        metrics.update(
            {f"k_step_mse_{k}": value for k, value in k_step_prediction_mse(observed, forecasts).items()}
        )
    return metrics


def trial_attractor_metrics(recorded: np.ndarray, generated: np.ndarray) -> dict[str, float]:
    """``trial_d_stsp`` and ``trial_d_h``: the D_stsp and D_H estimators on window-length samples, not the papers'.

    recorded (B, T, D) whole recorded windows; generated (S, T', D) samples the model generated for the length of a
    window, each started from its learned initial state as a trial starts (no burn-in). Both sides get the same
    preprocessing: z-scored with the recorded windows' per-channel mean and SD (the scale on which the estimators'
    σ = 1 and binning are defined). The papers' D_stsp / D_H (Hess et al. 2023; Pals et al. 2024, EEG) compare one
    long free-running run, burn-in dropped, with a long stationary recording (``benchmarks/eeg.py``); a few short
    trials from the initial state measure something else, so these carry other names: compare them only between
    fits of the same data. D_H's frequency smoothing follows :func:`spectral_smoothing_sd_bins`.
    """
    recorded = as_batch_time_channel(recorded, "recorded", keep_float_dtype=True)
    generated = as_batch_time_channel(generated, "generated")
    count, sums, squares = 0, np.zeros(recorded.shape[-1]), np.zeros(recorded.shape[-1])
    for rows in row_chunks(recorded):  # the recorded windows' moments in float64, a few windows at a time
        chunk = recorded[rows].astype(np.float64)
        count += chunk.shape[0] * chunk.shape[1]
        sums += chunk.sum(axis=(0, 1))
        squares += (chunk**2).sum(axis=(0, 1))
    mean = sums / max(count, 1)
    spread = np.sqrt(np.clip(squares / max(count, 1) - mean**2, 0.0, None))
    spread = np.where(spread > 1e-12, spread, 1.0)
    # The mixture estimate reads only the first GMM_MAX_ROWS steps of each side: z-score only those windows.
    if recorded.shape[-1] > BINNING_MAX_DIMENSIONS:
        recorded_for_stsp = recorded[: -(-GMM_MAX_ROWS // max(recorded.shape[1], 1))]
    else:
        recorded_for_stsp = recorded
    zscored_recorded = (recorded_for_stsp.astype(np.float64) - mean) / spread
    zscored_generated = (generated - mean) / spread
    common_steps = min(recorded.shape[1], generated.shape[1])
    return {
        "trial_d_stsp": state_space_divergence(zscored_recorded, zscored_generated),
        # every trajectory's spectrum is z-scored by itself, so D_H reads the recorded windows as they are
        "trial_d_h": power_spectrum_hellinger(
            recorded, generated, smoothing_sd_bins=spectral_smoothing_sd_bins(common_steps)
        ),
    }


def spectral_smoothing_sd_bins(n_time_steps: int) -> float:
    """Frequency smoothing for D_H: the reference 20 bins, but at most a tenth of the spectrum's length.

    The reference σ = 20 was set for trajectories of thousands of steps; on trials of a few dozen bins it would
    flatten every spectrum (D_H ≈ 0 for any model), so short data get a kernel proportional to their spectrum.
    """
    return min(20.0, (n_time_steps // 2 + 1) / 10.0)


def _smoothing_metrics(
    observed: np.ndarray, predicted: np.ndarray, held_out_units: np.ndarray | None, observation: str
) -> dict[str, float]:
    """Fit quality on held-in channels and, when some are held out, co-smoothing on the held-out ones."""
    held_out = (
        np.zeros(observed.shape[-1], dtype=bool)
        if held_out_units is None
        else require_channel_mask(held_out_units, observed.shape[-1], "held_out_units")
    )
    scores: dict[str, float] = {}
    if observation == "poisson":
        if held_out.any():
            scores["co_bps"] = co_bps(observed, predicted, held_out)
        if held_out.all():
            return scores
        if held_out.any():
            observed, predicted = observed[..., ~held_out], predicted[..., ~held_out]
        scores["heldin_bps"] = bits_per_spike(observed, predicted)  # (no copy when every channel is held in)
    else:
        if held_out.any():
            scores["co_mse"] = mean_squared_error(observed, predicted, held_out)
        if (~held_out).any():
            scores["heldin_mse"] = mean_squared_error(observed, predicted, ~held_out)
    return scores


def _behaviour_metrics(
    rates: np.ndarray, latents: np.ndarray | None, targets: np.ndarray, training: DecoderTraining | None
) -> dict[str, float]:
    """Behaviour R² decoded from rates (B, T, D) and latents (B, T, R): trained on ``training``, or cross-validated.

    Without a training split, fewer than :data:`MIN_TRIALS_TO_CROSS_VALIDATE` trials cannot be cross-validated
    (5 outer folds, each fitted with 5 inner folds), and the decoding metrics are left out.
    """
    if training is None:
        if rates.shape[0] < MIN_TRIALS_TO_CROSS_VALIDATE:
            return {}
        scores = {"behaviour_r2_rates": cross_validated_decoding_r2(rates, targets)}
        if latents is not None:
            scores["behaviour_r2_latents"] = cross_validated_decoding_r2(latents, targets)
        return scores
    scores = {"behaviour_r2_rates": decoding_r2(training.rates, training.targets, rates, targets)}
    if latents is not None and training.latents is not None:
        scores["behaviour_r2_latents"] = decoding_r2(training.latents, training.targets, latents, targets)
    return scores


def _state_metrics(reference_states: np.ndarray, estimated_states: np.ndarray) -> dict[str, float]:
    """State accuracies after Hungarian label matching (a fitted model numbers its states arbitrarily, so comparing
    labels as they are would score the luck of the numbering, not the segmentation)."""
    matched = match_states(reference_states, estimated_states, matching="hungarian")
    return {"state_accuracy": matched.accuracy, "state_balanced_accuracy": matched.balanced_accuracy}
