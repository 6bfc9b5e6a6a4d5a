"""Write what a fit produced into a new, derived NWB file (extension types from ``spec/``), atomically."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from pynwb import NWBFile, NWBHDF5IO, TimeSeries
from pynwb.epoch import TimeIntervals
from pynwb.file import Subject

from nwb_dyn.analysis.products import ModelProducts
from nwb_dyn.extract import NeuralData, SessionInfo
from nwb_dyn.ndx import DynamicsModel, LatentSeries
from nwb_dyn.results.atomic import atomic_path

MODULE_NAME = "misc"


@dataclass
class FitRecord:
    """Provenance of one fit: source identity, resolved config, seed, versions, command line, training summary."""

    source: dict[str, Any]
    config: dict[str, Any]
    seed: int
    versions: dict[str, str]
    command: str
    training_summary: dict[str, Any]


def _window_order(data: NeuralData) -> np.ndarray:
    return np.argsort(data.window_intervals_s[:, 0], kind="stable")


def _concatenate_windows(array: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(B, T, ...) → (B·T, ...) in time order of the windows (time first, as viewers expect)."""
    ordered = array[order]
    return ordered.reshape(ordered.shape[0] * ordered.shape[1], *ordered.shape[2:])


def _new_nwbfile(session: SessionInfo, description: str) -> NWBFile:
    nwbfile = NWBFile(
        session_description=description,
        identifier=str(uuid.uuid4()),
        session_start_time=session.session_start_time,
        session_id=session.session_id,
        institution=session.institution,
        lab=session.lab,
        experimenter=session.experimenter or None,
        experiment_description=f"Derived from session '{session.identifier}': {session.session_description}",
        keywords=["neural dynamics", "latent variable model", "nwb-dyn"],
        source_script="nwb-dyn",
        source_script_file_name="nwb_dyn",
    )
    if session.subject:
        nwbfile.subject = _complete_subject(session.subject)
    return nwbfile


def _complete_subject(fields: dict[str, str]) -> Subject:
    """The source's subject, with unknown age and sex written in NWB's own forms for "unknown".

    DANDI and nwbinspector treat a missing age or sex as critical. We never invent a value: an unknown sex is
    NWB's ``"U"`` and an unknown age the open ISO 8601 range ``"P0D/"`` ("zero days or older"), and the description
    says that the source did not record them.
    """
    completed = dict(fields)
    notes = []
    if "age" not in completed:
        completed["age"] = "P0D/"
        notes.append("age not recorded in the source (written as the open range P0D/)")
    if "sex" not in completed:
        completed["sex"] = "U"
        notes.append("sex not recorded in the source (written as U)")
    description = completed.get("description", "Subject of the source session.")
    completed["description"] = "; ".join([description, *notes]) if notes else description
    return Subject(**completed)


def _copy_trials(nwbfile: NWBFile, session: SessionInfo) -> None:
    trials = session.trials
    if "start_time" not in trials:
        return
    for column in trials:
        if column not in ("start_time", "stop_time"):
            nwbfile.add_trial_column(name=column, description=session.trial_column_descriptions.get(column, column))
    for row in range(len(trials["start_time"])):
        nwbfile.add_trial(**{column: values[row] for column, values in trials.items()})


def build_result_nwbfile(data: NeuralData, products: ModelProducts, record: FitRecord) -> NWBFile:
    """A new in-memory NWBFile holding the session metadata, trials and the fit's outputs."""
    source_name = record.source.get("asset_path") or Path(str(record.source.get("location", "source"))).name
    nwbfile = _new_nwbfile(
        data.session, f"nwb-dyn {products.family} fit of {source_name} ({data.data_path}, {data.bin_width_s} s bins)"
    )
    _copy_trials(nwbfile, data.session)
    module = nwbfile.create_processing_module(
        name=MODULE_NAME,
        description=f"nwb-dyn: {products.family} dynamics model fitted to {data.data_path} of {source_name}",
    )
    order = _window_order(data)
    timestamps = _concatenate_windows(data.bin_start_s + data.bin_width_s / 2, order)
    latents = LatentSeries(
        name="latents",
        description=f"Posterior latents ({products.latent_estimate}) of the {products.family} model, one row per bin.",
        data=H5DataIO(_concatenate_windows(products.latents, order).astype(np.float32), compression="gzip"),
        timestamps=timestamps,
        unit="a.u.",
        estimate=products.latent_estimate,
        comments="Timestamps are bin centres on the source session's clock; windows are concatenated in time.",
    )
    module.add(latents)
    rates = TimeSeries(
        name="rates",
        description=(
            "Model-predicted mean observation per bin for every channel (expected spike counts per bin for spikes)."
        ),
        data=H5DataIO(_concatenate_windows(products.rates, order).astype(np.float32), compression="gzip"),
        timestamps=latents,
        unit="spikes/bin" if data.observation == "counts" else "a.u.",
    )
    module.add(rates)
    windows = TimeIntervals(name="fit_windows", description="The windows the model was fitted on and their split.")
    windows.add_column(name="trial", description="Row of the source trials table (or window index).")
    windows.add_column(name="split", description="'train' or 'val'.")
    for row in order:
        windows.add_interval(
            start_time=float(data.window_intervals_s[row, 0]),
            stop_time=float(data.window_intervals_s[row, 1]),
            trial=int(data.trial_ids[row]),
            split=str(data.split[row]),
        )
    module.add(windows)
    model = DynamicsModel(
        name="model",
        family=products.family,
        hyperparameters=json.dumps({"config": record.config, "model": products.hyperparameters}),
        provenance=json.dumps(
            {"source": record.source, "seed": record.seed, "versions": record.versions, "command": record.command}
        ),
        training_summary=json.dumps({**record.training_summary, "metrics": products.metrics}),
    )
    module.add(model)
    return nwbfile


def write_result(path: Path, data: NeuralData, products: ModelProducts, record: FitRecord) -> Path:
    """Write the derived NWB file to ``path`` atomically and return ``path``."""
    nwbfile = build_result_nwbfile(data, products, record)
    with atomic_path(path) as temporary:
        with NWBHDF5IO(str(temporary), mode="w") as io:
            io.write(nwbfile)
    return path
