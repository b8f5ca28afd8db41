"""Where a job writes: a local dataset directory or an fsspec URL, behind one protocol.

A job's driver opens the dataset with :func:`open_destination` and talks to it
only through :class:`Destination`: the single-writer lock (an OS file lock, or
a lease object on a remote filesystem), the job file ``.wmhub-job.json``, the
half-written temporaries a killed writer left, the manifest, and the finalize
step (the dataset card, then ``manifest.json`` last, so that a dataset whose
manifest exists is complete).

A work unit, on any worker, reaches the same dataset through
:func:`worker_files`: a local directory is used in place; a remote one through
a worker-local scratch directory (inputs downloaded, outputs uploaded under
their final names, each upload atomic). Both write the same bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from wmhub.data.card import render_dataset_card, write_dataset_card
from wmhub.data.layout import (
    CARD_NAME,
    EPISODES_CONFIG,
    JOB_NAME,
    LOCK_NAME,
    is_temporary,
    remove_stale_temporaries,
)
from wmhub.data.manifest import MANIFEST_NAME, Manifest
from wmhub.envs.base import RolloutSpec
from wmhub.errors import (
    AlreadyExistsError,
    ConfigError,
    NotFoundError,
    UnsupportedFormatError,
    UnsupportedLocationError,
)
from wmhub.fileio import atomic_write_json, dumps_json, resolve_inside
from wmhub.storage.files import directory_lock
from wmhub.storage.fsspec_dir import RemoteDir, is_remote, local_path, remote_lease
from wmhub.storage.location import protocol_of


class Destination(Protocol):
    """A dataset a job writes to, as its driver sees it.

    Attributes:
        location: what work units get to reach the dataset: an absolute local path (workers may
            run with another working directory) or an fsspec URL.
        storage_options: fsspec options of a remote destination (None for a local one).
    """

    location: str
    storage_options: dict[str, Any] | None

    def check_and_create(self) -> None:
        """Refuse a path that is a file or a non-empty non-dataset directory; create it if missing."""

    def lock(self) -> AbstractContextManager[None]:
        """Hold the single-writer lock for the block, or fail at once when another job holds it."""

    def remove_stale_temporaries(self) -> None:
        """Delete half-written files (the caller holds the lock: their writer is gone)."""

    def read_manifest(self) -> Manifest | None:
        """The dataset's manifest, or None when there is none yet."""

    def read_job(self) -> dict[str, Any] | None:
        """The job file of an interrupted job, or None."""

    def write_job(self, job: dict[str, Any]) -> None:
        """Atomically write the job file."""

    def remove_job(self) -> None:
        """Delete the job file (the job is finished)."""

    def exists(self, rel: str) -> bool:
        """True if the file ``rel`` (a relative POSIX path) exists under its final name."""

    def finalize(self, manifest: Manifest, spec: RolloutSpec) -> None:
        """Write the dataset card, then ``manifest.json`` (last: the dataset is then complete)."""


def parse_job(data: bytes, where: str) -> dict[str, Any]:
    """The job file's content; one clear error when it is not a JSON object (a damaged job file).

    Args:
        data: the file's bytes.
        where: the file, for the message.

    Returns:
        The job description.

    Raises:
        UnsupportedFormatError: the file is not a JSON object.

    Example:
        >>> parse_job(b'{"kind": "generate"}', "out/.wmhub-job.json")
        {'kind': 'generate'}
    """
    try:
        job = json.loads(data)
    except ValueError:
        job = None
    if not isinstance(job, dict):
        raise UnsupportedFormatError(f"{where} is damaged (not a wmhub job file); remove the unfinished output and "
                                     "run the job again")
    return job


def _stray_entry(names: list[str]) -> str | None:
    """The first file that is neither the lock nor a temporary, if any."""
    stray = [n for n in names if n != LOCK_NAME and not is_temporary(n.rsplit("/", 1)[-1])]
    return stray[0] if stray else None


class LocalDestination:
    """A dataset on a local (or mounted network) filesystem: atomic renames and an OS file lock.

    Args:
        path: the dataset directory.

    Example:
        >>> dest = LocalDestination(Path("data/reacher"))  # doctest: +SKIP
        >>> with dest.lock():  # doctest: +SKIP
        ...     manifest = dest.read_manifest()
    """

    storage_options = None

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path.resolve())

    def __str__(self) -> str:
        return str(self.path)

    def check_and_create(self) -> None:
        out = self.path
        if out.exists() and not out.is_dir():
            raise AlreadyExistsError(f"OUT {out} exists and is not a directory; choose another path")
        if out.is_dir() and not (out / MANIFEST_NAME).exists() and not (out / JOB_NAME).exists():
            stray = _stray_entry([p.name for p in out.iterdir()])
            if stray:
                raise AlreadyExistsError(f"OUT {out} is not empty and holds no wmhub dataset ({stray}, ...); "
                                         "choose an empty or new directory")
        out.mkdir(parents=True, exist_ok=True)

    def lock(self) -> AbstractContextManager[None]:
        return directory_lock(self.path)

    def remove_stale_temporaries(self) -> None:
        remove_stale_temporaries(self.path)

    def read_manifest(self) -> Manifest | None:
        return Manifest.read(self.path) if (self.path / MANIFEST_NAME).exists() else None

    def read_job(self) -> dict[str, Any] | None:
        job_path = self.path / JOB_NAME
        return parse_job(job_path.read_bytes(), str(job_path)) if job_path.exists() else None

    def write_job(self, job: dict[str, Any]) -> None:
        atomic_write_json(self.path / JOB_NAME, job)

    def remove_job(self) -> None:
        (self.path / JOB_NAME).unlink()

    def exists(self, rel: str) -> bool:
        return (self.path / rel).is_file()

    def finalize(self, manifest: Manifest, spec: RolloutSpec) -> None:
        write_dataset_card(self.path, manifest, spec)
        manifest.write(self.path)


class FsspecDestination:
    """A dataset on an fsspec filesystem (``s3://...``): a lease instead of the lock; the card is
    rendered from a local copy of the (small) episodes shards, then uploaded before the manifest.

    Args:
        url: the dataset's URL.
        storage_options: fsspec options (e.g. ``{"endpoint_url": ...}``).

    Example:
        >>> dest = FsspecDestination("s3://bucket/reacher", {"anon": False})  # doctest: +SKIP
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None) -> None:
        self.dir = RemoteDir(url, storage_options)
        self.location = self.dir.url
        self.storage_options = storage_options

    def __str__(self) -> str:
        return self.dir.url

    def check_and_create(self) -> None:
        self.dir.refresh()
        if self.dir.root_is_file():
            raise AlreadyExistsError(f"OUT {self} exists and is a file; choose another path")
        names = self.dir.listing()
        if names and MANIFEST_NAME not in names and JOB_NAME not in names:
            stray = _stray_entry(names)
            if stray:
                raise AlreadyExistsError(f"OUT {self} is not empty and holds no wmhub dataset ({stray}, ...); "
                                         "choose an empty or new prefix")

    def lock(self) -> AbstractContextManager[None]:
        return remote_lease(self.dir)

    def remove_stale_temporaries(self) -> None:
        self.dir.refresh()
        self.dir.remove_stale_temporaries()

    def read_manifest(self) -> Manifest | None:
        try:
            data = self.dir.read_bytes(MANIFEST_NAME)
        except FileNotFoundError:
            return None
        return Manifest.from_bytes(data, source=f"{self}/{MANIFEST_NAME}")

    def read_job(self) -> dict[str, Any] | None:
        try:
            data = self.dir.read_bytes(JOB_NAME)
        except FileNotFoundError:
            return None
        return parse_job(data, f"{self}/{JOB_NAME}")

    def write_job(self, job: dict[str, Any]) -> None:
        self.dir.write_bytes(JOB_NAME, dumps_json(job).encode("utf-8"))

    def remove_job(self) -> None:
        self.dir.remove(JOB_NAME)

    def exists(self, rel: str) -> bool:
        self.dir.refresh()
        return self.dir.is_file(rel)

    def finalize(self, manifest: Manifest, spec: RolloutSpec) -> None:
        with tempfile.TemporaryDirectory(prefix="wmhub-card-") as tmp:
            for shard in manifest.shards_of(EPISODES_CONFIG):  # all the card reads besides the manifest
                self.dir.get_file(shard.path, Path(tmp) / shard.path)
            card = render_dataset_card(Path(tmp), manifest, spec.card_template)
        self.dir.write_bytes(CARD_NAME, card.encode("utf-8"))
        self.dir.write_bytes(MANIFEST_NAME, dumps_json(manifest.to_json_obj()).encode("utf-8"))


def open_destination(location: str | os.PathLike[str],
                     storage_options: dict[str, Any] | None = None) -> LocalDestination | FsspecDestination:
    """The dataset at ``location`` as a job destination.

    Args:
        location: a local path (``file://`` accepted) or an fsspec URL such as ``s3://bucket/prefix``.
        storage_options: fsspec options for a remote ``location``.

    Returns:
        A :class:`LocalDestination` or an :class:`FsspecDestination`.

    Raises:
        UnsupportedLocationError: ``location`` is a Hub repo (``hf://``): jobs write to directories.
        ConfigError: ``storage_options`` given for a local path.

    Example:
        >>> dest = open_destination("data/reacher")  # doctest: +SKIP
        >>> dest.read_job() is None  # doctest: +SKIP
        True
    """
    if protocol_of(os.fspath(location)) == "hf":
        raise UnsupportedLocationError(f"{location} is a Hub repo, not a dataset directory: `wmhub download` it, "
                                       "work on the local copy, then `wmhub publish` it")
    if is_remote(location):
        return FsspecDestination(os.fspath(location), storage_options)
    if storage_options:
        raise ConfigError("storage_options apply to remote (fsspec URL) destinations only")
    return LocalDestination(local_path(location))


def read_existing_manifest(dest: Destination) -> Manifest:
    """The manifest of the dataset at ``dest``.

    Args:
        dest: an open destination.

    Returns:
        Its manifest.

    Raises:
        NotFoundError: no ``manifest.json`` is there.

    Example:
        >>> manifest = read_existing_manifest(open_destination("data/reacher"))  # doctest: +SKIP
    """
    manifest = dest.read_manifest()
    if manifest is None:
        raise NotFoundError(f"{dest} holds no wmhub dataset (no manifest.json); create one with `wmhub generate`, "
                            "or finish an interrupted generate job with --resume")
    return manifest


class WorkerFiles:
    """A dataset as a work unit sees it: files under a local ``root``.

    Locally ``root`` is the dataset itself (:meth:`fetch` and :meth:`publish` do nothing: writers
    rename into place). Remotely ``root`` is a scratch directory: :meth:`fetch` downloads,
    :meth:`publish` uploads under the final name (an atomic PUT, see :mod:`wmhub.storage.fsspec_dir`).
    """

    def __init__(self, root: Path, remote: RemoteDir | None = None) -> None:
        self.root = root
        self.remote = remote

    def path(self, rel: str) -> Path:
        """The local path of ``rel`` (refused if it leaves the dataset)."""
        return resolve_inside(self.root, rel)

    def exists(self, rel: str) -> bool:
        """True if ``rel`` exists in the dataset under its final name."""
        return self.remote.is_file(rel) if self.remote else self.path(rel).is_file()

    def fetch(self, rel: str) -> Path:
        """``rel`` as a local file (downloaded into the scratch directory when remote)."""
        local = self.path(rel)
        if self.remote:
            self.remote.get_file(rel, local)
        return local

    def publish(self, rel: str) -> None:
        """Make the local file ``rel`` part of the dataset (uploaded when remote)."""
        if self.remote:
            self.remote.put_file(self.path(rel), rel)


@contextmanager
def worker_files(location: str, storage_options: dict[str, Any] | None = None,
                 prefix: str = "wmhub-unit-") -> Iterator[WorkerFiles]:
    """Open the dataset at ``location`` from a worker (see :class:`WorkerFiles`).

    Args:
        location: a :attr:`Destination.location` (an absolute path or an fsspec URL).
        storage_options: fsspec options for a remote ``location``.
        prefix: name prefix of the scratch directory (remote only).

    Yields:
        The dataset's files, valid for the block (a scratch directory is deleted after it).

    Example:
        >>> with worker_files("/data/reacher") as files:  # doctest: +SKIP
        ...     table = files.fetch("data/steps/episodes-00000000-00000004.parquet")
    """
    if not is_remote(location):
        yield WorkerFiles(local_path(location))
        return
    rdir = RemoteDir(location, storage_options)
    rdir.refresh()
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield WorkerFiles(Path(tmp), rdir)
