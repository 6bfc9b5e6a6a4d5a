"""LightningModule for the switching RNN (SRNN), and its summary for the results writer.

Training follows Zhang & Saxena 2024 (algorithms.md §4.4): during the initial stage (the first ``trainer.init_steps``
optimiser steps) the loss adds a cross-entropy between the posterior state marginals and initial labels (a Gaussian
HMM fitted to the principal components of the session's held-in channels — of log smoothed spike counts —, k-means or
random) and pulls the encoder's means towards the data initialisation's latents; then the plain collapsed ELBO until
it converges.
Losses are in nats per time step.

External inputs x (B, T, U), when the data has them, drive the state RNNs and the discrete transitions (both read
x_t when stepping to t) and are also read by the encoder: the exact posterior p(h | y, x) depends on x through the
dynamics prior, so an encoder blind to x would have to guess the input-driven part of h from y alone.
"""

from __future__ import annotations

import copy

import numpy as np
import pytorch_lightning as pl
import torch

from nwb_dyn.analysis.generation import generated_run_count
from nwb_dyn.analysis.numeric_fixed_points import find_fixed_points_numeric
from nwb_dyn.analysis.products import FixedPointSet, GeneratedSamples, ModelProducts
from nwb_dyn.config import FitConfig
from nwb_dyn.data import WindowBatch
from nwb_dyn.errors import TrainingError
from nwb_dyn.extract import NeuralData
from nwb_dyn.inference.srnn_elbo import infer_posterior, srnn_objective
from nwb_dyn.models.inference_network import BidirectionalEncoder
from nwb_dyn.models.srnn import SwitchingRNN
from nwb_dyn.models.srnn_init import initial_state_labels
from nwb_dyn.training.data_init import InitialStage, data_initialisation, per_window_latents
from nwb_dyn.training.randomness import TRAIN_STREAM, VALIDATION_STREAM, window_generators


def held_in_values(data: NeuralData) -> tuple[torch.Tensor, torch.Tensor]:
    """Values (W, T, D) float32 and the mask (W, T, D) of entries the encoder may read (:attr:`held_in_mask`)."""
    return torch.as_tensor(data.values, dtype=torch.float32), torch.as_tensor(data.held_in_mask, dtype=torch.float32)


def input_tensor(data: NeuralData) -> torch.Tensor | None:
    """The external inputs (W, T, U) float32, or None when the data has none."""
    return None if data.inputs is None else torch.as_tensor(data.inputs, dtype=torch.float32)


def input_dim_of(data: NeuralData) -> int:
    """U, the number of external input channels (0 for none)."""
    return 0 if data.inputs is None else data.inputs.shape[-1]


class SrnnModule(InitialStage, pl.LightningModule):
    """Wires :class:`SwitchingRNN` and its :class:`BidirectionalEncoder` to the collapsed ELBO.

    initial_labels: (W, T) int64 initial state labels for every window row of the NeuralData.
    input_dim: U external inputs (0 for none); batches must then carry ``inputs`` (B, T, U).
    The encoder reads each batch's ``encoder_mask`` entries only, so held-out channels are never read.
    """

    def __init__(
        self,
        config: FitConfig,
        num_channels: int,
        emission: str,
        initial_labels: torch.Tensor,
        input_dim: int = 0,
    ) -> None:
        super().__init__()
        settings = config.srnn
        self.config = config
        self.model = SwitchingRNN(
            num_states=settings.states,
            latent_dim=settings.latent_dim,
            observation_dim=num_channels,
            input_dim=input_dim,
            emission=emission,
            stickiness_init=settings.stickiness_init,
        )
        self.encoder = BidirectionalEncoder(
            num_channels,
            settings.latent_dim,
            settings.encoder_hidden,
            input_dim=input_dim,
            log_transform_observations=emission == "poisson",
        )
        self.register_buffer("initial_labels", initial_labels.long(), persistent=False)
        self.label_weight = settings.label_weight
        self.learning_rate = config.trainer.learning_rate
        self.initial_latent_std = SRNN_LATENT_STD

    def _terms(
        self, batch: WindowBatch, stream: int, with_labels: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(−ELBO, label cross-entropy) per time step (summed over the batch, divided by its B·T time steps), and the
        initial-stage latent pull (0 outside the initial stage)."""
        generators = window_generators(
            self.config.seed, stream, self.current_epoch, batch.index, device=batch.values.device
        )
        terms = srnn_objective(
            self.model,
            self.encoder,
            batch.values,
            inputs=batch.inputs,
            labels=self.initial_labels[batch.index] if with_labels else None,
            generator=generators,
            mask=batch.mask,
            encoder_mask=batch.encoder_mask,
            bins_of_data=batch.bins_of_data,
        )
        steps = batch.values.shape[0] * batch.values.shape[1]
        penalty = self.initial_stage_pull(terms.encoder_means, batch.index, terms.in_window)
        return -terms.elbo.sum() / steps, terms.label_cross_entropy.sum() / steps, penalty

    def training_step(self, batch: WindowBatch, batch_index: int) -> torch.Tensor:
        in_label_phase = self.in_initial_stage
        negative_elbo, label_cross_entropy, penalty = self._terms(batch, TRAIN_STREAM, with_labels=in_label_phase)
        loss = negative_elbo + self.label_weight * label_cross_entropy + penalty
        if not torch.isfinite(loss):
            raise TrainingError(
                f"the SRNN objective became {loss.item()} at step {self.global_step}; lower --learning-rate or "
                "z-score the signals"
            )
        batch_size = batch.values.shape[0]
        self.log("train_loss", loss, prog_bar=True, batch_size=batch_size)
        self.log("train_negative_elbo", negative_elbo, batch_size=batch_size)
        if in_label_phase:
            self.log("train_label_cross_entropy", label_cross_entropy, batch_size=batch_size)
            self.log("train_initial_stage_mismatch", penalty, batch_size=batch_size)
        return loss

    def validation_step(self, batch: WindowBatch, batch_index: int) -> None:
        negative_elbo, _, _ = self._terms(batch, VALIDATION_STREAM, with_labels=False)
        self.log("val_loss", negative_elbo, prog_bar=True, batch_size=batch.values.shape[0], sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)


#: Standard deviation of the data-initialised latents: the state RNNs' means are tanh(·), so latents live in (−1, 1).
SRNN_LATENT_STD = 0.5

#: Smoothing of spike counts before the initial labels' log features: sparse counts give noisier labels (switching
#: Lorenz, 30 units at 50 Hz in 20 ms bins, development seeds 7000–7005: 0.80 unsmoothed, 0.83 at 0.05 s, 0.87 at 0.1 s).
DEFAULT_COUNT_SMOOTHING_S = 0.1


def build_srnn(config: FitConfig, data: NeuralData, emission: str) -> SrnnModule:
    """An :class:`SrnnModule` for ``data``: initial labels from the held-in channels of its training windows and,
    unless switched off, the emission, observation noise and initial latents from the same windows (validation
    windows are never read before they are scored; their label rows stay 0 and are never used)."""
    values, mask = held_in_values(data)
    rows = torch.as_tensor(data.split_indices("train"))
    values, mask = values[rows], mask[rows]
    smoothing_s = config.srnn.init_smoothing_s
    if smoothing_s is None:
        smoothing_s = DEFAULT_COUNT_SMOOTHING_S if data.observation == "counts" else 0.0
    training_labels = initial_state_labels(
        values * mask,
        config.srnn.states,
        config.srnn.init,
        seed=config.seed,
        smoothing_bins=smoothing_s / config.data.bin_width_s,
        counts_mask=mask if emission == "poisson" else None,
    )
    labels = training_labels.new_zeros((data.num_windows, data.num_bins))
    labels[rows] = training_labels
    module = SrnnModule(config, data.num_channels, emission, labels, input_dim_of(data))
    if config.trainer.init_from_data:
        found = data_initialisation(config, data, config.srnn.latent_dim, latent_std=SRNN_LATENT_STD)
        module.model.initialise_from(found)
        module.set_initial_stage_latents(per_window_latents(found, data))
    return module


def srnn_fixed_points(
    model: SwitchingRNN, latents: np.ndarray, budget_s: float | None = None
) -> FixedPointSet | None:
    """Fixed points of every state's latent map h ↦ tanh(A_k h + c_k), searched from the posterior latents.

    With external inputs these are the fixed points at x = 0, the mean of the z-scored inputs. ``budget_s`` (the
    ``analysis.fixed_point_budget_s`` of the fit) is shared equally by the states' searches.
    """
    double_model = copy.deepcopy(model).double()  # the numeric finder differentiates in float64
    locations, eigenvalues, stable, owners = [], [], [], []
    for state in range(model.num_states):

        def state_map(points: torch.Tensor, state: int = state) -> torch.Tensor:
            return double_model.dynamics_mean(points[:, None])[:, 0, state]

        found = find_fixed_points_numeric(
            state_map,
            latents,
            jacobian="autograd",
            max_starts=200,
            time_limit_s=None if budget_s is None else budget_s / model.num_states,
        )
        locations.append(found.z)
        eigenvalues.append(found.eigenvalues)
        stable.append(found.stable)
        owners.append(np.full(len(found.z), state, dtype=np.int64))
    if not sum(len(points) for points in locations):
        return None
    return FixedPointSet(
        location=np.concatenate(locations),
        stable=np.concatenate(stable),
        eigenvalues=np.concatenate(eigenvalues),
        kind="numeric",
        eigenvalue_reading="discrete",
        state=np.concatenate(owners),
    )


def summarise_srnn(module: pl.LightningModule, data: NeuralData, config: FitConfig) -> ModelProducts:
    """Posterior states, state probabilities, latents and rates on every window; samples; per-state fixed points.

    With external inputs, the posterior reads every window's inputs and the samples are driven by the inputs of the
    first windows (cycled when more runs than windows are generated).
    """
    model = module.model.eval().cpu()
    encoder = module.encoder.eval().cpu()
    values, mask = held_in_values(data)
    inputs = input_tensor(data)
    posterior = infer_posterior(
        model, encoder, values, inputs, mask=mask, bins_of_data=torch.as_tensor(data.bins_of_data)
    )
    generator = torch.Generator().manual_seed(config.seed)
    runs = generated_run_count(data.num_windows, data.num_bins, data.num_channels)
    sample_inputs = None if inputs is None else inputs[torch.arange(runs) % data.num_windows]
    sample = model.generate(runs, data.num_bins, inputs=sample_inputs, generator=generator)
    conditioning = (
        "free-running from the learned initial-state distribution"
        if sample_inputs is None
        else f"the external inputs of the first {min(runs, data.num_windows)} windows (cycled over {runs} runs), "
        "from the learned initial-state distribution"
    )
    latents = posterior.latents.numpy()
    return ModelProducts(
        family="srnn",
        latents=latents,
        latent_estimate="smoothed",  # the bidirectional encoder reads the whole window
        rates=posterior.means.numpy(),
        weights={name: value.detach().cpu().numpy().copy() for name, value in model.state_dict().items()},
        hyperparameters={
            "num_states": model.num_states,
            "latent_dim": model.latent_dim,
            "observation_dim": model.observation_dim,
            "emission": model.emission,
            "input_dim": model.input_dim,
            "min_std": model.min_std,
        },
        states=posterior.map_states.numpy(),
        state_probabilities=posterior.state_probabilities.numpy(),
        samples=GeneratedSamples(
            latents=sample.latents.numpy(),
            observations=sample.observations.numpy(),
            seed=config.seed,
            conditioning=conditioning,
        ),
        fixed_points=(
            None
            if config.analysis.fixed_points == "off"
            else srnn_fixed_points(model, latents, config.analysis.fixed_point_budget_s)
        ),
    )
