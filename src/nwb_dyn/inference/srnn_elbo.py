"""The SRNN objective (ELBO collapsed over discrete states) and posterior summaries (training: training/srnn_module).

ELBO = E_{q(h|y)}[log Σ_z p(y, h, z)] + H[q(h|y)]  (Zhang & Saxena 2024, Eqs 10–15).
The inner sum over all K^T state paths is the forward-algorithm normaliser, maximised directly: it is exact and has
the same gradient as the paper's expected complete-data form (Fisher's identity) without its index pitfalls.

During initialisation the paper adds a cross-entropy between given labels (k-means / HMM / random, see
``nwb_dyn.models.srnn_init``) and the posterior state marginals, so all states are used; ``label_weight`` is its
coefficient (0.5 in the paper).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from nwb_dyn.inference.forward_backward import forward_backward, hmm_log_normalizer, hmm_marginals, viterbi
from nwb_dyn.models.inference_network import BidirectionalEncoder
from nwb_dyn.models.srnn import SwitchingRNN


class SrnnObjective(NamedTuple):
    """Per-trial terms, each (B,): elbo = log_joint + entropy; label_cross_entropy is zero without labels.

    encoder_means (B, T, P): the encoder's posterior means (what an initial-stage penalty may pull on).
    in_window (B, T) bool: the bins inside their windows, or None when no window is padded.
    """

    elbo: Tensor
    log_joint: Tensor
    entropy: Tensor
    label_cross_entropy: Tensor
    encoder_means: Tensor
    in_window: Tensor | None = None


class SrnnPosterior(NamedTuple):
    """Posterior summaries at the encoder's mean latents.

    latents (B, T, P); state_probabilities (B, T, K); map_states (B, T) Viterbi path; means (B, T, D) emission mean
    (rates for Poisson); log_joint (B,) log p(y, h) at those latents.
    """

    latents: Tensor
    state_probabilities: Tensor
    map_states: Tensor
    means: Tensor
    log_joint: Tensor


def srnn_objective(
    model: SwitchingRNN,
    encoder: BidirectionalEncoder,
    observations: Tensor,
    inputs: Tensor | None = None,
    labels: Tensor | None = None,
    num_samples: int = 1,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    mask: Tensor | None = None,
    encoder_mask: Tensor | None = None,
    bins_of_data: Tensor | None = None,
) -> SrnnObjective:
    """Monte Carlo ELBO per trial from y (B, T, D), optional inputs (B, T, U) and optional labels (B, T) int64.

    ``mask`` (B, T, D) selects the observed entries that enter the likelihood; the encoder sees
    y · ``encoder_mask`` (default: y · mask), so held-out channels can be scored without being read.
    ``bins_of_data`` (B,) int64, given when windows are padded, ends each window at its last bin of data
    (:func:`bins_in_window`). With ``num_samples`` S > 1 the S latent samples are processed as one batch of S·B
    trials and averaged.
    """
    in_window = bins_in_window(bins_of_data, observations.shape[1])
    posterior = encoder(
        _masked(observations, mask if encoder_mask is None else encoder_mask), inputs, bins_of_data
    )
    latents = posterior.rsample(num_samples, generator).flatten(0, 1)  # (S·B, T, P)
    batch = observations.shape[0]

    def repeat(tensor: Tensor | None) -> Tensor | None:
        return None if tensor is None else tensor.repeat(num_samples, *([1] * (tensor.dim() - 1)))

    potentials = model.chain_potentials(
        latents, repeat(observations), repeat(inputs), repeat(mask), repeat(in_window)
    )
    if labels is None:
        log_joint = hmm_log_normalizer(*potentials)
        label_cross_entropy = log_joint.new_zeros(log_joint.shape)
    else:
        log_joint, marginals = hmm_marginals(*potentials)
        log_marginals = torch.log(marginals.clamp_min(1e-12))
        label_terms = -log_marginals.gather(-1, repeat(labels).unsqueeze(-1)).squeeze(-1)  # (S·B, T)
        if in_window is not None:
            label_terms = label_terms * repeat(in_window)
        label_cross_entropy = label_terms.sum(-1).unflatten(0, (num_samples, batch)).mean(0)
    log_joint = log_joint.unflatten(0, (num_samples, batch)).mean(0)
    entropy = posterior.entropy(in_window)
    return SrnnObjective(
        log_joint + entropy, log_joint, entropy, label_cross_entropy, posterior.mean, in_window
    )


def bins_in_window(bins_of_data: Tensor | None, num_bins: int) -> Tensor | None:
    """(B, T) bool, True for the first ``bins_of_data`` (B,) bins of each window (:attr:`NeuralData.bins_of_data`);
    None when every window is whole (nothing to exclude), or when ``bins_of_data`` is None.

    The bins after them are padding after a shorter window: the SRNN's objective and posterior treat each window as
    ending at its last bin of data.
    """
    if bins_of_data is None or int(bins_of_data.min()) >= num_bins:
        return None
    return torch.arange(num_bins, device=bins_of_data.device)[None, :] < bins_of_data[:, None]


def _masked(observations: Tensor, mask: Tensor | None) -> Tensor:
    return observations if mask is None else observations * mask


@torch.no_grad()
def infer_posterior(
    model: SwitchingRNN,
    encoder: BidirectionalEncoder,
    observations: Tensor,
    inputs: Tensor | None = None,
    mask: Tensor | None = None,
    bins_of_data: Tensor | None = None,
) -> SrnnPosterior:
    """States, state probabilities, latents and emission means for y (B, T, D), at the encoder's posterior mean.

    Only entries where ``mask`` (B, T, D) is 1 are read; the means cover every channel (co-smoothing predictions).
    ``bins_of_data`` (B,) as for :func:`srnn_objective`.
    """
    in_window = bins_in_window(bins_of_data, observations.shape[1])
    latents = encoder(_masked(observations, mask), inputs, bins_of_data).mean
    potentials = model.chain_potentials(latents, observations, inputs, mask, in_window)
    state_posterior = forward_backward(*potentials)
    return SrnnPosterior(
        latents,
        state_posterior.marginals,
        viterbi(*potentials),
        model.emission_mean(latents),
        state_posterior.log_normalizer,
    )
