"""The field's baselines and the scores that judge nwb-dyn against them (numpy/scipy only; GPFA needs elephant).

Everything here is independent of nwb-dyn's own code, so that the validity benchmark measures the package rather
than agreeing with itself. Arrays are trials × bins × channels (B, T, D); rates are expected counts per bin.

- Scores: Poisson negative log-likelihood, bits per spike and co-bps exactly as NLB's ``nlb_tools.evaluation``
  defines them (null model: each neuron's mean count over the scored data; zero rates floored at 1e-9), per-unit
  mean-rate correlation, state accuracy after Hungarian label matching, state occupancy, switches near an event
  against chance, and the oscillation period of sampled trajectories.
- Spike smoothing + Poisson GLM (NLB's smoothing baseline): Gaussian-smoothed held-in spikes, log(· + 1e-4), a
  Poisson GLM per held-out unit with an L2 penalty as scikit-learn's ``PoissonRegressor`` (mean deviance / 2 +
  α/2 ‖w‖²); kernel width and α chosen by cross-validation over training trials only.
- GPFA (Yu et al. 2009, elephant's implementation) with NLB's readout: ridge from latents to held-in spikes
  (rectified), then a Poisson GLM from those rates to the held-out units.
- K-state HMMs fitted by EM (Baum–Welch, log-space forward–backward) over trials: Poisson counts per channel,
  or a diagonal Gaussian per state for continuous signals.

Import from tests or scripts with ``sys.path`` pointing at ``benchmarks/``.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.signal.windows import gaussian
from scipy.special import gammaln, logsumexp

#: NLB replaces zero predicted rates by this floor before taking logs.
ZERO_RATE_FLOOR = 1e-9
#: NLB adds this before taking the log of smoothed spikes.
LOG_OFFSET = 1e-4
#: Exponent cap of the GLM's log link (e^20 spikes per bin is already absurd; avoids overflow mid-search).
MAX_LOG_RATE = 20.0


# ---------------------------------------------------------------------------------------------------- scores


def neg_log_likelihood(rates: np.ndarray, counts: np.ndarray) -> float:
    """Σ (λ − y log λ + log y!) over bins whose count is not NaN (NLB's definition; zero rates → 1e-9).

    rates, counts: same shape, any (typically (B, T, D)).
    """
    rates = np.asarray(rates, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    if rates.shape != counts.shape:
        raise ValueError(f"rates {rates.shape} and counts {counts.shape} differ in shape")
    observed = ~np.isnan(counts)
    rates, counts = rates[observed].copy(), counts[observed]
    if np.any(np.isnan(rates)) or np.any(rates < 0):
        raise ValueError("rates must be non-negative and not NaN where a count is observed")
    rates[rates == 0] = ZERO_RATE_FLOOR
    return float(np.sum(rates - counts * np.log(rates) + gammaln(counts + 1.0)))


def bits_per_spike(rates: np.ndarray, counts: np.ndarray) -> float:
    """(NLL(null) − NLL(rates)) / (Σ y · ln 2); null: each channel's mean count over the given trials and bins.

    rates, counts: (B, T, D). 0 for the null model itself, > 0 when the rates predict better than it.
    """
    counts = np.asarray(counts, dtype=np.float64)
    null = np.broadcast_to(
        np.nanmean(counts, axis=tuple(range(counts.ndim - 1)), keepdims=True), counts.shape
    )
    gain = neg_log_likelihood(null, counts) - neg_log_likelihood(rates, counts)
    return float(gain / np.nansum(counts) / np.log(2.0))


def co_bps(rates: np.ndarray, counts: np.ndarray, held_out: np.ndarray) -> float:
    """Bits per spike of the held-out channels (``held_out``: (D,) bool) on the evaluation trials given."""
    held_out = np.asarray(held_out, dtype=bool)
    return bits_per_spike(np.asarray(rates)[..., held_out], np.asarray(counts)[..., held_out])


def mean_rate_correlation(rates: np.ndarray, counts: np.ndarray) -> float:
    """Pearson r over channels between each channel's predicted and observed mean count per bin (B, T, D)."""
    predicted = np.nanmean(np.asarray(rates, dtype=np.float64), axis=(0, 1))
    observed = np.nanmean(np.asarray(counts, dtype=np.float64), axis=(0, 1))
    return float(np.corrcoef(predicted, observed)[0, 1])


def matched_state_accuracy(true_states: np.ndarray, found_states: np.ndarray) -> float:
    """Fraction of bins whose found state equals the true one after the best one-to-one relabelling (Hungarian).

    true_states, found_states: int arrays of the same shape. Found labels left without a partner (more found
    states than true ones) count as errors.
    """
    true_states = np.asarray(true_states).reshape(-1)
    found_states = np.asarray(found_states).reshape(-1)
    if true_states.shape != found_states.shape:
        raise ValueError(f"true states {true_states.shape} and found states {found_states.shape} differ")
    return float(np.mean(_relabelled(true_states, found_states) == true_states))


def switch_lags(true_states: np.ndarray, found_states: np.ndarray) -> tuple[np.ndarray, float]:
    """How late (or early) found states switch: per true switch, found switch bin − true switch bin for the nearest
    found switch in the same trial (positive: the found state changes later), and the fraction of mismatched bins
    (after the best relabelling) that lie between a true switch and that nearest found switch.

    true_states, found_states: (B, T) int. A trial with true switches but no found switch contributes no lag; its
    mismatched bins count as outside every lag interval.
    """
    true_states = np.asarray(true_states)
    found_states = np.asarray(found_states)
    relabelled = _relabelled(true_states, found_states)
    lags: list[int] = []
    # bins between a true switch and its nearest found switch
    in_lag = np.zeros(true_states.shape, dtype=bool)
    for trial, (truth, found) in enumerate(zip(true_states, relabelled)):
        found_switches = np.flatnonzero(np.diff(found) != 0)
        for switch in np.flatnonzero(np.diff(truth) != 0):
            if found_switches.size == 0:
                continue
            nearest = int(found_switches[np.argmin(np.abs(found_switches - switch))])
            lags.append(nearest - int(switch))
            low, high = sorted((int(switch), nearest))
            in_lag[trial, low + 1 : high + 1] = True
    mismatched = relabelled != true_states
    share = float((mismatched & in_lag).sum() / mismatched.sum()) if mismatched.any() else 0.0
    return np.asarray(lags, dtype=np.int64), share


def _relabelled(true_states: np.ndarray, found_states: np.ndarray) -> np.ndarray:
    """found_states mapped onto the true labels by the best one-to-one matching of bins (Hungarian); found labels
    left without a partner become −1 (true labels are ≥ 0)."""
    true_labels, true_index = np.unique(true_states.reshape(-1), return_inverse=True)
    found_labels, found_index = np.unique(found_states.reshape(-1), return_inverse=True)
    agreement = np.zeros((len(true_labels), len(found_labels)))
    np.add.at(agreement, (true_index, found_index), 1)
    rows, columns = linear_sum_assignment(agreement, maximize=True)
    mapping = np.full(len(found_labels), -1, dtype=np.int64)
    mapping[columns] = true_labels[rows]
    return mapping[found_index].reshape(found_states.shape)


def state_occupancy(states: np.ndarray, num_states: int) -> np.ndarray:
    """(K,) fraction of bins spent in each state 0..K−1."""
    states = np.asarray(states).reshape(-1)
    return np.bincount(states, minlength=num_states)[:num_states] / len(states)


def switch_times_s(states: np.ndarray, bin_width_s: float) -> list[np.ndarray]:
    """Per trial, the times (s from window start) of the bin edges where the state changes; states: (B, T)."""
    states = np.asarray(states)
    return [
        np.flatnonzero(np.diff(row) != 0).astype(np.float64) * bin_width_s + bin_width_s for row in states
    ]


def fraction_with_switch_near(
    states: np.ndarray, event_s: np.ndarray, bin_width_s: float, tolerance_s: float
) -> float:
    """Fraction of trials with a state switch within ±``tolerance_s`` of the trial's event.

    states: (B, T) int; event_s: (B,) event times in seconds from each window's start.
    """
    switches = switch_times_s(states, bin_width_s)
    near = [
        bool(np.any(np.abs(times - event) <= tolerance_s + 1e-9)) for times, event in zip(switches, event_s)
    ]
    return float(np.mean(near))


def chance_switch_fraction(
    states: np.ndarray, bin_width_s: float, tolerance_s: float, seed: int, draws: int = 500
) -> float:
    """:func:`fraction_with_switch_near` for an event at a uniformly random time in each window (mean over draws)."""
    states = np.asarray(states)
    rng = np.random.default_rng(seed)
    window_s = states.shape[1] * bin_width_s
    switches = switch_times_s(states, bin_width_s)
    events = rng.uniform(0.0, window_s, size=(draws, len(switches)))
    hits = [
        np.any(np.abs(times[None, :] - events[:, trial, None]) <= tolerance_s + 1e-9, axis=1)
        for trial, times in enumerate(switches)
    ]
    return float(np.mean(np.stack(hits, axis=1)))


def roughness(trajectories: np.ndarray) -> float:
    """Scale-free noise level of trajectories (B, T, D): std of one-step differences / std of the values."""
    trajectories = np.asarray(trajectories, dtype=np.float64)
    steps = np.diff(trajectories, axis=1)
    return float(steps.std() / trajectories.std())


def summary_statistics(values: list[float]) -> dict[str, float]:
    """mean, std (population), min, max and n of a list of numbers (NaNs kept out and counted)."""
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    if not len(finite):
        return {
            "mean": math.nan,
            "std": math.nan,
            "min": math.nan,
            "max": math.nan,
            "n": 0,
            "n_nan": len(array),
        }
    return {
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "n": len(finite),
        "n_nan": int(len(array) - len(finite)),
    }


# ---------------------------------------------------------------------------------------------------- smoothing + GLM


def gaussian_smooth(counts: np.ndarray, sd_s: float, bin_width_s: float) -> np.ndarray:
    """Counts (B, T, D) convolved along time with NLB's kernel: a normalised Gaussian of ``6·sd`` taps, mode 'same'.

    Like NLB (``np.convolve(x, window, 'same')``) the trial edges are zero-padded, not renormalised.
    """
    sd_bins = sd_s / bin_width_s
    window = gaussian(max(int(6 * sd_bins), 1), sd_bins, sym=True)
    window /= window.sum()
    counts = np.asarray(counts, dtype=np.float64)
    return np.apply_along_axis(lambda series: np.convolve(series, window, "same"), 1, counts)


@dataclass(frozen=True)
class PoissonGLM:
    """Log-link Poisson GLM: rates = exp(X @ weights + bias); weights (P, Q), bias (Q,) for Q outputs."""

    weights: np.ndarray
    bias: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        """features (N, P) → rates (N, Q)."""
        return np.exp(np.minimum(features @ self.weights + self.bias, MAX_LOG_RATE))


def fit_poisson_glm(
    features: np.ndarray, counts: np.ndarray, alpha: float, max_iter: int = 100
) -> PoissonGLM:
    """Fit one Poisson GLM per output column, as scikit-learn's ``PoissonRegressor(alpha)`` does.

    Minimises, per output q, mean_n (μ_nq − y_nq η_nq) + α/2 ‖w_q‖² (= half the mean deviance plus the L2 penalty;
    the intercept is not penalised) by Newton's method with step halving (the objective is convex), stopping when
    the Newton decrement is below 1e-10. features: (N, P); counts: (N, Q).
    """
    features = np.asarray(features, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    num_samples, num_features = features.shape
    design = np.hstack([features, np.ones((num_samples, 1))])
    penalty = np.full(num_features + 1, alpha)
    penalty[-1] = 0.0
    jitter = 1e-10 * np.eye(
        num_features + 1
    )  # keeps the Hessian invertible for collinear, unpenalised inputs

    def objective(coefficients: np.ndarray, target: np.ndarray) -> float:
        log_rates = np.minimum(design @ coefficients, MAX_LOG_RATE)
        return float(
            np.mean(np.exp(log_rates) - target * log_rates) + 0.5 * np.sum(penalty * coefficients**2)
        )

    solutions = []
    for target in counts.T:
        coefficients = np.zeros(num_features + 1)
        coefficients[-1] = np.log(max(target.mean(), ZERO_RATE_FLOOR))
        value = objective(coefficients, target)
        for _ in range(max_iter):
            rates = np.exp(np.minimum(design @ coefficients, MAX_LOG_RATE))
            gradient = design.T @ (rates - target) / num_samples + penalty * coefficients
            hessian = (design * rates[:, None]).T @ design / num_samples + np.diag(penalty) + jitter
            step = np.linalg.solve(hessian, gradient)
            decrement = float(gradient @ step)
            if decrement < 1e-10:
                break
            size = 1.0
            while size > 1e-8:
                candidate = coefficients - size * step
                candidate_value = objective(candidate, target)
                if candidate_value <= value - 1e-4 * size * decrement:
                    break
                size /= 2
            coefficients, value = candidate, candidate_value
        solutions.append(coefficients)
    stacked = np.stack(solutions, axis=1)
    return PoissonGLM(stacked[:-1], stacked[-1])


def _flat(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1, array.shape[-1])


@dataclass(frozen=True)
class BaselinePrediction:
    """A baseline's rates on the evaluation trials and what it chose.

    heldin_rates: (B_eval, T, D_in); heldout_rates: (B_eval, T, D_out); choice: the hyper-parameters used;
    fit_s: wall time of choosing and fitting.
    """

    heldin_rates: np.ndarray
    heldout_rates: np.ndarray
    choice: dict[str, float]
    fit_s: float


def smoothing_glm_rates(
    train_heldin: np.ndarray,
    train_heldout: np.ndarray,
    eval_heldin: np.ndarray,
    sd_s: float,
    alpha: float,
    bin_width_s: float,
) -> np.ndarray:
    """Held-out rates (B_eval, T, D_out) of the smoothing baseline for one kernel SD and GLM penalty."""
    train_features = np.log(_flat(gaussian_smooth(train_heldin, sd_s, bin_width_s)) + LOG_OFFSET)
    eval_features = np.log(_flat(gaussian_smooth(eval_heldin, sd_s, bin_width_s)) + LOG_OFFSET)
    glm = fit_poisson_glm(train_features, _flat(train_heldout), alpha)
    rates = np.clip(glm.predict(eval_features), ZERO_RATE_FLOOR, 1e20)
    return rates.reshape(eval_heldin.shape[0], eval_heldin.shape[1], -1)


#: Kernel SDs (seconds) and weights that :func:`smoothed_spike_rates_baseline` chooses from.
HELD_IN_SMOOTHING_SDS_S = (0.02, 0.04, 0.08, 0.16)
HELD_IN_SMOOTHING_WEIGHTS = (0.0, 0.25, 0.5, 0.75)


@dataclass(frozen=True)
class HeldInSmoothing:
    """Rates (B_eval, T, D) of the held-in smoothing baseline and what was chosen on the training windows."""

    rates: np.ndarray
    sd_s: float
    smoothing_weight: float
    window_weight: float


def smoothed_spike_rates_baseline(
    train_counts: np.ndarray, eval_counts: np.ndarray, bin_width_s: float
) -> HeldInSmoothing:
    """Rates of every unit from its own spikes in the *other* bins of the same window:
    a · (Gaussian-smoothed counts, the bin itself left out of the kernel) + b · (its mean count over the window's
    other bins) + (1 − a − b) · (its mean count over the training windows).

    The kernel SD (of the kernels no longer than a window) and a, b are chosen by bits/spike on the training windows
    (B_train, T, D); the rates are those of the evaluation windows (B_eval, T, D). Leaving the bin out keeps the
    baseline from predicting a spike from itself (with it, the narrowest kernel wins and scores bits a model cannot
    earn); the window's mean follows slow drifts of the rate, as a model that reads the window does; the training
    mean keeps the rate above 0 where a sparse unit has no other spike in the window.
    """
    training_mean = np.nanmean(train_counts, axis=(0, 1))
    window_s = train_counts.shape[1] * bin_width_s
    sds = [sd for sd in HELD_IN_SMOOTHING_SDS_S if 6 * sd <= window_s]  # kernels no longer than a window
    mixtures = [(a, b) for a in HELD_IN_SMOOTHING_WEIGHTS for b in HELD_IN_SMOOTHING_WEIGHTS if a + b < 1]

    def rates_of(counts: np.ndarray, sd_s: float, a: float, b: float) -> np.ndarray:
        smoothed = leave_bin_out_smooth(counts, sd_s, bin_width_s)
        return a * smoothed + b * leave_bin_out_window_mean(counts) + (1 - a - b) * training_mean

    scored = [
        (bits_per_spike(rates_of(train_counts, sd_s, a, b), train_counts), sd_s, a, b)
        for sd_s in sds
        for a, b in mixtures
    ]
    _, sd_s, a, b = max(scored, key=lambda entry: entry[0])
    return HeldInSmoothing(rates_of(eval_counts, sd_s, a, b), sd_s, a, b)


def leave_bin_out_window_mean(counts: np.ndarray) -> np.ndarray:
    """(B, T, D): each bin's unit's mean count over the other T − 1 bins of its window."""
    counts = np.asarray(counts, dtype=np.float64)
    return (counts.sum(axis=1, keepdims=True) - counts) / max(counts.shape[1] - 1, 1)


def leave_bin_out_smooth(counts: np.ndarray, sd_s: float, bin_width_s: float) -> np.ndarray:
    """Counts (B, T, D) convolved along time with a normalised Gaussian (odd length, about 6·sd) whose centre tap
    is 0: each bin's value is the weighted mean of its neighbours' counts (edges zero-padded)."""
    sd_bins = sd_s / bin_width_s
    half = max(int(3 * sd_bins), 1)
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sd_bins) ** 2)
    taps[half] = 0.0
    taps /= taps.sum()
    counts = np.asarray(counts, dtype=np.float64)
    return np.apply_along_axis(lambda series: np.convolve(series, taps, "same"), 1, counts)


def trial_folds(num_trials: int, num_folds: int, seed: int) -> list[np.ndarray]:
    """A seeded partition of trial indices into ``num_folds`` folds."""
    return [
        np.sort(fold)
        for fold in np.array_split(np.random.default_rng(seed).permutation(num_trials), num_folds)
    ]


def smoothing_glm_baseline(
    train_heldin: np.ndarray,
    train_heldout: np.ndarray,
    eval_heldin: np.ndarray,
    bin_width_s: float,
    sds_s: tuple[float, ...] = (0.03, 0.045, 0.06, 0.08),
    alphas: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0),
    num_folds: int = 3,
    seed: int = 0,
) -> BaselinePrediction:
    """NLB's spike smoothing + Poisson GLM with (sd, α) chosen by ``num_folds``-fold CV over training trials only.

    The grids are NLB's sweep (kernel SD 30–60 ms, α 10⁻³–1) moved up by one step each (SD to 80 ms, α to 10),
    since MC_Maze_Small's training trials choose the top of NLB's grid (60 ms, α = 1) at 20 ms bins. The evaluation trials' held-out spikes are never
    read. Returns the evaluation trials' held-in rates (the smoothed spikes, as NLB outputs them) and held-out rates.
    """
    started = time.perf_counter()
    folds = trial_folds(len(train_heldin), num_folds, seed)
    scores = {}
    for sd_s in sds_s:
        for alpha in alphas:
            fold_scores = []
            for fold in folds:
                inner = np.setdiff1d(np.arange(len(train_heldin)), fold)
                rates = smoothing_glm_rates(
                    train_heldin[inner], train_heldout[inner], train_heldin[fold], sd_s, alpha, bin_width_s
                )
                fold_scores.append(bits_per_spike(rates, train_heldout[fold]))
            scores[(sd_s, alpha)] = float(np.mean(fold_scores))
    sd_s, alpha = max(scores, key=scores.get)
    heldout_rates = smoothing_glm_rates(train_heldin, train_heldout, eval_heldin, sd_s, alpha, bin_width_s)
    heldin_rates = gaussian_smooth(eval_heldin, sd_s, bin_width_s)
    return BaselinePrediction(
        heldin_rates=heldin_rates,
        heldout_rates=heldout_rates,
        choice={"kernel_sd_s": sd_s, "alpha": alpha, "cv_co_bps": scores[(sd_s, alpha)]},
        fit_s=time.perf_counter() - started,
    )


# ---------------------------------------------------------------------------------------------------- GPFA


def ridge_fit_predict(
    features: np.ndarray, targets: np.ndarray, alpha: float, new_features: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression with an unpenalised intercept (scikit-learn's ``Ridge(alpha)``: ‖y − Xw‖² + α‖w‖²).

    features (N, P), targets (N, Q); returns predictions for ``features`` and for ``new_features`` (M, P).
    """
    feature_mean, target_mean = features.mean(axis=0), targets.mean(axis=0)
    centred = features - feature_mean
    gram = centred.T @ centred + alpha * np.eye(features.shape[1])
    weights = np.linalg.solve(gram, centred.T @ (targets - target_mean))
    predict = lambda x: (x - feature_mean) @ weights + target_mean
    return predict(features), predict(new_features)


def _spike_trains(counts: np.ndarray, bin_width_s: float) -> list[list]:
    """(B, T, D) counts → per trial, per channel neo.SpikeTrains, each spike at its bin's centre.

    (NLB puts them at the bin's start, which elephant's re-binning then "corrects" into the next bin for float
    round-off; the centre bins them back exactly.)
    """
    import neo
    import quantities as pq

    trials = []
    for trial in counts:
        stop = trial.shape[0] * bin_width_s
        trains = []
        for channel in trial.T:
            times = (np.repeat(np.arange(len(channel)), channel.astype(int)) + 0.5) * bin_width_s
            trains.append(neo.SpikeTrain(times * pq.s, t_stop=stop * pq.s))
        trials.append(trains)
    return trials


def gpfa_baseline(
    train_heldin: np.ndarray,
    train_heldout: np.ndarray,
    eval_heldin: np.ndarray,
    bin_width_s: float,
    latent_dim: int = 18,
    alpha_heldin: float = 0.01,
    alphas_heldout: tuple[float, ...] = (0.0, 1e-3, 1e-2, 1e-1, 1.0),
    num_folds: int = 3,
    seed: int = 0,
    em_max_iters: int = 500,
) -> BaselinePrediction:
    """GPFA (elephant) on the training trials' held-in spikes, with NLB's readout.

    NLB's MC_Maze_Small setting: 18 latents; ridge (α 0.01) from latents to held-in spikes, rectified at 1e-10;
    then a Poisson GLM from those held-in rates to the held-out units. NLB fixes that GLM's α at 0, which relies
    on scikit-learn's iteration cap as a hidden regulariser (the exact unpenalised optimum extrapolates to absurd
    rates on new trials), so here its α is chosen from ``alphas_heldout`` by ``num_folds``-fold CV over training
    trials. Nothing reads the evaluation trials' held-out spikes. Needs ``pip install nwb-dyn[bench]``.
    """
    import quantities as pq
    from elephant.gpfa import GPFA

    started = time.perf_counter()
    gpfa = GPFA(bin_size=bin_width_s * pq.s, x_dim=latent_dim, em_max_iters=em_max_iters, verbose=False)
    # elephant prints progress on stdout, where JSON goes; neo/quantities warn about their own deprecations.
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        train_latents = gpfa.fit_transform(_spike_trains(train_heldin, bin_width_s))
        eval_latents = gpfa.transform(_spike_trains(eval_heldin, bin_width_s))
    train_factors = np.vstack([latents.T for latents in train_latents])
    eval_factors = np.vstack([latents.T for latents in eval_latents])
    # NLB fits the held-in readout on training and evaluation trials together (both trials' held-in spikes are input).
    features = np.vstack([train_factors, eval_factors])
    targets = np.vstack([_flat(train_heldin), _flat(eval_heldin)])
    _, heldin_all = ridge_fit_predict(features, targets, alpha_heldin, features)
    heldin_all = np.maximum(heldin_all, 1e-10)
    num_bins = train_heldin.shape[1]
    train_rates = heldin_all[: len(train_factors)].reshape(len(train_heldin), num_bins, -1)
    eval_rates = heldin_all[len(train_factors) :].reshape(len(eval_heldin), num_bins, -1)
    scores = {}
    for alpha in alphas_heldout:
        fold_scores = []
        for fold in trial_folds(len(train_heldin), num_folds, seed):
            inner = np.setdiff1d(np.arange(len(train_heldin)), fold)
            glm = fit_poisson_glm(_flat(train_rates[inner]), _flat(train_heldout[inner]), alpha)
            predicted = np.clip(glm.predict(_flat(train_rates[fold])), ZERO_RATE_FLOOR, 1e20)
            fold_scores.append(
                bits_per_spike(predicted.reshape(train_heldout[fold].shape), train_heldout[fold])
            )
        scores[alpha] = float(np.mean(fold_scores))
    alpha_heldout = max(scores, key=scores.get)
    glm = fit_poisson_glm(_flat(train_rates), _flat(train_heldout), alpha_heldout)
    eval_heldout_rates = np.clip(glm.predict(_flat(eval_rates)), ZERO_RATE_FLOOR, 1e20)
    return BaselinePrediction(
        heldin_rates=eval_rates,
        heldout_rates=eval_heldout_rates.reshape(len(eval_heldin), num_bins, -1),
        choice={
            "latent_dim": latent_dim,
            "alpha_heldin": alpha_heldin,
            "alpha_heldout": alpha_heldout,
            "cv_co_bps": scores[alpha_heldout],
        },
        fit_s=time.perf_counter() - started,
    )


# ---------------------------------------------------------------------------------------------------- HMMs


class _HMM:
    """Posterior and most likely states of a fitted HMM; subclasses define ``initial`` (K,), ``transition`` (K, K),
    ``log_likelihood`` (of the data it was fitted to) and ``log_emissions`` (B, T, D) → (B, T, K)."""

    initial: np.ndarray
    transition: np.ndarray
    log_likelihood: float

    def log_emissions(self, observations: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def posterior(self, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Forward–backward: state marginals (B, T, K), pair marginals summed over time (B, K, K), log p(y)."""
        return _forward_backward(
            self.initial, self.transition, self.log_emissions(np.asarray(observations, float))
        )

    def most_likely_states(self, observations: np.ndarray) -> np.ndarray:
        """(B, T) argmax of each bin's posterior state probability."""
        return self.posterior(observations)[0].argmax(axis=-1)


@dataclass(frozen=True)
class PoissonHMM(_HMM):
    """A fitted K-state Poisson HMM: initial (K,), transition (K, K) rows sum to 1, rates (K, D) counts per bin."""

    initial: np.ndarray
    transition: np.ndarray
    rates: np.ndarray
    log_likelihood: float

    def log_emissions(self, counts: np.ndarray) -> np.ndarray:
        """counts (B, T, D) → log p(y_t | state k): (B, T, K)."""
        log_rates = np.log(self.rates)
        return (
            counts @ log_rates.T - self.rates.sum(axis=1) - gammaln(counts + 1.0).sum(axis=-1, keepdims=True)
        )


@dataclass(frozen=True)
class GaussianHMM(_HMM):
    """A fitted K-state HMM with diagonal-Gaussian observations: initial (K,), transition (K, K), means and
    variances (K, D)."""

    initial: np.ndarray
    transition: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    log_likelihood: float

    def log_emissions(self, values: np.ndarray) -> np.ndarray:
        """values (B, T, D) → log p(y_t | state k): (B, T, K)."""
        deviations = values[..., None, :] - self.means  # (B, T, K, D)
        return -0.5 * (deviations**2 / self.variances + np.log(2 * np.pi * self.variances)).sum(axis=-1)


def _forward_backward(
    initial: np.ndarray, transition: np.ndarray, log_emissions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Log-space forward–backward over B sequences at once; log_emissions (B, T, K)."""
    num_trials, num_bins, num_states = log_emissions.shape
    log_transition = np.log(transition)
    alpha = np.empty_like(log_emissions)
    alpha[:, 0] = np.log(initial) + log_emissions[:, 0]
    for t in range(1, num_bins):
        alpha[:, t] = logsumexp(alpha[:, t - 1, :, None] + log_transition, axis=1) + log_emissions[:, t]
    beta = np.zeros_like(log_emissions)
    for t in range(num_bins - 2, -1, -1):
        beta[:, t] = logsumexp(
            log_transition + (log_emissions[:, t + 1] + beta[:, t + 1])[:, None, :], axis=2
        )
    log_evidence = logsumexp(alpha[:, -1], axis=1)
    marginals = np.exp(alpha + beta - log_evidence[:, None, None])
    pairs = np.zeros((num_trials, num_states, num_states))
    for t in range(num_bins - 1):
        log_pair = (
            alpha[:, t, :, None] + log_transition + (log_emissions[:, t + 1] + beta[:, t + 1])[:, None, :]
        ) - log_evidence[:, None, None]
        pairs += np.exp(log_pair)
    return marginals, pairs, float(log_evidence.sum())


def _kmeans_centres(
    observations: np.ndarray,
    num_states: int,
    rng: np.random.Generator,
    start_offset: float = 0.0,
    iterations: int = 20,
) -> np.ndarray:
    """Initial state means (K, D): k-means (Lloyd) of the bins (B, T, D), from a random choice of K bins plus
    ``start_offset`` (counts: 0.1, so that no start is all zeros)."""
    bins = _flat(observations)
    centres = bins[rng.choice(len(bins), size=num_states, replace=False)] + start_offset
    for _ in range(iterations):
        labels = ((bins[:, None, :] - centres[None]) ** 2).sum(-1).argmin(axis=1)
        centres = np.stack(
            [bins[labels == k].mean(axis=0) if np.any(labels == k) else centres[k] for k in range(num_states)]
        )
    return centres


@dataclass(frozen=True)
class EmSettings:
    """Baum–Welch settings: ``restarts`` starts (the best final log-likelihood wins), at most ``max_iterations`` EM
    steps each until the log-likelihood gains less than ``tolerance`` of itself, and a sticky start transition
    matrix with ``stay_probability`` on the diagonal."""

    restarts: int = 3
    max_iterations: int = 200
    tolerance: float = 1e-6
    stay_probability: float = 0.9


Model = TypeVar("Model", bound=_HMM)


def _baum_welch(
    observations: np.ndarray,
    num_states: int,
    seed: int,
    settings: EmSettings,
    start: Callable[[np.random.Generator], dict[str, np.ndarray]],
    build: Callable[..., Model],
    maximise: Callable[[np.ndarray], dict[str, np.ndarray]],
) -> Model:
    """EM over trials for a K-state HMM fitted to observations (B, T, D).

    ``start(rng)`` gives a restart's emission parameters, ``maximise(marginals)`` the M step's, and
    ``build(initial, transition, log_likelihood, **emission)`` the model.
    """
    rng = np.random.default_rng(seed)
    best: Model | None = None
    stay = settings.stay_probability
    off = (1.0 - stay) / max(num_states - 1, 1)
    for _ in range(settings.restarts):
        initial = np.full(num_states, 1.0 / num_states)
        transition = np.full((num_states, num_states), off) + np.eye(num_states) * (stay - off)
        model = build(initial, transition, -math.inf, **start(rng))
        previous = -math.inf
        for _ in range(settings.max_iterations):
            marginals, pairs, log_likelihood = model.posterior(observations)
            transition = pairs.sum(axis=0) + 1e-12
            transition /= transition.sum(axis=1, keepdims=True)
            initial = marginals[:, 0].mean(axis=0) + 1e-12
            model = build(initial / initial.sum(), transition, log_likelihood, **maximise(marginals))
            if log_likelihood - previous < settings.tolerance * abs(log_likelihood):
                break
            previous = log_likelihood
        if best is None or model.log_likelihood > best.log_likelihood:
            best = model
    assert best is not None
    return best


def _weighted_means(marginals: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-state means (K, D) of values (B, T, D) under state marginals (B, T, K)."""
    occupancy = marginals.sum(axis=(0, 1))
    return np.einsum("btk,btd->kd", marginals, values) / np.maximum(occupancy, 1e-12)[:, None]


def fit_poisson_hmm(
    counts: np.ndarray, num_states: int, seed: int = 0, settings: EmSettings = EmSettings()
) -> PoissonHMM:
    """Baum–Welch EM for a K-state HMM with independent Poisson counts per channel; counts (B, T, D).

    Restarts start from k-means rates; rates are floored at 1e-6 counts per bin so a silent channel in one state
    stays finite.
    """
    counts = np.asarray(counts, dtype=np.float64)
    return _baum_welch(
        counts,
        num_states,
        seed,
        settings,
        start=lambda rng: {
            "rates": np.maximum(_kmeans_centres(counts, num_states, rng, start_offset=0.1), 1e-3)
        },
        build=lambda initial, transition, log_likelihood, rates: PoissonHMM(
            initial, transition, rates, log_likelihood
        ),
        maximise=lambda marginals: {"rates": np.maximum(_weighted_means(marginals, counts), 1e-6)},
    )


def fit_gaussian_hmm(
    values: np.ndarray, num_states: int, seed: int = 0, settings: EmSettings = EmSettings()
) -> GaussianHMM:
    """Baum–Welch EM for a K-state HMM with a diagonal Gaussian per state; values (B, T, D) (continuous signals).

    Restarts start from k-means means and the pooled variance; variances are floored at 1e-4 of each channel's.
    """
    values = np.asarray(values, dtype=np.float64)
    variance = _flat(values).var(axis=0)
    floor = 1e-4 * variance

    def maximise(marginals: np.ndarray) -> dict[str, np.ndarray]:
        means = _weighted_means(marginals, values)
        squared = np.einsum("btk,btkd->kd", marginals, (values[..., None, :] - means) ** 2)
        variances = squared / np.maximum(marginals.sum(axis=(0, 1)), 1e-12)[:, None]
        return {"means": means, "variances": np.maximum(variances, floor)}

    return _baum_welch(
        values,
        num_states,
        seed,
        settings,
        start=lambda rng: {
            "means": _kmeans_centres(values, num_states, rng),
            "variances": np.tile(np.maximum(variance, floor), (num_states, 1)),
        },
        build=lambda initial, transition, log_likelihood, means, variances: GaussianHMM(
            initial, transition, means, variances, log_likelihood
        ),
        maximise=maximise,
    )
