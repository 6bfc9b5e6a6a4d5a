"""Build a kernel's C++ source into a shared library on first use, and load it with ctypes.

The library is compiled for the CPU it runs on (``-march=native``), so the cache key includes the CPU's model and
feature flags as well as the source, the flags and the compiler: a home directory shared by the nodes of a cluster
never hands one node a library built for another. Builds write a temporary file and rename it into place, so
concurrent processes (DDP workers) and killed builds never leave a partial library behind.

Where no compiler is found or the build fails, :func:`load_library` returns None once per process with a logged
reason, and callers use their torch path.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
from pathlib import Path

import platformdirs

from nwb_dyn.atomic import atomic_path
from nwb_dyn.errors import OutputError

_log = logging.getLogger(__name__)

# -fno-trapping-math lets comparisons run speculatively, which gcc needs to vectorise a loop with a max() or a
# ternary in it (it changes no value: floating-point exceptions are never enabled here).
_FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-fno-trapping-math", "-fPIC", "-shared", "-std=c++17")
_BUILD_TIMEOUT_S = 300


def native_enabled() -> bool:
    """False when the environment variable ``NWB_DYN_NATIVE`` is ``0`` (every compiled kernel off)."""
    return os.environ.get("NWB_DYN_NATIVE", "1") != "0"


def cache_directory() -> Path:
    """Where built libraries live: ``$NWB_DYN_NATIVE_CACHE`` or the user cache directory's ``native`` folder."""
    configured = os.environ.get("NWB_DYN_NATIVE_CACHE")
    return Path(configured) if configured else Path(platformdirs.user_cache_dir("nwb-dyn")) / "native"


def _cpu_identity() -> str:
    """The CPU's model name and feature flags (Linux), else what the platform module reports."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return f"{platform.machine()} {platform.processor()}"
    wanted = [line for line in lines if line.split(":")[0].strip() in {"model name", "flags", "Features"}]
    return "\n".join(sorted(set(wanted))) or platform.machine()


def _compiler() -> str | None:
    for candidate in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


@functools.cache
def load_library(source: Path) -> ctypes.CDLL | None:
    """The built library of the C++ file ``source``, building it if needed; None when it cannot be built or loaded
    here (the reason is logged once per process)."""
    source_name = source.name
    compiler = _compiler()
    if compiler is None:
        _log.warning("no C++ compiler found (set CXX); %s runs on its slower torch path", source_name)
        return None
    try:
        version = subprocess.run([compiler, "--version"], check=False, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        _log.warning("C++ compiler %s unusable (%s); %s runs on its slower torch path", compiler, exc, source_name)
        return None
    key = hashlib.sha256(
        "\0".join([source.read_text(), " ".join(_FLAGS), version, _cpu_identity()]).encode()
    ).hexdigest()[:16]
    library = cache_directory() / f"{source.stem}-{key}{'.dll' if os.name == 'nt' else '.so'}"
    if not library.exists():
        try:
            _build(compiler, source, library)
        except (OSError, OutputError, subprocess.SubprocessError) as exc:
            _log.warning("could not build %s (%s); it runs on its torch path", source_name, exc)
            return None
    try:
        return ctypes.CDLL(str(library))
    except OSError as exc:
        _log.warning("could not load %s (%s); it runs on its torch path", library, exc)
        return None


def _build(compiler: str, source: Path, library: Path) -> None:
    """Compile ``source`` into ``library`` through a temporary file that is renamed into place (``atomic_path``)."""
    with atomic_path(library) as temporary:
        completed = subprocess.run(
            [compiler, *_FLAGS, str(source), "-o", str(temporary)],
            check=False, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S,
        )
        if completed.returncode != 0:
            raise subprocess.SubprocessError(completed.stderr.strip().splitlines()[-1] if completed.stderr else "failed")
