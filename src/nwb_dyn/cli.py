"""The ``nwb-dyn`` command: maps words to :mod:`nwb_dyn.api` and errors to exit codes (2 user, 1 internal)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from nwb_dyn import __version__
from nwb_dyn.errors import NwbDynError


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    remote = parser.add_argument_group("remote sources (DANDI, URLs)")
    remote.add_argument("--asset", metavar="GLOB", help="only the dandiset's NWB assets whose path or name match GLOB")
    remote.add_argument(
        "--dandi-api-url", help="DANDI API to ask (default: NWB_DYN_DANDI_API_URL or https://api.dandiarchive.org/api)"
    )
    remote.add_argument(
        "--cache-dir", help="cache of extracted arrays and downloads (default: NWB_DYN_CACHE_DIR or the user cache)"
    )
    remote.add_argument("--download", action="store_true", help="download whole files (sha256-checked), not stream")


def _source_options(args: argparse.Namespace) -> dict[str, object]:
    return {
        "asset": args.asset,
        "dandi_api_url": args.dandi_api_url,
        "cache_dir": args.cache_dir,
        "download": args.download,
    }


def _run_ls(args: argparse.Namespace) -> int:
    from nwb_dyn.ls import list_source

    for line in list_source(args.source, **_source_options(args)):
        print(line)
    return 0


def _rank_value(text: str) -> int | str:
    """``--rank``: an integer (checked with the other settings, which name ``lowrank.rank``) or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}") from None


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source", help="NWB file path, https:// URL, or dandiset:ID[@VERSION][/ASSET/PATH] (also DANDI:ID/VERSION)"
    )
    _add_source_options(parser)
    parser.add_argument("--model", default="lowrank", help="model family: lowrank or srnn (default: lowrank)")
    parser.add_argument("--out", default="nwb-dyn-out", help="directory for the derived NWB files")
    parser.add_argument("--config", help="YAML config file; command-line options override it")
    parser.add_argument("--seed", type=int, help="random seed (default 0); same seed and config → same numbers")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    data = parser.add_argument_group("data")
    data.add_argument("--bin-width", type=float, help="bin width in seconds (default 0.02)")
    data.add_argument("--align", help="trials column to align windows on, e.g. move_onset_time")
    data.add_argument(
        "--window", type=float, nargs=2, metavar=("START", "STOP"), help="window around --align, seconds"
    )
    data.add_argument("--window-length", type=float, help="window length in seconds when there is no trials table")
    data.add_argument("--batch-size", type=int, help="windows per optimiser step (default 16)")
    data.add_argument("--heldout-fraction", type=float, help="fraction of units held out for co-smoothing")
    data.add_argument(
        "--validation-fraction", type=float, help="fraction of windows kept for validation (default 0.2)"
    )
    data.add_argument(
        "--split-seed", type=int, help="seed of the validation windows and held-out units (default: --seed)"
    )
    data.add_argument(
        "--series", metavar="PATH", help="fit this TimeSeries instead of the default, e.g. acquisition/ElectricalSeries"
    )
    data.add_argument("--units-where", metavar="EXPR", help="keep units whose columns match, e.g. \"quality == 'good'\"")
    data.add_argument("--intervals", metavar="NAME", help="take windows from this TimeIntervals table, not trials")
    data.add_argument("--inputs", nargs="+", metavar="PATH", help="series fed to the dynamics as external inputs")
    data.add_argument("--targets", nargs="+", metavar="PATH", help="behaviour series scored by decoding metrics")
    data.add_argument(
        "--zscore", action=argparse.BooleanOptionalAction, default=None,
        help="z-score continuous series and inputs per channel (default: on)",
    )
    lowrank = parser.add_argument_group("low-rank RNN (--model lowrank)")
    lowrank.add_argument(
        "--rank", type=_rank_value, help="latent dimension R, or auto (default: read off the data by parallel analysis)"
    )
    lowrank.add_argument("--units", type=int, help="RNN units N (default 64)")
    lowrank.add_argument("--particles", type=int, help="SMC particles K (default 16)")
    lowrank.add_argument(
        "--proposal",
        help="SMC proposal: auto (optimal for continuous signals, encoder for spikes), optimal, encoder or bootstrap",
    )
    lowrank.add_argument("--obs", help="observation model: auto, poisson or gaussian")
    lowrank.add_argument("--activation", help="relu, clipped_relu, tanh or identity (default clipped_relu)")
    srnn = parser.add_argument_group("switching RNN (--model srnn)")
    srnn.add_argument("--states", type=int, help="discrete states K (default 2)")
    srnn.add_argument("--latent-dim", type=int, help="continuous latent size P (default 8)")
    after = parser.add_argument_group("after training")
    after.add_argument(
        "--fixed-points",
        choices=("auto", "exact", "numeric", "off"),
        help="auto (default): exact enumeration when predicted to fit --fixed-point-budget, else numeric search; "
        "exact: always enumerate (relu/clipped_relu, no time limit); numeric; off",
    )
    after.add_argument(
        "--fixed-point-budget", type=float, metavar="SECONDS", help="time budget of the fixed-point stage (default 60)"
    )
    training = parser.add_argument_group("training")
    training.add_argument(
        "--max-steps", type=int, help="cap on optimiser steps (default 20000); training otherwise stops at convergence"
    )
    training.add_argument("--max-epochs", type=int, help="cap on epochs (default: none)")
    training.add_argument("--max-time", type=float, metavar="SECONDS", help="cap on training wall time (default 4 h)")
    training.add_argument("--learning-rate", type=float, help="initial learning rate (default 3e-3 low-rank, 1e-2 SRNN)")
    training.add_argument(
        "--no-init-from-data",
        dest="init_from_data",
        action="store_false",
        default=None,
        help="start readouts from random weights instead of the data's mean rates and principal components",
    )
    training.add_argument("--accelerator", help="auto, cpu or gpu (default cpu)")
    training.add_argument("--devices", type=int, help="devices (processes) per node (default 1)")
    training.add_argument("--num-nodes", type=int, help="number of nodes for multi-node DDP (default 1)")
    training.add_argument(
        "--strategy",
        help="auto, ddp (what torchrun/SLURM launch), ddp_spawn, ddp_fork, ddp_notebook (default auto)",
    )
    training.add_argument("--precision", help="32-true, 64-true, 16-mixed, bf16-mixed or bf16-true (default 32-true)")
    run = parser.add_argument_group("run directory (checkpoints, logs, resume)")
    resume = run.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume", metavar="CKPT", help="resume from this checkpoint (default: the run's last.ckpt if present)"
    )
    resume.add_argument("--fresh", action="store_true", help="discard the run's old checkpoints and start over")
    training.add_argument(
        "--num-threads", type=int, help="torch threads per process (default: NWB_DYN_NUM_THREADS or min(4, cores))"
    )


def _run_fit(args: argparse.Namespace) -> int:
    from nwb_dyn.api import OPTION_KEYS, fit
    from nwb_dyn.training.run import summary_lines

    options = {name: getattr(args, name) for name in OPTION_KEYS if getattr(args, name, None) is not None}
    outcome = fit(
        args.source,
        model=args.model,
        out=args.out,
        config=args.config,
        overwrite=args.overwrite,
        command=" ".join(["nwb-dyn", *sys.argv[1:]]),
        resume=args.resume,
        fresh=args.fresh,
        **_source_options(args),
        **options,
    )
    for session in outcome.fits:
        print(f"fitted {session.source}:", *summary_lines(session.summary, session.output), sep="\n", file=sys.stderr)
    for path in outcome.outputs:
        print(path)
    return 0


def _add_select_parser(commands: argparse._SubParsersAction) -> None:
    select_parser = commands.add_parser(
        "select",
        help="fit a grid of model sizes x seeds, rank them, and keep the chosen model's output",
        description="Fit every size and seed, rank sizes by held-out co-smoothing and across-seed state "
        "variability, print the table; the chosen model's output path is the last line.",
    )
    select_parser.add_argument("source", help="one NWB session (path)")
    select_parser.add_argument("--model", default="srnn", help="srnn (sized by --states) or lowrank (by --rank)")
    grid = select_parser.add_mutually_exclusive_group(required=True)
    grid.add_argument("--states", type=int, nargs="+", metavar="K", help="numbers of discrete states to try")
    grid.add_argument("--rank", type=int, nargs="+", metavar="R", help="latent ranks to try")
    select_parser.add_argument("--seeds", type=int, default=3, help="seeds per size (default 3)")
    select_parser.add_argument("--out", default="nwb-dyn-out", help="directory for the chosen model's NWB file")
    select_parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    select_parser.add_argument("--config", help="YAML config file for every fit")
    select_parser.add_argument("--max-epochs", type=int, help="training epochs per fit")
    select_parser.add_argument("--heldout-fraction", type=float, help="units held out for co-smoothing (default 0.2)")
    select_parser.set_defaults(handler=_run_select)


def _run_select(args: argparse.Namespace) -> int:
    from nwb_dyn.model_selection import format_ranking, select_model

    grid_option = "states" if args.states is not None else "rank"
    options = {
        name: getattr(args, name)
        for name in ("config", "max_epochs", "heldout_fraction")
        if getattr(args, name) is not None
    }
    outcome = select_model(
        args.source,
        args.model,
        args.states if args.states is not None else args.rank,
        grid_option=grid_option,
        seeds=args.seeds,
        out=args.out,
        overwrite=args.overwrite,
        **options,
    )
    print(format_ranking(outcome.ranked, grid_option))
    print(outcome.chosen_output)
    return 0


def _add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    evaluate_parser = commands.add_parser(
        "evaluate",
        help="recompute every applicable metric of a result file",
        description="Re-extract the fit's source session and recompute every applicable metric of RESULT.",
    )
    evaluate_parser.add_argument("result", help="an NWB file written by nwb-dyn fit")
    evaluate_parser.add_argument(
        "--labels",
        help="reference states: events:COL[,COL...] (trial event columns) or a .npy of integer labels per bin",
    )
    evaluate_parser.add_argument("--json", action="store_true", help="print one JSON object (NaN as null)")
    evaluate_parser.add_argument("--cache-dir", help="cache of extracted arrays (as for fit)")
    evaluate_parser.add_argument("--dandi-api-url", help="DANDI archive API for dandiset sources (as for fit)")
    evaluate_parser.add_argument(
        "--source", help="the fitted session, when it is not beside the result (results record it by name and sha256)"
    )
    evaluate_parser.set_defaults(handler=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from nwb_dyn.api import evaluate
    from nwb_dyn.evaluate import format_metrics

    metrics = evaluate(
        args.result, labels=args.labels, dandi_api_url=args.dandi_api_url, cache_dir=args.cache_dir,
        source=args.source,
    )  # fmt: skip
    print(format_metrics(metrics, as_json=args.json))
    return 0


def _add_report_parser(commands: argparse._SubParsersAction) -> None:
    report_parser = commands.add_parser(
        "report",
        help="draw a fit's figures (PNG) and an index.html that shows them with its metrics",
        description="Draw every figure that applies to RESULT (states, latents, flow field and fixed points, "
        "observed vs reconstructed rates, training curves, generated vs real spike statistics) into DIR with an "
        "index.html; prints the page's path.",
    )
    report_parser.add_argument("result", help="an NWB file written by nwb-dyn fit")
    report_parser.add_argument("--out", default="nwb-dyn-report", help="directory for the figures and index.html")
    report_parser.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from nwb_dyn.api import report

    print(report(args.result, out=args.out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full ``nwb-dyn`` parser (also used to generate the CLI reference in ``docs/``)."""
    parser = argparse.ArgumentParser(
        prog="nwb-dyn",
        description="Fit interpretable neural-dynamics models to NWB/DANDI data and write the results as NWB.",
    )
    parser.add_argument("--version", action="version", version=f"nwb-dyn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    fit_parser = commands.add_parser(
        "fit",
        help="fit a model to every session of SOURCE and write one derived NWB file per session",
        description="Fit a model to every session of SOURCE; prints each output file's path as the last lines.",
    )
    _add_fit_options(fit_parser)
    fit_parser.set_defaults(handler=_run_fit)
    ls_parser = commands.add_parser(
        "ls",
        help="list what SOURCE holds that can be fitted (reads metadata only)",
        description="List a dandiset's NWB assets with sizes and, per file, its units, time series and trials.",
    )
    ls_parser.add_argument("source", help="NWB file path, https:// URL or dandiset:ID[@VERSION][/ASSET/PATH]")
    _add_source_options(ls_parser)
    ls_parser.set_defaults(handler=_run_ls)
    _add_select_parser(commands)
    _add_evaluate_parser(commands)
    _add_report_parser(commands)
    return parser


def _internal_error_log(exc: BaseException) -> Path:
    handle = tempfile.NamedTemporaryFile("w", prefix="nwb-dyn-error-", suffix=".log", delete=False)  # noqa: SIM115 (closed below)
    with handle:
        traceback.print_exception(exc, file=handle)
    return Path(handle.name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nwb-dyn`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except NwbDynError as exc:
        print(f"nwb-dyn: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("nwb-dyn: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 — internal error: one line here, the traceback in a log file
        log = _internal_error_log(exc)
        print(f"nwb-dyn: internal error: {type(exc).__name__}: {exc}; traceback in {log}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
