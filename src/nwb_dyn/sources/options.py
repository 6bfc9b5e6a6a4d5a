"""How remote sources are reached and cached: the fit/ls options that are not model configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_DANDI_API_URL = "https://api.dandiarchive.org/api"


@dataclass(frozen=True)
class SourceOptions:
    """Options of ``nwb-dyn fit``/``ls`` that concern the source.

    ``asset_glob`` narrows a dandiset's NWB assets (``--asset``); ``dandi_api_url`` picks the archive
    (``--dandi-api-url``, else env ``NWB_DYN_DANDI_API_URL``, else the public DANDI archive); ``cache_dir`` holds
    extracted arrays, pinned listings and downloads (``--cache-dir``, else ``NWB_DYN_CACHE_DIR``, else the user cache
    directory); ``download`` fetches whole files (sha256-checked) instead of streaming them.
    """

    asset_glob: str | None = None
    dandi_api_url: str | None = None
    cache_dir: Path | None = None
    download: bool = False

    def api_url(self) -> str:
        url = self.dandi_api_url or os.environ.get("NWB_DYN_DANDI_API_URL") or DEFAULT_DANDI_API_URL
        return url.rstrip("/")

    def cache_root(self) -> Path:
        configured = self.cache_dir or os.environ.get("NWB_DYN_CACHE_DIR")
        return Path(configured).expanduser() if configured else Path(platformdirs.user_cache_dir("nwb-dyn"))
