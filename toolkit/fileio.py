"""Small file helpers: atomic writes, hashing and path containment.

Every file wmhub produces appears under its final name only when complete:
it is written to a temporary name in the same directory, fsynced, then
renamed (``os.replace`` is atomic on POSIX filesystems).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from wmhub.errors import WmhubError

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so that a rename inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_name(final: Path) -> Path:
    """The temporary sibling a file is written to before its atomic rename."""
    return final.with_name(f".{final.name}.tmp-{os.getpid()}")


PARTIAL_SUFFIX = ".wmhub-partial"


def partial_name(final: Path) -> Path:
    """The sibling a download is written to: kept across runs (no pid in the name) so that the next
    run resumes inside the file; renamed to ``final`` once its SHA-256 is verified."""
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


def hashing_copy(source: str | os.PathLike[str], dest: str | os.PathLike[str],
                 chunk_bytes: int = 4 * _CHUNK) -> tuple[str, int]:
    """Copy ``source`` to a new file ``dest`` in one pass, hashing what is copied.

    Returns the hex SHA-256 and the size of the bytes written, so the copy never has to be
    read again to be verified. An existing ``dest`` is unlinked first, never truncated: it may
    be a hard link whose bytes other names share.
    """
    Path(dest).unlink(missing_ok=True)
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    with open(source, "rb") as reader, open(dest, "wb") as writer:
        while n := reader.readinto(buffer):
            digest.update(view[:n])
            writer.write(view[:n])
            size += n
    return digest.hexdigest(), size


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename).

    A write that fails (a full disk, say) removes its temporary file before raising.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(final)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Canonical JSON used for every file wmhub writes (stable bytes)."""
    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as canonical JSON, atomically."""
    atomic_write_text(path, dumps_json(obj))


def resolve_inside(root: str | os.PathLike[str], relative: str) -> Path:
    """Resolve ``relative`` under ``root`` and refuse anything that escapes it.

    Paths read from manifests and repositories are untrusted: absolute paths,
    ``..`` components and symlinks leading outside ``root`` are rejected.
    """
    root_path = Path(root).resolve()
    if not relative or os.path.isabs(relative) or "\\" in relative or "\x00" in relative:
        raise WmhubError(f"path {relative!r} is not a relative POSIX path inside {root_path}")
    candidate = (root_path / relative).resolve()
    if candidate != root_path and root_path not in candidate.parents:
        raise WmhubError(f"path {relative!r} points outside the dataset directory {root_path}")
    return candidate


#: the errors of the environment (the disk, the filesystem, the path given), not of wmhub: reported
#: as one line naming the path and the fix (:func:`describe_os_error`)
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                                errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ELOOP})


def short_path(path: str | os.PathLike[str], limit: int = 120) -> str:
    """``path`` as text, its middle elided when longer than ``limit`` characters (for one-line messages).

    Example:
        >>> short_path("/data/" + "x" * 300, limit=20)
        '/data/xxxxxx…xxxxxxx'
    """
    text = os.fspath(path)
    if len(text) <= limit:
        return text
    head = limit * 3 // 5
    return text[:head] + "…" + text[len(text) - (limit - head - 1):]


def describe_os_error(exc: OSError, path: str | os.PathLike[str] | None = None) -> str:
    """One line (problem; fix) for an error of the environment (see :data:`ENVIRONMENT_ERRNOS`).

    Args:
        exc: the error.
        path: the path to name when ``exc`` names none (a write to an open file names none).

    Returns:
        The message.

    Example:
        >>> describe_os_error(OSError(errno.ENOSPC, "No space left on device"), "data/reacher")[:50]
        'cannot write data/reacher: No space left on device'
    """
    where = exc.filename if exc.filename is not None else path
    name = short_path(where) if where is not None else "a path"
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENAMETOOLONG:
        length = len(os.fspath(where)) if where is not None else 0
        return f"path is too long ({length} characters): {name}; choose a shorter path"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return (f"cannot write {name}: {reason}; free some space (or choose another location), then rerun "
                "(a job: with --resume)")
    if exc.errno == errno.EROFS:
        return f"cannot write {name}: {reason}; choose a location on a writable filesystem"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot use {name}: {reason}; choose a location you may write to (or fix its permissions)"
    return (f"cannot use {name}: {reason}; choose another path (a file may stand where a directory is needed, "
            "or a link loops)")
