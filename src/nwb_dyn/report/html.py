"""``index.html``: the figures, the metrics table and the fit's provenance in one self-contained static page."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nwb_dyn.report.canvas import FIGURE_SIZE_PX
from nwb_dyn.report.metric_notes import MetricRow

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1060px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
.skipped { color: #666; font-style: italic; }
.summary { font-size: 1.05em; background: #f6f8fa; border-left: 4px solid #4a7; padding: 0.6em 1em; }
td.note { color: #444; font-size: 0.92em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


@dataclass(frozen=True)
class RenderedFigure:
    """A figure written to ``file_name`` (relative to the page), or skipped: ``file_name`` None and ``reason``."""

    name: str
    title: str
    caption: str
    file_name: str | None
    reason: str | None = None


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4g}"
    return escape(str(value))


def _rows(values: dict[str, Any]) -> str:
    return "\n".join(
        f'<tr><th>{escape(str(key))}</th><td class="number">{_number(value)}</td></tr>'
        for key, value in sorted(values.items())
    )


def _metric_table(rows: list[MetricRow]) -> str:
    """Metric, value (n/a when not scored), which way is better, what it means (and why it is n/a)."""
    if not rows:
        return "<table><tr><td>no metrics were recorded</td></tr></table>"
    body = "\n".join(
        f'<tr><th>{escape(row.key)}</th><td class="number">{"n/a" if row.value is None else _number(row.value)}</td>'
        f'<td>{escape(row.better)}</td><td>{escape(row.split)}</td><td class="note">{escape(row.meaning)}</td></tr>'
        for row in rows
    )
    header = "<tr><th>metric</th><th>value</th><th>better</th><th>scored on</th><th>what it means</th></tr>"
    return f"<table>{header}\n{body}</table>"


def _figure_block(figure: RenderedFigure) -> str:
    heading = f'<h3 id="{escape(figure.name)}">{escape(figure.title)}</h3>'
    if figure.file_name is None:
        return f'<section>{heading}<p class="skipped">Not drawn: {escape(figure.reason or "")}.</p></section>'
    width, height = FIGURE_SIZE_PX
    return (
        f'<figure>{heading}<img src="{escape(figure.file_name)}" alt="{escape(figure.title)}" '
        f'width="{width}" height="{height}"><figcaption>{escape(figure.caption)}</figcaption></figure>'
    )


def _relative_link(target: Path, folder: Path) -> str:
    """``target`` relative to ``folder`` (a percent-encoded URL path), so the page names no machine path and its link survives moving
    the report together with the result; the bare file name where no relative path exists (another drive)."""
    try:
        return quote(Path(os.path.relpath(target.resolve(), folder.resolve())).as_posix())
    except ValueError:
        return quote(target.name)


def write_index(
    path: Path,
    result_path: Path,
    family: str,
    summary_sentences: list[str],
    metric_rows: list[MetricRow],
    hyperparameters: dict[str, Any],
    provenance: dict[str, Any],
    figures: list[RenderedFigure],
) -> Path:
    """Write the report page to ``path`` and return it: the plain-language summary first, then the fit's identity,
    the explained metrics table, the figures (by relative file name) and the model."""
    source = provenance.get("source", {})
    source_text = source.get("asset_path") or source.get("location", "unknown")
    summary = {"model family": family, "source": source_text, "seed": provenance.get("seed", "n/a")}
    page = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>nwb-dyn report: {escape(result_path.name)}</title><style>{_STYLE}</style></head>
<body>
<h1>nwb-dyn report</h1>
<div class="summary">{"".join(f"<p>{escape(sentence)}</p>" for sentence in summary_sentences)}</div>
<p>Result file <a href="{escape(_relative_link(result_path, path.parent))}"><code>{escape(result_path.name)}</code></a>.</p>
<table>{_rows(summary)}</table>
<h2>Metrics</h2>
{_metric_table(metric_rows)}
<h2>Figures</h2>
{"".join(_figure_block(figure) for figure in figures)}
<h2>Model</h2>
<pre>{escape(json.dumps(hyperparameters, indent=2, sort_keys=True))}</pre>
<p>Command: <code>{escape(str(provenance.get("command", "n/a")))}</code></p>
</body>
</html>
"""
    path.write_text(page, encoding="utf-8")
    return path
