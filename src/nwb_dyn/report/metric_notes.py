"""What each stored metric means, which way is better, and why a metric is missing: the report's metrics table.

Metrics are stored as ``<split>_<name>`` (``val_co_bps``: scored on the validation windows; ``train_`` when the fit
had none, so the numbers are in-sample). Names the table does not know are still listed, with no explanation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

HIGHER = "higher is better"
LOWER = "lower is better"


@dataclass(frozen=True)
class MetricNote:
    """meaning: one sentence; better: :data:`HIGHER`, :data:`LOWER` or "" (a count, not a score);
    missing: why the metric would be absent or n/a."""

    meaning: str
    better: str
    missing: str


#: Metric name (without its split prefix) → note. ``k_step_mse_<k>`` and ``spike_<statistic>`` match by pattern.
NOTES: dict[str, MetricNote] = {
    "heldin_bps": MetricNote(
        "Bits per spike of the modelled units' spikes under the model's rates, over a constant rate per unit; "
        "> 0 means the model predicts spikes better than each unit's mean rate.",
        HIGHER,
        "the data were not spike counts",
    ),
    "co_bps": MetricNote(
        "Co-smoothing: bits per spike of held-out units predicted from the held-in ones (NLB's main score).",
        HIGHER,
        "no units were held out; fit with --heldout-fraction 0.2 (for example) to score it",
    ),
    "heldin_mse": MetricNote(
        "Mean squared error of the modelled channels' predicted means.", LOWER, "the data were spike counts"
    ),
    "co_mse": MetricNote(
        "Mean squared error of held-out channels predicted from the held-in ones.",
        LOWER,
        "no channels were held out; fit with --heldout-fraction to score it",
    ),
    "fp_bps": MetricNote(
        "Forward prediction: bits per spike of the bins after each window, forecast by the model.",
        HIGHER,
        "the model family has no forecast, or no recorded bins follow the windows",
    ),
    "fp_mse": MetricNote(
        "Forward prediction: squared error of the bins after each window, forecast by the model.",
        LOWER,
        "the model family has no forecast, or no recorded bins follow the windows",
    ),
    "psth_r2": MetricNote(
        "R² of the model's condition-averaged rates (PSTHs) against the smoothed data's.",
        HIGHER,
        "the trials table has no condition column to average over",
    ),
    "behaviour_r2_rates": MetricNote(
        "R² of behaviour decoded linearly from the model's rates (trained on training windows).",
        HIGHER,
        "no behaviour targets were given (--targets)",
    ),
    "behaviour_r2_latents": MetricNote(
        "R² of behaviour decoded linearly from the latents.",
        HIGHER,
        "no behaviour targets were given (--targets)",
    ),
    "state_accuracy": MetricNote(
        "Fraction of bins whose state matches reference labels, after the best relabelling of the states.",
        HIGHER,
        "no reference states: run nwb-dyn evaluate RESULT --labels events:COLUMN",
    ),
    "state_balanced_accuracy": MetricNote(
        "State accuracy averaged over reference labels, so rare labels count as much as common ones.",
        HIGHER,
        "no reference states: run nwb-dyn evaluate RESULT --labels events:COLUMN",
    ),
    "trial_d_stsp": MetricNote(
        "State-space divergence between generated and recorded windows (z-scored); compare only between fits "
        "of the same data.",
        LOWER,
        "no generated samples, or no window was recorded whole",
    ),
    "trial_d_h": MetricNote(
        "Hellinger distance between the power spectra of generated and recorded windows.",
        LOWER,
        "no generated samples, or no window was recorded whole",
    ),
    "num_fixed_points": MetricNote(
        "Number of fixed points found in the fitted dynamics (0: none was found).",
        "",
        "fixed points were not computed",
    ),
}
_SPIKE_MISSING = "no generated samples, or the data were not spike counts"
#: spike_<subject>_r / spike_<subject>_rmse[_unit]: what is compared between generated and recorded spikes.
_SPIKE_SUBJECTS = {
    "mean_rate": "each unit's mean rate",
    "isi_mean": "each unit's mean inter-spike interval",
    "isi_cv": "each unit's inter-spike-interval coefficient of variation",
    "pairwise_correlation": "each pair's count correlation",
}
_K_STEP = MetricNote(
    "Mean squared error of the counts predicted {k} bin(s) ahead by filtering then running the model forward.",
    LOWER,
    "too few bins after the filtering point",
)
_SPLIT = re.compile(r"^(val|train)_(.+)$")
#: Metrics the page lists even when the fit did not store them, so that a reader sees why they are absent.
EXPECTED = ("co_bps", "psth_r2", "behaviour_r2_rates", "state_accuracy")


def split_and_name(key: str) -> tuple[str | None, str]:
    """``"val_co_bps"`` → ``("val", "co_bps")``; a key with no split prefix → ``(None, key)``."""
    match = _SPLIT.match(key)
    return (match.group(1), match.group(2)) if match else (None, key)


def note_for(name: str) -> MetricNote | None:
    """The note of a metric name without its split prefix, or None when the table does not know it."""
    if name in NOTES:
        return NOTES[name]
    if name.startswith("k_step_mse_"):
        k = name.removeprefix("k_step_mse_")
        return MetricNote(_K_STEP.meaning.format(k=k), _K_STEP.better, _K_STEP.missing)
    if name.startswith("spike_"):
        statistic = name.removeprefix("spike_")
        subject = next((key for key in _SPIKE_SUBJECTS if statistic.startswith(key + "_")), None)
        if subject is None:
            return None
        measure = statistic.removeprefix(subject + "_")
        if measure == "r":
            meaning = (
                f"Correlation of {_SPIKE_SUBJECTS[subject]} between spikes the free-running model generates "
            )
            return MetricNote(meaning + "and the recorded ones.", HIGHER, _SPIKE_MISSING)
        unit = {"hz": "Hz"}.get(
            measure.removeprefix("rmse").strip("_"), measure.removeprefix("rmse").strip("_")
        )
        meaning = (
            f"Root-mean-square difference of {_SPIKE_SUBJECTS[subject]} between generated and recorded spikes"
        )
        return MetricNote(meaning + (f" ({unit})." if unit else "."), LOWER, _SPIKE_MISSING)
    return None


@dataclass(frozen=True)
class MetricRow:
    """One row of the page's metrics table: key as stored, value (None when absent or not finite), explanation."""

    key: str
    value: Any
    meaning: str
    better: str
    split: str


_SPLIT_WORDS = {"val": "validation windows", "train": "training windows (in-sample)", None: ""}


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def metric_rows(metrics: dict[str, Any], family: str) -> list[MetricRow]:
    """Every stored metric with its note (n/a values say why), then the :data:`EXPECTED` metrics it lacks."""
    rows = []
    splits = set()
    for key in sorted(metrics):
        split, name = split_and_name(key)
        splits.add(split)
        note = note_for(name)
        value = metrics[key] if _finite(metrics[key]) else None
        meaning = note.meaning if note else ""
        if value is None and note:
            meaning = f"{meaning} Not scored: {note.missing}."
        rows.append(MetricRow(key, value, meaning.strip(), note.better if note else "", _SPLIT_WORDS[split]))
    split = "val" if "val" in splits else "train" if "train" in splits else None
    stored = {split_and_name(key)[1] for key in metrics}
    for name in EXPECTED:
        if name == "co_bps" and "heldin_mse" in stored:  # signals: co-smoothing is scored as an error
            name = "co_mse"
        if name in stored or (name == "state_accuracy" and family != "srnn"):
            continue
        note = NOTES[name]
        rows.append(
            MetricRow(
                f"{split}_{name}" if split else name,
                None,
                f"{note.meaning} Not scored: {note.missing}.",
                note.better,
                _SPLIT_WORDS[split],
            )
        )
    return rows
