"""``verify`` and ``info`` of a dataset in any store, without a full download where possible.

One path for every remote location (Hub repo, local hub at a tag, fsspec URL): sizes come from
the store's listing, SHA-256 from its metadata where it keeps one (LFS files on the Hub); every
other shard (and every shard with ``full=True``) is fetched into a scratch directory, one at a
time, and checked as a local directory is (SHA-256, rows, episodes), then deleted. The job file,
half-written temporaries, episode coverage and files not listed in the manifest are checked too.
A local dataset directory is checked in place by :func:`wmhub.data.verify.verify_dataset`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from wmhub.data.layout import DATA_DIR, EPISODES_CONFIG, JOB_NAME, is_temporary
from wmhub.data.summary import DatasetSummary, summarize
from wmhub.data.verify import STALE_ADVICE, Problem, check_manifest, check_shard
from wmhub.errors import WmhubError
from wmhub.fileio import resolve_inside
from wmhub.hub.download import download_into
from wmhub.hub.source import StoredDataset


def verify_stored(source: StoredDataset, full: bool = False) -> list[Problem]:
    """The problems of a dataset in a store (see the module docstring); empty when all is well.

    Args:
        source: the dataset (:func:`wmhub.hub.source.open_stored`).
        full: fetch and hash every shard, even where the store reports its SHA-256.

    Returns:
        One :class:`~wmhub.data.verify.Problem` per thing wrong.

    Example:
        >>> verify_stored(open_stored(dataset_location("hf://datasets/my-lab/reacher")))  # doctest: +SKIP
        []
    """
    store, revision, manifest = source.store, source.revision, source.manifest
    listing = store.list_files(revision)
    problems: list[Problem] = []
    if JOB_NAME in listing:
        try:
            kind = json.loads(store.read_bytes(JOB_NAME, revision) or b"{}").get("kind", "generate")
        except (OSError, ValueError, AttributeError):
            kind = "unknown"
        problems.append(Problem(JOB_NAME, f"an interrupted {kind} job is present; re-run `wmhub {kind} ... --resume`"))
    problems += [Problem(rel, STALE_ADVICE)
                 for rel in sorted(listing) if is_temporary(rel.rsplit("/", 1)[-1])]
    configs = {c.name: c for c in manifest.configs}
    with tempfile.TemporaryDirectory(prefix="wmhub-verify-") as tmp:
        for shard in manifest.shards:
            remote = listing.get(shard.path)
            if remote is None:
                message = "missing (listed in manifest.json); re-upload or regenerate it"
            elif remote.size != shard.num_bytes:
                message = f"size {remote.size} bytes, manifest says {shard.num_bytes} (truncated or replaced)"
            elif remote.sha256 is not None and not full:
                message = None if remote.sha256 == shard.sha256 else (
                    f"SHA-256 {remote.sha256[:12]}… does not match the manifest's {shard.sha256[:12]}… (corrupted)")
            else:
                try:
                    local = resolve_inside(tmp, shard.path)
                except WmhubError:
                    message = "manifest path is outside the dataset directory (refused)"
                else:
                    # the store's bytes, not a cached copy; hashed while they arrive
                    store.fetch(shard.path, revision, local, force=True)
                    message = check_shard(Path(tmp), shard, configs.get(shard.config))
                    local.unlink(missing_ok=True)
            if message:
                problems.append(Problem(shard.path, message))
    problems += check_manifest(manifest)
    listed = {s.path for s in manifest.shards}
    problems += [Problem(rel, "extra file not listed in manifest.json; remove it (or re-run the job that made it "
                              "with --resume)")
                 for rel in sorted(listing) if rel.startswith(DATA_DIR + "/") and rel not in listed
                 and not is_temporary(rel.rsplit("/", 1)[-1])]
    return problems


def summarize_stored(source: StoredDataset) -> DatasetSummary:
    """Summarise a dataset in a store from its manifest and its small ``episodes`` table (the only
    shards downloaded, verified, to a scratch directory).

    Args:
        source: the dataset (:func:`wmhub.hub.source.open_stored`).

    Returns:
        Its :class:`~wmhub.data.summary.DatasetSummary`.

    Example:
        >>> summarize_stored(open_stored(dataset_location("s3://bucket/reacher"))).num_episodes  # doctest: +SKIP
    """
    with tempfile.TemporaryDirectory(prefix="wmhub-info-") as tmp:
        download_into(source, Path(tmp), configs=[EPISODES_CONFIG], show_progress=False)
        return summarize(tmp, source.manifest)
