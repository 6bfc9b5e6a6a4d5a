"""Find NWB assets in a DANDI dandiset with the ``dandi`` client, and their streaming URLs.

Listings of *published* versions never change, so the selected assets of a pinned version are remembered under the
cache directory: a repeated fit of ``dandiset:ID@VERSION`` then needs no request at all when its extracted arrays are
cached too. Without a version two small requests learn the latest published version (then its remembered listing is
used); ``draft`` is always listed afresh.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import requests

from nwb_dyn.atomic import write_text_atomically
from nwb_dyn.errors import DandiError
from nwb_dyn.sources.parse import DandiTarget

LISTING_FORMAT = 1
_VERSION_NOT_FOUND = "version not found"  # placeholder message, replaced by one listing the known versions


@dataclass(frozen=True)
class DandiAsset:
    """One NWB asset of a dandiset version, as the archive lists it."""

    path: str
    asset_id: str
    size: int
    sha256: str | None
    etag: str | None


@dataclass(frozen=True)
class DandiSelection:
    """The version actually used and the assets selected from it (sorted by path)."""

    dandiset_id: str
    version: str
    assets: list[DandiAsset]


def is_safe_asset_path(path: str) -> bool:
    """Whether ``path`` is a plain relative path (no ``..``, not absolute, no backslashes): safe to show or name."""
    parts = PurePosixPath(path).parts
    return bool(parts) and not path.startswith("/") and "\\" not in path and ".." not in parts


def select_assets(paths: list[str], asset_path: str | None, glob: str | None) -> list[str]:
    """The ``.nwb`` paths named by an asset path (exact file or folder) and a glob on the path or the file name."""
    nwb_paths = sorted(p for p in paths if p.lower().endswith(".nwb"))
    if asset_path is not None:
        folder = asset_path.rstrip("/") + "/"
        nwb_paths = [p for p in nwb_paths if p == asset_path or p.startswith(folder)]
    if glob is not None:
        nwb_paths = [
            p
            for p in nwb_paths
            if fnmatch.fnmatchcase(p, glob) or fnmatch.fnmatchcase(p.rsplit("/", 1)[-1], glob)
        ]
    return nwb_paths


class DandiArchive:
    """One DANDI API endpoint, reached through a lazily created :class:`dandi.dandiapi.DandiAPIClient`.

    ``DANDI_API_KEY`` (if set) is passed as the client's token, for embargoed dandisets.
    """

    def __init__(self, api_url: str, cache_root: Path) -> None:
        self.api_url = api_url
        self._listing_dir = cache_root / "dandi-listings"
        self._client: Any = None

    @contextlib.contextmanager
    def _translate_errors(self, not_found: str) -> Iterator[None]:
        """Turn the client's exceptions into :class:`DandiError` messages that say what to do."""
        from dandi.exceptions import NotFoundError

        try:
            yield
        except DandiError:
            raise
        except NotFoundError:
            raise DandiError(not_found) from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 404:
                raise DandiError(not_found) from None
            if status in (401, 403):
                key_state = "was refused" if os.environ.get("DANDI_API_KEY") else "is not set"
                raise DandiError(
                    f"HTTP {status} from the DANDI API at {self.api_url}: access denied (DANDI_API_KEY {key_state}); "
                    "for embargoed data set DANDI_API_KEY to an API key of an account with access"
                ) from None
            raise DandiError(f"HTTP {status} from the DANDI API at {self.api_url}; try again later") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise DandiError(
                f"cannot reach the DANDI API at {self.api_url} ({type(exc).__name__}); check the address "
                "(--dandi-api-url or NWB_DYN_DANDI_API_URL) and your network"
            ) from None

    def client(self) -> Any:
        """The shared client (its creation asks the server for its info, so it happens only when needed)."""
        if self._client is None:
            from dandi.dandiapi import DandiAPIClient

            os.environ.setdefault("DANDI_NO_ET", "1")  # no version-check call to an outside telemetry service
            logging.getLogger("dandi").setLevel(logging.CRITICAL)
            try:
                with self._translate_errors(
                    f"{self.api_url} is not a DANDI API (HTTP 404); check --dandi-api-url"
                ):
                    self._client = DandiAPIClient(api_url=self.api_url, token=os.environ.get("DANDI_API_KEY"))
            except RuntimeError as exc:  # dandi's "Could not retrieve server info from <url>"
                raise DandiError(
                    f"cannot reach a DANDI server at {self.api_url} ({exc}); check --dandi-api-url or "
                    "NWB_DYN_DANDI_API_URL and your network"
                ) from None
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.session.close()
            self._client = None

    def _listing_file(self, target: DandiTarget, version: str, glob: str | None) -> Path:
        key = json.dumps([LISTING_FORMAT, self.api_url, target.dandiset_id, version, target.asset_path, glob])
        return self._listing_dir / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def _remembered(self, listing: Path) -> DandiSelection | None:
        try:
            stored = json.loads(listing.read_text())
            return DandiSelection(
                stored["dandiset_id"], stored["version"], [DandiAsset(**a) for a in stored["assets"]]
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def select(self, target: DandiTarget, glob: str | None) -> DandiSelection:
        """Resolve the version and select the NWB assets; raises :class:`DandiError` naming what is missing."""
        pinned = target.version not in (None, "draft")
        if pinned:
            remembered = self._remembered(self._listing_file(target, str(target.version), glob))
            if remembered is not None:
                return remembered
        name = f"DANDI:{target.dandiset_id}"
        with self._translate_errors(
            f"dandiset {target.dandiset_id} does not exist on {self.api_url} (or is not visible to you); "
            "check the id on the archive"
        ):
            dandiset = self.client().get_dandiset(target.dandiset_id, lazy=False)
        if target.version is not None and target.version != dandiset.version_id:
            try:
                with self._translate_errors(_VERSION_NOT_FOUND):
                    dandiset = self.client().get_dandiset(target.dandiset_id, target.version, lazy=False)
            except DandiError as exc:
                if str(exc) != _VERSION_NOT_FOUND:
                    raise
                with self._translate_errors(f"{name}: cannot list its versions"):
                    known = [v.identifier for v in dandiset.get_versions()]
                raise DandiError(
                    f"{name} has no version '{target.version}' on {self.api_url}; known versions: "
                    f"{', '.join(known)} (or 'draft')"
                ) from None
        version = dandiset.version_id
        if version != "draft":  # the latest published version may be one we have listed before
            remembered = self._remembered(self._listing_file(target, version, glob))
            if remembered is not None:
                return remembered
        with self._translate_errors(f"{name}/{version}: cannot list its assets"):
            assets = {asset.path: asset for asset in dandiset.get_assets()}
        chosen = select_assets(list(assets), target.asset_path, glob)
        if not chosen:
            raise DandiError(self._nothing_selected(name, version, target, glob, list(assets)))
        selected = []
        for path in chosen:
            asset = assets[path]
            with self._translate_errors(
                f"{name}/{version}: asset {path} vanished while reading it; try again"
            ):
                digest = asset.get_raw_metadata().get("digest", {})
            selected.append(
                DandiAsset(
                    path,
                    asset.identifier,
                    int(asset.size),
                    digest.get("dandi:sha2-256"),
                    digest.get("dandi:dandi-etag"),
                )
            )
        selection = DandiSelection(target.dandiset_id, version, selected)
        if version != "draft":
            listing = self._listing_file(target, version, glob)
            write_text_atomically(
                listing,
                json.dumps(
                    {
                        "dandiset_id": selection.dandiset_id,
                        "version": selection.version,
                        "assets": [asdict(a) for a in selection.assets],
                    }
                ),
            )
        return selection

    @staticmethod
    def _nothing_selected(
        name: str, version: str, target: DandiTarget, glob: str | None, paths: list[str]
    ) -> str:
        if not any(p.lower().endswith(".nwb") for p in paths):
            return (
                f"{name}/{version} has no NWB assets ({len(paths)} other files); nwb-dyn fits .nwb files only"
            )
        if target.asset_path is not None and not select_assets(paths, target.asset_path, None):
            return (
                f"{name}/{version} has no asset or folder '{target.asset_path}'; "
                f"run 'nwb-dyn ls dandiset:{target.dandiset_id}@{version}' to see its NWB assets"
            )
        return (
            f"no NWB asset of {name}/{version} matches --asset '{glob}'; "
            f"run 'nwb-dyn ls dandiset:{target.dandiset_id}@{version}' to see them"
        )

    def content_url(self, dandiset_id: str, version: str, asset: DandiAsset) -> str:
        """Where the asset's bytes are: the archive's download URL with its one redirect followed.

        The query string is kept because presigned URLs of embargoed data need it.
        """
        with self._translate_errors(
            f"DANDI:{dandiset_id}/{version}: asset {asset.path} ({asset.asset_id}) is gone"
        ):
            remote = self.client().get_dandiset(dandiset_id, version).get_asset(asset.asset_id)
            return str(remote.get_content_url(follow_redirects=1, strip_query=False))
