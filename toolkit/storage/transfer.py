"""wmhub's HTTP transport for Hub shard downloads: streamed, hashed while written, resumable.

One streamed GET per file (``Range: bytes=N-`` when resuming) through
``huggingface_hub.get_session()``, to the ``hf_hub_url`` of the file at a resolved
commit, with ``build_hf_headers()``: proxies, certificates, a client factory set with
``set_client_factory`` / ``configure_http_backend`` and the token chain (``HF_TOKEN``,
``hf auth login``) apply exactly as to every other Hub call, and the client follows
redirects (LFS and Xet files redirect to a CDN; the client drops the Authorization header
when a redirect leaves the Hub's origin). The body is appended to a ``.<name>.wmhub-partial``
file next to the destination and fed to SHA-256 as it arrives, so a file is never read again
to be verified. A dropped connection continues from the last byte on disk, in the same run or
the next one; connection errors and 408 / 429 / 5xx answers are retried with exponential
backoff, then reported naming the file and the server.

This replaces ``hf_hub_download`` for shards: it sends a HEAD and takes a file lock before
every GET, stores everything in the HF cache, and (huggingface_hub >= 2) deletes a partial
file when a transfer fails, so an interrupted shard started again from byte 0; and wmhub then
read each file a second time to hash it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from wmhub.errors import TransferError

T = TypeVar("T")

CHUNK_BYTES = 1 << 20
"""Bytes gathered from the connection before one write + hash update (the socket reads are the
HTTP client's own, 64 KiB for httpx)."""

RETRY_ATTEMPTS = 4
"""Attempts of a request that makes no progress before giving up (a resumed transfer that
received bytes starts counting again)."""

RETRY_FIRST_DELAY_S = 1.0
"""Backoff before the second attempt; doubled each time (1, 2, 4 s by default)."""

RETRY_MAX_DELAY_S = 60.0
"""Cap on one wait, including a server's ``Retry-After``."""


@dataclass(frozen=True)
class Received:
    """The outcome of :func:`download_to_file`."""

    sha256: str          # hex SHA-256 of the whole file now in ``partial``
    size: int            # its size in bytes
    bytes_received: int  # body bytes received over the network by this call
    resumed_from: int    # bytes already on disk that the transfer continued from (0: from scratch)


# ------------------------------------------------------------------ retries
@lru_cache(maxsize=1)
def transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the connection failed" for the HTTP clients huggingface_hub may use
    (httpx2 in huggingface_hub 2.x, httpx in 1.x, requests before)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError, AttributeError):
            errors.append(__import__(module).TransportError)
    with contextlib.suppress(ImportError):
        import requests.exceptions as rexc

        errors += [rexc.ConnectionError, rexc.Timeout, rexc.ChunkedEncodingError]
    return tuple(errors)


def is_retryable_status(status: int) -> bool:
    """HTTP statuses worth retrying: request timeout, rate limiting and server errors."""
    return status in (408, 429) or status >= 500


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) if response is not None else None


def is_retryable(exc: BaseException) -> bool:
    """True for connection errors and Hub HTTP errors with a retryable status."""
    if isinstance(exc, transport_errors()):
        return True
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        status = _http_status(exc)
        return status is not None and is_retryable_status(status)
    return False


class _Backoff:
    """Exponential backoff over the attempts of one request; ``reset()`` after progress."""

    def __init__(self, what: str, attempts: int | None = None, first_delay: float | None = None) -> None:
        self.what = what
        self.attempts = RETRY_ATTEMPTS if attempts is None else attempts
        self.first_delay = RETRY_FIRST_DELAY_S if first_delay is None else first_delay
        self.reset()

    def reset(self) -> None:
        self.failures = 0
        self.delay = self.first_delay

    def failed(self, reason: str, retry_after: float | None = None, cause: BaseException | None = None) -> None:
        """Count a failed attempt: wait before the next one, or raise once all attempts failed."""
        self.failures += 1
        if self.failures >= self.attempts:
            raise TransferError(f"{self.what} failed after {self.attempts} attempts: {reason}; check your network "
                             "connection and HF_ENDPOINT, then re-run (it resumes)") from cause
        wait = self.delay if retry_after is None else max(self.delay, retry_after)
        time.sleep(min(wait, RETRY_MAX_DELAY_S))
        self.delay *= 2


def _describe(exc: BaseException) -> str:
    status = _http_status(exc)
    if status is not None:
        return f"HTTP {status}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def with_retries(action: Callable[[], T], what: str, attempts: int | None = None,
                 first_delay: float | None = None) -> T:
    """Run ``action``, retrying connection errors and 408 / 429 / 5xx answers with exponential
    backoff (:data:`RETRY_ATTEMPTS`, :data:`RETRY_FIRST_DELAY_S`); other errors propagate."""
    backoff = _Backoff(what, attempts, first_delay)
    while True:
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - filtered just below
            if not is_retryable(exc):
                raise
            backoff.failed(_describe(exc), cause=exc)


# ---------------------------------------------------------------- transfers
def server_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, for messages (no path, query or credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class _Restart(Exception):
    """The server cannot continue from our offset (416, or a 206 for another range)."""


class _RetryableStatus(Exception):
    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = float(retry_after) if retry_after and retry_after.strip().isdigit() else None


class _PartialFile:
    """The file a download appends to, with the SHA-256 of everything in it."""

    def __init__(self, path: Path, restart: bool, expected_size: int | None) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.handle = os.fdopen(fd, "r+b")
        self.hasher = hashlib.sha256()
        self.offset = 0
        self.received = 0
        self.pending: list[bytes] = []
        self.pending_size = 0
        size = os.fstat(fd).st_size
        if restart or (expected_size is not None and size > expected_size):
            self.handle.truncate(0)
        elif size:  # bytes kept by an interrupted run: hashed once, then the transfer continues after them
            buffer = bytearray(4 * CHUNK_BYTES)
            view = memoryview(buffer)
            while n := self.handle.readinto(buffer):
                self.hasher.update(view[:n])
                self.offset += n
        self.resumed_from = self.offset

    def append(self, data: bytes) -> None:
        if data:
            self.pending.append(data)
            self.pending_size += len(data)
            self.received += len(data)
            if self.pending_size >= CHUNK_BYTES:
                self.flush()

    def flush(self) -> None:
        """Write and hash what was received (also after a dropped connection: those bytes are good)."""
        if not self.pending:
            return
        data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
        self.pending.clear()
        self.pending_size = 0
        self.handle.write(data)
        self.hasher.update(data)
        self.offset += len(data)

    def restart(self) -> None:
        """Drop everything: the next bytes are the file's first."""
        self.pending.clear()
        self.pending_size = 0
        self.handle.seek(0)
        self.handle.truncate(0)
        self.hasher = hashlib.sha256()
        self.offset = 0
        self.resumed_from = 0

    def close(self) -> None:
        self.handle.close()


def _open_stream(session: Any, url: str, headers: dict[str, str]) -> contextlib.AbstractContextManager[Any]:
    from huggingface_hub import constants

    timeout = constants.HF_HUB_DOWNLOAD_TIMEOUT
    if callable(getattr(session, "stream", None)):  # httpx-style client (huggingface_hub >= 1)
        return session.stream("GET", url, headers=headers, timeout=timeout, follow_redirects=True)
    return contextlib.closing(session.get(url, headers=headers, stream=True, timeout=timeout,  # requests
                                          allow_redirects=True))


def _body(response: Any) -> Iterator[bytes]:
    if hasattr(response, "iter_raw"):  # httpx: pieces as they arrive
        encoded = response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
        return response.iter_bytes() if encoded else response.iter_raw()  # raw skips two layers per piece
    # requests reads whole pieces; what arrived of a piece cut short is lost, so keep pieces small
    return response.iter_content(chunk_size=64 * 1024)


def _range_start(response: Any) -> int | None:
    value = response.headers.get("Content-Range", "")
    unit, _, rest = value.partition(" ")
    start = rest.split("-", 1)[0]
    return int(start) if unit.strip() == "bytes" and start.isdigit() else None


def _get_into(session: Any, url: str, part: _PartialFile) -> None:
    """One GET of ``url`` from ``part.offset`` on, appended to ``part``."""
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

    headers = {**build_hf_headers(), "Accept-Encoding": "identity"}  # byte offsets of the file itself
    if part.offset:
        headers["Range"] = f"bytes={part.offset}-"
    with _open_stream(session, url, headers) as response:
        status = response.status_code
        if status == 416 and part.offset:
            raise _Restart()
        if is_retryable_status(status):
            raise _RetryableStatus(status, response.headers.get("Retry-After"))
        if status >= 400:
            if hasattr(response, "read"):
                response.read()  # the error body, for hf_raise_for_status's message
            hf_raise_for_status(response)
        if status not in (200, 206):
            raise TransferError(f"{server_of(url)} answered HTTP {status} to a download; expected 200 or 206")
        if part.offset and status == 200:
            part.restart()  # the server ignored the Range header: this body is the whole file
        elif part.offset and _range_start(response) != part.offset:
            raise _Restart()
        try:
            for piece in _body(response):
                part.append(piece)
        finally:
            part.flush()


def download_to_file(url: str, partial: Path, *, what: str, expected_size: int | None = None,
                     restart: bool = False, session: Any = None) -> Received:
    """GET ``url`` into ``partial``, continuing after the bytes already there, hashing as it writes.

    ``what`` names the file in errors ("data/steps/… from hf://datasets/org/name"). A partial
    file at least ``expected_size`` long is started again; ``restart=True`` always starts from
    byte 0. A dropped connection continues with ``Range: bytes=N-`` at once; attempts that make
    no progress back off (:data:`RETRY_ATTEMPTS`) and then raise :class:`~wmhub.errors.TransferError`, leaving
    ``partial`` in place for the next run. HTTP errors that are not retryable propagate as
    ``huggingface_hub`` errors. ``session`` defaults to ``huggingface_hub.get_session()``.
    """
    if session is None:
        from huggingface_hub import get_session

        session = get_session()
    partial.parent.mkdir(parents=True, exist_ok=True)
    part = _PartialFile(partial, restart, expected_size)
    try:
        if expected_size is not None and part.offset == expected_size:  # complete, but its run ended before the rename
            return Received(part.hasher.hexdigest(), part.offset, 0, part.resumed_from)
        backoff = _Backoff(f"downloading {what} from {server_of(url)}")
        restarts = 0
        while True:
            before = part.offset
            try:
                _get_into(session, url, part)
                break
            except _Restart:
                restarts += 1
                if restarts > 2:
                    raise TransferError(f"{server_of(url)} does not serve {what} from byte {part.offset} as asked "
                                     "(HTTP Range); delete the .wmhub-partial file and re-run") from None
                part.restart()
            except _RetryableStatus as exc:
                backoff.failed(str(exc), exc.retry_after)
            except transport_errors() as exc:
                if part.offset > before:  # the connection dropped mid-body: continue from here at once
                    backoff.reset()
                    continue
                backoff.failed(_describe(exc), cause=exc)
        return Received(part.hasher.hexdigest(), part.offset, part.received, part.resumed_from)
    finally:
        part.close()


def fetch_small(url: str, *, what: str, session: Any = None) -> bytes:
    """GET a small file (manifest, card) into memory: one request, retried like
    :func:`download_to_file`; HTTP errors that are not retryable propagate as ``huggingface_hub``
    errors (``EntryNotFoundError`` for a missing file)."""
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

    if session is None:
        from huggingface_hub import get_session

        session = get_session()

    def action() -> bytes:
        with _open_stream(session, url, build_hf_headers()) as response:
            data = response.read() if hasattr(response, "read") else response.content
            hf_raise_for_status(response)
            return data

    return with_retries(action, f"downloading {what} from {server_of(url)}")
