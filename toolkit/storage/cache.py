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
Files are stored as ``<cache>/sha256/<aa>/<sha256>`` and placed into OUT by a hard link
when both are on one filesystem (no copy), else by a copy. Every hit is hashed again while
it is placed, so a cache file changed behind wmhub's back (hard links share bytes with the
copies in OUT) is dropped and downloaded again, never served.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from pathlib import Path

from wmhub.fileio import hashing_copy, sha256_file, tmp_name

CACHE_ENV = "WMHUB_CACHE"
DATA_CACHE_ENV = "WMHUB_DATA_CACHE"
_DISABLED = ("", "0", "off", "false", "no", "none")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
logger = logging.getLogger(__name__)


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
            tmp.unlink(missing_ok=True)
            try:
                os.link(blob, tmp)
            except OSError:  # another filesystem (or no hard links): copy, hashing as it goes
                digest, _ = hashing_copy(blob, tmp)
            else:
                digest = sha256_file(tmp)
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
        """Keep ``source`` (whose SHA-256 the caller verified) under its digest: a hard link when
        possible, else a copy. Best effort: a cache that cannot be written is skipped."""
        blob = self.path(sha256)
        if blob is None or blob.is_file():
            return
        tmp = blob.with_name(f".{sha256}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            blob.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
            os.replace(tmp, blob)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            logger.warning("wmhub cache at %s is not writable (%s); set %s=off to disable it", self.root, exc,
                           CACHE_ENV)
