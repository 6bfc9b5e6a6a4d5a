"""SOURCE strings → what they name: a local file, an http(s) URL, or a DANDI dandiset (version, asset path).

Accepted DANDI spellings: ``dandiset:000128``, ``dandiset:000128@0.220113.0400``, ``dandiset:000128@draft``,
``dandiset:000128/sub-Jenkins/file.nwb`` (also with ``@version``), ``DANDI:000128/0.220113.0400[/path]`` and the
archive's web addresses ``https://dandiarchive.org/dandiset/000128[/version][/files?location=PATH]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from nwb_dyn.errors import SourceError

_VERSION = r"draft|\d+\.\d{6}\.\d{4}"
_OUR_FORM = re.compile(r"^dandiset:(?P<id>\d{6})(?:@(?P<version>[^/]+))?(?:/(?P<path>.+))?$", re.IGNORECASE)
_DANDI_FORM = re.compile(
    rf"^DANDI:(?P<id>\d{{6}})(?:/(?P<version>{_VERSION}))?(?:/(?P<path>.+))?/?$", re.IGNORECASE
)
_WEB_PATH = re.compile(rf"^/dandiset/(?P<id>\d{{6}})(?:/(?P<version>{_VERSION}))?(?:/.*)?$")
_WEB_HOSTS = ("dandiarchive.org", "gui.dandiarchive.org", "www.dandiarchive.org")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class LocalTarget:
    """A path on this machine."""

    path: Path


@dataclass(frozen=True)
class UrlTarget:
    """An NWB file served over http(s) (streamed with Range requests)."""

    url: str


@dataclass(frozen=True)
class DandiTarget:
    """A dandiset, optionally pinned to a version and narrowed to one asset path (or folder)."""

    dandiset_id: str
    version: str | None = None
    asset_path: str | None = None


SourceTarget = LocalTarget | UrlTarget | DandiTarget


def _check_version(version: str | None, source: str) -> str | None:
    if version is None:
        return None
    if not re.fullmatch(_VERSION, version):
        raise SourceError(
            f"{source}: '{version}' is not a DANDI version; use 'draft' or a published version like 0.220113.0400"
        )
    return version


def _web_target(source: str) -> DandiTarget | None:
    parts = urlsplit(source)
    if parts.hostname not in _WEB_HOSTS:
        return None
    path = parts.path.removeprefix("/#")  # the old single-page-app addresses: /#/dandiset/000128
    match = _WEB_PATH.match(path or parts.fragment)
    if match is None:
        raise SourceError(
            f"{source}: not a dandiset address; expected https://dandiarchive.org/dandiset/NNNNNN[/VERSION]"
        )
    location = parse_qs(parts.query).get("location", [None])[0]
    asset_path = (unquote(location).strip("/") or None) if location else None
    return DandiTarget(match["id"], match["version"], asset_path)


def parse_source(source: str) -> SourceTarget:
    """Classify a SOURCE string; raises :class:`SourceError` for empty strings and non-http(s) URLs."""
    text = source.strip() if source else ""
    if not text:
        raise SourceError("SOURCE is empty; pass an .nwb path, an https:// URL or dandiset:NNNNNN")
    for pattern in (_OUR_FORM, _DANDI_FORM):
        match = pattern.match(text)
        if match:
            path = match["path"].strip("/") if match["path"] else None
            return DandiTarget(match["id"], _check_version(match["version"], text), path or None)
    if text.lower().startswith(("dandiset:", "dandi:")):
        raise SourceError(
            f"{text}: not a dandiset reference; write dandiset:NNNNNN[@VERSION][/ASSET/PATH] with a 6-digit id"
        )
    scheme = _SCHEME.match(text)
    if scheme:
        if scheme["scheme"].lower() not in ("http", "https"):
            raise SourceError(
                f"{text}: only http:// and https:// URLs are accepted (got '{scheme['scheme']}://'); "
                "download the file and pass its local path instead"
            )
        return _web_target(text) or UrlTarget(text)
    return LocalTarget(Path(text).expanduser())
