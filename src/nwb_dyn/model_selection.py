"""``nwb-dyn select``: fit a grid of model sizes x seeds, rank the sizes, and keep the chosen model's output.

Composition only: every fit goes through :func:`nwb_dyn.api.fit`, every score comes from the metrics that fit
stored, and the ranking is :func:`nwb_dyn.analysis.metrics.selection.rank_grid`.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nwb_dyn.analysis.metrics.selection import GridFit, GridSummary, held_out_score, rank_grid
from nwb_dyn.atomic import atomic_path
from nwb_dyn.errors import ConfigError, OutputError

#: The fit option that sets each family's size: the number of discrete states, or the latent rank.
GRID_OPTION_OF_FAMILY: dict[str, str] = {"srnn": "states", "lowrank": "rank"}
#: Held-out unit fraction used when the user does not choose one: selection ranks by co-smoothing on them.
DEFAULT_SELECTION_HELDOUT_FRACTION = 0.2
WORK_DIR_NAME = ".nwb-dyn-select"
#: Families whose fits carry discrete states, so that across-seed state variability can rank them.
SWITCHING_FAMILIES = frozenset({"srnn"})


@dataclass
class SelectionOutcome:
    """What :func:`select_model` did: the grid summaries (best first), the chosen output and the grid's outputs."""

    ranked: list[GridSummary]
    chosen_output: Path
    grid_outputs: dict[tuple[int, int], Path]


def select_model(
    source: str,
    model: str,
    grid_values: Sequence[int],
    grid_option: str | None = None,
    seeds: int = 3,
    out: str | Path = "nwb-dyn-out",
    overwrite: bool = False,
    **options: Any,
) -> SelectionOutcome:
    """Fit ``model`` for every grid value (states K for ``srnn``, rank R for ``lowrank``) and seed 0..seeds−1.

    ``grid_option`` names the option the values are for (``"states"`` or ``"rank"``; None = the family's own); a
    name that does not fit the family raises ConfigError.
    Grid fits are written under ``out/.nwb-dyn-select/``; the chosen value's best seed is copied into ``out``.
    For switching families the states each fit wrote feed the across-seed variability; ``options`` are further
    :func:`nwb_dyn.api.fit` options. SOURCE must name one session. Sizes are ranked only by co-smoothing of
    held-out units on validation windows: when the first fit has no such score, select stops with a ConfigError
    that says how to hold units and windows out, instead of ranking by in-sample scores.
    """
    from nwb_dyn.api import fit

    if model not in GRID_OPTION_OF_FAMILY:
        raise ConfigError(
            f"select knows the model families {sorted(GRID_OPTION_OF_FAMILY)}; got --model {model}"
        )
    if not grid_values or seeds < 1:
        raise ConfigError("select needs at least one grid value (--states or --rank) and --seeds >= 1")
    if grid_option is not None and grid_option != GRID_OPTION_OF_FAMILY[model]:
        raise ConfigError(
            f"--{grid_option} does not size --model {model}; use "
            + ", ".join(
                f"--{option} with --model {family}" for family, option in GRID_OPTION_OF_FAMILY.items()
            )
        )
    grid_option = GRID_OPTION_OF_FAMILY[model]
    options.setdefault("heldout_fraction", DEFAULT_SELECTION_HELDOUT_FRACTION)
    out_dir = Path(out).expanduser()
    work_dir = out_dir / WORK_DIR_NAME / model
    fits: list[GridFit] = []
    outputs: dict[tuple[int, int], Path] = {}
    for value in grid_values:
        for seed in range(seeds):
            run_dir = work_dir / f"{grid_option}{value}-seed{seed}"
            outcome = fit(
                source, model=model, out=run_dir, overwrite=True, seed=seed, **{grid_option: value}, **options
            )
            if len(outcome.fits) != 1:
                raise ConfigError(
                    f"select works on one session; {source} names {len(outcome.fits)}. Name a single file or asset"
                )
            session = outcome.fits[0]
            if not fits:  # refuse after one fit, not after the grid: the output name and the scores are known now
                _refuse_existing(out_dir / session.output.name, overwrite)
                held_out_score(session.summary["metrics"])  # no held-out score: ranking would be in-sample
            states = states_of_result(session.output) if model in SWITCHING_FAMILIES else None
            fits.append(GridFit(value=value, seed=seed, metrics=session.summary["metrics"], states=states))
            outputs[(value, seed)] = session.output
    ranked = rank_grid(fits)
    chosen = outputs[(ranked[0].value, ranked[0].best_seed)]
    destination = out_dir / chosen.name
    _refuse_existing(destination, overwrite)
    with atomic_path(destination) as temporary:  # a kill mid-copy never leaves a partial file at destination
        shutil.copy2(chosen, temporary)
    return SelectionOutcome(ranked=ranked, chosen_output=destination, grid_outputs=outputs)


def _refuse_existing(destination: Path, overwrite: bool) -> None:
    if destination.exists() and not overwrite:
        raise OutputError(
            f"{destination} already exists; pass --overwrite to replace it, or choose another --out"
        )


def states_of_result(path: Path) -> np.ndarray | None:
    """The (B, T) discrete states a fit wrote (windows in time order, the same for every seed), or None."""
    from nwb_dyn.results.reader import read

    result = read(path)
    return None if result.states is None else result.per_window(result.states)


def format_ranking(ranked: Sequence[GridSummary], grid_option: str) -> str:
    """The ranking as a plain-text table, one row per grid value, best first."""
    header = f"{'#':>4}  {grid_option:>6}  {'score':<11} {'mean':>9} {'sd':>8}  {'state var.':>10}  {'best seed':>9}"
    rows = [
        f"{summary.rank:>4}  {summary.value:>6}  {summary.score_name:<11} {summary.mean_score:>9.4f} "
        f"{summary.sd_score:>8.4f}  {summary.state_variability:>10.4f}  {summary.best_seed:>9}"
        for summary in ranked
    ]
    return "\n".join([header, *rows])
