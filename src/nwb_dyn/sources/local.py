"""Open a local NWB file read-only, with clear errors for the common ways a path is not a usable NWB file."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import h5py
from pynwb import NWBHDF5IO, NWBFile

from nwb_dyn.errors import SourceError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_local_nwb(path: Path) -> None:
    """Raise :class:`SourceError` unless ``path`` is an existing, readable HDF5 file that looks like NWB."""
    if not path.exists():
        raise SourceError(f"{path}: no such file; check the path, or pass dandiset:ID or an https:// URL")
    if path.is_dir():
        raise SourceError(f"{path} is a directory; pass the path of an .nwb file inside it")
    try:
        with path.open("rb") as handle:
            signature = handle.read(len(HDF5_SIGNATURE))
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the file ({exc.strerror}); check its permissions") from None
    if signature != HDF5_SIGNATURE:
        raise SourceError(f"{path} is not an HDF5 file, so not an NWB file; pass an .nwb file (HDF5 backend)")
    try:
        with h5py.File(path, "r") as handle:
            is_nwb = "nwb_version" in handle.attrs or "/general" in handle and "/acquisition" in handle
    except OSError:
        raise SourceError(
            f"{path} is damaged or truncated: HDF5 cannot read it; download it again or check the disk"
        ) from None
    if not is_nwb:
        raise SourceError(
            f"{path} is an HDF5 file but not an NWB file (no 'nwb_version' attribute); pass an NWB file"
        )


@contextlib.contextmanager
def open_nwb_file(handle_or_path: Path | object, label: str) -> Iterator[NWBFile]:
    """Read an NWB file (a path or an open binary file object) read-only with pynwb and close it afterwards.

    ``label`` names the source in error messages. pynwb's warnings about unrelated oddities in third-party files
    (unknown cached namespaces, external links) are silenced: they are not the user's concern here.
    """
    handle: h5py.File | None = None
    io: NWBHDF5IO | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(handle_or_path, Path):
                io = NWBHDF5IO(str(handle_or_path), mode="r", load_namespaces=True)
            else:
                handle = h5py.File(handle_or_path, "r")
                io = NWBHDF5IO(file=handle, mode="r", load_namespaces=True)
            nwbfile = io.read()
    except Exception as exc:
        # Close now: an HDF5 file left to the garbage collector closes at an arbitrary moment, in any thread.
        if io is not None:
            io.close()
        elif handle is not None:
            handle.close()
        if isinstance(exc, SourceError):
            raise
        raise SourceError(
            f"{label} could not be read as NWB ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "check that it is a valid NWB 2.x file (nwbinspector can tell what is wrong)"
        ) from None
    try:
        yield nwbfile
    finally:
        io.close()
