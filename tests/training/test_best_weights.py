"""The result file holds the weights of the checkpoint that validated best, and says so."""

from __future__ import annotations

from pathlib import Path

import torch

import nwb_dyn
from nwb_dyn.results import read
from tests.helpers import write_units_session


def test_output_model_is_the_best_checkpoint(tmp_path: Path) -> None:
    source = write_units_session(tmp_path / "session.nwb", num_units=5, num_trials=10)
    outcome = nwb_dyn.fit(
        str(source), model="lowrank", out=tmp_path / "out", max_epochs=4, bin_width=0.05, units=8, particles=4
    )
    result = read(outcome.outputs[0])
    summary = result.stored_model.training_summary
    assert summary["weights"].startswith("best checkpoint by val_loss")
    run_dir = Path(outcome.fits[0].summary["run_dir"])  # the file records it without the machine's absolute path
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    best_model = {k.removeprefix("model."): v for k, v in best["state_dict"].items() if k.startswith("model.")}
    written = result.model.state_dict()
    assert set(written) == set(best_model)
    for name, value in written.items():
        torch.testing.assert_close(value, best_model[name].to(value.dtype))
