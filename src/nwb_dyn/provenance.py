"""Versions of the packages a fit depended on, recorded in every output."""

from __future__ import annotations

from importlib import metadata

RECORDED_PACKAGES = ("nwb-dyn", "torch", "pytorch-lightning", "pynwb", "hdmf", "h5py", "numpy", "dandi")


def package_versions() -> dict[str, str]:
    """Installed version of each recorded package ("not installed" when absent)."""
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
