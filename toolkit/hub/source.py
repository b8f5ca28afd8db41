"""A dataset at any location, seen through its :class:`~wmhub.storage.stores.Store`: the store, the
resolved revision and the manifest (read by the one manifest reader, :meth:`Manifest.from_bytes`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wmhub.data.manifest import MANIFEST_NAME, Manifest
from wmhub.errors import NotFoundError, UnsupportedLocationError
from wmhub.storage.location import HubRepo, LocalDir, Location, parse_location
from wmhub.storage.stores import Store, open_store


@dataclass
class StoredDataset:
    """A dataset in a store, at one resolved revision.

    Attributes:
        location: where it is.
        store: the store that reads it.
        revision: the resolved revision (a commit id on the Hub, a tag or ``latest`` locally).
        manifest: its manifest.
    """

    location: Location
    store: Store
    revision: str
    manifest: Manifest


def read_manifest(store: Store, revision: str) -> Manifest | None:
    """The manifest at ``revision`` of ``store``, or None when it holds no dataset (yet).

    Args:
        store: any store.
        revision: a resolved revision (``store.resolve(...)``).

    Returns:
        The manifest, or None.

    Raises:
        UnsupportedFormatError: the file is not a manifest this wmhub reads.

    Example:
        >>> read_manifest(open_store(parse_location("data/reacher-tiny")), "latest")  # doctest: +SKIP
    """
    data = store.read_bytes(MANIFEST_NAME, revision) if revision else None
    return None if data is None else Manifest.from_bytes(data, source=f"{store.describe()}/{MANIFEST_NAME}")


def dataset_location(source: str, revision: str | None = None) -> Location:
    """Parse a dataset source (a model repo is refused; a bare ``org/name`` gets the ``hf://datasets/`` hint).

    Raises:
        UnsupportedLocationError: ``hf://<org>/<name>`` (a model repo) or a malformed location.
        NotFoundError: a bare ``<org>/<name>`` that is not a local path.
    """
    return parse_location(str(source), revision, repo_type="dataset", source=True)


def open_stored(location: Location, storage_options: dict[str, Any] | None = None) -> StoredDataset:
    """The dataset at ``location`` (its revision resolved, its manifest read).

    Args:
        location: a parsed dataset location.
        storage_options: fsspec options for an fsspec URL.

    Returns:
        The :class:`StoredDataset`.

    Raises:
        NotFoundError: the location holds no wmhub dataset (or the repo / revision does not exist).

    Example:
        >>> open_stored(parse_location("hf://datasets/my-lab/reacher@v1")).manifest.num_episodes  # doctest: +SKIP
    """
    store = open_store(location, storage_options)
    wanted = location.revision if isinstance(location, (HubRepo, LocalDir)) else None
    revision = store.resolve(wanted)
    if not revision:
        raise NotFoundError(f"{store.describe()}: repository not found (or you lack access: log in with "
                            "`hf auth login` or set HF_TOKEN)")
    manifest = read_manifest(store, revision)
    if manifest is None:
        raise NotFoundError(f"{store.describe()} holds no wmhub dataset (no {MANIFEST_NAME} at {wanted or 'main'})")
    return StoredDataset(location, store, revision, manifest)


def require_local(location: Location, verb: str, role: str) -> LocalDir:
    """``location`` if it is a local directory, else the one-line refusal of ``verb``.

    Raises:
        UnsupportedLocationError: a Hub repo or fsspec URL where only a local directory will do.
    """
    if isinstance(location, LocalDir):
        return location
    kind = "a Hub repo" if isinstance(location, HubRepo) else "an fsspec URL"
    hint = "download it first (`wmhub download SOURCE DIR`)" if role == "source" else "give a local directory"
    raise UnsupportedLocationError(f"{location}: {verb} needs a local directory as {role}, not {kind}; {hint}")
