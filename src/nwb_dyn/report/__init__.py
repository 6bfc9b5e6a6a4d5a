"""Visual report of a fit (``nwb-dyn report``): PNG figures drawn with matplotlib (Agg) and an ``index.html``."""

from nwb_dyn.report.canvas import FIGURE_SIZE_PX
from nwb_dyn.report.render import FIGURES, Report, render_report

__all__ = ["FIGURES", "FIGURE_SIZE_PX", "Report", "render_report"]
