"""wmhub's one cache root, on the Hugging Face cache conventions.

Location: ``$HF_HOME/wmhub`` (``HF_HOME`` defaults to ``$XDG_CACHE_HOME/huggingface``, i.e.
``~/.cache/huggingface``), beside the Hugging Face hub cache (``$HF_HOME/hub``, where model
snapshots are kept by ``huggingface_hub`` itself). ``WMHUB_CACHE`` moves it elsewhere;
``WMHUB_CACHE=off`` disables the shared file cache (every file is transferred again). It holds:

* ``sha256/<aa>/<sha256>`` — verified files by SHA-256 (:class:`BlobCache`), shared by every download;
* ``datasets/...`` — datasets opened from a remote source (``wmhub.open_dataset("hf://...")``,
  a recipe's ``dataset.source``), downloaded there once per revision and selection
  (:func:`datasets_cache_dir`; ``WMHUB_DATA_CACHE`` still overrides this folder alone).

Nothing is ever evicted; deleting the directory at any time is safe.

A second download of the same shard (into another directory, of another tag holding the
same file, or of a repo that holds a copy) is served from here without network transfer.
Files are stored as ``<cache>/sha256/<aa>/<sha256>`` and placed into OUT by a reflink
(a copy-on-write clone, where the filesystem has them: btrfs, XFS, ...) or else by a copy;
never by a hard link, so editing a downloaded file in place changes no other download and not
the cache (the cost: a second copy of each cached file on filesystems without reflinks). Every
hit is hashed again while it is placed, so a cache file changed behind wmhub's back is dropped
and downloaded again, never served.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path

from wmhub.fileio import hashing_copy, sha256_file, tmp_name

CACHE_ENV = "WMHUB_CACHE"
DATA_CACHE_ENV = "WMHUB_DATA_CACHE"
_DISABLED = ("", "0", "off", "false", "no", "none")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FICLONE = 0x40049409  # Linux ioctl: make ``dest`` share ``source``'s extents, copy-on-write
logger = logging.getLogger(__name__)


def clone_file(source: str | os.PathLike[str], dest: str | os.PathLike[str]) -> tuple[str, int]:
    """Copy ``source`` to a new file ``dest`` (a reflink where the filesystem makes them, else
    the bytes), never a hard link: writing to either file later leaves the other as it was.

    Args:
        source: the file to copy.
        dest: the new file (an existing one is unlinked first, never truncated).

    Returns:
        The hex SHA-256 and size of the bytes now at ``dest``.

    Example:
        >>> clone_file("cache/sha256/ab/ab12...", "out/data/steps/episodes-00000000-00000004.parquet")  # doctest: +SKIP
    """
    Path(dest).unlink(missing_ok=True)
    try:
        import fcntl

        with open(source, "rb") as reader, open(dest, "wb") as writer:
            fcntl.ioctl(writer.fileno(), _FICLONE, reader.fileno())
    except (ImportError, OSError):  # no reflinks here (another filesystem, ext4, tmpfs, Windows): copy
        return hashing_copy(source, dest)
    return sha256_file(dest), Path(dest).stat().st_size


def hf_home() -> Path:
    """``$HF_HOME``, with the Hugging Face default (``$XDG_CACHE_HOME/huggingface``, ``~/.cache/huggingface``).

    Example:
        >>> hf_home()  # doctest: +SKIP
        PosixPath('/home/me/.cache/huggingface')
    """
    configured = os.environ.get("HF_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "huggingface"


def cache_enabled() -> bool:
    """False when ``WMHUB_CACHE`` is ``off`` (or ``0``, ``no``, ``none``, empty)."""
    configured = os.environ.get(CACHE_ENV)
    return configured is None or configured.strip().lower() not in _DISABLED


def cache_root() -> Path:
    """wmhub's cache root: ``$WMHUB_CACHE`` when set to a path, else ``$HF_HOME/wmhub``.

    Returns:
        The directory (it may not exist yet). With ``WMHUB_CACHE=off`` this is still the default
        root: downloads that need a place to land (:func:`datasets_cache_dir`) use it, the shared
        file cache does not.

    Example:
        >>> cache_root()  # doctest: +SKIP
        PosixPath('/home/me/.cache/huggingface/wmhub')
    """
    configured = os.environ.get(CACHE_ENV)
    if configured is not None and cache_enabled():
        return Path(configured).expanduser()
    return hf_home() / "wmhub"


def datasets_cache_dir() -> Path:
    """Where datasets read from remote sources are downloaded: ``<cache root>/datasets``
    (``$WMHUB_DATA_CACHE`` when set).

    Example:
        >>> datasets_cache_dir()  # doctest: +SKIP
        PosixPath('/home/me/.cache/huggingface/wmhub/datasets')
    """
    configured = os.environ.get(DATA_CACHE_ENV)
    return Path(configured).expanduser() if configured else cache_root() / "datasets"


class BlobCache:
    """Content-addressed files keyed by their SHA-256."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @classmethod
    def default(cls) -> BlobCache | None:
        """The cache at :func:`cache_root`; None when ``WMHUB_CACHE=off``."""
        return cls(cache_root()) if cache_enabled() else None

    def path(self, sha256: str) -> Path | None:
        """Where the file with this SHA-256 is kept (None for a malformed digest: manifests are untrusted)."""
        return self.root / "sha256" / sha256[:2] / sha256 if _SHA256.match(sha256) else None

    def place(self, sha256: str, dest: Path, size: int | None = None) -> bool:
        """Put the cached file with this SHA-256 at ``dest`` (atomically); False when it is not cached.

        The cached bytes are hashed while they are placed; a file that no longer matches its
        name is removed from the cache and reported as absent.
        """
        blob = self.path(sha256)
        try:
            if blob is None or not blob.is_file():
                return False
            if size is not None and blob.stat().st_size != size:  # cannot hold these bytes: make room for them
                blob.unlink(missing_ok=True)
                return False
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = tmp_name(dest)
            digest, _ = clone_file(blob, tmp)
            if digest != sha256:
                tmp.unlink(missing_ok=True)
                blob.unlink(missing_ok=True)
                logger.warning("wmhub cache: %s was damaged and is downloaded again", blob)
                return False
            os.replace(tmp, dest)
            return True
        except OSError as exc:  # an unreadable cache is a miss, not a failed download
            logger.warning("wmhub cache at %s is not usable (%s); downloading", self.root, exc)
            return False

    def add(self, sha256: str, source: Path) -> None:
        """Keep a copy (or reflink) of ``source``, whose SHA-256 the caller verified, under its digest.
        Best effort: a cache that cannot be written is skipped."""
        blob = self.path(sha256)
        if blob is None or blob.is_file():
            return
        tmp = blob.with_name(f".{sha256}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            blob.parent.mkdir(parents=True, exist_ok=True)
            clone_file(source, tmp)
            os.replace(tmp, blob)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            logger.warning("wmhub cache at %s is not writable (%s); set %s=off to disable it", self.root, exc,
                           CACHE_ENV)
