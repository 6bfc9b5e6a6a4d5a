"""What a fit records about where it came from: package versions, and provenance that is safe to share.

An output file is meant to be shared, so it names its inputs by file name, sha256 and DANDI identifiers, never by
the fitting machine's absolute paths (they expose user names and directory layouts, and mean nothing elsewhere).
:func:`shareable` rewrites every local absolute path found in provenance values before they are written: a path
inside the fit's working directory (the project folder the command ran in, see :func:`sharing_base`) becomes
relative to it, so the recorded command line reruns from that folder; any other path becomes its file name.
"""

from __future__ import annotations

import dataclasses
import os
import re
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

RECORDED_PACKAGES = ("nwb-dyn", "torch", "pytorch-lightning", "pynwb", "hdmf", "h5py", "numpy", "dandi")

#: An absolute POSIX path or a ``~/`` path inside text: it starts a token (not after a word character, ``.``, ``:``
#: or ``/``, so URLs and relative NWB paths such as ``processing/behavior`` are left alone) and runs to whitespace
#: or punctuation that cannot end a file name in a command line or a message.
_PATH_IN_TEXT = re.compile(r"(?<![\w.:/~-])~?/[^\s'\"<>|,;()\[\]{}=]+")

Record = TypeVar("Record")


def package_versions() -> dict[str, str]:
    """Installed version of each recorded package ("not installed" when absent)."""
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def sharing_base(working_dir: Path | None = None) -> Path | None:
    """The folder recorded paths are made relative to: the working directory, unless relative paths from it would
    still name the machine's layout (it is the root, or a folder above the home directory, such as ``/home``)."""
    base = (working_dir or Path.cwd()).resolve()
    home = Path.home().resolve()
    if len(base.parts) < 2 or (base != home and base in home.parents):
        return None
    return base


def shareable(value: Any, base_dir: Path | None) -> Any:
    """``value`` (nested dicts, lists, strings) with every local absolute path replaced by a shareable name.

    A path counts as local when it starts with ``~/`` or its first component exists at the root of this machine
    (``/home``, ``/tmp``, ...), so NWB object paths like ``/processing/behavior/Position`` and URLs are kept.
    Inside ``base_dir`` (see :func:`sharing_base`; None = none) it becomes relative to it; elsewhere it becomes its
    file name.
    """
    if isinstance(value, str):
        return _PATH_IN_TEXT.sub(lambda match: _shareable_path(match.group(0), base_dir), value)
    if isinstance(value, dict):
        return {key: shareable(item, base_dir) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(shareable(item, base_dir) for item in value)
    return value


def shareable_fields(record: Record, base_dir: Path | None) -> Record:
    """A copy of the dataclass ``record`` with :func:`shareable` applied to every field."""
    return dataclasses.replace(
        record, **{field.name: shareable(getattr(record, field.name), base_dir) for field in dataclasses.fields(record)}
    )


def _shareable_path(text: str, base_dir: Path | None) -> str:
    path = PurePosixPath(text)
    is_home = text.startswith("~/")
    if not is_home and (len(path.parts) < 2 or not os.path.isdir(os.path.join("/", path.parts[1]))):
        return text  # not a path of this machine (an NWB object path, say)
    local = Path(text).expanduser()
    if base_dir is not None:
        try:
            return local.resolve().relative_to(base_dir).as_posix()
        except (ValueError, OSError):
            pass
    return local.name or text
