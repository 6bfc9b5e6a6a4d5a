"""Exception types a user can cause.

Every error that follows from the user's input (a source, a file's content, a configuration value, a training run
that diverged, an output location) is raised as one of these, with a message that names the file or field and says
what to do. The CLI prints the message alone and exits with code 2; anything else is an internal error (exit 1).
"""

from __future__ import annotations


class NwbDynError(Exception):
    """Base class of all user-facing nwb-dyn errors."""

    exit_code = 2


class SourceError(NwbDynError):
    """A SOURCE string cannot be resolved or opened (missing path, not HDF5, not NWB, bad URL)."""


class DandiError(SourceError):
    """The DANDI archive refused or could not answer a request (unknown dandiset, version or asset; auth; network)."""


class ExtractionError(NwbDynError):
    """An NWB file holds nothing fittable with the requested settings (no units, bad series, bad trials/windows)."""


class ConfigError(NwbDynError):
    """A configuration key or value is unknown or invalid."""


class TrainingError(NwbDynError):
    """Training cannot go on (non-finite objective, incompatible checkpoint)."""


class OutputError(NwbDynError):
    """Results cannot be written or read (unwritable directory, existing output without --overwrite, bad result file)."""
