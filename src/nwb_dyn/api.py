"""The Python façade: ``fit`` composes sources → extract → data → training → analysis → results."""

from __future__ import annotations

import logging
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nwb_dyn.config import FitConfig, resolve_config
from nwb_dyn.errors import OutputError
from nwb_dyn.extract import NeuralData, extract_neural_data
from nwb_dyn.provenance import package_versions
from nwb_dyn.results.naming import derived_file_name
from nwb_dyn.sources import SourceRef, resolve_sources

#: ``fit`` keyword → dotted config key (the same words as the CLI options).
OPTION_KEYS: dict[str, str] = {
    "seed": "seed",
    "max_epochs": "trainer.max_epochs",
    "learning_rate": "trainer.learning_rate",
    "bin_width": "data.bin_width_s",
    "align": "data.align",
    "window": "data.window_s",
    "window_length": "data.window_length_s",
    "batch_size": "data.batch_size",
    "heldout_fraction": "data.heldout_fraction",
    "rank": "lowrank.rank",
    "units": "lowrank.units",
    "particles": "lowrank.particles",
    "proposal": "lowrank.proposal",
    "obs": "lowrank.obs",
    "activation": "lowrank.activation",
    "accelerator": "trainer.accelerator",
    "devices": "trainer.devices",
    "num_threads": "trainer.num_threads",
}


@dataclass
class SessionFit:
    """One fitted session: where its result went and a short summary."""

    source: str
    output: Path
    summary: dict[str, Any]


@dataclass
class FitOutcome:
    """What :func:`fit` produced: one :class:`SessionFit` per session, in source order."""

    fits: list[SessionFit] = field(default_factory=list)

    @property
    def outputs(self) -> list[Path]:
        """Paths of the derived NWB files."""
        return [session.output for session in self.fits]


def _quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def _fit_session(
    ref: SourceRef, data: NeuralData, config: FitConfig, out_dir: Path, overwrite: bool, command: str
) -> SessionFit:
    import pytorch_lightning as pl

    from nwb_dyn.data import NeuralDataModule
    from nwb_dyn.evaluate import fit_metrics
    from nwb_dyn.results.writer import FitRecord, write_result
    from nwb_dyn.training.families import FAMILIES
    from nwb_dyn.training.trainer import make_trainer

    _quiet_lightning()
    modality = "ecephys"
    output = out_dir / derived_file_name(ref.identity.display_name, data.session, config.model, modality)
    if output.exists() and not overwrite:
        raise OutputError(f"{output} already exists; pass --overwrite to replace it, or choose another --out")
    run_dir = out_dir / ".nwb-dyn-runs" / output.stem
    pl.seed_everything(config.seed, workers=True, verbose=False)
    family = FAMILIES[config.model]
    module = family.build(config, data)
    datamodule = NeuralDataModule(data, config.data.batch_size, config.seed)
    trainer = make_trainer(config, run_dir)
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    wall_s = time.perf_counter() - started
    products = family.summarise(module, data, config)
    products.metrics = fit_metrics(data, products)
    training_summary = {
        "epochs": int(trainer.current_epoch),
        "global_steps": int(trainer.global_step),
        "wall_time_s": round(wall_s, 3),
        "final_metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
    }
    record = FitRecord(
        source=ref.identity.to_dict(),
        config=config.to_dict(),
        seed=config.seed,
        versions=package_versions(),
        command=command,
        training_summary=training_summary,
    )
    write_result(output, data, products, record)
    return SessionFit(
        source=ref.identity.display_name, output=output, summary={**training_summary, "metrics": products.metrics}
    )


def fit(
    source: str,
    model: str = "lowrank",
    out: str | Path = "nwb-dyn-out",
    config: str | Path | None = None,
    overwrite: bool = False,
    command: str | None = None,
    **options: Any,
) -> FitOutcome:
    """Fit ``model`` to every session named by ``source``; write one derived NWB file per session under ``out``.

    ``options`` are the CLI's option names (``max_epochs=2``, ``bin_width=0.02``, ``rank=3``, ...); see
    :data:`OPTION_KEYS`. A YAML ``config`` file is applied first, then ``options`` override it.
    """
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        from nwb_dyn.errors import ConfigError

        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(OPTION_KEYS))}")
    overrides = {OPTION_KEYS[name]: value for name, value in options.items()}
    overrides["model"] = model
    resolved = resolve_config(config, overrides)
    out_dir = Path(out).expanduser()
    outcome = FitOutcome()
    for ref in resolve_sources(source):
        label = ref.identity.location
        with ref.open() as nwbfile:
            data = extract_neural_data(nwbfile, resolved.data, resolved.seed, label)
        outcome.fits.append(
            _fit_session(ref, data, resolved, out_dir, overwrite, command or " ".join(sys.argv))
        )
    return outcome
