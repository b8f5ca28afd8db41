"""Directories on fsspec filesystems (``s3://``, ``gs://``, ...).

A dataset directory is either a local path (a local disk or a mounted network
filesystem: the usual atomic ``os.replace`` writes and the OS file lock apply)
or a URL with a protocol, handled here through `fsspec`_ with whatever backend
the user installed (``s3fs`` for ``s3://``, ``gcsfs`` for ``gs://``, ...).

Atomic completion on a remote destination:

* **Object stores** (S3, GCS, Azure): a PUT -- including a multipart upload,
  which becomes visible only when it is completed -- is atomic per object, so
  shard files are uploaded directly under their final key. A reader or a
  ``--resume`` never sees half an object. (A "write a temporary key, then
  ``mv``" scheme would buy nothing there: ``mv`` is a server-side copy plus a
  delete, twice the traffic, and the copy itself is the same atomic PUT.)
* **Other fsspec filesystems** (SFTP, WebDAV, ...): the file is written under a
  temporary name (``.<name>.tmp-<uuid>``, the same marker the local layout
  uses) and then renamed with ``fs.mv``.

Either way the job writes the dataset card and then ``manifest.json`` last, so
a dataset whose manifest exists is complete.

One writer: an OS file lock cannot exist on an object store. A remote
destination holds a *lease* object ``.wmhub.lock`` (owner id, host, pid and a
heartbeat time the writer refreshes every :data:`LEASE_REFRESH_S` seconds). A
second job finding a fresh lease refuses to start; a lease older than
:data:`LEASE_TTL_S` is a dead writer's and is taken over (so ``--resume`` after
a crash works once the lease has gone stale). This detects concurrent runs but
is not a consensus protocol: two jobs started within the same second could both
take the lease (last writer wins; the loser notices on its next refresh and
stops). Run one writer per remote dataset.

.. _fsspec: https://filesystem-spec.readthedocs.io
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wmhub.errors import MissingDependencyError, UnsupportedLocationError, WmhubError
from wmhub.storage.files import LOCK_NAME, TMP_MARKER, is_temporary
from wmhub.storage.location import protocol_of

#: protocols whose single-object writes are atomic (direct PUT, no temporary key)
OBJECT_STORE_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "r2", "memory"})
_LOCAL_PROTOCOLS = frozenset({"file", "local"})
#: backend package to install per protocol, for the error message
_BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
             "abfss": "adlfs", "sftp": "paramiko", "ssh": "paramiko"}
LEASE_TTL_S = 120.0
LEASE_REFRESH_S = 20.0


def is_remote(dest: str | os.PathLike[str]) -> bool:
    """True for a URL handled through fsspec (anything but a local path or ``file://``)."""
    protocol = protocol_of(os.fspath(dest))
    return protocol is not None and protocol not in _LOCAL_PROTOCOLS


def local_path(dest: str | os.PathLike[str]) -> Path:
    """A local destination as a Path (``file://`` stripped)."""
    text = os.fspath(dest)
    return Path(text.split("://", 1)[1]) if protocol_of(text) in _LOCAL_PROTOCOLS else Path(text)


def open_filesystem(url: str, storage_options: dict[str, Any] | None = None):
    """``(fs, root)`` for ``url``, with a clear error when fsspec or the backend is missing."""
    protocol = protocol_of(url) or "file"
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec ships with datasets
        raise MissingDependencyError(f"{url}: remote destinations need fsspec (pip install 'wmhub[s3]')") from exc
    try:
        fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    except ImportError as exc:
        backend = _BACKENDS.get(protocol, f"the fsspec backend for {protocol}://")
        raise MissingDependencyError(f"{url}: writing to {protocol}:// needs {backend} (pip install {backend}"
                         f"{'' if protocol not in ('s3', 's3a') else ', or wmhub[s3]'})") from exc
    except ValueError as exc:
        raise UnsupportedLocationError(f"{url}: {exc}") from exc
    return fs, root.rstrip("/")


class RemoteDir:
    """A dataset directory on an fsspec filesystem; paths are relative POSIX paths inside it."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self.fs, self.root = open_filesystem(self.url, self.storage_options)
        protocols = self.fs.protocol if isinstance(self.fs.protocol, (tuple, list)) else (self.fs.protocol,)
        self.object_store = any(p in OBJECT_STORE_PROTOCOLS for p in protocols)

    def key(self, rel: str) -> str:
        """The filesystem path of ``rel``."""
        if rel.startswith("/") or ".." in rel.split("/"):
            raise UnsupportedLocationError(f"path {rel!r} is not a relative path inside {self.url}")
        return f"{self.root}/{rel}"

    def refresh(self) -> None:
        """Forget cached listings (other processes write here too)."""
        self.fs.invalidate_cache()

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self.key(rel)))

    def is_file(self, rel: str) -> bool:
        return bool(self.fs.isfile(self.key(rel)))

    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self.key(rel))

    def listing(self) -> list[str]:
        """Every file under the directory, as relative paths."""
        if not self.fs.exists(self.root):
            return []
        prefix = self.root + "/"
        return sorted(p[len(prefix):] for p in self.fs.find(self.root) if p.startswith(prefix))

    def sizes(self) -> dict[str, int]:
        """``relative path -> size in bytes`` of every file under the directory (from the listing)."""
        if not self.fs.exists(self.root):
            return {}
        prefix = self.root + "/"
        found = self.fs.find(self.root, detail=True)
        return {p[len(prefix):]: int(info.get("size") or 0) for p, info in sorted(found.items())
                if p.startswith(prefix) and info.get("type", "file") != "directory"}

    def root_is_file(self) -> bool:
        return bool(self.fs.isfile(self.root))

    # ------------------------------------------------------------- writes
    def _temporary(self, rel: str) -> str:
        head, _, name = rel.rpartition("/")
        return self.key(f"{head + '/' if head else ''}.{name}{TMP_MARKER}{uuid.uuid4().hex}")

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Atomically create or replace ``rel`` (see the module docstring)."""
        final = self.key(rel)
        if self.object_store:
            self.fs.pipe_file(final, data)
            return
        tmp = self._temporary(rel)
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, final)

    def put_file(self, local: str | os.PathLike[str], rel: str) -> None:
        """Atomically upload the local file ``local`` to ``rel``."""
        final = self.key(rel)
        if self.object_store:
            self.fs.put_file(os.fspath(local), final)
            return
        tmp = self._temporary(rel)
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        self.fs.put_file(os.fspath(local), tmp)
        self.fs.mv(tmp, final)

    def get_file(self, rel: str, local: str | os.PathLike[str]) -> None:
        """Download ``rel`` to the local path ``local``."""
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        self.fs.get_file(self.key(rel), os.fspath(local))

    def remove(self, rel: str) -> None:
        try:
            self.fs.rm_file(self.key(rel))
        except FileNotFoundError:
            pass

    def temporaries(self) -> list[str]:
        """Temporary files a killed writer left (non-object-store filesystems)."""
        return [rel for rel in self.listing() if is_temporary(rel.rsplit("/", 1)[-1])]

    def remove_stale_temporaries(self) -> None:
        for rel in self.temporaries():
            self.remove(rel)


# -------------------------------------------------------------------- lease
def _read_lease(rdir: RemoteDir) -> dict[str, Any] | None:
    try:
        return json.loads(rdir.read_bytes(LOCK_NAME))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        return {}


@contextmanager
def remote_lease(rdir: RemoteDir, ttl: float = LEASE_TTL_S, refresh: float = LEASE_REFRESH_S) -> Iterator[None]:
    """Hold the single-writer lease of a remote dataset for the duration of the block (or fail at once)."""
    owner = uuid.uuid4().hex
    me = {"owner": owner, "host": socket.gethostname(), "pid": os.getpid()}
    rdir.refresh()
    held = _read_lease(rdir)
    if held:
        age = time.time() - float(held.get("heartbeat", 0))
        if age < ttl:
            raise WmhubError(f"another wmhub job (host {held.get('host')}, pid {held.get('pid')}) is writing to "
                             f"{rdir.url} (its lease {LOCK_NAME} was refreshed {age:.0f} s ago); wait for it to "
                             f"finish. If it died, its lease expires {ttl - age:.0f} s from now")

    def write() -> None:
        rdir.write_bytes(LOCK_NAME, json.dumps({**me, "heartbeat": time.time()}).encode())

    write()
    rdir.refresh()
    if (_read_lease(rdir) or {}).get("owner") != owner:
        raise WmhubError(f"another wmhub job took the lease of {rdir.url} at the same time; run one writer only")
    stop = threading.Event()
    lost: list[str] = []

    def heartbeat() -> None:
        while not stop.wait(refresh):
            try:
                current = _read_lease(rdir) or {}
                if current.get("owner") not in (None, owner):
                    lost.append(f"host {current.get('host')}, pid {current.get('pid')}")
                    return
                write()
            except Exception:  # noqa: BLE001 - a transient storage error: try again at the next beat
                continue

    thread = threading.Thread(target=heartbeat, name="wmhub-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        if not lost and (_read_lease(rdir) or {}).get("owner") == owner:
            rdir.remove(LOCK_NAME)
    if lost:
        raise WmhubError(f"the lease of {rdir.url} was taken over by another job ({lost[0]}) while this one ran; "
                         "two writers ran at once: check the dataset with a fresh `--resume` once both stopped")
