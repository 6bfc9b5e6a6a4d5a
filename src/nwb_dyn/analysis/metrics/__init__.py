"""Evaluation metrics of fitted dynamics models, as pure numpy/scipy functions over (B, T, D) arrays.

Modules, one family each: ``nlb`` (co-bps, fp-bps, PSTH R², NLB's definitions), ``decoding`` (behaviour / velocity
R², NLB's decoder), ``attractor`` (D_stsp, D_H), ``states`` (discrete-state accuracy after label matching, switch
timing), ``prediction`` (reconstruction and k-step-ahead MSE), ``spike_stats`` (rates, ISIs, pairwise correlations
of generated spikes), ``summary`` (:func:`evaluate_arrays`, every applicable metric of one fit at once) and
``selection`` (ranking a grid of fits by held-out scores only).
Nothing here imports torch or writes files.
"""

from nwb_dyn.analysis.metrics.attractor import (
    normalised_power_spectra,
    power_spectrum_hellinger,
    state_space_divergence,
    state_space_kl_binned,
    state_space_kl_gmm,
)
from nwb_dyn.analysis.metrics.decoding import cross_validated_decoding_r2, decoding_r2
from nwb_dyn.analysis.metrics.nlb import (
    bits_per_spike,
    co_bps,
    condition_averages,
    fp_bps,
    poisson_negative_log_likelihood,
    psth_baseline_rates,
    psth_r2,
    smooth_counts,
)
from nwb_dyn.analysis.metrics.prediction import k_step_prediction_mse, mean_squared_error
from nwb_dyn.analysis.metrics.regression import RidgeFit, fit_ridge, r2_per_output, r2_uniform_average
from nwb_dyn.analysis.metrics.selection import GridFit, GridSummary, rank_grid
from nwb_dyn.analysis.metrics.spike_stats import (
    IsiStatistics,
    compare_spike_statistics,
    isi_statistics,
    mean_rates_hz,
    pairwise_correlations,
)
from nwb_dyn.analysis.metrics.states import (
    StateMatch,
    SwitchLags,
    across_seed_state_variability,
    epoch_labels_from_events,
    match_states,
    switch_lags,
)
from nwb_dyn.analysis.metrics.summary import DecoderTraining, evaluate_arrays, trial_attractor_metrics

__all__ = [
    "DecoderTraining",
    "GridFit",
    "GridSummary",
    "IsiStatistics",
    "RidgeFit",
    "StateMatch",
    "SwitchLags",
    "across_seed_state_variability",
    "bits_per_spike",
    "co_bps",
    "compare_spike_statistics",
    "condition_averages",
    "cross_validated_decoding_r2",
    "decoding_r2",
    "epoch_labels_from_events",
    "evaluate_arrays",
    "fit_ridge",
    "fp_bps",
    "isi_statistics",
    "k_step_prediction_mse",
    "match_states",
    "mean_rates_hz",
    "mean_squared_error",
    "normalised_power_spectra",
    "pairwise_correlations",
    "poisson_negative_log_likelihood",
    "power_spectrum_hellinger",
    "psth_baseline_rates",
    "psth_r2",
    "r2_per_output",
    "r2_uniform_average",
    "rank_grid",
    "smooth_counts",
    "state_space_divergence",
    "state_space_kl_binned",
    "state_space_kl_gmm",
    "switch_lags",
    "trial_attractor_metrics",
]
