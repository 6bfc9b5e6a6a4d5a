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


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="NWB file path (later also an https:// URL or dandiset:ID[@version][/path])")
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
    lowrank = parser.add_argument_group("low-rank RNN (--model lowrank)")
    lowrank.add_argument("--rank", type=int, help="latent dimension R (default 3)")
    lowrank.add_argument("--units", type=int, help="RNN units N (default 64)")
    lowrank.add_argument("--particles", type=int, help="SMC particles K (default 16)")
    lowrank.add_argument("--proposal", help="SMC proposal: bootstrap")
    lowrank.add_argument("--obs", help="observation model: auto, poisson or gaussian")
    lowrank.add_argument("--activation", help="relu, clipped_relu or tanh (default clipped_relu)")
    training = parser.add_argument_group("training")
    training.add_argument("--max-epochs", type=int, help="training epochs (default 50)")
    training.add_argument("--learning-rate", type=float, help="Adam learning rate (default 1e-3)")
    training.add_argument("--accelerator", help="auto, cpu or gpu (default cpu)")
    training.add_argument("--devices", type=int, help="number of devices (default 1)")
    training.add_argument(
        "--num-threads", type=int, help="torch threads per process (default: NWB_DYN_NUM_THREADS or min(4, cores))"
    )


def _run_fit(args: argparse.Namespace) -> int:
    from nwb_dyn.api import OPTION_KEYS, fit

    options = {name: getattr(args, name) for name in OPTION_KEYS if getattr(args, name, None) is not None}
    outcome = fit(
        args.source,
        model=args.model,
        out=args.out,
        config=args.config,
        overwrite=args.overwrite,
        command=" ".join(["nwb-dyn", *sys.argv[1:]]),
        **options,
    )
    for session in outcome.fits:
        summary = session.summary
        print(
            f"fitted {session.source}: {summary['epochs']} epochs in {summary['wall_time_s']:.1f} s",
            file=sys.stderr,
        )
    for path in outcome.outputs:
        print(path)
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
    return parser


def _internal_error_log(exc: BaseException) -> Path:
    handle = tempfile.NamedTemporaryFile("w", prefix="nwb-dyn-error-", suffix=".log", delete=False)
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
    except Exception as exc:  # internal error: one line here, the traceback in a log file
        log = _internal_error_log(exc)
        print(f"nwb-dyn: internal error: {type(exc).__name__}: {exc}; traceback in {log}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
