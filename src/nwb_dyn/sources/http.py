"""Read remote NWB files over HTTP: a seekable file object made of Range requests, and checked whole downloads.

We use our own small reader rather than remfile because every request needs a timeout (a hanging server must fail,
not freeze the fit), our retry policy and our error messages; the read-ahead idea is the same as remfile's: reads that
continue where the last one stopped fetch geometrically larger blocks, so HDF5's many small sequential reads (the
metadata walk) cost few requests, while a large read is fetched in exactly one request.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import requests

from nwb_dyn.errors import DandiError, SourceError
from nwb_dyn.sources.retry import RETRY_STATUSES, RetryPolicy, TransientHttpError, with_retries

MIN_BLOCK_BYTES = 64 * 1024
# Read-ahead serves runs of small metadata reads; it stays small so it never drags in big data arrays (a large read
# is fetched exactly, in one request, whatever this is).
MAX_READAHEAD_BYTES = 512 * 1024
USER_AGENT = "nwb-dyn (+https://github.com/nwb-dyn)"
T = TypeVar("T")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def http_timeout_s() -> float:
    """Seconds to wait for a server to answer (``NWB_DYN_HTTP_TIMEOUT_S``, default 30)."""
    return float(os.environ.get("NWB_DYN_HTTP_TIMEOUT_S", "30"))


def http_failure(status: int, url: str, dandi: bool) -> SourceError:
    """The user-facing error for a final HTTP status; DANDI-specific advice when ``dandi`` is true."""
    error = DandiError if dandi else SourceError
    if status in (401, 403):
        hint = (
            "the data may be embargoed: set DANDI_API_KEY to an API key of an account with access"
            if dandi
            else "the server refused access; check the URL (a presigned link may have expired)"
        )
        return error(f"HTTP {status} from {url}: access denied; {hint}")
    if status == 404:
        return error(f"HTTP 404 from {url}: no such file; check the URL")
    return error(f"HTTP {status} from {url}: the server failed; try again later")


def _network_failure(exc: Exception, url: str, dandi: bool) -> SourceError:
    error = DandiError if dandi else SourceError
    if isinstance(exc, requests.Timeout):
        return error(
            f"{url} did not answer within {http_timeout_s():g} s (after retries); check the server or raise "
            "NWB_DYN_HTTP_TIMEOUT_S"
        )
    if isinstance(exc, TransientHttpError):
        return error(f"{url}: {exc} (after retries); try again later")
    return error(f"cannot reach {url} ({type(exc).__name__}); check the address and your network")


class RemoteFile(io.RawIOBase):
    """A read-only, seekable binary file whose bytes are fetched with HTTP Range requests on demand.

    Fetched blocks stay in memory for the life of the object (a fit reads a small part of a large file). ``size`` and
    ``etag`` come from a first one-byte request.
    """

    def __init__(
        self,
        url: str,
        session: requests.Session | None = None,
        policy: RetryPolicy | None = None,
        dandi: bool = False,
    ) -> None:
        super().__init__()
        self.url = url
        self._session = session or requests.Session()
        self._session.headers.setdefault("User-Agent", USER_AGENT)
        self._policy = policy or RetryPolicy.from_env()
        self._dandi = dandi
        self._blocks: dict[int, bytes] = {}  # block start offset -> bytes
        self._position = 0
        self._last_fetch_stop = -1
        self._readahead_bytes = MIN_BLOCK_BYTES
        self.etag: str | None = None
        # h5py turns exceptions raised inside reads into its own OSError; the real cause is kept here.
        self.failure: SourceError | None = None
        self.size = self._fetch_size()

    def _get(self, headers: dict[str, str], stream: bool = False) -> requests.Response:
        """One GET with a timeout; transient statuses raise :class:`TransientHttpError`, final ones our errors."""
        response = self._session.get(self.url, headers=headers, timeout=http_timeout_s(), stream=stream)
        if response.status_code in RETRY_STATUSES:
            response.close()
            raise TransientHttpError(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            response.close()
            raise http_failure(response.status_code, self.url, self._dandi)
        return response

    def _call(self, action: Callable[[], T]) -> T:
        """Run one request (with retries); a final failure is remembered in :attr:`failure` and raised."""
        try:
            return with_retries(action, self._policy)
        except SourceError as exc:
            self.failure = exc
            raise
        except (TransientHttpError, requests.RequestException) as exc:
            self.failure = _network_failure(exc, self.url, self._dandi)
            raise self.failure from None

    def _fetch_size(self) -> int:
        def probe() -> int:
            # A one-byte Range GET learns the size and proves Range support (presigned URLs refuse HEAD).
            response = self._get({"Range": "bytes=0-0"}, stream=True)
            try:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if response.status_code != 206 or match is None or match[3] == "*":
                    raise SourceError(
                        f"{self.url} does not support HTTP Range requests, so it cannot be streamed; "
                        "download the file and pass its local path (or use --download for DANDI)"
                    )
                self.etag = response.headers.get("ETag")
                return int(match[3])
            finally:
                response.close()

        return self._call(probe)

    def _fetch_range(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` in one request (retried as a whole)."""

        def fetch() -> bytes:
            response = self._get({"Range": f"bytes={start}-{stop - 1}"})
            body = response.content
            if response.status_code != 206 or len(body) != stop - start:
                raise TransientHttpError(f"short or unranged answer ({len(body)} of {stop - start} bytes)")
            return body

        return self._call(fetch)

    def _ensure(self, start: int, stop: int) -> None:
        """Make sure every block overlapping ``[start, stop)`` is in memory, fetching missing runs in one request."""
        first = start // MIN_BLOCK_BYTES * MIN_BLOCK_BYTES
        missing = [b for b in range(first, stop, MIN_BLOCK_BYTES) if b not in self._blocks]
        if not missing:
            return
        # A miss right after the previous fetch means a sequential walk: read further ahead next time.
        sequential = missing[0] == self._last_fetch_stop
        self._readahead_bytes = (
            min(MAX_READAHEAD_BYTES, self._readahead_bytes * 2) if sequential else MIN_BLOCK_BYTES
        )
        wanted_stop = min(self.size, max(stop, missing[0] + self._readahead_bytes))
        offset = missing[0]
        while offset < wanted_stop:
            if offset in self._blocks:
                offset += MIN_BLOCK_BYTES
                continue
            run_stop = offset
            while run_stop < wanted_stop and run_stop not in self._blocks:
                run_stop += MIN_BLOCK_BYTES
            body = self._fetch_range(offset, min(run_stop, self.size))
            for block in range(0, len(body), MIN_BLOCK_BYTES):
                self._blocks[offset + block] = body[block : block + MIN_BLOCK_BYTES]
            self._last_fetch_stop = offset = run_stop

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        stop = min(self.size, self._position + len(view))
        if stop <= self._position:
            return 0
        self._ensure(self._position, stop)
        written = 0
        offset = self._position
        while offset < stop:
            block_start = offset // MIN_BLOCK_BYTES * MIN_BLOCK_BYTES
            block = self._blocks[block_start]
            chunk = block[offset - block_start : min(len(block), stop - block_start)]
            view[written : written + len(chunk)] = chunk
            written += len(chunk)
            offset += len(chunk)
        self._position = stop
        return written

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position


def download_file(
    url: str,
    destination: Path,
    expected_sha256: str | None,
    session: requests.Session | None = None,
    dandi: bool = False,
) -> Path:
    """Download ``url`` to ``destination`` (temp file + rename), checking its sha256 when one is known.

    A checksum mismatch deletes the partial file and raises :class:`SourceError`; nothing half-written is ever left
    under ``destination``'s name.
    """
    session = session or requests.Session()
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")

    def fetch() -> str:
        with session.get(url, stream=True, timeout=http_timeout_s()) as response:
            if response.status_code in RETRY_STATUSES:
                raise TransientHttpError(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                raise http_failure(response.status_code, url, dandi)
            digest = hashlib.sha256()
            with partial.open("wb") as handle:
                for block in response.iter_content(1 << 20):
                    digest.update(block)
                    handle.write(block)
            return digest.hexdigest()

    try:
        actual = with_retries(fetch, RetryPolicy.from_env())
    except SourceError:
        partial.unlink(missing_ok=True)
        raise
    except (TransientHttpError, requests.RequestException) as exc:
        partial.unlink(missing_ok=True)
        raise _network_failure(exc, url, dandi) from None
    if expected_sha256 is not None and actual != expected_sha256:
        partial.unlink(missing_ok=True)
        raise SourceError(
            f"downloaded {url} has sha256 {actual}, but the archive lists {expected_sha256}; try again"
        )
    os.replace(partial, destination)
    return destination
