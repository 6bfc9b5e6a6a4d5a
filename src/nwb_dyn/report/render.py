"""``nwb-dyn report``: draw every figure that applies to a result file and write them with ``index.html``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from nwb_dyn.errors import OutputError
from nwb_dyn.report.canvas import NotApplicable, save_png
from nwb_dyn.report.flow import draw_flow_field
from nwb_dyn.report.html import RenderedFigure, write_index
from nwb_dyn.report.inputs import ReportInputs, load_report_inputs
from nwb_dyn.report.latents import draw_latent_trajectories
from nwb_dyn.report.metric_notes import metric_rows
from nwb_dyn.report.rates import draw_observed_vs_reconstructed
from nwb_dyn.report.spike_stats import draw_spike_statistics
from nwb_dyn.report.states import draw_state_raster
from nwb_dyn.report.summary import summary_sentences
from nwb_dyn.report.training import draw_training_curves


@dataclass(frozen=True)
class FigureSpec:
    """One report figure: its file stem, heading, caption, and the function that draws it."""

    name: str
    title: str
    caption: str
    draw: Callable[[ReportInputs], Figure]


#: Every figure the report knows, in page order.
FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "states",
        "Discrete states against trial events",
        "Most probable state in every bin: one row per window, time from the alignment event (or one strip along "
        "the session clock when windows were not aligned); markers are the trials table's event times; the legend "
        "gives each state's share of bins.",
        draw_state_raster,
    ),
    FigureSpec(
        "latents",
        "Posterior latents per trial",
        "Posterior latent trajectories (PCA plane when R > 2) and the first coordinate over time from the alignment "
        "event (dashed line; session time when not aligned); colour is the discrete state, else the trial "
        "condition, else time.",
        draw_latent_trajectories,
    ),
    FigureSpec(
        "flow_field",
        "Flow field and fixed points",
        "Step F(z) − z of the fitted map, one panel per discrete state with the stretches of trajectory spent in "
        "that state; filled dots are stable fixed points, hollow ones unstable.",
        draw_flow_field,
    ),
    FigureSpec(
        "rates",
        "Observed vs reconstructed rates",
        "Mean over windows of observed spike rate (black, ± s.e.m.) and of the model's predicted rate (red), against "
        "time from the alignment event (or from window start when windows were not aligned).",
        draw_observed_vs_reconstructed,
    ),
    FigureSpec(
        "training",
        "Training curves",
        "Per-epoch losses and metrics from the run's CSV log.",
        draw_training_curves,
    ),
    FigureSpec(
        "spike_statistics",
        "Generated vs real spike statistics",
        "Each dot is a unit (or pair); on the dashed diagonal the free-running model matches the data.",
        draw_spike_statistics,
    ),
)


@dataclass(frozen=True)
class Report:
    """A written report: its page and what became of every figure (drawn or skipped, with why)."""

    index: Path
    figures: tuple[RenderedFigure, ...]

    @property
    def images(self) -> list[Path]:
        """Paths of the PNG files written."""
        return [
            self.index.parent / figure.file_name for figure in self.figures if figure.file_name is not None
        ]


def render_report(result: str | Path, out: str | Path) -> Report:
    """Read the result file ``result`` and write ``index.html`` with one PNG per applicable figure into ``out``."""
    result = Path(result)
    out = Path(out)
    inputs = load_report_inputs(result)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create the report directory {out} ({exc.strerror}); pass another --out"
        ) from None
    rendered = []
    for spec in FIGURES:
        try:
            figure = spec.draw(inputs)
        except NotApplicable as skipped:
            rendered.append(RenderedFigure(spec.name, spec.title, spec.caption, None, str(skipped)))
            continue
        file_name = f"{spec.name}.png"
        save_png(figure, str(out / file_name))
        rendered.append(RenderedFigure(spec.name, spec.title, spec.caption, file_name))
    stored = inputs.result.stored_model
    index = write_index(
        out / "index.html",
        result,
        stored.family,
        summary_sentences(inputs),
        metric_rows(stored.metrics, stored.family),
        stored.hyperparameters,
        inputs.result.provenance,
        rendered,
    )
    return Report(index=index, figures=tuple(rendered))
