"""One writer per dataset directory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from wmhub.data.layout import LOCK_NAME
from wmhub.errors import WmhubError


@contextmanager
def dataset_lock(root: str | Path) -> Iterator[None]:
    """Hold the dataset's lock file (an OS lock, released if the process dies) or fail at once."""
    lock = FileLock(str(Path(root) / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise WmhubError(f"another wmhub job is writing to {root}; wait for it to finish") from exc
    try:
        yield
    finally:
        lock.release()
