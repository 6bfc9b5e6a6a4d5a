"""Tiny NWB sessions with continuous series (LFP, fluorescence, behaviour), units and interval tables, for tests."""

from __future__ import annotations

import numpy as np
from pynwb import NWBFile, TimeSeries
from pynwb.behavior import Position, SpatialSeries
from pynwb.ecephys import LFP, ElectricalSeries
from pynwb.ophys import Fluorescence, RoiResponseSeries
from pynwb.testing.mock.ophys import mock_PlaneSegmentation


def _module(nwbfile: NWBFile, name: str):
    if name not in nwbfile.processing:
        nwbfile.create_processing_module(name=name, description=f"{name} data")
    return nwbfile.processing[name]


def add_lfp(
    nwbfile: NWBFile,
    data: np.ndarray,
    rate_hz: float,
    conversion: float = 1.0,
    offset: float = 0.0,
    channel_conversion: np.ndarray | None = None,
) -> str:
    """``processing/ecephys/LFP/ElectricalSeries`` with one electrode per column of (N, D) ``data``; returns its path."""
    device = nwbfile.create_device(name="probe")
    group = nwbfile.create_electrode_group(name="shank", description="shank", location="CA1", device=device)
    for _ in range(data.shape[1]):
        nwbfile.add_electrode(group=group, location="CA1")
    region = nwbfile.create_electrode_table_region(region=list(range(data.shape[1])), description="all")
    series = ElectricalSeries(
        name="ElectricalSeries", data=data, electrodes=region, rate=rate_hz, starting_time=0.0,
        conversion=conversion, offset=offset, channel_conversion=channel_conversion,
    )
    _module(nwbfile, "ecephys").add(LFP(electrical_series=series))
    return "processing/ecephys/LFP/ElectricalSeries"


def add_fluorescence(nwbfile: NWBFile, data: np.ndarray, rate_hz: float) -> str:
    """``processing/ophys/Fluorescence/RoiResponseSeries`` over (N, D) ``data``; returns its path."""
    segmentation = mock_PlaneSegmentation(nwbfile=nwbfile, n_rois=data.shape[1])
    rois = segmentation.create_roi_table_region(region=list(range(data.shape[1])), description="all rois")
    series = RoiResponseSeries(name="RoiResponseSeries", data=data, rois=rois, unit="a.u.", rate=rate_hz)
    _module(nwbfile, "ophys").add(Fluorescence(roi_response_series=series))
    return "processing/ophys/Fluorescence/RoiResponseSeries"


def add_position(nwbfile: NWBFile, data: np.ndarray, rate_hz: float) -> str:
    """``processing/behavior/Position/hand`` (N, 2) at ``rate_hz``; returns its path."""
    series = SpatialSeries(name="hand", data=data, reference_frame="screen centre", rate=rate_hz, starting_time=0.0)
    _module(nwbfile, "behavior").add(Position(spatial_series=series))
    return "processing/behavior/Position/hand"


def add_acquisition_series(nwbfile: NWBFile, name: str, data: np.ndarray, **timing: object) -> str:
    """A plain ``acquisition/NAME`` TimeSeries (pass ``rate=`` or ``timestamps=``); returns its path."""
    nwbfile.add_acquisition(TimeSeries(name=name, data=data, unit="a.u.", **timing))
    return f"acquisition/{name}"


def poisson_trains(rng: np.random.Generator, num_units: int, stop_s: float, rate_hz: float = 20.0) -> list[np.ndarray]:
    """Sorted homogeneous Poisson spike times on [0, stop_s) for ``num_units`` units."""
    return [np.sort(rng.uniform(0, stop_s, size=rng.poisson(rate_hz * stop_s))) for _ in range(num_units)]
