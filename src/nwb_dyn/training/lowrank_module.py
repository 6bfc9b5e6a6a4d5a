"""LightningModule for the stochastic low-rank RNN: maximise the SMC evidence estimate per time step."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from nwb_dyn.config import FitConfig, LowRankConfig
from nwb_dyn.data import WindowBatch
from nwb_dyn.errors import ConfigError, TrainingError
from nwb_dyn.inference.smc import SMCResult, run_smc
from nwb_dyn.models.encoders import CNNEncoder
from nwb_dyn.models.lowrank import LowRankRNN
from nwb_dyn.training.data_init import InitialStage
from nwb_dyn.training.randomness import TRAIN_STREAM, VALIDATION_STREAM, window_generators


def resolve_proposal(settings: LowRankConfig, likelihood: str) -> tuple[str, str]:
    """(proposal, noise covariance) with ``auto`` resolved as in the paper (algorithms.md §1.6, §1.14).

    Gaussian observations → optimal proposal with full latent noise; Poisson → encoder proposal with diagonal noise.
    """
    proposal = settings.proposal
    if proposal == "auto":
        proposal = "optimal" if likelihood == "gaussian" else "encoder"
    if proposal == "optimal" and likelihood != "gaussian":
        raise ConfigError(
            f"config key 'lowrank.proposal' is 'optimal' but the observations are {likelihood}; the optimal proposal "
            "needs Gaussian observations: use --proposal encoder or bootstrap, or --obs gaussian"
        )
    noise = settings.noise_covariance
    if noise == "auto":
        noise = "full" if proposal == "optimal" else "diag"
    if proposal == "encoder" and noise == "full":
        raise ConfigError("config key 'lowrank.noise_covariance' must be diag with --proposal encoder")
    return proposal, noise


#: Standard deviation of the data-initialised latents (the RNN's latents are unbounded; unit scale).
LOWRANK_LATENT_STD = 1.0


class LowRankModule(InitialStage, pl.LightningModule):
    """Wires :class:`LowRankRNN` (and, for the encoder proposal, a :class:`CNNEncoder`) to variational SMC.

    The loss is −mean over sequences of log p̂(y_{1:T}) / T (nats per time step), as in algorithms.md §1.9;
    RAdam, with the learning rate of the convergence schedule (:class:`nwb_dyn.training.callbacks.ConvergenceSchedule`).
    """

    def __init__(self, config: FitConfig, num_channels: int, likelihood: str, num_inputs: int = 0) -> None:
        super().__init__()
        settings = config.lowrank
        self.config = config
        self.proposal, noise_covariance = resolve_proposal(settings, likelihood)
        if settings.readout == "one_to_one" and num_channels > settings.units:
            raise ConfigError(
                f"config key 'lowrank.readout' is one_to_one but the data has {num_channels} channels and the RNN "
                f"{settings.units} units; pass --units {num_channels} or more, or use the affine readout"
            )
        self.model = LowRankRNN(
            rank=settings.rank,
            num_units=settings.units,
            num_channels=num_channels,
            likelihood=likelihood,
            activation=settings.activation,
            decay_init=settings.decay_init,
            transition_noise_std_init=settings.transition_noise_std_init,
            initial_noise_std_init=settings.initial_noise_std_init,
            noise_covariance=noise_covariance,
            readout=settings.readout,
            link=settings.link,
            observation_noise_std_init=settings.observation_noise_std_init,
            num_inputs=num_inputs,
        )
        self.encoder = (
            CNNEncoder(
                num_channels,
                settings.rank,
                settings.encoder_kernel_sizes,
                settings.encoder_channels,
                settings.encoder_padding,
                init_scale=settings.transition_noise_std_init,
            )
            if self.proposal == "encoder"
            else None
        )
        self.num_particles = settings.particles
        self.learning_rate = config.trainer.learning_rate
        self.initial_latent_std = LOWRANK_LATENT_STD

    def _loss(self, batch: WindowBatch, stream: int) -> tuple[torch.Tensor, torch.Tensor, SMCResult]:
        """(−log p̂(y) per time step averaged over windows, the initial-stage latent mismatch (0 after the stage or
        without an encoder), the SMC result) for one batch.

        The likelihood weighs the entries where ``batch.mask`` is 1; the encoder reads only values ·
        ``batch.encoder_mask`` (the held-in entries, :attr:`NeuralData.held_in_mask`), at training as at evaluation.
        """
        # One generator per window (seeded by seed, stream, epoch, window row): the objective does not depend on
        # how windows are batched or split across DDP ranks, and a resumed epoch replays exactly (issue 10).
        generators = window_generators(
            self.config.seed, stream, self.current_epoch, batch.index, device=batch.values.device
        )
        encoder_output = None if self.encoder is None else self.encoder(batch.values * batch.encoder_mask)
        try:
            result = run_smc(
                self.model,
                batch.values,
                batch.mask,
                self.num_particles,
                proposal=self.proposal,
                inputs=batch.inputs,
                encoder_output=encoder_output,
                generator=generators,
            )
        except FloatingPointError as error:  # NaN particle weights: the parameters diverged
            raise TrainingError(
                f"SMC particle weights became NaN at step {self.global_step} ({error}); lower --learning-rate, or "
                "use more particles"
            ) from None
        mismatch = (
            torch.zeros((), device=batch.values.device)
            if encoder_output is None
            else self.initial_stage_pull(encoder_output[0], batch.index)
        )
        return -(result.log_marginal / batch.values.shape[1]).mean(), mismatch, result

    def training_step(self, batch: WindowBatch, batch_index: int) -> torch.Tensor:
        negative_evidence, mismatch, result = self._loss(batch, TRAIN_STREAM)
        loss = negative_evidence + mismatch
        if not torch.isfinite(loss):
            raise TrainingError(
                f"the objective became {loss.item()} at step {self.global_step}; lower --learning-rate or the "
                "bin width, or use more particles"
            )
        batch_size = batch.values.shape[0]
        self.log("train_loss", loss, prog_bar=True, batch_size=batch_size)
        if self.in_initial_stage:
            self.log("train_initial_stage_mismatch", mismatch, batch_size=batch_size)
        if result.encoder_alpha is not None:
            # Near 0 the proposal ignores the encoder (collapsed to bootstrap; the authors stop below 5e-3).
            self.log("encoder_alpha", result.encoder_alpha, batch_size=batch_size)
        return loss

    def validation_step(self, batch: WindowBatch, batch_index: int) -> None:
        loss, _, _ = self._loss(batch, VALIDATION_STREAM)
        self.log("val_loss", loss, prog_bar=True, batch_size=batch.values.shape[0], sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # The learning rate itself is set every step by the convergence schedule (training/callbacks.py).
        return torch.optim.RAdam(self.parameters(), lr=self.learning_rate)
