"""Range reads against the stand-in equal the file's bytes, also when 30 % of requests fail; checked downloads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from nwb_dyn.errors import SourceError
from nwb_dyn.sources.http import RemoteFile, download_file
from tests.dandi_standin import DandiStandin
from tests.helpers import run_cli
from tests.sources.conftest import SYNTHETIC_PATHS


@pytest.mark.parametrize("fault_rate", [0.0, 0.3])
def test_random_reads_equal_the_file(
    standin: DandiStandin, standin_files: dict[str, Path], fault_rate: float
) -> None:
    standin.inject_faults(fault_rate)
    expected = standin_files["behaviour"].read_bytes()
    remote = RemoteFile(standin.file_url("behaviour.nwb"))
    assert remote.size == len(expected) and remote.etag is not None
    rng = np.random.default_rng(0)
    for _ in range(40):
        start = int(rng.integers(0, len(expected)))
        length = int(rng.integers(1, 300_000))
        remote.seek(start)
        assert remote.read(length) == expected[start : start + length]
    remote.seek(-5, 2)
    assert remote.read(100) == expected[-5:]
    assert (standin.traffic.faults_injected > 0) == (fault_rate > 0)


def test_download_checks_sha256(
    standin: DandiStandin, standin_files: dict[str, Path], tmp_path: Path
) -> None:
    source = standin_files["behaviour"]
    good = hashlib.sha256(source.read_bytes()).hexdigest()
    target = download_file(standin.file_url("behaviour.nwb"), tmp_path / "ok.nwb", good)
    assert target.read_bytes() == source.read_bytes()
    with pytest.raises(SourceError, match="has sha256 .* but the archive lists 0000"):
        download_file(standin.file_url("behaviour.nwb"), tmp_path / "bad.nwb", "0" * 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.nwb"]


def test_downloaded_asset_is_reused_and_a_corrupt_copy_fetched_again(
    standin: DandiStandin, tmp_path: Path
) -> None:
    source = f"dandiset:000999/{SYNTHETIC_PATHS[1]}"
    size = next(a.size for a in standin.dandisets["000999"].versions["draft"] if a.path == SYNTHETIC_PATHS[1])
    argv = ("ls", source, "--download", "--cache-dir", str(tmp_path))
    first = run_cli(*argv)
    assert first[0] == 0, first[2]
    (copy,) = (tmp_path / "downloads").iterdir()
    assert standin.traffic.blob_bytes == size == copy.stat().st_size

    standin.reset_traffic()
    assert run_cli(*argv) == first
    assert standin.traffic.blob_bytes == 0

    content = copy.read_bytes()
    copy.write_bytes(content[:-1] + bytes([content[-1] ^ 0xFF]))
    standin.reset_traffic()
    assert run_cli(*argv) == first
    assert standin.traffic.blob_bytes == size
