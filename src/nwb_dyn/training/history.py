"""Per-epoch training curves from a run's CSV logs (pure Python: the report reads them without torch)."""

from __future__ import annotations

import csv
from pathlib import Path

#: Logged columns that are not curves of the objective or of a metric.
NOT_CURVES = frozenset({"epoch", "step", "learning_rate", "encoder_alpha"})


def read_training_history(run_root: Path) -> dict[str, dict[str, list[float]]]:
    """Curves from every ``logs/version_*/metrics.csv`` under ``run_root``: name → {"epoch": [...], "value": [...]}.

    A resumed run writes one log per start; later logs win for an epoch they share. Values logged per step are
    averaged within their epoch. Returns {} when there is no log.
    """
    points: dict[str, dict[int, list[float]]] = {}
    for log in sorted(run_root.glob("logs/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[-1])):
        seen_here: dict[str, set[int]] = {}
        with log.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if not row.get("epoch"):
                    continue
                epoch = int(row["epoch"])
                for name, value in row.items():
                    if not value or name in NOT_CURVES or name.endswith("_step"):
                        continue
                    curve = name.removesuffix("_epoch")
                    by_epoch = points.setdefault(curve, {})
                    if epoch not in seen_here.setdefault(curve, set()):
                        by_epoch[epoch] = []  # this log supersedes an earlier one for this epoch
                        seen_here[curve].add(epoch)
                    by_epoch[epoch].append(float(value))
    return {
        name: {"epoch": sorted(by_epoch), "value": [sum(v) / len(v) for _, v in sorted(by_epoch.items())]}
        for name, by_epoch in points.items()
        if by_epoch
    }
