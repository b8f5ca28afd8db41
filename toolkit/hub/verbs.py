"""The dataset verbs of the public API: ``verify``, ``info``, ``publish``, ``download``, ``open_dataset``.

Every verb takes its locations through the one parser (:func:`wmhub.storage.location.parse_location`)
and reads or writes them through the one :class:`~wmhub.storage.stores.Store` protocol, so each
accepts every location it can serve:

================  =============  ==============  ===========================  ==============
verb              local dir      local hub@tag   ``hf://datasets/...@rev``    fsspec URL
================  =============  ==============  ===========================  ==============
verify / info     yes            yes             yes                          yes
download (from)   yes            yes             yes                          yes
open_dataset      yes            yes             yes (downloaded, cached)     yes (cached)
publish (to)      yes (a hub)    —               yes                          yes (no tags)
================  =============  ==============  ===========================  ==============

and refuses the others with one line (:class:`~wmhub.errors.UnsupportedLocationError`): a model
repo (``hf://<org>/<name>``) never holds a dataset; ``download`` and ``publish`` read and write
local directories on their local side. A bare ``<org>/<name>`` that is not a local path is
refused with the ``hf://datasets/<org>/<name>`` it probably means.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wmhub.data.manifest import MANIFEST_NAME
from wmhub.data.summary import DatasetSummary, summarize
from wmhub.data.verify import Problem, verify_dataset
from wmhub.errors import ConfigError, NotFoundError, UnsupportedFormatError, UnsupportedLocationError
from wmhub.hub.checks import summarize_stored, verify_stored
from wmhub.hub.download import DownloadResult, download_into
from wmhub.hub.publish import PublishResult, publish_to
from wmhub.hub.source import dataset_location, open_stored, require_local
from wmhub.storage.cache import datasets_cache_dir
from wmhub.storage.location import FsspecURL, HubRepo, LocalDir, Location, parse_location

if TYPE_CHECKING:  # the reader imports torch: loaded by open_dataset only
    from wmhub.data.reader import WmDataset

__all__ = ["DownloadResult", "PublishResult", "VerifyReport", "download", "info", "open_dataset", "publish",
           "verify"]


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` found.

    Attributes:
        source: the location checked, as given.
        problems: one entry per thing wrong (file concerned and what is wrong).
    """

    source: str
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """True when every shard matches the manifest."""
        return not self.problems


def _in_place(location: Location) -> bool:
    """A local directory at its latest version is read in place; everything else through its store."""
    return isinstance(location, LocalDir) and location.revision in (None, "latest", "main")


def verify(source: str | Path, *, full: bool = False, storage_options: dict[str, Any] | None = None) -> VerifyReport:
    """Recompute sizes, SHA-256, row counts and episode coverage of a dataset's shards.

    A local directory is checked in place. On the Hub, sizes and LFS SHA-256 come from file
    metadata (no download); shards whose SHA-256 the server does not report, and every shard
    with ``full=True``, are downloaded and hashed. On an fsspec URL sizes come from the listing
    and every shard is streamed through a scratch file and hashed (object stores keep no SHA-256).

    Args:
        source: a dataset directory or local hub, ``hf://datasets/<org>/<name>[@rev]`` or an fsspec URL.
        full: download and hash every Hub shard, not only its metadata.
        storage_options: fsspec options for an fsspec URL (``endpoint_url``, ``key``, ...).

    Returns:
        A :class:`VerifyReport` (``.ok``, ``.problems``).

    Raises:
        UnsupportedLocationError: a model repo, or a malformed location.
        NotFoundError: no such local directory, repo or revision, no dataset at a remote location,
            or a bare ``<org>/<name>`` that is not a local directory (did-you-mean hint).

    Example:
        >>> import wmhub
        >>> report = wmhub.verify("hf://datasets/my-lab/reacher@v1.0")  # doctest: +SKIP
        >>> report.ok                                                     # doctest: +SKIP
        True
    """
    location = dataset_location(str(source))
    if _in_place(location):
        if not location.path.exists():  # nothing to check is the caller's mistake, not bad data
            raise NotFoundError(f"{source}: no such directory; give a dataset directory, "
                                "hf://datasets/<org>/<name> or an fsspec URL")
        return VerifyReport(str(source), verify_dataset(location.path))
    try:
        stored = open_stored(location, storage_options)  # no repo, revision or dataset there: NotFoundError
    except (UnsupportedFormatError, ConfigError) as exc:  # an unreadable manifest: bad data, one problem
        return VerifyReport(str(source), [Problem(MANIFEST_NAME, str(exc))])
    return VerifyReport(str(source), verify_stored(stored, full=full))


def info(source: str | Path, *, storage_options: dict[str, Any] | None = None) -> DatasetSummary:
    """Summarise a dataset: episodes, transitions, shards, success rate, returns, feature statistics.

    Only the manifest and the small ``episodes`` table are read (downloaded, for a remote source).

    Args:
        source: a dataset directory, ``hf://datasets/<org>/<name>[@rev]`` or an fsspec URL.
        storage_options: fsspec options for an fsspec URL.

    Returns:
        The :class:`~wmhub.data.summary.DatasetSummary` (``format_summary`` prints it as ``wmhub info`` does).

    Raises:
        NotFoundError: the source holds no wmhub dataset (or a bare ``<org>/<name>``, with the hint).
        UnsupportedLocationError: a model repo, or a malformed location.

    Example:
        >>> import wmhub
        >>> wmhub.info("data/reacher-tiny").num_episodes  # doctest: +SKIP
        4
    """
    location = dataset_location(str(source))
    if _in_place(location):
        return summarize(location.path)
    return summarize_stored(open_stored(location, storage_options))


def publish(src: str | Path, dest: str | Path, *, tag: str | None = None, private: bool = False,
            message: str | None = None, license: str | None = None) -> PublishResult:
    """Publish a local dataset directory, or only its new shards, to a dataset repo, a local hub or an fsspec URL.

    Uploads only the shards the destination lacks (by path and SHA-256), plus the regenerated
    card and manifest, in one commit (Hub) or with the manifest written last (elsewhere).
    Re-running is a no-op. A tag that exists for another version is refused before anything is
    committed; tags are never moved. Publishers to one destination take turns (a local hub's
    lock; a Hub commit on the commit it was planned on, re-planned when another came first),
    and a publish never moves a dataset backwards.

    Args:
        src: the local dataset directory (it must verify).
        dest: ``hf://datasets/<org>/<name>``, a local hub directory, or an fsspec URL (no ``tag`` there).
        tag: mark the published version (``v1.0``).
        private: create a new Hub repo as private.
        message: the commit message.
        license: the card's Hub license id (``cc-by-4.0``; default: the one in ``src``'s card, else apache-2.0).

    Returns:
        A :class:`~wmhub.hub.publish.PublishResult`.

    Raises:
        UnsupportedLocationError: ``dest`` is a model repo (``hf://<org>/<name>``) or names a revision,
            ``src`` is not a local directory, or ``tag`` on an fsspec URL.
        AlreadyExistsError: ``tag`` marks another version.
        DatasetMismatchError: ``dest`` holds another dataset, more episodes, or shards ``src`` lacks.
        ChecksumMismatchError: a shard exists at ``dest`` with other bytes.
        ConfigError: ``tag`` is not a valid ref name, or ``src`` is a partial download or does not verify.

    Example:
        >>> import wmhub
        >>> wmhub.publish("data/reacher-1m", "hf://datasets/my-lab/reacher-1m", tag="v1.0")  # doctest: +SKIP
    """
    source = require_local(dataset_location(str(src)), "publish", "source")
    target = parse_location(str(dest), repo_type="dataset")
    if isinstance(target, HubRepo | LocalDir) and target.revision:
        raise UnsupportedLocationError(f"{dest}: publish writes the latest version; drop @{target.revision} "
                                       "(use --tag to name the version)")
    return publish_to(source.path, target, tag=tag, private=private, message=message, license=license)


def download(source: str | Path, out: str | Path, *, revision: str | None = None, configs: list[str] | None = None,
             shards: str | None = None, episodes: str | None = None, show_progress: bool = True,
             workers: int | None = None, storage_options: dict[str, Any] | None = None) -> DownloadResult:
    """Download a dataset (or a selection of its shards) into a local directory, verifying every SHA-256.

    Shards already in ``out`` with the right checksum are kept; a shard cut off mid-transfer is
    continued by the next run; remote shards are shared through wmhub's cache (copied into
    ``out``, never hard-linked). An ``out`` that already holds part of this dataset is added to
    only when every shard it lists is a shard of this version; anything else is refused.

    Args:
        source: ``hf://datasets/<org>/<name>[@rev]``, a local hub or dataset directory, or an fsspec URL.
        out: the local directory to download into.
        revision: branch, tag or commit (default: latest); must agree with an ``@rev`` in ``source``.
        configs: only these configs.
        shards: shard positions within each config, e.g. ``"0-3,7"``.
        episodes: only shards overlapping these episodes, e.g. ``"0-999"``.
        show_progress: show a progress bar.
        workers: shards transferred at once (default ``$WMHUB_DOWNLOAD_WORKERS`` or 4).
        storage_options: fsspec options for an fsspec URL.

    Returns:
        A :class:`~wmhub.hub.download.DownloadResult`.

    Raises:
        NotFoundError: no dataset at ``source``, no such revision, or a bare ``<org>/<name>``
            (did-you-mean hint).
        UnsupportedLocationError: a model repo, or ``out`` that is not a local directory.
        DatasetMismatchError: ``out`` holds another dataset, or a version with shards this one lacks.
        ChecksumMismatchError: a shard is corrupt at the source, or holds other rows, episodes or
            columns than its manifest says.
        ConfigError: ``revision`` is not a valid ref name, or the source's manifest does not add up.

    Example:
        >>> import wmhub
        >>> wmhub.download("hf://datasets/my-lab/reacher-1m", "data/first-1k", episodes="0-999")  # doctest: +SKIP
    """
    location = dataset_location(str(source), revision)
    target = require_local(parse_location(str(out)), "download", "destination")
    return download_into(open_stored(location, storage_options), target.path, configs=configs, shards=shards,
                         episodes=episodes, show_progress=show_progress, workers=workers)


def _episode_spec(episodes: str | Iterable[int] | None) -> str | None:
    """``[0, 1, 2, 7]`` -> ``"0-2,7"`` (the form :func:`download` takes); a string passes through."""
    if episodes is None or isinstance(episodes, str):
        return episodes
    values = sorted(set(int(e) for e in episodes))
    if not values:
        raise ConfigError("episodes= selects no episode")
    ranges, start, last = [], values[0], values[0]
    for value in values[1:]:
        if value != last + 1:
            ranges.append((start, last))
            start = value
        last = value
    ranges.append((start, last))
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _cache_dir(location: Location, revision: str, configs: list[str] | None, episodes: str | None) -> Path:
    """Where a remote dataset is downloaded to be opened: one folder per location, revision and selection."""
    if isinstance(location, HubRepo):
        key = Path("hub", *location.repo_id.split("/"))
    elif isinstance(location, FsspecURL):
        key = Path("fsspec", location.protocol, hashlib.sha256(location.url.encode()).hexdigest()[:16])
    else:
        key = Path("local", hashlib.sha256(str(location.path.resolve()).encode()).hexdigest()[:16])
    selection = "all"
    if configs or episodes:
        spec = json.dumps({"configs": sorted(configs or []), "episodes": episodes}, sort_keys=True)
        selection = "selection-" + hashlib.sha256(spec.encode()).hexdigest()[:12]
    return datasets_cache_dir() / key / revision / selection


def open_dataset(source: str | Path, *, episodes: str | Iterable[int] | None = None, revision: str | None = None,
                 configs: list[str] | None = None, show_progress: bool = False,
                 storage_options: dict[str, Any] | None = None) -> WmDataset:
    """Open a dataset wherever it lives, for reading episodes, tensors and windows.

    A local directory is opened in place (whole). A remote source — a Hub dataset repo at a
    revision, a local hub at a tag, an fsspec URL — is downloaded first into wmhub's cache
    (``$HF_HOME/wmhub/datasets``, see :mod:`wmhub.storage.cache`), only the shards holding
    ``episodes`` of ``configs``, each verified; a second call with the same selection transfers
    nothing.

    Args:
        source: a dataset directory, ``hf://datasets/<org>/<name>[@rev]``, or an fsspec URL.
        episodes: remote sources: only the shards holding these episodes (``"0-99"``, or episode
            indices). A local directory is opened whole.
        revision: branch, tag or commit (default: latest).
        configs: remote sources: only these configs (default: all). ``steps`` and ``episodes``
            are always included, as every reader needs them.
        show_progress: show a progress bar while downloading.
        storage_options: fsspec options for an fsspec URL.

    Returns:
        A :class:`~wmhub.data.reader.WmDataset`.

    Raises:
        NotFoundError: no dataset at ``source`` (or a bare ``<org>/<name>``, with the hint).
        UnsupportedLocationError: a model repo.

    Example:
        >>> import wmhub
        >>> ds = wmhub.open_dataset("hf://datasets/my-lab/reacher-1m@v1.0", episodes=range(100))  # doctest: +SKIP
        >>> ds.load_tensors().latents.shape                                                        # doctest: +SKIP
    """
    from wmhub.data.layout import EPISODES_CONFIG, STEPS_CONFIG
    from wmhub.data.reader import WmDataset

    location = dataset_location(str(source), revision)
    if _in_place(location):
        return WmDataset(location.path)
    stored = open_stored(location, storage_options)
    spec = _episode_spec(episodes)
    wanted = sorted({STEPS_CONFIG, EPISODES_CONFIG, *configs}) if configs else None
    out = _cache_dir(location, stored.revision, wanted, spec)
    # the cache folder is shared: processes opening the same data (ranks, loaders) take turns
    download_into(stored, out, configs=wanted, episodes=spec, show_progress=show_progress, wait=True)
    return WmDataset(out)
