"""SOURCE strings → read-only NWB handles (local paths for now; URLs and DANDI through the same interface)."""

from nwb_dyn.sources.identity import SourceIdentity
from nwb_dyn.sources.resolve import SourceRef, resolve_sources

__all__ = ["SourceIdentity", "SourceRef", "resolve_sources"]
