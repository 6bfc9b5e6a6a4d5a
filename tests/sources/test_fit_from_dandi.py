"""`nwb-dyn fit dandiset:…` against the DANDI stand-in: provenance, no network on a repeat, faults, downloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO

from tests.dandi_standin import DandiStandin
from tests.helpers import run_cli
from tests.sources.conftest import ESCAPING_PATH, MC_MAZE_PATH, MC_MAZE_VERSION, SYNTHETIC_PATHS

SMALL_MODEL = ("--model", "lowrank", "--max-epochs", "1", "--rank", "2", "--units", "8", "--particles", "4")


def _provenance(output: Path) -> dict[str, str]:
    with NWBHDF5IO(str(output), mode="r", load_namespaces=True) as io:
        record = io.read().processing["misc"]["provenance"]
        return {
            key: getattr(record, key)
            for key in (
                "source_kind", "dandiset_id", "dandiset_version", "asset_path", "asset_id", "sha256", "api_url"
            )
        }


def _latents(output: Path) -> np.ndarray:
    with NWBHDF5IO(str(output), mode="r", load_namespaces=True) as io:
        return np.asarray(io.read().processing["misc"]["latents"].data[:])


def test_fit_mc_maze_from_dandiset_records_provenance_and_repeat_makes_no_requests(
    standin: DandiStandin, tmp_path: Path
) -> None:
    asset = next(a for a in standin.dandisets["000140"].versions[MC_MAZE_VERSION])
    code, stdout, stderr = run_cli("fit", "dandiset:000140", "--out", str(tmp_path / "out"), *SMALL_MODEL)
    assert code == 0, stderr
    output = Path(stdout.strip().splitlines()[-1])
    assert output.name == "sub-Jenkins_ses-small_desc-test-lowrank_ecephys.nwb"
    assert _provenance(output) == {
        "source_kind": "dandi",
        "dandiset_id": "000140",
        "dandiset_version": MC_MAZE_VERSION,  # no version asked: the latest published one is used and recorded
        "asset_path": MC_MAZE_PATH,
        "asset_id": asset.asset_id,
        "sha256": asset.sha256,
        "api_url": standin.api_url,
    }
    assert 0 < standin.traffic.blob_bytes <= 2 * asset.size

    standin.reset_traffic()
    code, _, stderr = run_cli(
        "fit",
        f"dandiset:000140@{MC_MAZE_VERSION}",
        "--out",
        str(tmp_path / "out"),
        "--overwrite",
        *SMALL_MODEL,
    )
    assert code == 0, stderr
    assert (standin.traffic.requests, standin.traffic.blob_bytes) == (0, 0), standin.traffic.log


def test_dropped_range_requests_still_give_the_clean_runs_numbers(
    standin: DandiStandin, tmp_path: Path
) -> None:
    source = "dandiset:000999/sub-c/sub-c_ses-1_behavior+ecephys.nwb"
    clean_code, clean_out, clean_err = run_cli(
        "fit",
        source,
        "--out",
        str(tmp_path / "clean"),
        "--cache-dir",
        str(tmp_path / "clean-cache"),
        *SMALL_MODEL,
    )
    assert clean_code == 0, clean_err
    standin.reset_traffic()
    standin.inject_faults(0.3)
    code, stdout, stderr = run_cli(
        "fit",
        source,
        "--out",
        str(tmp_path / "faulty"),
        "--cache-dir",
        str(tmp_path / "faulty-cache"),
        *SMALL_MODEL,
    )
    assert code == 0, stderr
    assert standin.traffic.faults_injected >= 1
    np.testing.assert_array_equal(
        _latents(Path(stdout.strip().splitlines()[-1])), _latents(Path(clean_out.strip().splitlines()[-1]))
    )


def test_each_selected_asset_is_fitted_as_its_own_session(standin: DandiStandin, tmp_path: Path) -> None:
    code, stdout, stderr = run_cli(
        "fit", "dandiset:000999", "--asset", "sub-a/*", "--out", str(tmp_path), *SMALL_MODEL
    )
    assert code == 0, stderr
    outputs = [Path(line) for line in stdout.strip().splitlines() if not line.startswith("nwb-dyn: fit quality")]
    assert sorted(o.name for o in outputs) == [
        "sub-a_ses-1_desc-lowrank_ecephys.nwb",
        "sub-a_ses-2_desc-lowrank_ecephys.nwb",
    ]
    assert sorted(_provenance(o)["asset_path"] for o in outputs) == list(SYNTHETIC_PATHS[:2])


def test_listed_path_with_dotdot_never_writes_outside_cache_or_output(
    standin: DandiStandin, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    code, stdout, stderr = run_cli(
        "fit",
        "dandiset:000666",
        "--download",
        "--cache-dir",
        str(work / "cache"),
        "--out",
        str(work / "out"),
        *SMALL_MODEL,
    )
    assert code == 0, stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(
        p.is_relative_to(work / "cache") or p.is_relative_to(work / "out") for p in written
    )
    # A write that followed the ".." parts would land directly in one of work's ancestors.
    assert not any(any(ancestor.glob("escape*")) for ancestor in work.parents)
    assert _provenance(Path(stdout.strip().splitlines()[-1]))["asset_path"] == ESCAPING_PATH
