"""An output file names its source by file name, sha256 and DANDI identifiers: no absolute path of the fitting
machine (tmp folders, the home directory, checkpoints, the run directory) appears anywhere in its bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import nwb_dyn
import nwb_dyn.api
from nwb_dyn.errors import OutputError
from nwb_dyn.provenance import shareable, sharing_base
from nwb_dyn.results.reader import read
from nwb_dyn.sources.identity import sha256_of_file
from tests.helpers import write_units_session


def _strings_in(path: Path) -> list[str]:
    """Every string value stored in the HDF5 file (attributes and datasets, decompressed)."""
    found: list[str] = []

    def collect(value: object) -> None:
        for item in np.ravel(np.asarray(value, dtype=object)):
            if isinstance(item, bytes):
                found.append(item.decode("utf-8", "replace"))
            elif isinstance(item, str):
                found.append(item)

    def visit(_: str, node: h5py.HLObject) -> None:
        for value in node.attrs.values():
            collect(value)
        if isinstance(node, h5py.Dataset) and node.dtype.kind in "OSU":
            collect(node[()])

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return found


def test_a_written_result_holds_no_local_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the project folder the user fits from
    (tmp_path / "data").mkdir()
    source = write_units_session(tmp_path / "data" / "sub-1_ses-1_ecephys.nwb")
    out = tmp_path / "out"
    outcome = nwb_dyn.fit(
        str(source), model="lowrank", out=out, max_epochs=1, units=8, particles=4, heldout_fraction=0.25,
        cache_dir=tmp_path / "cache", command=f"nwb-dyn fit {source} --out {out} --cache-dir={tmp_path / 'cache'}",
    )  # fmt: skip
    output = outcome.fits[0].output
    assert str(tmp_path) in str(outcome.fits[0].summary["run_dir"])  # the screen still shows where the run lies
    forbidden = {str(tmp_path), str(tmp_path.resolve()), str(Path.home()), str(Path.home().resolve())}
    raw = output.read_bytes()
    for text in forbidden:
        assert text.encode() not in raw, f"{text} is in the bytes of {output.name}"
    strings = _strings_in(output)
    assert not [value for value in strings if any(text in value for text in forbidden)]
    provenance = read(output).provenance
    # Paths inside the working directory are recorded relative to it (the command reruns from there).
    assert provenance["source"]["location"] == "data/sub-1_ses-1_ecephys.nwb"
    assert provenance["source"]["sha256"] == sha256_of_file(source)
    assert provenance["command"] == "nwb-dyn fit data/sub-1_ses-1_ecephys.nwb --out out --cache-dir=cache"
    assert str(read(output).stored_model.training_summary["run_dir"]).startswith("out/")
    assert nwb_dyn.api.evaluate(output, cache_dir=tmp_path / "cache")["val_heldin_bps"] == pytest.approx(
        outcome.fits[0].summary["metrics"]["val_heldin_bps"], rel=1e-4
    )


def test_evaluate_asks_for_a_source_it_cannot_find(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    source = write_units_session(tmp_path / "data" / "sub-2_ses-1_ecephys.nwb")
    outcome = nwb_dyn.fit(
        str(source), model="lowrank", out=tmp_path / "out", max_epochs=1, units=8, particles=4,
        heldout_fraction=0.25, cache_dir=tmp_path / "cache",
    )  # fmt: skip
    output = outcome.fits[0].output
    moved = tmp_path / "elsewhere" / source.name
    moved.parent.mkdir()
    shutil.move(source, moved)
    # Fitted from another working directory: the source is recorded by file name (and sha256) only.
    assert read(output).provenance["source"]["location"] == "sub-2_ses-1_ecephys.nwb"
    with pytest.raises(OutputError, match=r"recorded as sub-2_ses-1_ecephys.nwb \(sha256 .*pass --source PATH"):
        nwb_dyn.api.evaluate(output, cache_dir=tmp_path / "cache")
    metrics = nwb_dyn.api.evaluate(output, cache_dir=tmp_path / "cache", source=str(moved))
    assert metrics["val_heldin_bps"] == pytest.approx(outcome.fits[0].summary["metrics"]["val_heldin_bps"], rel=1e-4)


def test_shareable_rewrites_local_paths_only(tmp_path: Path) -> None:
    out = tmp_path / "out"
    value = {
        "location": str(tmp_path / "data" / "x.nwb"),
        "run_dir": str(out / ".runs" / "x"),
        "checkpoint": f"best checkpoint {out / '.runs' / 'x' / 'best.ckpt'} (epoch 3)",
        "home": "~/data/y.nwb",
        "nwb_paths": ["/processing/behavior/Position", "processing/ecephys/LFP"],
        "url": "https://api.dandiarchive.org/api/assets/abc/download/",
        "unit": "spikes/bin",
        "number": 3,
    }
    assert sharing_base(Path("/")) is None and sharing_base(Path.home().parent) is None  # would name the user
    assert sharing_base(tmp_path) == tmp_path.resolve()
    assert shareable(value, None)["run_dir"] == "x" and shareable(value, None)["location"] == "x.nwb"
    assert shareable(value, out.resolve()) == {
        "location": "x.nwb",
        "run_dir": ".runs/x",
        "checkpoint": "best checkpoint .runs/x/best.ckpt (epoch 3)",
        "home": "y.nwb",
        "nwb_paths": ["/processing/behavior/Position", "processing/ecephys/LFP"],
        "url": "https://api.dandiarchive.org/api/assets/abc/download/",
        "unit": "spikes/bin",
        "number": 3,
    }
