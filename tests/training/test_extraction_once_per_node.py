"""In a multi-process run only local rank 0 reads the source; other ranks load its extraction from the cache."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nwb_dyn.api import _session_data
from nwb_dyn.config import resolve_config
from nwb_dyn.extract.cache import ExtractionCache
from nwb_dyn.sources import SourceRef, resolve_sources
from tests.helpers import write_units_session


@pytest.fixture()
def local_ref(tmp_path: Path) -> SourceRef:
    return resolve_sources(str(write_units_session(tmp_path / "session.nwb")))[0]


def _unopenable(ref: SourceRef) -> SourceRef:
    @contextlib.contextmanager
    def refuse():  # a rank > 0 must never get here
        raise AssertionError("a rank other than local rank 0 opened the source")
        yield

    return SourceRef(identity=ref.identity, opener=refuse)


def test_rank_one_loads_what_rank_zero_extracted(
    local_ref: SourceRef, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = resolve_config(overrides={"trainer.devices": 2, "data.bin_width_s": 0.05})
    cache = ExtractionCache(tmp_path / "cache")
    monkeypatch.setenv("LOCAL_RANK", "0")
    on_rank_zero = _session_data(local_ref, config, cache)
    monkeypatch.setenv("LOCAL_RANK", "1")
    on_rank_one = _session_data(_unopenable(local_ref), config, cache)
    np.testing.assert_array_equal(on_rank_one.values, on_rank_zero.values)
    np.testing.assert_array_equal(on_rank_one.split, on_rank_zero.split)


def test_rank_one_waits_for_rank_zero(local_ref: SourceRef, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = resolve_config(overrides={"trainer.devices": 2, "data.bin_width_s": 0.05})
    cache = ExtractionCache(tmp_path / "cache")
    monkeypatch.setenv("LOCAL_RANK", "1")
    results = {}

    def rank_one() -> None:
        results["data"] = _session_data(_unopenable(local_ref), config, cache)

    waiter = threading.Thread(target=rank_one)
    waiter.start()
    time.sleep(1.0)
    assert waiter.is_alive() and "data" not in results  # nothing cached yet: rank 1 waits
    monkeypatch.setenv("LOCAL_RANK", "0")
    expected = _session_data(local_ref, config, cache)
    waiter.join(timeout=30)
    np.testing.assert_array_equal(results["data"].values, expected.values)


def test_single_process_fit_does_not_cache_local_files(local_ref: SourceRef, tmp_path: Path) -> None:
    config = resolve_config(overrides={"data.bin_width_s": 0.05})
    cache_root = tmp_path / "cache"
    _session_data(local_ref, config, ExtractionCache(cache_root))
    assert not cache_root.exists() or not any(cache_root.rglob("*.npz"))
