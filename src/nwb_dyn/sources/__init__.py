"""SOURCE strings → read-only NWB handles: local paths, http(s) URLs and DANDI dandisets through one interface."""

from nwb_dyn.sources.identity import SourceIdentity
from nwb_dyn.sources.options import SourceOptions
from nwb_dyn.sources.resolve import SourceRef, resolve_sources

__all__ = ["SourceIdentity", "SourceOptions", "SourceRef", "resolve_sources"]
