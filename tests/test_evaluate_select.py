"""select_model: the grid it fits, the ranking it makes and the output it keeps (fits stubbed, then one real)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import nwb_dyn.api
from nwb_dyn.api import FitOutcome, SessionFit
from nwb_dyn.errors import ConfigError, OutputError
from nwb_dyn.model_selection import format_ranking, select_model

CO_BPS = {(2, 0): 0.10, (2, 1): 0.12, (3, 0): 0.30, (3, 1): 0.35, (4, 0): 0.20, (4, 1): 0.05}


@pytest.fixture()
def fit_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace api.fit by a stub that writes a marker file and reports co-bps from CO_BPS."""
    calls: list[dict[str, Any]] = []

    def fake_fit(source: str, model: str, out: Path, **options: Any) -> FitOutcome:
        calls.append({"source": source, "model": model, **options})
        output = Path(out) / "sub-1_ses-1_desc-lowrank_ecephys.nwb"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(f"rank {options['rank']} seed {options['seed']}")
        metrics = {"val_co_bps": CO_BPS[(options["rank"], options["seed"])]}
        return FitOutcome([SessionFit(source=source, output=output, summary={"metrics": metrics})])

    monkeypatch.setattr(nwb_dyn.api, "fit", fake_fit)
    return calls


def test_select_fits_the_grid_and_keeps_the_best_seed_of_the_best_rank(
    fit_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    outcome = select_model(
        "file.nwb", "lowrank", [2, 3, 4], grid_option="rank", seeds=2, out=tmp_path, max_epochs=1
    )
    assert [(call["rank"], call["seed"]) for call in fit_calls] == sorted(CO_BPS)
    assert all(call["heldout_fraction"] == 0.2 and call["max_epochs"] == 1 for call in fit_calls)
    assert [summary.value for summary in outcome.ranked] == [3, 4, 2]
    assert outcome.chosen_output == tmp_path / "sub-1_ses-1_desc-lowrank_ecephys.nwb"
    assert outcome.chosen_output.read_text() == "rank 3 seed 1"
    table = format_ranking(outcome.ranked, "rank").splitlines()
    assert len(table) == 4 and table[1].split()[:4] == ["1", "3", "val_co_bps", "0.3250"]
    fits_before = len(fit_calls)
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        select_model("file.nwb", "lowrank", [2, 3], seeds=2, out=tmp_path)
    assert len(fit_calls) == fits_before + 1  # refused after the first grid fit, not after all four


def test_select_rejects_a_grid_option_that_does_not_size_the_model(
    fit_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    with pytest.raises(
        ConfigError, match="--states does not size --model lowrank; use --states with --model srnn"
    ):
        select_model("file.nwb", "lowrank", [2, 3], grid_option="states", out=tmp_path)
    assert fit_calls == []


def test_cli_select_prints_the_table_then_the_chosen_path(
    fit_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    from tests.helpers import run_cli

    code, stdout, stderr = run_cli(
        "select",
        "file.nwb",
        "--model",
        "lowrank",
        "--rank",
        "2",
        "3",
        "4",
        "--seeds",
        "2",
        "--out",
        str(tmp_path),
    )
    assert code == 0, stderr
    lines = stdout.strip().splitlines()
    assert lines[-1] == str(tmp_path / "sub-1_ses-1_desc-lowrank_ecephys.nwb")
    assert [line.split()[1] for line in lines[1:4]] == ["3", "4", "2"]
    code, _, stderr = run_cli(
        "select", "file.nwb", "--model", "lowrank", "--states", "2", "--out", str(tmp_path)
    )
    assert code == 2 and "--states does not size --model lowrank" in stderr


def test_select_without_a_held_out_score_stops_after_one_fit_and_says_how_to_hold_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With units held in and no validation windows every score is in-sample (it favours the bigger model)."""
    calls = []

    def in_sample_fit(source: str, model: str, out: Path, **options: Any) -> FitOutcome:
        calls.append(options)
        output = Path(out) / "sub-1_ses-1_desc-lowrank_ecephys.nwb"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("fit")
        metrics = {"train_heldin_bps": 0.1 * options["rank"]}  # bigger ranks look better in-sample
        return FitOutcome([SessionFit(source=source, output=output, summary={"metrics": metrics})])

    monkeypatch.setattr(nwb_dyn.api, "fit", in_sample_fit)
    with pytest.raises(ConfigError, match=r"train_heldin_bps are in-sample.*--heldout-fraction F"):
        select_model("file.nwb", "lowrank", [2, 3, 4], seeds=2, out=tmp_path, heldout_fraction=0.0)
    assert len(calls) == 1 and not (tmp_path / "sub-1_ses-1_desc-lowrank_ecephys.nwb").exists()
