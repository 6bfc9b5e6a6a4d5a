"""The quality line printed at the end of every fit and stored in its result: is this fit any good?

A fit is judged against the simplest model a scientist would accept as a floor — a constant rate per unit (spike
counts) or a constant mean per channel (signals) — on the validation windows when there are any (else on the
training windows, and the line says so). It also reports co-smoothing when units are held out, how well per-unit
mean rates are matched, how many discrete states a switching model uses, and whether training converged. Every
problem found is spelled out with what to try.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nwb_dyn.analysis.metrics.nlb import bits_per_spike
from nwb_dyn.analysis.products import ModelProducts
from nwb_dyn.extract import NeuralData

#: A state used in fewer than this fraction of bins counts as empty.
MIN_STATE_OCCUPANCY = 0.05
#: Said of every spike-count fit without held-out units: held-in scores cannot tell shared dynamics from reading each
#: bin; co-bps on held-out units can.
IN_SAMPLE_CAVEAT = (
    "held-in scores are in-sample (the posterior has read the bins it predicts, so a model can score them without "
    "finding shared structure); for an out-of-sample check hold out units with --heldout-fraction 0.25 (co-bps)"
)
#: Below this fraction of its noise ceiling (:func:`mean_rate_noise_ceiling`), the correlation over channels of
#: predicted and observed mean activity flags the fit's mean rates.
MIN_MEAN_RATE_R = 0.9
#: Below this noise ceiling the units' mean rates are too alike for their correlation to judge a fit: not flagged.
MIN_INFORMATIVE_CEILING = 0.5


@dataclass
class FitQuality:
    """What the quality line says, as numbers.

    split: "validation" or "training" (the windows scored); heldin_bps: bits per spike of the held-in units over a
    constant rate per unit (counts; > 0 beats it); heldin_r2: variance of held-in channels explained (signals);
    co_bps: bits per spike of held-out units (None when none are held out); mean_rate_r: correlation over channels
    of predicted and observed mean activity, and mean_rate_r_ceiling the correlation the true rates would reach
    given the counts' Poisson noise (near 1 when units' mean rates differ, low when they are all alike);
    state_occupancy: fraction of bins in each state (switching models);
    stop_reason: why training ended; problems: plain-language findings with what to try; caveats: what the
    numbers cannot show, with how to check it.
    """

    split: str
    heldin_bps: float | None = None
    heldin_r2: float | None = None
    co_bps: float | None = None
    mean_rate_r: float | None = None
    mean_rate_r_ceiling: float | None = None
    state_occupancy: list[float] | None = None
    stop_reason: str | None = None
    problems: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line: the scores, then the problems (or "no problems found")."""
        parts = [f"on {self.split} windows"]
        if self.heldin_bps is not None:
            parts.append(f"held-in {self.heldin_bps:+.3f} bits/spike over a constant rate")
        if self.heldin_r2 is not None:
            parts.append(f"held-in R² {self.heldin_r2:.3f}")
        if self.co_bps is not None:
            parts.append(f"co-bps {self.co_bps:+.3f}")
        if self.mean_rate_r is not None:
            ceiling = self.mean_rate_r_ceiling
            parts.append(
                f"mean-rate r {self.mean_rate_r:.3f}"
                + (f" (the true rates: ≈ {ceiling:.2f} here)" if ceiling is not None and ceiling < 0.95 else "")
            )
        if self.state_occupancy is not None:
            used = sum(share >= MIN_STATE_OCCUPANCY for share in self.state_occupancy)
            shares = "/".join(f"{100 * share:.0f}" for share in self.state_occupancy)
            parts.append(f"states used {used} of {len(self.state_occupancy)} ({shares} % of bins)")
        if self.stop_reason == "converged":
            parts.append("converged")
        elif self.stop_reason == "diverged":
            parts.append("DIVERGED")
        elif self.stop_reason is not None:
            parts.append(f"NOT converged (stopped by {self.stop_reason})")
        verdict = "; ".join(self.problems) if self.problems else "no problems found"
        caveats = "".join(f". Note: {caveat}" for caveat in self.caveats)
        return "nwb-dyn: fit quality: " + ", ".join(parts) + ". " + verdict + caveats

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict, with the line itself under ``"line"``."""
        return {**asdict(self), "line": self.line()}


def assess_fit(data: NeuralData, products: ModelProducts, stop_reason: str | None = None) -> FitQuality:
    """Score a fit's rates (B, T, D) and states (B, T) against ``data`` (see the module docstring)."""
    rows = data.split_indices("val")
    split = "validation"
    if rows.size == 0:
        rows, split = np.arange(data.num_windows), "training"
    observed = data.mask[rows]
    values = np.where(observed, data.values[rows], np.nan).astype(np.float64)
    rates = np.where(observed, products.rates[rows], np.nan).astype(np.float64)
    held_in = ~data.held_out
    quality = FitQuality(split=split, stop_reason=stop_reason)
    if data.observation == "counts":  # (z-scored signals have the same mean on every channel: no mean-rate r)
        quality.heldin_bps = _finite_or_none(bits_per_spike(values[..., held_in], rates[..., held_in]))
        if data.held_out.any():
            quality.co_bps = _finite_or_none(bits_per_spike(values[..., data.held_out], rates[..., data.held_out]))
        quality.mean_rate_r = _mean_rate_correlation(values, rates)
        quality.mean_rate_r_ceiling = mean_rate_noise_ceiling(values)
    else:
        residual = np.nanmean((values[..., held_in] - rates[..., held_in]) ** 2)
        spread = np.nanmean((values[..., held_in] - np.nanmean(values[..., held_in], axis=(0, 1))) ** 2)
        quality.heldin_r2 = _finite_or_none(1.0 - residual / spread) if spread > 0 else None
    if products.states is not None and products.state_probabilities is not None:
        num_states = products.state_probabilities.shape[-1]
        counts = np.bincount(products.states.reshape(-1), minlength=num_states)
        quality.state_occupancy = [float(share) for share in counts / max(1, counts.sum())]
    quality.problems = _problems(quality, data)
    if data.observation == "counts" and not data.held_out.any():
        quality.caveats.append(IN_SAMPLE_CAVEAT)
    return quality


def _mean_rate_correlation(values: np.ndarray, rates: np.ndarray) -> float | None:
    """Pearson r over channels between observed and predicted mean counts per bin (values, rates (B, T, D))."""
    observed_means = np.nanmean(values, axis=(0, 1))
    predicted_means = np.nanmean(rates, axis=(0, 1))
    usable = np.isfinite(observed_means) & np.isfinite(predicted_means)
    if usable.sum() < 3 or np.std(observed_means[usable]) == 0 or np.std(predicted_means[usable]) == 0:
        return None
    return float(np.corrcoef(observed_means[usable], predicted_means[usable])[0, 1])


def mean_rate_noise_ceiling(counts: np.ndarray) -> float | None:
    """The correlation over units that observed mean counts (B, T, D; NaN where unobserved) would reach with the true
    mean rates, given Poisson noise alone: sqrt(1 − noise variance / variance of the observed means over units).

    Each unit's mean over its n observed bins has sampling variance mean / n (Poisson); when every unit fires at
    about the same rate, those few-percent differences are noise and no model, the true one included, correlates
    well with them. None when it cannot be computed (fewer than 3 units, or all means equal).
    """
    observed_bins = np.isfinite(counts).sum(axis=(0, 1))
    means = np.nanmean(counts, axis=(0, 1))
    usable = (observed_bins > 0) & np.isfinite(means)
    if usable.sum() < 3:
        return None
    spread = float(np.var(means[usable]))
    if spread <= 0:
        return None
    noise = float(np.mean(means[usable] / observed_bins[usable]))
    return float(np.sqrt(max(0.0, 1.0 - noise / spread)))


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _problems(quality: FitQuality, data: NeuralData) -> list[str]:
    """Plain-language findings, each with what to try."""
    problems = []
    if quality.heldin_bps is not None and quality.heldin_bps <= 0:
        problems.append(
            "WORSE THAN A CONSTANT RATE per unit on held-in units: the model has not learned the data; check the "
            "stop reason, try a wider --bin-width, more --particles (low-rank) or a larger --latent-dim / --rank"
        )
    if quality.heldin_r2 is not None and quality.heldin_r2 <= 0:
        problems.append(
            "WORSE THAN A CONSTANT MEAN per channel: the model has not learned the signals; check the stop reason "
            "and that the series is the one you meant (--series)"
        )
    if quality.co_bps is not None and quality.co_bps <= 0:
        problems.append(
            "held-out units are predicted no better than a constant rate (co-bps <= 0): the latents do not carry "
            "what the held-in units share with them; try a larger --rank / --latent-dim"
        )
    ceiling = 1.0 if quality.mean_rate_r_ceiling is None else quality.mean_rate_r_ceiling
    if (
        quality.mean_rate_r is not None
        and ceiling >= MIN_INFORMATIVE_CEILING
        and quality.mean_rate_r < MIN_MEAN_RATE_R * ceiling
    ):
        loose = (
            "predicted mean activity matches the observed only loosely across channels "
            f"(r = {quality.mean_rate_r:.2f})"
        )
        if quality.stop_reason in (None, "converged"):
            problems.append(
                f"{loose}, although training converged: look at each unit's rates (`nwb-dyn report`); on few "
                "validation windows part of this is sampling noise, else try a larger --rank / --latent-dim"
            )
        elif quality.stop_reason == "diverged":
            problems.append(loose)
        else:
            problems.append(f"{loose}; the readout offsets have not settled: train longer (--max-steps)")
    if quality.state_occupancy is not None:
        empty = [k for k, share in enumerate(quality.state_occupancy) if share < MIN_STATE_OCCUPANCY]
        if empty:
            problems.append(
                f"state(s) {', '.join(map(str, empty))} hold fewer than {MIN_STATE_OCCUPANCY:.0%} of bins: the data "
                f"support fewer states; try --states {len(quality.state_occupancy) - len(empty)}, or compare K with "
                "`nwb-dyn select`"
            )
    if quality.stop_reason == "diverged":
        problems.append(
            "TRAINING DIVERGED: its objective ended worse than at the first check, so the steps made it worse; "
            "refit with a lower --learning-rate (the rate halves on plateaus, but it started too high for these data)"
        )
    elif quality.stop_reason not in (None, "converged"):
        problems.append(
            f"training stopped at its {quality.stop_reason} cap before converging; raise it (--max-steps, "
            "trainer.max_time_s) or resume the run to continue"
        )
    if quality.split == "training":
        problems.append("scored on the training windows (no validation windows): these numbers are in-sample")
    return problems
