"""Retry transient HTTP failures (429, 5xx, connection resets, timeouts) with exponential backoff.

Permanent failures (other 4xx) are raised at once: retrying cannot fix a missing file or a refused key. Attempts and
backoff come from the environment (``NWB_DYN_HTTP_RETRIES``, ``NWB_DYN_HTTP_BACKOFF_S``) so tests can keep faults fast.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class TransientHttpError(Exception):
    """A failure worth retrying (throttled, server error, short body)."""


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; the wait before try n+1 is ``backoff_s * 2**n``, at most ``max_backoff_s``."""

    attempts: int = 9
    backoff_s: float = 0.2
    max_backoff_s: float = 10.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """The default policy, adjusted by ``NWB_DYN_HTTP_RETRIES`` and ``NWB_DYN_HTTP_BACKOFF_S``."""
        return cls(
            attempts=1 + int(os.environ.get("NWB_DYN_HTTP_RETRIES", "8")),
            backoff_s=float(os.environ.get("NWB_DYN_HTTP_BACKOFF_S", "0.2")),
        )

    def wait_s(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2**attempt)


RETRYABLE_EXCEPTIONS = (
    TransientHttpError,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def with_retries(action: Callable[[], T], policy: RetryPolicy) -> T:
    """Run ``action`` until it succeeds, retrying :data:`RETRYABLE_EXCEPTIONS`; the last failure is re-raised."""
    for attempt in range(policy.attempts):
        try:
            return action()
        except RETRYABLE_EXCEPTIONS:
            if attempt == policy.attempts - 1:
                raise
            time.sleep(policy.wait_s(attempt))
    raise AssertionError("unreachable: RetryPolicy.attempts must be >= 1")
