"""wmhub's own files inside any stored directory: the index, the lock, tags and temporaries.

These names are shared by every place bytes live (a dataset directory, a local hub, an fsspec
prefix), so they are declared here, below the dataset format that uses them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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
def directory_lock(root: str | Path, wait: bool = False) -> Iterator[None]:
    """Hold the one-writer lock of a local directory (an OS lock, released if the process dies).

    Args:
        root: the directory; its lock file is ``root/.wmhub.lock``.
        wait: wait for another holder to finish (writers serialise) instead of failing at once.

    The lock file holds the holder's pid (:func:`lock_holder`) and is removed when the block ends,
    while still locked: a process that opened it meanwhile finds, once it gets the lock, that the
    file it locked is no longer the one under the name, and locks the new one instead (so a finished
    job leaves no lock file behind, and two writers never hold the lock at once).

    Raises:
        WmhubError: another process holds the lock (without ``wait``).

    Example:
        >>> with directory_lock("data/reacher-tiny"):  # doctest: +SKIP
        ...     pass
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: filelock's lock, whose file stays
        from filelock import FileLock, Timeout

        lock = FileLock(str(Path(root) / LOCK_NAME), timeout=-1 if wait else 0)
        try:
            lock.acquire()
        except Timeout as exc:
            raise WmhubError(f"another wmhub job is writing to {root}; wait for it to finish") from exc
        try:
            yield
        finally:
            lock.release()
        return
    path = Path(root) / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            holder = lock_holder(root)
            raise WmhubError(f"another wmhub job is writing to {root}{f' (pid {holder})' if holder else ''}; "
                             "wait for it to finish") from None
        except BaseException:
            os.close(fd)
            raise
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            break
        os.close(fd)  # its holder removed this file when it finished: lock the one now under the name
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with suppress(OSError):
            os.unlink(path)  # still locked: see above
        os.close(fd)  # releases the lock


def lock_holder(root: str | Path) -> int | None:
    """The pid of the live process holding the one-writer lock of a local directory, if any.

    Args:
        root: the directory.

    Returns:
        The holder's pid (0 when it cannot be read), or None when no process holds the lock (a lock
        file a killed process left is not held).

    Example:
        >>> lock_holder("data/reacher-tiny") is None  # doctest: +SKIP
        True
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        fd = os.open(Path(root) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
