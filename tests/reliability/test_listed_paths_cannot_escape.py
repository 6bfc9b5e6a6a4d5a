"""Asset paths from a DANDI listing are the archive's text, not ours: none can make nwb-dyn write outside the cache
or output directory, however many ``../`` it holds or if it is absolute."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dandi_standin import DandiStandin, StandinAsset, StandinDandiset
from tests.helpers import run_cli, write_units_session
from tests.reliability.conftest import TINY_FIT_ARGS


def _escaping_paths(target: Path) -> list[str]:
    """Listed paths that, joined naively onto any directory, land in ``target``."""
    climb_to_root = "../" * 64  # more levels than any cache directory has
    return [
        f"sub-deep/{climb_to_root}{str(target).lstrip('/')}/sub-deep_ecephys.nwb",
        f"{target}/sub-absolute_ecephys.nwb",
    ]


@pytest.mark.parametrize("download", [True, False], ids=["download", "stream"])
def test_escaping_asset_paths_write_only_into_cache_and_out(tmp_path: Path, download: bool) -> None:
    target, work = tmp_path / "target", tmp_path / "work"
    target.mkdir()
    work.mkdir()
    session = write_units_session(tmp_path / "served.nwb", num_units=4, num_trials=6)
    paths = _escaping_paths(target)
    dandiset = StandinDandiset("000888", {"draft": [StandinAsset(path, session) for path in paths]})
    with DandiStandin([dandiset]) as server:
        code, stdout, stderr = run_cli(
            "fit",
            "dandiset:000888",
            "--dandi-api-url",
            server.api_url,
            "--cache-dir",
            str(work / "cache"),
            "--out",
            str(work / "out"),
            *(["--download"] if download else []),
            *TINY_FIT_ARGS,
        )
    assert code == 0, stderr
    outputs = [Path(line) for line in stdout.strip().splitlines() if not line.startswith("nwb-dyn: fit quality")]
    assert len(outputs) == len(paths) and all(output.parent == work / "out" for output in outputs)
    assert list(target.iterdir()) == []
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != session]
    assert (
        written
        and [
            p for p in written if not p.is_relative_to(work / "cache") and not p.is_relative_to(work / "out")
        ]
        == []
    )
    downloads = sorted((work / "cache" / "downloads").glob("*.nwb")) if download else []
    assert len(downloads) == (
        1 if download else 0
    )  # both listed paths are one content: one download, by sha256
