"""What Neurosift shows of our outputs: fit both model families to MC_Maze_Small and open every object of each output
in Neurosift v2 (``../shared/tools/neurosift-check``: headless Chromium, offline).

Target: every time series and table under ``/processing`` is ``plotted`` or ``table``; only the model and provenance
records (plain NWBDataInterfaces, shown field by field in Neurosift's object view) have no dedicated view. Not run in
CI: it needs Chromium and the neurosift-check tool. Prints one JSON object per family (the check's per-object
verdicts and its summary line); exits 1 when an object that should be plotted is not.

    python benchmarks/neurosift_check.py                       # or: make neurosift-check
    python benchmarks/neurosift_check.py --families srnn --max-epochs 2 --keep /tmp/ns
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
DEFAULT_SOURCE = SHARED / "data" / "mc_maze_small" / "sub-Jenkins_ses-small_desc-test_ecephys.nwb"
DEFAULT_TOOL = SHARED / "tools" / "neurosift-check"
#: Fit options per family (data options as the README's MC_Maze example; few epochs: the layout is what is checked).
FAMILIES = {"lowrank": {}, "srnn": {"states": 3}}
DATA_OPTIONS = {"bin_width": 0.02, "align": "move_onset_time", "window": (-0.25, 0.45)}
#: Objects that are records, not data: Neurosift shows their fields in its generic object view.
RECORDS = {"model", "provenance"}
_LINE = re.compile(r"^(/\S+)\s+(\S+)\s+(plotted|table|no dedicated view|error: .*?)(\s+\[.*\])?$")


def check(tool: Path, output: Path, shots: Path) -> dict:
    """Run neurosift-check on ``output``; its verdict per object and its summary line."""
    completed = subprocess.run(
        [str(tool), str(output), "--out", str(shots)], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"neurosift-check could not run on {output}: {completed.stderr.strip()[-2000:]}")
    verdicts = {}
    summary = ""
    for line in completed.stdout.splitlines():
        match = _LINE.match(line.strip())
        if match:
            verdicts[match.group(1)] = {"type": match.group(2), "shown": match.group(3)}
        elif " objects: " in line:
            summary = line.strip()
    return {"objects": verdicts, "summary": summary}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--tool", type=Path, default=DEFAULT_TOOL, help="the neurosift-check command")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--max-epochs", type=int, default=2)
    parser.add_argument(
        "--keep", type=Path, help="keep outputs and screenshots here (default: a temporary folder)"
    )
    args = parser.parse_args()
    if not args.tool.exists():
        raise SystemExit(f"{args.tool} not found; pass --tool PATH to the neurosift-check command")
    os.environ.setdefault("NWB_DYN_NUM_THREADS", "1")
    import nwb_dyn

    work = args.keep or Path(tempfile.mkdtemp(prefix="neurosift-check-"))
    failed = False
    try:
        for family in args.families:
            print(f"fitting {family} to {args.source.name} ...", file=sys.stderr)
            with contextlib.redirect_stdout(sys.stderr):  # the fit's own report; stdout carries only the JSON
                outcome = nwb_dyn.fit(
                    str(args.source),
                    model=family,
                    out=work / family,
                    overwrite=True,
                    max_epochs=args.max_epochs,
                    **DATA_OPTIONS,
                    **FAMILIES[family],
                )
            output = outcome.outputs[0]
            print(f"neurosift-check {output.name} ...", file=sys.stderr)
            report = check(args.tool, output, work / f"{family}-shots")
            not_shown = sorted(
                path
                for path, verdict in report["objects"].items()
                if path.rsplit("/", 1)[-1] not in RECORDS and verdict["shown"] not in ("plotted", "table")
            )
            failed |= bool(not_shown)
            print(
                json.dumps(
                    {
                        "family": family,
                        "source": args.source.name,
                        "max_epochs": args.max_epochs,
                        "summary": report["summary"],
                        "not_shown": not_shown,
                        "objects": report["objects"],
                        "screenshots": str(work / f"{family}-shots") if args.keep else None,
                    }
                ),
                flush=True,
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
