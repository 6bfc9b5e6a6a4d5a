"""The on-disk cache of extracted arrays: exact round trip, content keys, corrupt entries discarded and refetched."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from nwb_dyn.api import _session_data
from nwb_dyn.config import DataConfig, resolve_config
from nwb_dyn.extract import NeuralData, extract_neural_data
from nwb_dyn.extract.cache import ExtractionCache, extraction_cache_key
from nwb_dyn.sources import SourceIdentity, SourceOptions, resolve_sources
from nwb_dyn.sources.local import open_nwb_file
from tests.dandi_standin import DandiStandin
from tests.sources.conftest import SYNTHETIC_PATHS

DANDI_IDENTITY = SourceIdentity(
    kind="dandi", location="DANDI:000140/x", sha256="ab" * 32, asset_id="a-1", api_url="u"
)


def _assert_same(left: object, right: object) -> None:
    """Field-by-field equality of two dataclasses (arrays exactly, with dtype; nested dataclasses recursively)."""
    assert type(left) is type(right)
    for field in dataclasses.fields(left):  # type: ignore[arg-type]
        a, b = getattr(left, field.name), getattr(right, field.name)
        if dataclasses.is_dataclass(a):
            _assert_same(a, b)
        elif isinstance(a, np.ndarray):
            assert a.dtype == b.dtype, field.name
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        elif isinstance(a, dict) and a and isinstance(next(iter(a.values())), np.ndarray):
            assert list(a) == list(b), field.name
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{field.name}.{key}")
        elif isinstance(a, list) and a and isinstance(a[0], np.ndarray):
            assert len(a) == len(b), field.name
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y, err_msg=field.name)
        else:
            assert a == b, field.name


@pytest.fixture(scope="module")
def mc_maze_data(mc_maze_small: Path) -> NeuralData:
    with open_nwb_file(mc_maze_small, "mc_maze") as nwbfile:
        return extract_neural_data(nwbfile, DataConfig(heldout_fraction=0.2), 0, "mc_maze")


def test_round_trip_is_exact(mc_maze_data: NeuralData, tmp_path: Path) -> None:
    cache = ExtractionCache(tmp_path)
    assert cache.store("k", mc_maze_data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json", "k.npz"]
    loaded = cache.load("k")
    assert loaded is not None
    _assert_same(mc_maze_data, loaded)


def test_corrupt_entry_is_discarded(mc_maze_data: NeuralData, tmp_path: Path) -> None:
    cache = ExtractionCache(tmp_path)
    cache.store("k", mc_maze_data)
    content = bytearray((tmp_path / "k.npz").read_bytes())
    content[len(content) // 2] ^= 0xFF
    (tmp_path / "k.npz").write_bytes(bytes(content))
    assert cache.load("k") is None
    assert list(tmp_path.iterdir()) == []


def test_key_follows_content_settings_and_seed() -> None:
    base = extraction_cache_key(DANDI_IDENTITY, DataConfig(), 0)
    assert base is not None and len(base) == 64
    assert extraction_cache_key(DANDI_IDENTITY, DataConfig(), 0) == base
    assert extraction_cache_key(DANDI_IDENTITY, DataConfig(bin_width_s=0.01), 0) != base
    assert extraction_cache_key(DANDI_IDENTITY, DataConfig(), 1) != base
    assert (
        extraction_cache_key(dataclasses.replace(DANDI_IDENTITY, sha256="cd" * 32), DataConfig(), 0) != base
    )
    assert extraction_cache_key(dataclasses.replace(DANDI_IDENTITY, asset_id="a-2"), DataConfig(), 0) != base
    local = SourceIdentity(kind="local", location="/x.nwb", sha256="ab" * 32)
    assert extraction_cache_key(local, DataConfig(), 0) is None
    assert (
        extraction_cache_key(SourceIdentity(kind="url", location="http://h/x.nwb"), DataConfig(), 0) is None
    )


def test_repeat_reads_nothing_and_a_corrupted_entry_is_fetched_again(
    standin: DandiStandin, tmp_path: Path
) -> None:
    config = resolve_config(None, {})
    options = SourceOptions(cache_dir=tmp_path / "cache")
    cache = ExtractionCache(tmp_path / "cache" / "extracted")
    source = f"dandiset:000999/{SYNTHETIC_PATHS[2]}"
    first = _session_data(resolve_sources(source, options)[0], config, cache)
    assert standin.traffic.blob_bytes > 0

    standin.reset_traffic()
    ref = resolve_sources(source, options)[0]  # draft: the listing is asked again, the bytes are not
    _assert_same(first, _session_data(ref, config, cache))
    assert standin.traffic.blob_requests == 0

    (entry,) = (tmp_path / "cache" / "extracted").glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:-10])
    standin.reset_traffic()
    _assert_same(first, _session_data(ref, config, cache))
    assert standin.traffic.blob_bytes > 0
    assert cache.load(entry.stem) is not None
