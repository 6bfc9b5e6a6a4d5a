"""Validity of default fits (issue 19): nwb-dyn as users run it, beside the field's baselines in the same run.

Every nwb-dyn number comes from ``nwb_dyn.fit`` with DEFAULT options plus data options only (bin width, alignment,
window, series, number of states) and is scored from the output file read back with ``nwb_dyn.results.read``;
the scores are computed here (``baselines.py``, NLB's definitions), independently of the package's own metrics.

(a) MC_Maze_Small (20 ms bins, −250…+450 ms around ``move_onset_time``) over random splits: 25 % of units held
    out, 20 % of trials evaluated. Each split is written into a temporary copy of the file (units ``heldout``,
    trials ``split`` = train/val; nwb-dyn scores co-smoothing on its ``val`` windows), so nwb-dyn and the baselines
    see the identical split; the source file is never modified. Reported per split: co-bps (held-out units,
    evaluation trials), held-in bits/spike (evaluation trials), per-unit mean-rate r, wall time; for nwb-dyn
    low-rank, SRNN (K = 3), spike smoothing + Poisson GLM (CV on training trials) and GPFA (elephant, NLB's
    readout). SRNN and a 3-state Poisson HMM on the held-in counts: state occupancy and the fraction of trials
    with a switch within ±100 ms of move onset against chance (a random time per trial).
(b) SRNN on simulated switching systems: the switching Lorenz of ``nwb_dyn.simulate`` (2 states) and its
    Markov-switching linear system (2 and 3 states), read out by Poisson units of realistic rates, and the switching
    Lorenz observed directly with little Gaussian noise (the switching-model paper's demo setting), seeds no test
    uses; state accuracy after Hungarian label matching, beside an HMM (Poisson or Gaussian) fitted to the same data.
(c) Low-rank teacher–student with the shared Pals et al. teachers: Gaussian ``osc_rnn_N20_rank2`` (period of 4000
    free-running 500-step samples of the fitted model against 4000 of the teacher, burn-in dropped, one estimator
    (``nwb_dyn.simulate.lowrank_teacher.sampled_period_steps``), and the noise-free periods; noise level as the
    samples' step-to-step roughness, both models' samples in the fit's (z-scored) units; SMC log-likelihood per
    trial of teacher and student on the fitted and on fresh teacher trials) and Poisson
    ``osc_rnn_poisson_N40_rank2`` (r of inferred with true rates).
(d) DANDI 000207 (no trials): held-in bits/spike of default fits (all windows, and the fit's validation windows)
    beside a smoothing baseline on the same validation windows; then with 25 % of the units held out (the
    ``heldout_fraction`` data option), co-smoothing beside spike smoothing + Poisson GLM.

One JSON object per configuration (per split / seed / method), then one ``"summary"`` object per part with the
spread (mean, std, min, max) over splits or seeds; progress goes to stderr.

    python benchmarks/validity.py --quick     # 1 split, 1 seed: about 40 min on one thread of a busy 2-core machine
    python benchmarks/validity.py             # 5 splits, 3 seeds: about 2.7 h there
    python benchmarks/validity.py --parts a --splits 5 --families lowrank
    python benchmarks/validity.py --parts b --systems lorenz2_gaussian

Needs the benchmark extra for GPFA: ``pip install -e .[bench]``. Runs with one torch thread unless --threads.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MC_MAZE_SMALL = SHARED / "mc_maze_small" / "sub-Jenkins_ses-small_desc-test_ecephys.nwb"
DANDI_000207 = SHARED / "dandi000207_sub4_ses4" / "sub-4_ses-4_ecephys+image.nwb"
TEACHERS = SHARED / "teacher_rnns"

BIN_WIDTH_S = 0.02
WINDOW_S = (-0.25, 0.45)
ALIGN = "move_onset_time"
HELDOUT_FRACTION = 0.25
EVAL_FRACTION = 0.2
SWITCH_TOLERANCE_S = 0.1
#: Split and simulation seeds start here, far from the seeds tests use (0–100).
SPLIT_SEED_BASE = 19_000
SIMULATION_SEED_BASE = 19_500
SYSTEMS = ("lorenz2", "slds2", "slds3", "lorenz2_gaussian")
#: Noise std of the directly observed Lorenz (its coordinates have std ≈ 0.5 after the simulator's scaling).
GAUSSIAN_LORENZ_NOISE_STD = 0.01
TEACHER_STEP_S = 0.01  # the teachers' dt (α = dt/τ = 10 ms / 100 ms)


def log(message: str) -> None:
    print(f"[validity {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, default=_json_default), flush=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 5)


# ---------------------------------------------------------------------------------------------------- the user path


def default_fit(
    source: Path, model: str, out: Path, **data_options: Any
) -> tuple[Any, dict[str, Any], float]:
    """``nwb_dyn.fit`` with default options plus ``data_options``; the result read back, the summary, wall seconds.

    The wall time covers everything a user waits for (extraction, training, posterior, analysis, writing).
    stdout of the fit is kept off the benchmark's JSON stream (it goes to stderr).
    """
    import nwb_dyn
    from nwb_dyn.results import read

    started = time.perf_counter()
    with contextlib.redirect_stdout(_StderrWriter()):
        outcome = nwb_dyn.fit(str(source), model=model, out=out, overwrite=True, fresh=True, **data_options)
    wall_s = time.perf_counter() - started
    session = outcome.fits[0]
    return read(session.output), session.summary, wall_s


class _StderrWriter(io.TextIOBase):
    def write(self, text: str) -> int:
        return sys.stderr.write(text)


def _training_facts(summary: dict[str, Any]) -> dict[str, Any]:
    """What the fit's own summary says about its training (epochs, steps, stop reason) and its own metrics."""
    keep = (
        "epochs",
        "global_steps",
        "stopped_early",
        "stop_reason",
        "converged",
        "final_learning_rate",
        "wall_time_s",
    )
    facts = {key: summary[key] for key in keep if key in summary}
    metrics = summary.get("metrics", {})
    facts["tool_metrics"] = {
        key: _finite(value) for key, value in metrics.items() if key.endswith(("co_bps", "heldin_bps"))
    }
    return facts


def result_windows(result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rates (B, T, D) in the result's window order, each window's trial index (B,) and split label (B,)."""
    return result.per_window(result.rates), result.windows.trial, result.windows.split


# ---------------------------------------------------------------------------------------------------- binning


def read_units(path: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unit ids (D,) and spike times (s) per unit, read straight from the NWB file with h5py."""
    with h5py.File(path, "r") as file:
        ids = np.asarray(file["units/id"][:], dtype=np.int64)
        times = np.asarray(file["units/spike_times"][:], dtype=np.float64)
        ends = np.asarray(file["units/spike_times_index"][:], dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    return ids, [times[a:b] for a, b in zip(starts, ends)]


def bin_spikes(
    spike_times: list[np.ndarray], window_starts_s: np.ndarray, num_bins: int, bin_width_s: float
) -> np.ndarray:
    """Counts (B, T, D): spikes of each unit in ``num_bins`` bins from each window start (numpy.histogram)."""
    counts = np.zeros((len(window_starts_s), num_bins, len(spike_times)))
    for unit, times in enumerate(spike_times):
        for window, start in enumerate(window_starts_s):
            edges = start + np.arange(num_bins + 1) * bin_width_s
            counts[window, :, unit] = np.histogram(times, bins=edges)[0]
    return counts


# ---------------------------------------------------------------------------------------------------- (a) MC_Maze_Small


def make_split(num_units: int, num_trials: int, split: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out units (D,) bool (25 %) and evaluation trials (B,) bool (20 %) of split number ``split``."""
    rng = np.random.default_rng(SPLIT_SEED_BASE + split)
    held_out = np.zeros(num_units, dtype=bool)
    held_out[rng.choice(num_units, size=round(HELDOUT_FRACTION * num_units), replace=False)] = True
    evaluated = np.zeros(num_trials, dtype=bool)
    evaluated[rng.choice(num_trials, size=round(EVAL_FRACTION * num_trials), replace=False)] = True
    return held_out, evaluated


def write_split_copy(source: Path, destination: Path, held_out: np.ndarray, evaluated: np.ndarray) -> Path:
    """Copy ``source`` and write the split into the copy: units ``heldout`` and trials ``split`` (train/val).

    This is how the split reaches nwb-dyn today: its extractor takes held-out units from a ``heldout`` column that
    marks any unit and validation trials from a ``split`` column, and it scores co-smoothing on ``val`` windows.
    """
    shutil.copyfile(source, destination)
    os.chmod(destination, 0o644)
    with h5py.File(destination, "r+") as file:
        if file["units/heldout"].shape != held_out.shape:
            raise ValueError(
                f"{source}: units/heldout has shape {file['units/heldout'].shape}, split {held_out.shape}"
            )
        file["units/heldout"][...] = held_out
        labels = np.array(["val" if flag else "train" for flag in evaluated], dtype=object)
        file["intervals/trials/split"][...] = labels
    return destination


def mc_maze_counts() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unit ids (D,), counts (B, T, D) in the aligned windows, window starts (B,) s, move onset (B,) s from start."""
    ids, spike_times = read_units(MC_MAZE_SMALL)
    with h5py.File(MC_MAZE_SMALL, "r") as file:
        onset = np.asarray(file["intervals/trials/move_onset_time"][:], dtype=np.float64)
    starts = onset + WINDOW_S[0]
    num_bins = round((WINDOW_S[1] - WINDOW_S[0]) / BIN_WIDTH_S)
    return ids, bin_spikes(spike_times, starts, num_bins, BIN_WIDTH_S), starts, onset - starts


def rates_by_trial(
    result: Any, unit_ids: np.ndarray, num_trials: int, window_starts: np.ndarray
) -> np.ndarray:
    """The result's rates as (B, T, D) in trial order and the benchmark's unit order; checks the windows match."""
    rates, trials, _ = result_windows(result)
    if len(trials) != num_trials or not np.allclose(result.windows.start_s, window_starts[trials], atol=1e-6):
        raise RuntimeError(
            f"{result.path}: fitted windows differ from the benchmark's (-250..+450 ms at move onset)"
        )
    column = {int(unit): index for index, unit in enumerate(result.channel_ids)}
    ordered = np.empty_like(rates)
    ordered[trials] = rates
    return ordered[..., [column[int(unit)] for unit in unit_ids]]


def co_smoothing_scores(
    heldin_rates: np.ndarray, heldout_rates: np.ndarray, heldin: np.ndarray, heldout: np.ndarray
) -> dict[str, float | None]:
    """co-bps, held-in bits/spike and mean-rate r (all units) on the evaluation trials."""
    return {
        "co_bps": _finite(baselines.bits_per_spike(heldout_rates, heldout)),
        "heldin_bps": _finite(baselines.bits_per_spike(heldin_rates, heldin)),
        "mean_rate_r": _finite(
            baselines.mean_rate_correlation(
                np.concatenate([heldin_rates, heldout_rates], axis=-1),
                np.concatenate([heldin, heldout], axis=-1),
            )
        ),
    }


def switching_facts(states: np.ndarray, num_states: int, onset_s: np.ndarray, seed: int) -> dict[str, Any]:
    """Occupancy and switches near move onset against chance, for states (B, T) over all trials."""
    occupancy = baselines.state_occupancy(states, num_states)
    return {
        "occupancy": [round(float(value), 4) for value in occupancy],
        "every_state_at_least_5pct": bool(np.all(occupancy >= 0.05)),
        "switch_near_onset_fraction": _finite(
            baselines.fraction_with_switch_near(states, onset_s, BIN_WIDTH_S, SWITCH_TOLERANCE_S)
        ),
        "switch_chance_fraction": _finite(
            baselines.chance_switch_fraction(states, BIN_WIDTH_S, SWITCH_TOLERANCE_S, seed=seed)
        ),
    }


def part_a(args: argparse.Namespace, work: Path) -> None:
    unit_ids, counts, starts, onset_s = mc_maze_counts()
    records: dict[str, list[dict[str, Any]]] = {}
    for split in range(args.splits):
        held_out, evaluated = make_split(len(unit_ids), len(counts), split)
        split_dir = work / f"a_split{split}"
        split_dir.mkdir(parents=True, exist_ok=True)
        source = write_split_copy(
            MC_MAZE_SMALL, split_dir / "sub-Jenkins_ses-small_desc-split_ecephys.nwb", held_out, evaluated
        )
        train, test = counts[~evaluated], counts[evaluated]
        base = {
            "part": "a",
            "split": split,
            "split_seed": SPLIT_SEED_BASE + split,
            "held_out_units": int(held_out.sum()),
            "eval_trials": int(evaluated.sum()),
        }

        def record(method: str, values: dict[str, Any], base: dict[str, Any] = base) -> None:
            entry = {**base, "method": method, **values}
            records.setdefault(method, []).append(entry)
            emit(entry)

        log(f"split {split}: smoothing + GLM")
        smooth = baselines.smoothing_glm_baseline(
            train[..., ~held_out],
            train[..., held_out],
            test[..., ~held_out],
            BIN_WIDTH_S,
            seed=SPLIT_SEED_BASE + split,
        )
        record(
            "smoothing_glm",
            {
                **co_smoothing_scores(
                    smooth.heldin_rates, smooth.heldout_rates, test[..., ~held_out], test[..., held_out]
                ),
                "fit_wall_s": round(smooth.fit_s, 2),
                "choice": smooth.choice,
                "note": "held-in rates are the smoothed spikes themselves (NLB's output)",
            },
        )
        if not args.no_gpfa:
            log(f"split {split}: GPFA ({args.gpfa_latents} latents)")
            gpfa = baselines.gpfa_baseline(
                train[..., ~held_out],
                train[..., held_out],
                test[..., ~held_out],
                BIN_WIDTH_S,
                args.gpfa_latents,
                seed=SPLIT_SEED_BASE + split,
            )
            record(
                "gpfa",
                {
                    **co_smoothing_scores(
                        gpfa.heldin_rates, gpfa.heldout_rates, test[..., ~held_out], test[..., held_out]
                    ),
                    "fit_wall_s": round(gpfa.fit_s, 2),
                    "choice": gpfa.choice,
                },
            )
        log(f"split {split}: 3-state Poisson HMM on held-in counts")
        started = time.perf_counter()
        hmm = baselines.fit_poisson_hmm(counts[..., ~held_out], 3, seed=SPLIT_SEED_BASE + split)
        hmm_states = hmm.most_likely_states(counts[..., ~held_out])
        record(
            "poisson_hmm_k3",
            {
                **switching_facts(hmm_states, 3, onset_s, SPLIT_SEED_BASE + split),
                "fit_wall_s": round(time.perf_counter() - started, 2),
            },
        )
        for family in args.families:
            options: dict[str, Any] = {"bin_width": BIN_WIDTH_S, "align": ALIGN, "window": list(WINDOW_S)}
            if family == "srnn":
                options["states"] = 3
            log(f"split {split}: nwb_dyn.fit {family} {options}")
            result, summary, wall_s = default_fit(source, family, split_dir / f"fit_{family}", **options)
            rates = rates_by_trial(result, unit_ids, len(counts), starts)
            if not np.array_equal(result.windows.split[np.argsort(result.windows.trial)] == "val", evaluated):
                raise RuntimeError(
                    f"{result.path}: the fit's val windows are not the split's evaluation trials"
                )
            values = {
                **co_smoothing_scores(
                    rates[evaluated][..., ~held_out],
                    rates[evaluated][..., held_out],
                    test[..., ~held_out],
                    test[..., held_out],
                ),
                "heldin_bps_all_trials": _finite(
                    baselines.bits_per_spike(rates[..., ~held_out], counts[..., ~held_out])
                ),
                "fit_wall_s": round(wall_s, 2),
                "options": options,
                **_training_facts(summary),
            }
            if family == "srnn":
                order = np.argsort(result.windows.trial)
                states = result.per_window(result.states)[order]
                values.update(switching_facts(states, result.num_states, onset_s, SPLIT_SEED_BASE + split))
            record(f"nwb_dyn_{family}" + ("_k3" if family == "srnn" else ""), values)
        if not args.keep:
            shutil.rmtree(split_dir, ignore_errors=True)
    summary: dict[str, Any] = {"part": "a", "summary": True, "splits": args.splits}
    for method, entries in records.items():
        summary[method] = {
            key: baselines.summary_statistics(
                [entry[key] if entry[key] is not None else math.nan for entry in entries]
            )
            for key in (
                "co_bps",
                "heldin_bps",
                "mean_rate_r",
                "fit_wall_s",
                "switch_near_onset_fraction",
                "switch_chance_fraction",
            )
            if key in entries[0]
        }
        if "occupancy" in entries[0]:
            summary[method]["min_occupancy"] = baselines.summary_statistics(
                [min(e["occupancy"]) for e in entries]
            )
    summary["targets"] = issue_targets(records)
    emit(summary)


def issue_targets(records: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Issue 19's MC_Maze_Small targets on the means over splits, with the per-split paired differences."""

    def values(method: str, key: str) -> np.ndarray:
        return np.array(
            [math.nan if e.get(key) is None else e[key] for e in records.get(method, [])], dtype=float
        )

    targets: dict[str, Any] = {}
    for model, baseline in (("nwb_dyn_lowrank", "gpfa"), ("nwb_dyn_srnn_k3", "smoothing_glm")):
        ours, theirs = values(model, "co_bps"), values(baseline, "co_bps")
        if len(ours) and len(ours) == len(theirs):
            targets[f"{model}_co_bps_mean_ge_{baseline}"] = bool(np.nanmean(ours) >= np.nanmean(theirs))
            targets[f"{model}_minus_{baseline}_co_bps"] = baselines.summary_statistics(list(ours - theirs))
    for model in ("nwb_dyn_lowrank", "nwb_dyn_srnn_k3"):
        if model in records:
            targets[f"{model}_heldin_bps_positive_every_split"] = bool(
                np.all(values(model, "heldin_bps") > 0)
            )
            targets[f"{model}_mean_rate_r_ge_0.95_every_split"] = bool(
                np.all(values(model, "mean_rate_r") >= 0.95)
            )
    for model in ("nwb_dyn_srnn_k3", "poisson_hmm_k3"):
        if model in records:
            targets[f"{model}_every_state_ge_5pct_every_split"] = all(
                e["every_state_at_least_5pct"] for e in records[model]
            )
            near, chance = (
                values(model, "switch_near_onset_fraction"),
                values(model, "switch_chance_fraction"),
            )
            targets[f"{model}_switch_near_onset_above_chance_every_split"] = bool(np.all(near > chance))
    return targets


# ---------------------------------------------------------------------------------------------------- (b) switching


def part_b(args: argparse.Namespace, work: Path) -> None:
    from nwb_dyn.simulate import (
        simulate_switching_linear,
        simulate_switching_lorenz,
        write_signal_session,
        write_spiking_session,
    )
    from nwb_dyn.simulate.nwb_session import poisson_spikes_from_latents

    if args.systems:
        systems = args.systems.split(",")
        unknown = sorted(set(systems) - set(SYSTEMS))
        if unknown:
            raise SystemExit(f"--systems: unknown {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}")
    else:
        systems = ["lorenz2", "slds3"] if args.quick else list(SYSTEMS)
    accuracies: dict[str, list[float]] = {}
    for system in systems:
        for repeat in range(args.seeds):
            seed = SIMULATION_SEED_BASE + 10 * repeat + SYSTEMS.index(system)
            folder = work / f"b_{system}_{seed}"
            options: dict[str, Any] = {"bin_width": BIN_WIDTH_S}
            if system.startswith("lorenz2"):
                truth = simulate_switching_lorenz(num_trials=16, num_steps=200, seed=seed)
                latents, states, num_states = truth.latents, truth.states, 2
                units: int | None = 30
                rate_hz = 50.0
            else:
                num_states = int(system[-1])
                latents, states = simulate_switching_linear(num_states, 16, 200, seed)
                units, rate_hz = 40, 30.0
            if system == "lorenz2_gaussian":
                # the switching-model paper's own demo: the trajectory itself, with little noise
                noise = np.random.default_rng(seed).standard_normal(latents.shape)
                observations = (latents + GAUSSIAN_LORENZ_NOISE_STD * noise).astype(np.float32)
                source = write_signal_session(
                    folder / "sub-sim_ses-lorenz_misc.nwb", observations, BIN_WIDTH_S, "xyz"
                )
                options["series"] = "acquisition/xyz"
                hmm = baselines.fit_gaussian_hmm(observations, num_states, seed=seed)
                hmm_name, hmm_states, units = "gaussian_hmm", hmm.most_likely_states(observations), None
            else:
                counts, _ = poisson_spikes_from_latents(latents, units, BIN_WIDTH_S, rate_hz, seed)
                source = write_spiking_session(
                    folder / f"sub-sim_ses-{system}_ecephys.nwb", counts, BIN_WIDTH_S, latents, states, seed
                )
                hmm = baselines.fit_poisson_hmm(counts, num_states, seed=seed)
                hmm_name, hmm_states = "poisson_hmm", hmm.most_likely_states(counts)
            options["states"] = num_states
            log(f"(b) {system} seed {seed}: nwb_dyn.fit srnn {options}")
            result, summary, wall_s = default_fit(source, "srnn", folder / "fit", **options)
            found = result.per_window(result.states)[np.argsort(result.windows.trial)]
            if found.shape != states.shape:
                raise RuntimeError(
                    f"{result.path}: states {found.shape} do not line up with the truth {states.shape}"
                )
            accuracy = baselines.matched_state_accuracy(states, found)
            hmm_accuracy = baselines.matched_state_accuracy(states, hmm_states)
            accuracies.setdefault(system, []).append(accuracy)
            accuracies.setdefault(f"{system}_{hmm_name}", []).append(hmm_accuracy)
            emit(
                {
                    "part": "b",
                    "system": system,
                    "seed": seed,
                    "num_states": num_states,
                    "trials": 16,
                    "steps": 200,
                    "units": units,
                    "state_accuracy": _finite(accuracy),
                    f"{hmm_name}_state_accuracy": _finite(hmm_accuracy),
                    "occupancy": [round(float(v), 4) for v in baselines.state_occupancy(found, num_states)],
                    **_switch_timing(states, found, ""),
                    **_switch_timing(states, hmm_states, f"{hmm_name}_"),
                    "fit_wall_s": round(wall_s, 2),
                    "options": options,
                    **_training_facts(summary),
                }
            )
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    emit(
        {
            "part": "b",
            "summary": True,
            "seeds": args.seeds,
            **{name: baselines.summary_statistics(values) for name, values in accuracies.items()},
        }
    )


def _switch_timing(true_states: np.ndarray, found_states: np.ndarray, prefix: str) -> dict[str, Any]:
    """Where the errors are: the median lag (bins) of found switches after true ones (over every true switch, its
    nearest found switch), and the share of mismatched bins that lie in those lag intervals."""
    lags, share_in_lag = baselines.switch_lags(true_states, found_states)
    return {
        f"{prefix}switch_lag_bins_median": float(np.median(lags)) if lags.size else None,
        f"{prefix}errors_in_switch_lag_fraction": round(share_in_lag, 4),
    }


# ---------------------------------------------------------------------------------------------------- (c) teachers


def fit_units(observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, std), each (D,), with which the fit z-scored the observations (B, T, D) it was given (the
    extraction's own rule, over every bin)."""
    from nwb_dyn.extract.extract import _zscore

    _, mean, std = _zscore(observations, np.ones(observations.shape, dtype=bool))
    return mean, std


def teacher_student_log_likelihoods(
    teacher: Any, student: Any, observations: np.ndarray, fresh: np.ndarray, seed: int
) -> dict[str, float | None]:
    """SMC log-likelihood per trial (optimal proposal, 512 particles) of teacher and student, on the fitted
    observations (B, T, D) and on fresh teacher trials (B', T, D), in the fit's units.

    The fit saw the series z-scored per channel (:func:`fit_units`); the teacher is moved into those units (gain,
    offset and noise divided by each channel's std) so both models score the same numbers. A
    student above the teacher on the fitted data but below it on fresh data fits as well as the truth does: what it
    still misses (the period, say) the data do not pin down.
    """
    import copy

    import torch

    from nwb_dyn.inference.smc import run_smc

    mean, std = fit_units(observations)
    zscored = ((observations - mean) / std).astype(np.float32)
    teacher = copy.deepcopy(teacher)
    with torch.no_grad():
        scale = torch.as_tensor(std, dtype=torch.float32)
        teacher.readout.bias.copy_(
            (teacher.readout.bias - torch.as_tensor(mean, dtype=torch.float32)) / scale
        )
        teacher.readout.weight.div_(scale)
        teacher.likelihood.log_variance.sub_(2 * torch.log(scale))
    scores: dict[str, float | None] = {}
    for name, values in (("data", zscored), ("fresh", ((fresh - mean) / std).astype(np.float32))):
        tensor = torch.as_tensor(values)
        for label, model in (("teacher", teacher), ("student", student)):
            with torch.no_grad():
                result = run_smc(
                    model,
                    tensor,
                    torch.ones_like(tensor),
                    512,
                    "optimal",
                    generator=torch.Generator().manual_seed(seed),
                )
            scores[f"{label}_on_{name}"] = _finite(float(result.log_marginal.mean()))
    return scores


def part_c(args: argparse.Namespace, work: Path) -> None:
    import torch

    from nwb_dyn.simulate import write_signal_session, write_spiking_session
    from nwb_dyn.simulate.lowrank_teacher import (
        PERIOD_BURN_IN,
        PERIOD_SAMPLE_STEPS,
        PERIOD_SAMPLES,
        load_teacher,
        sampled_period_steps,
        teacher_period_steps,
    )

    gaussian_trials = 50 if args.quick else 100
    poisson_trials = 40 if args.quick else 100
    results: dict[str, list[float]] = {}
    for repeat in range(args.seeds):
        seed = SIMULATION_SEED_BASE + 100 + repeat
        generator = torch.Generator().manual_seed(seed)
        teacher = load_teacher(TEACHERS / "osc_rnn_N20_rank2.npz", "gaussian").eval()
        with torch.no_grad():
            _, observations = teacher.generate(gaussian_trials, 75, generator=generator)
        folder = work / f"c_gaussian_{seed}"
        source = write_signal_session(
            folder / "sub-teacher_ses-gauss_ecephys.nwb",
            observations.numpy(),
            TEACHER_STEP_S,
            "teacher_currents",
        )
        options = {"series": "acquisition/teacher_currents", "bin_width": TEACHER_STEP_S}
        log(f"(c) Gaussian teacher seed {seed}: nwb_dyn.fit lowrank {options}")
        result, summary, wall_s = default_fit(source, "lowrank", folder / "fit", **options)
        # Teacher and fitted model (rebuilt from the file) each generate PERIOD_SAMPLES long free-running samples
        # whose period is read after a burn-in (sampled_period_steps); the 16 short samples the file stores start
        # from the initial state, too short for a period.
        # Both in the fit's units (the series z-scored per channel): pooled over channels, the teacher's raw samples
        # weigh its high-variance channels more, which reads as a smoother signal (roughness 0.29 raw, 0.36 z-scored).
        student = result.model
        mean, std = fit_units(observations.numpy())
        with torch.no_grad():
            _, reference = teacher.generate(PERIOD_SAMPLES, PERIOD_SAMPLE_STEPS, generator=generator)
            _, student_samples = student.generate(PERIOD_SAMPLES, PERIOD_SAMPLE_STEPS, generator=generator)
        reference, student_samples = (reference.numpy() - mean) / std, student_samples.numpy()
        teacher_period = sampled_period_steps(reference)
        student_period = sampled_period_steps(student_samples)
        error = student_period / teacher_period - 1
        with torch.no_grad():  # its own generator: the draws of the Poisson part below stay as they were
            _, fresh = teacher.generate(
                4 * gaussian_trials, 75, generator=torch.Generator().manual_seed(seed + 50_000)
            )
        log_likelihoods = teacher_student_log_likelihoods(
            teacher, student, observations.numpy(), fresh.numpy(), seed
        )
        teacher_noise_free, student_noise_free = teacher_period_steps(teacher), teacher_period_steps(student)
        noise_free_error = student_noise_free / teacher_noise_free - 1
        results.setdefault("gaussian_period_relative_error", []).append(error)
        results.setdefault("gaussian_noise_free_period_relative_error", []).append(noise_free_error)
        emit(
            {
                "part": "c",
                "teacher": "osc_rnn_N20_rank2",
                "obs": "gaussian",
                "seed": seed,
                "trials": gaussian_trials,
                "steps": 75,
                "period_samples": {
                    "count": PERIOD_SAMPLES,
                    "steps": PERIOD_SAMPLE_STEPS,
                    "burn_in": PERIOD_BURN_IN,
                },
                "teacher_samples_period_steps": _finite(teacher_period),
                "student_samples_period_steps": _finite(student_period),
                "period_relative_error": _finite(error),
                "within_5pct": bool(abs(error) <= 0.05),
                "teacher_noise_free_period_steps": _finite(teacher_noise_free),
                "student_noise_free_period_steps": _finite(student_noise_free),
                "noise_free_period_relative_error": _finite(noise_free_error),
                "teacher_roughness": _finite(baselines.roughness(reference[:, PERIOD_BURN_IN:])),
                "student_roughness": _finite(baselines.roughness(student_samples[:, PERIOD_BURN_IN:])),
                "log_likelihood_per_trial": log_likelihoods,
                "fit_wall_s": round(wall_s, 2),
                "options": options,
                **_training_facts(summary),
            }
        )

        teacher = load_teacher(TEACHERS / "osc_rnn_poisson_N40_rank2.npz", "poisson").eval()
        with torch.no_grad():
            latents, counts = teacher.generate(poisson_trials, 200, generator=generator)
            true_rates = teacher.rates(latents).numpy()
        folder = work / f"c_poisson_{seed}"
        source = write_spiking_session(
            folder / "sub-teacher_ses-poisson_ecephys.nwb",
            counts.numpy().astype(np.int64),
            TEACHER_STEP_S,
            latents.numpy(),
            seed=seed,
        )
        options = {"bin_width": TEACHER_STEP_S}
        log(f"(c) Poisson teacher seed {seed}: nwb_dyn.fit lowrank {options}")
        result, summary, wall_s = default_fit(source, "lowrank", folder / "fit", **options)
        rates = result.per_window(result.rates)[np.argsort(result.windows.trial)]
        if rates.shape != true_rates.shape:
            raise RuntimeError(
                f"{result.path}: rates {rates.shape} do not line up with the teacher's {true_rates.shape}"
            )
        r = float(np.corrcoef(rates.reshape(-1), true_rates.reshape(-1))[0, 1])
        results.setdefault("poisson_rates_r", []).append(r)
        emit(
            {
                "part": "c",
                "teacher": "osc_rnn_poisson_N40_rank2",
                "obs": "poisson",
                "seed": seed,
                "trials": poisson_trials,
                "steps": 200,
                "rates_r": _finite(r),
                "at_least_0.95": bool(r >= 0.95),
                "heldin_bps": _finite(baselines.bits_per_spike(rates, counts.numpy())),
                "true_rates_heldin_bps": _finite(baselines.bits_per_spike(true_rates, counts.numpy())),
                "fit_wall_s": round(wall_s, 2),
                "options": options,
                **_training_facts(summary),
            }
        )
        if not args.keep:
            shutil.rmtree(work / f"c_gaussian_{seed}", ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
    emit(
        {
            "part": "c",
            "summary": True,
            "seeds": args.seeds,
            **{name: baselines.summary_statistics(values) for name, values in results.items()},
        }
    )


# ---------------------------------------------------------------------------------------------------- (d) DANDI 000207


#: Fraction of DANDI 000207's units held out in part (d)'s co-smoothing fits (a data option, as in part (a)).
D_HELDOUT_FRACTION = 0.25


def part_d(args: argparse.Namespace, work: Path) -> None:
    """Default fits of DANDI 000207: held-in bits/spike beside a smoothing baseline, then, with 25 % of the units
    held out (``heldout_fraction``, a data option), co-smoothing beside spike smoothing + Poisson GLM."""
    unit_ids, spike_times = read_units(DANDI_000207)
    session = "000207 sub-4 ses-4"
    for heldout_fraction in (0.0, D_HELDOUT_FRACTION):
        baseline_done = False
        for family in args.families:
            options = {"heldout_fraction": heldout_fraction} if heldout_fraction else {}
            log(f"(d) DANDI 000207: nwb_dyn.fit {family} {options or '(no options)'}")
            folder = work / f"d_{family}_{heldout_fraction}"
            result, summary, wall_s = default_fit(DANDI_000207, family, folder, **options)
            rates = result.per_window(result.rates)
            order = [int(np.flatnonzero(unit_ids == channel)[0]) for channel in result.channel_ids]
            counts = bin_spikes(
                [spike_times[i] for i in order], result.windows.start_s, rates.shape[1], BIN_WIDTH_S
            )
            validation = np.asarray(result.windows.split) == "val"
            held_out = result.held_out  # the units the fit held out, as its result records them
            record: dict[str, Any] = {
                "part": "d",
                "session": session,
                "method": f"nwb_dyn_{family}",
                "options": options,
                "windows": int(rates.shape[0]),
                "validation_windows": int(validation.sum()),
                "bins_per_window": int(rates.shape[1]),
                "units": int(rates.shape[2]),
                "heldout_units": int(held_out.sum()),
                "heldin_bps": _finite(
                    baselines.bits_per_spike(rates[..., ~held_out], counts[..., ~held_out])
                ),
                "mean_rate_r": _finite(baselines.mean_rate_correlation(rates, counts)),
                "fit_wall_s": round(wall_s, 2),
                **_training_facts(summary),
            }
            evaluated = (rates[validation][..., ~held_out], counts[validation][..., ~held_out])
            record["heldin_bps_validation"] = _finite(baselines.bits_per_spike(*evaluated))
            if held_out.any():
                record["co_bps_validation"] = _finite(
                    baselines.bits_per_spike(
                        rates[validation][..., held_out], counts[validation][..., held_out]
                    )
                )
            emit(record)
            if not baseline_done:  # the same windows, split and units for every family: one baseline
                emit(part_d_baseline(counts, validation, held_out, session))
                baseline_done = True


def part_d_baseline(
    counts: np.ndarray, validation: np.ndarray, held_out: np.ndarray, session: str
) -> dict[str, Any]:
    """Part (d)'s baseline on the validation windows: without held-out units, held-in smoothing of each unit's own
    spikes (``baselines.smoothed_spike_rates_baseline``); with them, NLB's spike smoothing + Poisson GLM
    (hyper-parameters by CV on the training windows)."""
    started = time.perf_counter()
    train, evaluate = counts[~validation], counts[validation]
    if not held_out.any():
        smooth = baselines.smoothed_spike_rates_baseline(train, evaluate, BIN_WIDTH_S)
        return {
            "part": "d",
            "session": session,
            "method": "spike_smoothing",
            "validation_windows": int(validation.sum()),
            "heldin_bps_validation": _finite(baselines.bits_per_spike(smooth.rates, evaluate)),
            "choice": {
                "sd_s": smooth.sd_s,
                "smoothing_weight": smooth.smoothing_weight,
                "window_weight": smooth.window_weight,
            },
            "fit_wall_s": round(time.perf_counter() - started, 2),
            "note": "a · smoothed spikes of the other bins + b · their window mean + rest · training mean, "
            "SD, a, b chosen on training windows",
        }
    glm = baselines.smoothing_glm_baseline(
        train[..., ~held_out], train[..., held_out], evaluate[..., ~held_out], BIN_WIDTH_S
    )
    return {
        "part": "d",
        "session": session,
        "method": "smoothing_glm",
        "validation_windows": int(validation.sum()),
        "heldout_units": int(held_out.sum()),
        "co_bps_validation": _finite(baselines.bits_per_spike(glm.heldout_rates, evaluate[..., held_out])),
        "choice": glm.choice,
        "fit_wall_s": round(glm.fit_s, 2),
    }


# ---------------------------------------------------------------------------------------------------- main


@contextlib.contextmanager
def work_directory(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="nwb-dyn-validity-") as folder:
        yield Path(folder)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="abcd", help="which parts to run, e.g. 'a' or 'bc' (default abcd)")
    parser.add_argument("--quick", action="store_true", help="1 split, 1 seed, fewer systems and trials")
    parser.add_argument(
        "--systems", help=f"(b)'s systems, comma-separated, of {', '.join(SYSTEMS)} (default all; --quick 2)"
    )
    parser.add_argument("--splits", type=int, help="MC_Maze_Small random splits (default 5; --quick 1)")
    parser.add_argument(
        "--seeds", type=int, help="simulation seeds per system in (b) and (c) (default 3; --quick 1)"
    )
    parser.add_argument("--families", default="lowrank,srnn", help="nwb-dyn families for (a) and (d)")
    parser.add_argument(
        "--gpfa-latents", type=int, default=18, help="GPFA latents (NLB's MC_Maze_Small choice)"
    )
    parser.add_argument("--no-gpfa", action="store_true", help="skip GPFA (when elephant is not installed)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--keep", type=Path, help="keep the split copies and fits in this folder")
    args = parser.parse_args()
    args.splits = args.splits if args.splits is not None else (1 if args.quick else 5)
    args.seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    args.families = [family.strip() for family in args.families.split(",") if family.strip()]
    unknown = set(args.parts) - set("abcd")
    if unknown:
        parser.error(f"--parts takes letters from 'abcd'; got {args.parts}")
    os.environ.setdefault("NWB_DYN_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    emit(
        {
            "benchmark": "validity",
            "parts": args.parts,
            "quick": args.quick,
            "splits": args.splits,
            "seeds": args.seeds,
            "families": args.families,
            "threads": args.threads,
            **_code_state(),
            "cpu_count": os.cpu_count(),
        }
    )
    with work_directory(args.keep) as work:
        for part, run in (("a", part_a), ("b", part_b), ("c", part_c), ("d", part_d)):
            if part in args.parts:
                started = time.perf_counter()
                run(args, work)
                log(f"part {part} took {time.perf_counter() - started:.0f} s")
    return 0


def _code_state() -> dict[str, Any]:
    """The commit measured and whether src/ held uncommitted changes (with a short hash of them, to tell runs apart)."""
    root = Path(__file__).resolve().parents[1]

    def git(*arguments: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *arguments], check=False, cwd=root, capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "--short=12", "HEAD")
    diff = git("diff", "HEAD", "--", "src")
    return {
        "commit": None if commit is None else commit.strip(),
        "src_uncommitted_changes": None if diff is None else bool(diff),
        "src_diff_sha256": None if not diff else hashlib.sha256(diff.encode()).hexdigest()[:12],
    }


if __name__ == "__main__":
    sys.exit(main())
