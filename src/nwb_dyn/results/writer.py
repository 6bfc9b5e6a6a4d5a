"""Write what a fit produced into a new, derived NWB file (``ndx-dyn`` types from ``spec/``), atomically.

Layout (one processing module ``misc`` per fit, a name nwbinspector accepts): ``latents``, ``rates``, and where the
model has them ``states``, ``state_probabilities``, ``state_segments``, ``fixed_points``, ``generated_latents``,
``generated_observations``; the fitted ``fit_windows``; the ``model`` (weights and hyperparameters) and its
``provenance``. The file also carries the source's session metadata, subject, trials and units. The source is only
ever read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pynwb import NWBHDF5IO, NWBFile

from nwb_dyn.analysis.products import ModelProducts
from nwb_dyn.atomic import atomic_path
from nwb_dyn.extract import NeuralData
from nwb_dyn.provenance import shareable_fields, sharing_base
from nwb_dyn.results import containers
from nwb_dyn.results.session_copy import copy_trials, copy_units, new_derived_nwbfile

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


def build_result_nwbfile(data: NeuralData, products: ModelProducts, record: FitRecord) -> NWBFile:
    """A new in-memory NWBFile holding the session metadata, trials, units and the fit's outputs."""
    source_name = record.source.get("asset_path") or Path(str(record.source.get("location", "source"))).name
    nwbfile = new_derived_nwbfile(
        data.session,
        f"nwb-dyn {products.family} fit of {source_name} ({data.data_path}, {data.bin_width_s} s bins)",
        source_name,
    )
    copy_trials(nwbfile, data.session)
    copy_units(nwbfile, data.session)
    module = nwbfile.create_processing_module(
        name=MODULE_NAME,
        description=f"nwb-dyn: {products.family} dynamics model fitted to {data.data_path} of {source_name}",
    )
    time = containers.TimeBase.of(data)
    module.add(containers.latent_series(products, time))
    module.add(containers.rate_series(products, data, time, nwbfile.units))
    if products.states is not None:
        num_states = (
            products.state_probabilities.shape[-1]
            if products.state_probabilities is not None
            else int(np.max(products.states)) + 1
        )
        module.add(containers.state_series(products.states, num_states, products.family, time))
        module.add(containers.state_segments(products.states, data, time))
    if products.state_probabilities is not None:
        module.add(containers.state_probability_series(products.state_probabilities, products.family, time))
    if products.fixed_points is not None and products.fixed_points.num_points:
        # nwbinspector rejects an empty table: "none found" is the model's num_fixed_points metric instead
        module.add(containers.fixed_point_table(products.fixed_points, products.family))
    if products.samples is not None:
        for series in containers.generated_series(products.samples, data):
            module.add(series)
    module.add(containers.fit_windows(data, time))
    module.add(containers.dynamics_model(products, record.training_summary))
    module.add(
        containers.fit_provenance(record.source, record.config, record.seed, record.versions, record.command)
    )
    return nwbfile


def write_result(path: Path, data: NeuralData, products: ModelProducts, record: FitRecord) -> Path:
    """Write the derived NWB file to ``path`` atomically (the spec is cached in it) and return ``path``.

    The file is meant to be shared: local absolute paths in ``record`` (the source's location, the run directory,
    checkpoints, the command line) are written relative to the working directory or as bare file names
    (:func:`nwb_dyn.provenance.shareable`); the source stays identified by its sha256 or DANDI identifiers.
    """
    nwbfile = build_result_nwbfile(data, products, shareable_fields(record, sharing_base()))
    # Temporaries of this output left by writers that were killed: only one process (rank 0) writes an output.
    for stale in path.parent.glob(f".{path.name}.*.partial.nwb"):
        stale.unlink(missing_ok=True)
    with atomic_path(path) as temporary, NWBHDF5IO(str(temporary), mode="w") as io:
        io.write(nwbfile, cache_spec=True)
    return path
