"""``wmhub verify`` and ``wmhub info`` on any source, without a full download where possible.

A source is a local directory, a Hub repo (``hf://datasets/<org>/<name>[@rev]``) or
an fsspec URL of a dataset directory (``s3://bucket/prefix``, ``gs://...``; the
backend package must be installed), handled by :mod:`wmhub.data.remote_fs`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from wmhub.data.layout import EPISODES_CONFIG
from wmhub.data.remote_fs import local_path, protocol_of, summarize_remote, verify_remote
from wmhub.data.summary import DatasetSummary, summarize
from wmhub.data.verify import Problem, verify_dataset
from wmhub.errors import WmhubError
from wmhub.hub.download import download
from wmhub.storage.location import HubRepo, parse_location
from wmhub.storage.stores import open_store, read_manifest


def _is_fsspec_url(source: str) -> bool:
    """True for a URL of a dataset directory on an fsspec filesystem (not ``hf://``, not a local path)."""
    return protocol_of(source) not in (None, "hf", "file", "local")


def _local_or_hub(source: str):
    """A local directory (``file://`` stripped) or a Hub location."""
    return local_path(source) if protocol_of(source) in ("file", "local") else parse_location(source)


def _open_remote(location: HubRepo):
    """(store, resolved revision, manifest or None) of a Hub location."""
    store = open_store(location)
    revision = store.resolve(location.revision)
    return store, revision, (read_manifest(store, revision) if revision else None)


def verify_source(source: str, full: bool = False) -> list[Problem]:
    """Verify a directory, a Hub repo or an fsspec URL against its manifest.

    On the Hub, sizes and LFS SHA-256 are compared from file metadata (no
    download); files whose SHA-256 the server does not report (small non-LFS
    files), and every file with ``full=True``, are downloaded and hashed. On an
    fsspec URL (``s3://...``) sizes come from the listing and every shard is
    downloaded, one at a time, and hashed: object stores keep no SHA-256
    (:func:`wmhub.data.remote_fs.verify_remote`; ``full`` changes nothing).
    """
    if _is_fsspec_url(source):
        return verify_remote(source)
    location = _local_or_hub(source)
    if not isinstance(location, HubRepo):
        return verify_dataset(location)
    store, revision, manifest = _open_remote(location)
    if manifest is None:
        return [Problem("manifest.json", f"{store.describe()} holds no wmhub dataset")]
    info = store.file_info([s.path for s in manifest.shards], revision)
    problems = []
    with tempfile.TemporaryDirectory(prefix="wmhub-verify-") as tmp:
        for shard in manifest.shards:
            remote = info.get(shard.path)
            if remote is None:
                problems.append(Problem(shard.path, "missing from the repository (listed in manifest.json)"))
                continue
            if remote.size != shard.num_bytes:
                problems.append(Problem(shard.path, f"size {remote.size} bytes, manifest says {shard.num_bytes}"))
                continue
            digest = remote.sha256
            if digest is None or full:
                local = Path(tmp) / "file"
                # the server's bytes, not a cached copy; hashed while they arrive
                digest = store.fetch(shard.path, revision, local, force=True).sha256
            if digest != shard.sha256:
                problems.append(Problem(shard.path, f"SHA-256 {digest[:12]}… does not match the manifest's "
                                                    f"{shard.sha256[:12]}…"))
    return problems


def summarize_source(source: str) -> DatasetSummary:
    """Summarise a directory, or a Hub repo or fsspec URL by downloading only its manifest and small
    episodes table."""
    if _is_fsspec_url(source):
        return summarize_remote(source)
    location = _local_or_hub(source)
    if not isinstance(location, HubRepo):
        return summarize(location)
    store, revision, manifest = _open_remote(location)
    if manifest is None:
        raise WmhubError(f"{store.describe()} holds no wmhub dataset")
    with tempfile.TemporaryDirectory(prefix="wmhub-info-") as tmp:
        download(source if location.revision else f"{source}@{revision}", tmp, configs=[EPISODES_CONFIG],
                 show_progress=False)
        return summarize(tmp, manifest)
