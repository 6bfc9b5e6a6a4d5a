"""The Python façade: ``fit`` composes sources → extract → data → training → analysis → results."""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nwb_dyn import progress
from nwb_dyn.config import FitConfig, resolve_config
from nwb_dyn.errors import OutputError, TrainingError
from nwb_dyn.extract import NeuralData, extract_neural_data
from nwb_dyn.extract.cache import ExtractionCache, extraction_cache_key
from nwb_dyn.provenance import package_versions
from nwb_dyn.results.atomic import ensure_writable_directory
from nwb_dyn.results.layout import require_non_overlapping_windows
from nwb_dyn.results.naming import derived_file_name
from nwb_dyn.sources import SourceOptions, SourceRef, resolve_sources

#: ``fit`` keyword → dotted config key (the same words as the CLI options).
OPTION_KEYS: dict[str, str] = {
    "seed": "seed",
    "max_steps": "trainer.max_steps",
    "max_epochs": "trainer.max_epochs",
    "max_time": "trainer.max_time_s",
    "init_from_data": "trainer.init_from_data",
    "learning_rate": "trainer.learning_rate",
    "bin_width": "data.bin_width_s",
    "align": "data.align",
    "window": "data.window_s",
    "window_length": "data.window_length_s",
    "batch_size": "data.batch_size",
    "heldout_fraction": "data.heldout_fraction",
    "validation_fraction": "data.validation_fraction",
    "split_seed": "data.split_seed",
    "series": "data.series",
    "units_where": "data.units_where",
    "intervals": "data.intervals",
    "inputs": "data.inputs",
    "targets": "data.targets",
    "zscore": "data.zscore",
    "rank": "lowrank.rank",
    "units": "lowrank.units",
    "particles": "lowrank.particles",
    "proposal": "lowrank.proposal",
    "obs": "lowrank.obs",
    "activation": "lowrank.activation",
    "fixed_points": "analysis.fixed_points",
    "fixed_point_budget": "analysis.fixed_point_budget_s",
    "states": "srnn.states",
    "latent_dim": "srnn.latent_dim",
    "accelerator": "trainer.accelerator",
    "devices": "trainer.devices",
    "num_nodes": "trainer.num_nodes",
    "strategy": "trainer.strategy",
    "precision": "trainer.precision",
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
    ref: SourceRef,
    data: NeuralData,
    config: FitConfig,
    out_dir: Path,
    overwrite: bool,
    command: str,
    resume: Path | None = None,
    fresh: bool = False,
) -> SessionFit | None:
    """Train one session (resuming its run directory unless ``fresh``) and write its result; None on ranks > 0.

    Under DDP every rank trains, but only global rank 0 computes the posterior over all windows and writes the
    output file, so each trial is written exactly once.
    """
    import pytorch_lightning as pl

    from nwb_dyn.analysis.quality import assess_fit
    from nwb_dyn.data import NeuralDataModule
    from nwb_dyn.evaluate import fit_metrics
    from nwb_dyn.results.writer import FitRecord, write_result
    from nwb_dyn.training.checkpoint_io import load_best_weights
    from nwb_dyn.training.data_init import resolve_rank
    from nwb_dyn.training.families import FAMILIES
    from nwb_dyn.training.history import read_training_history
    from nwb_dyn.training.run import (
        check_compatible,
        choose_resume_point,
        launched_rank,
        prepare_run,
        read_summary,
        run_directory,
    )
    from nwb_dyn.training.trainer import make_trainer

    _quiet_lightning()
    require_non_overlapping_windows(data, ref.identity.location)
    modality = data.modality
    output = out_dir / derived_file_name(ref.identity.display_name, data.session, config.model, modality)
    if output.exists() and not overwrite:
        raise OutputError(f"{output} already exists; pass --overwrite to replace it, or choose another --out")
    run = run_directory(out_dir, output.stem)
    point = choose_resume_point(run, resume, fresh)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    config, rank_choice = resolve_rank(config, data)
    if rank_choice is not None and launched_rank() == 0:
        print(f"nwb-dyn: rank {rank_choice['rank']} (auto: {rank_choice['method']})", file=sys.stderr)
    family = FAMILIES[config.model]
    module = family.build(config, data)
    if point is not None:
        check_compatible(point, module)
        if launched_rank() == 0:
            print(
                f"nwb-dyn: resuming from {point.path} (after epoch {point.epochs_done}); pass --fresh to start over",
                file=sys.stderr,
            )
    prepare_run(run, config, fresh)
    datamodule = NeuralDataModule(data, config.data.batch_size, config.seed)
    trainer = make_trainer(
        config,
        run.root,
        has_validation=bool(len(data.split_indices("val"))),
        steps_per_epoch=-(-len(data.split_indices("train")) // config.data.batch_size),
    )
    started = time.perf_counter()
    trainer.fit(
        module, datamodule=datamodule, ckpt_path=None if point is None else str(point.path), weights_only=True
    )
    wall_s = time.perf_counter() - started
    if not trainer.is_global_zero:
        return None
    weights_used = load_best_weights(trainer, module)
    module.float()  # posteriors and products are float32 whatever trainer.precision trained in
    with progress.current().stage("posterior latents, states, generated samples and fixed points"):
        products = family.summarise(module, data, config)
    forecasts = None
    if family.forecast is not None:
        with progress.current().stage("forecasts"):
            forecasts = family.forecast(module.model, data, config)
    with progress.current().stage("metrics"):
        products.metrics = fit_metrics(data, products, forecasts=forecasts)
    run_summary = read_summary(run)
    quality = assess_fit(data, products, run_summary.get("stop_reason"))
    print(quality.line(), flush=True)
    training_summary = {
        **run_summary,
        "quality": quality.to_dict(),
        "wall_time_s": round(wall_s, 3),
        "run_dir": str(run.root),
        "history": read_training_history(run.root),
        "weights": weights_used,
        "resumed_after_epochs": None if point is None else point.epochs_done,
        **({} if rank_choice is None else {"rank_choice": rank_choice}),
    }
    record = FitRecord(
        source=ref.identity.to_dict(),
        config=config.to_dict(),
        seed=config.seed,
        versions=package_versions(),
        command=command,
        training_summary=training_summary,
    )
    with progress.current().stage(f"writing {output}"):
        write_result(output, data, products, record)
    return SessionFit(
        source=ref.identity.display_name, output=output, summary={**training_summary, "metrics": products.metrics}
    )


def _is_multi_process(config: FitConfig) -> bool:
    """True when this fit runs as several processes (DDP devices or nodes, or a torchrun/SLURM launch)."""
    launched_world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    return config.trainer.devices > 1 or config.trainer.num_nodes > 1 or launched_world > 1


def _wait_for_node_extraction(key: str, cache: ExtractionCache, label: str) -> NeuralData:
    """On local ranks > 0: load the arrays that local rank 0 extracts, instead of reading the source again."""
    deadline = time.monotonic() + float(os.environ.get("NWB_DYN_EXTRACTION_WAIT_S", "3600"))
    while time.monotonic() < deadline:
        cached = cache.load(key)
        if cached is not None:
            return cached
        time.sleep(0.5)
    raise TrainingError(
        f"{label}: local rank 0 did not finish extracting the session in time; check rank 0's log, or raise "
        "NWB_DYN_EXTRACTION_WAIT_S"
    )


def _session_data(ref: SourceRef, config: FitConfig, cache: ExtractionCache) -> NeuralData:
    """Extract one session, or take it from the cache without opening the source (so no network for a repeat).

    In a multi-process run only local rank 0 of each node reads the source (Lightning's ``prepare_data``
    contract); the other ranks wait for its cache entry.
    """
    multi_process = _is_multi_process(config)
    key = extraction_cache_key(ref.identity, config.data, config.seed, include_local=multi_process)
    cached = None if key is None else cache.load(key)
    if cached is not None:
        return cached
    if multi_process and key is not None and int(os.environ.get("LOCAL_RANK", "0") or 0) > 0:
        return _wait_for_node_extraction(key, cache, ref.identity.location)
    with progress.current().stage(f"reading and binning {ref.identity.display_name}"), ref.open() as nwbfile:
        data = extract_neural_data(nwbfile, config.data, config.seed, ref.identity.location)
    if key is not None:
        cache.store(key, data)
    return data


def fit(
    source: str,
    model: str = "lowrank",
    out: str | Path = "nwb-dyn-out",
    config: str | Path | None = None,
    overwrite: bool = False,
    command: str | None = None,
    resume: str | Path | None = None,
    fresh: bool = False,
    asset: str | None = None,
    dandi_api_url: str | None = None,
    cache_dir: str | Path | None = None,
    download: bool = False,
    **options: Any,
) -> FitOutcome:
    """Fit ``model`` to every session named by ``source``; write one derived NWB file per session under ``out``.

    ``options`` are the CLI's option names (``max_epochs=2``, ``bin_width=0.02``, ``rank=3``, ...); see
    :data:`OPTION_KEYS`. A YAML ``config`` file is applied first, then ``options`` override it.

    A fit whose run directory (under ``out``) holds a ``last.ckpt`` resumes from it; ``resume`` names another
    checkpoint and ``fresh`` discards the old run. Under DDP only global rank 0 returns fits (others return none).

    ``source`` is a path, an http(s) URL or a dandiset (``dandiset:000128[@VERSION][/ASSET/PATH]``); ``asset`` is a
    glob narrowing a dandiset's NWB assets, ``dandi_api_url``/``cache_dir``/``download`` are as in
    :class:`nwb_dyn.sources.SourceOptions`. Remote sessions' extracted arrays are cached, so a repeat reads nothing.
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
    source_options = SourceOptions(
        asset_glob=asset,
        dandi_api_url=dandi_api_url,
        cache_dir=None if cache_dir is None else Path(cache_dir).expanduser(),
        download=download,
    )
    extraction_cache = ExtractionCache(source_options.cache_root() / "extracted")
    refs = resolve_sources(source, source_options)
    ensure_writable_directory(out_dir)  # a bad source creates nothing; a bad --out fails before any training
    for ref in refs:
        data = _session_data(ref, resolved, extraction_cache)
        session = _fit_session(
            ref,
            data,
            resolved,
            out_dir,
            overwrite,
            command or " ".join(sys.argv),
            resume=None if resume is None else Path(resume),
            fresh=fresh,
        )
        if session is not None:
            outcome.fits.append(session)
    return outcome


def evaluate(
    result: str | Path,
    labels: str | None = None,
    dandi_api_url: str | None = None,
    cache_dir: str | Path | None = None,
    source: str | None = None,
) -> dict[str, float]:
    """Recompute every applicable metric of a result file written by :func:`fit` (``nwb-dyn evaluate``).

    The source session is re-extracted with the fit's recorded configuration (from the extraction cache when it is
    there); ``labels`` (``events:COL[,COL...]`` or a ``.npy`` file) adds state accuracies against reference labels.
    ``source`` names the session when the recorded one is not found (results name local files without their
    folder); its sha256 must still match the recorded one.
    """
    from nwb_dyn.evaluate import evaluate_result
    from nwb_dyn.sources.identity import SourceIdentity

    source_options = SourceOptions(
        dandi_api_url=dandi_api_url, cache_dir=None if cache_dir is None else Path(cache_dir).expanduser()
    )
    cache = ExtractionCache(source_options.cache_root() / "extracted")

    def load_session(source: str, config: FitConfig) -> tuple[SourceIdentity, NeuralData]:
        refs = list(resolve_sources(source, source_options))
        if len(refs) != 1:
            raise OutputError(f"the recorded source {source} now names {len(refs)} sessions instead of one")
        return refs[0].identity, _session_data(refs[0], config, cache)

    return evaluate_result(result, load_session, labels, source)


def report(result: str | Path, out: str | Path = "nwb-dyn-report") -> Path:
    """Draw the figures that apply to a result file written by :func:`fit` and an ``index.html`` showing them with
    the metrics table (``nwb-dyn report``); returns the path of ``index.html`` inside ``out``."""
    from nwb_dyn.report import render_report

    return render_report(result, Path(out).expanduser()).index
