"""wmhub's own files inside any stored directory: the index, the lock, tags and temporaries.

These names are shared by every place bytes live (a dataset directory, a local hub, an fsspec
prefix), so they are declared here, below the dataset format that uses them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wmhub.errors import WmhubError
from wmhub.fileio import PARTIAL_SUFFIX

INDEX_NAME = "manifest.json"
"""The file that lists a stored directory's content; always written last, so it never lists a missing file."""

CARD_NAME = "README.md"
"""The repository card (Hub convention)."""

LOCK_NAME = ".wmhub.lock"
"""The one-writer lock of a local directory (an OS lock), or the lease object on an fsspec prefix."""

TAGS_DIR = ".wmhub-tags"
"""A local hub keeps each tag as a snapshot of its versioned files in ``.wmhub-tags/<tag>/``."""

TMP_MARKER = ".tmp-"
"""In the name of a file written under a temporary name before its atomic rename."""


def is_partial_download(name: str) -> bool:
    """True for the file an interrupted download keeps to resume inside a file.

    Args:
        name: a file name (no directory).

    Returns:
        Whether ``name`` is a ``.<name>.wmhub-partial`` file.

    Example:
        >>> is_partial_download(".episodes-00000000-00000004.parquet.wmhub-partial")
        True
    """
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


def is_temporary(name: str) -> bool:
    """True for the temporary files of an unfinished atomic write, and for partial downloads.

    Args:
        name: a file name (no directory).

    Returns:
        Whether a writer that is gone left ``name`` behind.

    Example:
        >>> is_temporary(".manifest.json.tmp-1234"), is_temporary("manifest.json")
        (True, False)
    """
    return name.startswith(".") and (TMP_MARKER in name or is_partial_download(name))


@contextmanager
def directory_lock(root: str | Path) -> Iterator[None]:
    """Hold the one-writer lock of a local directory (an OS lock, released if the process dies).

    Args:
        root: the directory; its lock file is ``root/.wmhub.lock``.

    Raises:
        WmhubError: another process holds the lock.

    Example:
        >>> with directory_lock("data/reacher-tiny"):  # doctest: +SKIP
        ...     pass
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(Path(root) / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise WmhubError(f"another wmhub job is writing to {root}; wait for it to finish") from exc
    try:
        yield
    finally:
        lock.release()
