"""Corrupted cache entries (a downloaded copy, an extracted-array entry) are discarded and fetched again: the fit
ends with the numbers of a clean run, never with an error or with numbers from damaged bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO

from tests.dandi_standin import DandiStandin
from tests.helpers import run_cli
from tests.reliability.conftest import TINY_FIT_ARGS
from tests.sources.conftest import SYNTHETIC_PATHS

ASSET_PATH = SYNTHETIC_PATHS[2]


def _latents(output: Path) -> np.ndarray:
    with NWBHDF5IO(str(output), mode="r", load_namespaces=True) as io:
        return np.asarray(io.read().processing["misc"]["latents"].data[:])


def _fit(cache: Path, out: Path) -> Path:
    code, stdout, stderr = run_cli(
        "fit",
        f"dandiset:000999/{ASSET_PATH}",
        "--download",
        "--cache-dir",
        str(cache),
        "--out",
        str(out),
        *TINY_FIT_ARGS,
    )
    assert code == 0, stderr
    return Path(stdout.strip().splitlines()[-1])


def test_corrupted_download_and_extraction_entries_are_refetched(
    standin: DandiStandin, tmp_path: Path
) -> None:
    asset = next(a for a in standin.dandisets["000999"].versions["draft"] if a.path == ASSET_PATH)
    cache = tmp_path / "cache"
    clean = _latents(_fit(cache, tmp_path / "clean"))
    (download,) = (cache / "downloads").iterdir()
    (arrays,) = (cache / "extracted").glob("*.npz")
    content = download.read_bytes()
    download.write_bytes(content[:-1] + bytes([content[-1] ^ 0xFF]))  # same size, one bit pattern off
    arrays.write_bytes(arrays.read_bytes()[:-10])  # torn entry

    standin.reset_traffic()
    again = _latents(_fit(cache, tmp_path / "again"))
    np.testing.assert_array_equal(again, clean)
    assert standin.traffic.blob_bytes == asset.size  # fetched whole once more
    assert hashlib.sha256(download.read_bytes()).hexdigest() == asset.sha256
    assert arrays.exists()  # stored again, intact (the repeat below reads no bytes)

    standin.reset_traffic()
    np.testing.assert_array_equal(_latents(_fit(cache, tmp_path / "third")), clean)
    assert standin.traffic.blob_bytes == 0
