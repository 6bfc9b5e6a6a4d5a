"""Rebuild a fitted model from what a result file stores: family → constructor, then ``load_state_dict``.

torch is imported only when a model is rebuilt, so reading a result's arrays needs no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dyn.errors import OutputError

if TYPE_CHECKING:
    import torch

#: family → "module:Class" whose constructor takes the stored hyperparameters as keyword arguments.
MODEL_CLASSES: dict[str, str] = {
    "lowrank": "nwb_dyn.models.lowrank:LowRankRNN",
    "srnn": "nwb_dyn.models.srnn:SwitchingRNN",
}


def rebuild_model(
    family: str,
    hyperparameters: dict[str, Any],
    weights: dict[str, np.ndarray],
    origin: str = "the result file",
) -> torch.nn.Module:
    """The model of ``family`` built from ``hyperparameters`` with ``weights`` loaded, in eval mode.

    Weights stored as one-element arrays (scalars) are reshaped to the model's own parameter shapes.
    """
    import torch

    if family not in MODEL_CLASSES:
        raise OutputError(
            f"{origin}: model family '{family}' cannot be rebuilt; known families: {', '.join(sorted(MODEL_CLASSES))}"
        )
    module_name, class_name = MODEL_CLASSES[family].split(":")
    model_class = getattr(importlib.import_module(module_name), class_name)
    try:
        model = model_class(**hyperparameters)
    except TypeError as exc:
        raise OutputError(
            f"{origin}: the stored hyperparameters do not build a {class_name} ({exc})"
        ) from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise OutputError(
            f"{origin}: stored weights do not match a {class_name}: missing {missing}, unexpected {unexpected}"
        )
    state = {
        name: torch.as_tensor(np.asarray(weights[name])).reshape(tensor.shape).to(tensor.dtype)
        for name, tensor in expected.items()
    }
    model.load_state_dict(state)
    return model.eval()
