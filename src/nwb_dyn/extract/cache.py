"""On-disk cache of extracted :class:`NeuralData`, keyed by the source's content identity and the extraction settings.

A repeated fit of a remote session then opens nothing: no request, no byte. An entry is two files written atomically:
``<key>.npz`` (every array, ``allow_pickle=False``) and ``<key>.json`` (scalars, names, the npz's sha256). The JSON is
written last, so an entry without it is incomplete and ignored; an npz whose sha256 differs from the JSON's is
discarded (and extracted again). Nothing is ever pickled.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from nwb_dyn.atomic import write_bytes_atomically, write_text_atomically
from nwb_dyn.config import DataConfig
from nwb_dyn.extract.neural_data import NeuralData
from nwb_dyn.extract.session import SessionInfo
from nwb_dyn.sources.identity import SourceIdentity

#: Bump when the stored layout or the meaning of extracted arrays changes, so old entries stop matching.
CACHE_FORMAT = 2  # 2: trials of unequal length are padded, no longer cut to the shortest

_log = logging.getLogger(__name__)


def extraction_cache_key(
    identity: SourceIdentity, settings: DataConfig, seed: int, include_local: bool = False
) -> str | None:
    """Hex key for one session's extraction, or None when the source has no content identity to trust.

    Remote sources are keyed by what identifies their bytes (DANDI asset id and sha256/etag; a URL's ETag); the
    settings and seed are part of the key because windows, splits and held-out units depend on them. Local files
    are keyed (by path and sha256) only when ``include_local``: a multi-process run extracts once per node and the
    other ranks load the cached arrays.
    """
    if identity.kind == "dandi":
        content = [identity.api_url, identity.asset_id, identity.sha256 or identity.etag]
        if identity.asset_id is None:
            return None
    elif identity.kind == "url":
        if identity.etag is None:
            return None
        content = [identity.location, identity.etag, identity.size_bytes]
    elif include_local and identity.sha256 is not None:
        content = [identity.location, identity.sha256]
    else:
        return None  # local files are read directly; caching them would only duplicate them
    material = json.dumps(
        [CACHE_FORMAT, content, dataclasses.asdict(settings), seed], sort_keys=True, default=str
    )
    return hashlib.sha256(material.encode()).hexdigest()


class _Unstorable(Exception):
    """A field holds a type the cache does not know how to store without pickling."""


def _split_fields(obj: Any, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Arrays of a dataclass go into ``arrays`` (keys ``prefix + name``); the rest is returned as JSON values."""
    plain: dict[str, Any] = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        key = prefix + field.name
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                value = value.astype(str)
            arrays[key] = value
            plain[field.name] = {"array": key}
        elif isinstance(value, datetime.datetime):
            plain[field.name] = {"datetime": value.isoformat()}
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            names = list(value)
            for index, name in enumerate(names):
                column = value[name]
                arrays[f"{key}.{index}"] = column.astype(str) if column.dtype == object else column
            plain[field.name] = {"array_dict": names, "prefix": key}
        elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
            arrays[f"{key}.flat"] = np.concatenate(value) if value else np.zeros(0)
            arrays[f"{key}.lengths"] = np.asarray([len(v) for v in value], dtype=np.int64)
            plain[field.name] = {"ragged": key}
        elif dataclasses.is_dataclass(value):
            plain[field.name] = {"dataclass": _split_fields(value, key + ".", arrays)}
        else:
            try:
                json.dumps(value)
            except TypeError:
                raise _Unstorable(f"{key}: {type(value).__name__}") from None
            plain[field.name] = {"json": value}
    return plain


def _rebuild(cls: type, plain: dict[str, Any], arrays: Any) -> Any:
    values: dict[str, Any] = {}
    nested = {f.name: f.type for f in dataclasses.fields(cls)}
    for name, stored in plain.items():
        if "array" in stored:
            values[name] = arrays[stored["array"]]
        elif "datetime" in stored:
            values[name] = datetime.datetime.fromisoformat(stored["datetime"])
        elif "array_dict" in stored:
            values[name] = {
                col: arrays[f"{stored['prefix']}.{i}"] for i, col in enumerate(stored["array_dict"])
            }
        elif "ragged" in stored:
            flat, lengths = arrays[f"{stored['ragged']}.flat"], arrays[f"{stored['ragged']}.lengths"]
            values[name] = list(np.split(flat, np.cumsum(lengths)[:-1]))
        elif "dataclass" in stored:
            if nested[name] not in ("SessionInfo", SessionInfo):
                raise _Unstorable(f"{name}: unknown nested type {nested[name]}")
            values[name] = _rebuild(SessionInfo, stored["dataclass"], arrays)
        else:
            values[name] = stored["json"]
    return cls(**values)


class ExtractionCache:
    """Cached :class:`NeuralData` under ``directory`` (normally ``<cache dir>/extracted``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.directory / f"{key}.npz", self.directory / f"{key}.json"

    def load(self, key: str) -> NeuralData | None:
        """The cached extraction for ``key``, or None when absent, incomplete or corrupt (then it is deleted)."""
        arrays_path, sidecar_path = self._paths(key)
        if not sidecar_path.exists():
            return None
        try:
            sidecar = json.loads(sidecar_path.read_text())
            content = arrays_path.read_bytes()
            if hashlib.sha256(content).hexdigest() != sidecar["npz_sha256"]:
                raise ValueError("checksum mismatch")
            with np.load(io.BytesIO(content), allow_pickle=False) as arrays:
                return _rebuild(NeuralData, sidecar["fields"], arrays)
        except (OSError, ValueError, KeyError, TypeError, _Unstorable) as exc:
            _log.warning("discarding cache entry %s (%s); extracting again", key, exc)
            self.discard(key)
            return None

    def store(self, key: str, data: NeuralData) -> bool:
        """Save ``data`` under ``key``; returns False (and stores nothing) if a field cannot be stored safely."""
        arrays: dict[str, np.ndarray] = {}
        try:
            fields = _split_fields(data, "", arrays)
        except _Unstorable as exc:
            _log.warning("not caching this extraction: cannot store field %s without pickling", exc)
            return False
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        content = buffer.getvalue()
        arrays_path, sidecar_path = self._paths(key)
        write_bytes_atomically(arrays_path, content)
        sidecar = {
            "format": CACHE_FORMAT,
            "npz_sha256": hashlib.sha256(content).hexdigest(),
            "fields": fields,
        }
        write_text_atomically(sidecar_path, json.dumps(sidecar))
        return True

    def discard(self, key: str) -> None:
        for path in self._paths(key):
            path.unlink(missing_ok=True)
