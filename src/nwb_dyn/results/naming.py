"""DANDI-style names for derived files: ``sub-<subject>_ses-<session>_desc-<model>_<modality>.nwb``."""

from __future__ import annotations

import re

from nwb_dyn.extract import SessionInfo

_FORBIDDEN = re.compile(r"[^A-Za-z0-9-]+")


def _label(text: str) -> str:
    """A DANDI label: alphanumerics and hyphens only."""
    return _FORBIDDEN.sub("-", text).strip("-") or "unknown"


def _entity(stem: str, key: str) -> str | None:
    match = re.search(rf"(?:^|_){key}-([A-Za-z0-9-]+)", stem)
    return match.group(1) if match else None


def derived_file_name(source_name: str, session: SessionInfo, model_label: str, modality: str) -> str:
    """Name for the output of fitting ``model_label`` to the file called ``source_name``.

    Subject and session come from the source's own DANDI-style name when it has one (``sub-Jenkins_ses-small_…``),
    else from the file's subject id and session id, else from the file name.
    """
    stem = source_name.rsplit("/", 1)[-1].removesuffix(".nwb")
    subject = _entity(stem, "sub") or session.subject.get("subject_id") or stem
    session_label = _entity(stem, "ses") or session.session_id
    parts = [f"sub-{_label(subject)}"]
    if session_label:
        parts.append(f"ses-{_label(session_label)}")
    source_desc = _entity(stem, "desc")
    parts.append(f"desc-{_label((source_desc + '-' if source_desc else '') + model_label)}")
    return "_".join(parts) + f"_{modality}.nwb"
