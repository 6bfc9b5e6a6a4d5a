"""Shared fixtures: the project's ../shared data (skipped with a clear message when absent) and quiet torch."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("DANDI_NO_ET", "1")
os.environ.setdefault("NWB_DYN_NUM_THREADS", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = PROJECT_ROOT.parent / "shared"
MC_MAZE_SMALL = SHARED_DIR / "data" / "mc_maze_small" / "sub-Jenkins_ses-small_desc-test_ecephys.nwb"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared directory beside the project checkout; tests needing it skip when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DIR} (place the project's ../shared beside the checkout)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def mc_maze_small(shared_dir: Path) -> Path:
    """The real MC_Maze_Small test-split NWB file (DANDI 000140)."""
    if not MC_MAZE_SMALL.exists():
        pytest.skip(f"{MC_MAZE_SMALL} is missing from ../shared")
    return MC_MAZE_SMALL


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test runs torch on one intra-op thread: the tensors are small and the CI machine has 2 shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
