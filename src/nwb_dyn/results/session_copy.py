"""Carry the source session into the derived file: metadata, a complete subject, the trials and the units."""

from __future__ import annotations

import re
import uuid

import numpy as np
from hdmf.common import VectorData, VectorIndex
from pynwb import NWBFile
from pynwb.file import Subject
from pynwb.misc import Units

from nwb_dyn.extract import SessionInfo

# Spike-time spacings are rounded to the nanosecond: float64 noise on a millisecond grid (0.000999999...) is not
# precision the recording had, and no extracellular system samples faster than 1 GHz.
_RESOLUTION_DECIMALS = 9
UNIDENTIFIED_SPECIES = "http://purl.obolibrary.org/obo/NCBITaxon_32644"


def new_derived_nwbfile(session: SessionInfo, description: str, source_name: str) -> NWBFile:
    """A new NWBFile (fresh identifier) with the source's session metadata and a complete subject.

    ``source_name`` (the source's file name or asset path) names the subject when the source recorded none.
    """
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
    nwbfile.subject = complete_subject(session.subject or _subject_from_name(source_name))
    return nwbfile


def _subject_from_name(source_name: str) -> dict[str, str]:
    """A subject for a source that recorded none (DANDI needs one): its id from the ``sub-`` entity of the name."""
    stem = source_name.rsplit("/", 1)[-1]
    match = re.search(r"(?:^|_)sub-([A-Za-z0-9-]+)", stem)
    subject_id = match.group(1) if match else "unknown"
    origin = (
        f"the 'sub-' entity of the source file name {stem}" if match else "nothing (written as 'unknown')"
    )
    return {
        "subject_id": subject_id,
        "description": f"The source recorded no subject; subject_id taken from {origin}.",
    }


def complete_subject(fields: dict[str, str]) -> Subject:
    """The source's subject, with unknown age and sex written in NWB's own forms for "unknown".

    DANDI and nwbinspector treat a missing age, sex or species as critical or a violation. We never invent a value:
    an unknown sex is NWB's ``"U"``, an unknown age the open ISO 8601 range ``"P0D/"`` ("zero days or older"), an
    unknown species NCBI taxon 32644 ("unidentified", in the taxonomy-link form nwbinspector accepts), and the
    description says that the source did not record them.
    """
    completed = dict(fields)
    notes = []
    if "age" not in completed:
        completed["age"] = "P0D/"
        notes.append("age not recorded in the source (written as the open range P0D/)")
    if "sex" not in completed:
        completed["sex"] = "U"
        notes.append("sex not recorded in the source (written as U)")
    if "species" not in completed:
        completed["species"] = UNIDENTIFIED_SPECIES
        notes.append("species not recorded in the source (written as NCBI taxon 32644, 'unidentified')")
    description = completed.get("description", "Subject of the source session.")
    completed["description"] = "; ".join([description, *notes]) if notes else description
    return Subject(**completed)


def copy_trials(nwbfile: NWBFile, session: SessionInfo) -> None:
    """Copy the source's trials table (flat columns only) into ``nwbfile``."""
    trials = session.trials
    if "start_time" not in trials:
        return
    for column in trials:
        if column not in ("start_time", "stop_time"):
            nwbfile.add_trial_column(
                name=column, description=session.trial_column_descriptions.get(column, column)
            )
    for row in range(len(trials["start_time"])):
        nwbfile.add_trial(**{column: values[row] for column, values in trials.items()})


def finest_spike_spacing_s(spike_times: list[np.ndarray]) -> float | None:
    """Smallest positive gap between distinct spike times over all units (seconds, to the ns), or None if < 2."""
    if not spike_times:
        return None
    distinct = np.unique(np.round(np.concatenate(spike_times), _RESOLUTION_DECIMALS))
    gaps = np.round(np.diff(distinct), _RESOLUTION_DECIMALS)
    gaps = gaps[gaps > 0]
    return float(gaps.min()) if gaps.size else None


def copy_units(nwbfile: NWBFile, session: SessionInfo) -> None:
    """Copy the source's units (ids and spike times) with a spike-time ``resolution``.

    The resolution is the source's own when it recorded one; otherwise the finest spacing its spike times allow
    (an upper bound on the true resolution), and the table's description says so. With fewer than two distinct
    spike times nothing bounds it, and it is left unset rather than invented.
    """
    if session.units_ids is None:
        return
    resolution = session.units_resolution_s
    if resolution is not None:
        note = "resolution copied from the source."
    else:
        resolution = finest_spike_spacing_s(session.units_spike_times)
        note = (
            "the source recorded no resolution; it is set to the finest spacing between distinct spike times in "
            f"the source ({resolution} s), an upper bound on the true one."
            if resolution is not None
            else "the source recorded no resolution and its spike times do not bound one; left unset."
        )
    # Columns are built whole: add_unit per unit makes hdmf convert spike times element by element (seconds for
    # a few hundred thousand spikes).
    trains = [np.asarray(times, dtype=np.float64) for times in session.units_spike_times]
    spike_times = VectorData(
        name="spike_times",
        description="the spike times for each unit in seconds",
        data=np.concatenate(trains) if trains else np.zeros(0),
    )
    spike_times_index = VectorIndex(
        name="spike_times_index", data=np.cumsum([len(times) for times in trains]).astype(np.int64), target=spike_times
    )
    nwbfile.units = Units(
        name="units",
        id=np.asarray(session.units_ids, dtype=np.int64),
        columns=[spike_times, spike_times_index],
        description=f"Units of the source session (original ids and spike times); {note}",
        resolution=resolution,
    )
