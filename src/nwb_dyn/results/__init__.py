"""Everything a fit produced → a new derived NWB file; and reading results back (``nwb_dyn.results.read``)."""

from nwb_dyn.results.reader import FitResult, read
from nwb_dyn.results.writer import FitRecord, write_result

__all__ = ["FitRecord", "FitResult", "read", "write_result"]
