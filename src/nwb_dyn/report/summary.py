"""The plain-language summary at the top of the report: what was fitted, and whether the fit is any good.

The fit's own quality line (``training_summary["quality"]["line"]``, written by fits since nwb-dyn records it) is
quoted as it is; for older files a sentence is derived from the stored metrics instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nwb_dyn.report.inputs import ReportInputs
from nwb_dyn.report.metric_notes import split_and_name

_QUALITY_PREFIX = "nwb-dyn: fit quality: "
_FAMILY_WORDS = {"srnn": "switching recurrent network (SRNN)", "lowrank": "low-rank recurrent network"}


def _stored_metric(metrics: dict[str, Any], name: str) -> tuple[str | None, float | None]:
    """(split, value) of the stored metric ``name`` (any split prefix), value None when absent or not finite."""
    for key, value in metrics.items():
        split, stored = split_and_name(key)
        if stored == name and isinstance(value, (int, float)) and math.isfinite(value):
            return split, float(value)
    return None, None


def _derived_quality(inputs: ReportInputs) -> str:
    """A quality sentence from the stored metrics and states, for files without the fit's quality line."""
    metrics = inputs.result.stored_model.metrics
    split, heldin = _stored_metric(metrics, "heldin_bps")
    windows = "validation windows" if split == "val" else "training windows (in-sample)"
    sentences = []
    if heldin is not None:
        verdict = "better" if heldin > 0 else "no better"
        sentences.append(
            f"On the {windows} the model predicts the modelled units' spikes {verdict} than a constant rate per "
            f"unit ({heldin:+.3f} bits per spike)."
        )
    _, co_bps = _stored_metric(metrics, "co_bps")
    if co_bps is not None:
        sentences.append(f"Held-out units are predicted at {co_bps:+.3f} bits per spike (co-smoothing).")
    sentences.extend(_state_use(inputs))
    if not sentences:
        return "The result file records no fit-quality line and no metric to judge the fit by."
    return " ".join(sentences)


def _state_use(inputs: ReportInputs) -> list[str]:
    result = inputs.result
    if result.states is None or not result.num_states:
        return []
    share = np.bincount(result.states, minlength=result.num_states) / max(len(result.states), 1)
    used = int(np.sum(share > 0))
    shares = ", ".join(f"state {k} {100 * s:.0f} %" for k, s in enumerate(share))
    sentence = f"It uses {used} of its {result.num_states} discrete states ({shares} of bins)."
    return [sentence + (" States never used add nothing to the fit." if used < result.num_states else "")]


def summary_sentences(inputs: ReportInputs) -> list[str]:
    """What was fitted to what (one sentence), then the fit's quality (its stored quality line, else derived)."""
    result = inputs.result
    stored = result.stored_model
    config = result.provenance.get("config", {})
    data = config.get("data", {})
    family = _FAMILY_WORDS.get(stored.family, stored.family)
    latent_dim = result.latents.shape[1]
    windows = len(result.windows.start_s)
    align = data.get("align")
    window_s = data.get("window_s")
    how = (
        f"windows from {window_s[0]:+g} s to {window_s[1]:+g} s around {align}"
        if align and window_s
        else "windows along the session clock"
    )
    training = stored.training_summary
    epochs = training.get("epochs")
    trained = f", trained for {epochs} epochs" if epochs is not None else ""
    what = (
        f"A {family} with {latent_dim} latent dimensions was fitted to {len(result.channel_ids)} channels in "
        f"{windows} {how} ({inputs.bin_width_s * 1000:g} ms bins){trained}."
    )
    quality = training.get("quality")
    line = quality.get("line") if isinstance(quality, dict) else None
    judged = line.removeprefix(_QUALITY_PREFIX) if line else _derived_quality(inputs)
    return [what, f"Fit quality: {judged}"]
