"""Downloading a dataset from any store: fetch the manifest, then only the requested shards, verified.

Every shard's SHA-256 is computed while it is written and checked against the
manifest before the file takes its final name; a corrupt file is fetched once
more (bypassing caches and partial files), then the download fails naming it.
Shards already in OUT with the right checksum are kept; a shard cut off
mid-transfer stays as ``.<name>.wmhub-partial`` and the next run continues it
with an HTTP Range request; remote shards land in wmhub's content-addressed cache
(:mod:`wmhub.storage.cache`), so a second identical download transfers nothing.
The revision is resolved to a commit first, so every file comes from the same
version even if the repo moves during the download.

The source's manifest is checked before anything is fetched (declared configs, no path listed
twice, no gap or overlap in episode coverage), and every shard's rows, episodes and columns
after it arrives, before OUT's manifest is written: a source that does not add up is refused.

OUT may already hold (part of) the same dataset: a download adds to it when every shard OUT
lists is, byte for byte, a shard of the version downloaded (an earlier partial download, an
older version the new one grew from); OUT's manifest then lists what OUT holds of that version.
Anything else (another dataset, a newer version, shards made locally) is refused, never replaced.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from wmhub.data.card import with_configs_of
from wmhub.data.layout import CARD_NAME, remove_stale_temporaries
from wmhub.data.manifest import Manifest, ShardInfo
from wmhub.data.verify import check_manifest, check_shard_content
from wmhub.errors import ChecksumMismatchError, ConfigError, DatasetMismatchError, NotFoundError
from wmhub.fileio import atomic_write_json, atomic_write_text, resolve_inside, sha256_file
from wmhub.hub.source import StoredDataset
from wmhub.progress import Progress
from wmhub.storage.files import directory_lock
from wmhub.storage.stores import ChecksumMismatch, Fetched, Store

ORIGIN_NAME = ".wmhub-origin.json"
"""Written into OUT by every download, beside its manifest: the ``source`` (as the store names it), the resolved
``revision`` and the SHA-256 of the manifest written, so a model trained on OUT can name the published data."""

WORKERS_ENV = "WMHUB_DOWNLOAD_WORKERS"
DEFAULT_WORKERS = 4
"""Shards transferred at once: hides per-request latency (redirects, CDN round trips) and overlaps
one shard's disk writes with another's network reads."""


def default_workers() -> int:
    """``$WMHUB_DOWNLOAD_WORKERS`` if set, else :data:`DEFAULT_WORKERS`."""
    value = os.environ.get(WORKERS_ENV, "")
    try:
        return max(1, int(value)) if value.strip() else DEFAULT_WORKERS
    except ValueError as exc:
        raise ConfigError(f"{WORKERS_ENV}={value!r}: expected a positive number of parallel shard downloads") from exc


@dataclass
class DownloadResult:
    """What a download did.

    Attributes:
        source: the source, as the store names it.
        revision: the resolved revision (a commit id on the Hub).
        fetched: shards placed into OUT by this run.
        cached: shards already in OUT, verified and kept.
        from_cache: the part of ``fetched`` served by the wmhub cache.
        bytes_fetched: size of the ``fetched`` shards.
        bytes_transferred: bytes received for them (0 for cache hits).
    """

    source: str
    revision: str
    fetched: list[str] = field(default_factory=list)     # shards placed into OUT by this run
    cached: list[str] = field(default_factory=list)      # shards already in OUT, verified and kept
    from_cache: list[str] = field(default_factory=list)  # the part of ``fetched`` served by the wmhub cache
    bytes_fetched: int = 0                               # size of the ``fetched`` shards
    bytes_transferred: int = 0                           # bytes received for them (0 for cache hits)


def parse_ranges(spec: str, what: str) -> list[tuple[int, int]]:
    """``"0-9,12"`` → ``[(0, 10), (12, 13)]`` (inclusive ranges, as users write them)."""
    ranges = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
            else:
                a = b = int(part)
        except ValueError as exc:
            raise ConfigError(f"--{what} {spec!r}: expected numbers and ranges like 0-9,12") from exc
        if a < 0 or b < a:
            raise ConfigError(f"--{what} {spec!r}: range {part!r} is empty or negative")
        ranges.append((a, b + 1))
    return ranges


def select_shards(manifest: Manifest, configs: list[str] | None, shards: str | None,
                  episodes: str | None) -> list[ShardInfo]:
    """The shards a download asks for (all by default)."""
    names = configs or [c.name for c in manifest.configs]
    for name in names:
        manifest.config(name)  # clear error for unknown configs
    shard_ranges = parse_ranges(shards, "shards") if shards else None
    episode_ranges = parse_ranges(episodes, "episodes") if episodes else None
    chosen = []
    for name in names:
        for index, shard in enumerate(manifest.shards_of(name)):
            if shard_ranges and not any(a <= index < b for a, b in shard_ranges):
                continue
            if episode_ranges and not any(shard.episode_start < b and a < shard.episode_end
                                          for a, b in episode_ranges):
                continue
            chosen.append(shard)
    if not chosen:
        raise NotFoundError("the selection (--config/--shards/--episodes) matches no shard")
    return chosen


def download_into(source: StoredDataset, out: Path, *, configs: list[str] | None = None,
                  shards: str | None = None, episodes: str | None = None, show_progress: bool = True,
                  workers: int | None = None, wait: bool = False) -> DownloadResult:
    """Download (part of) the dataset ``source`` into the local directory ``out``.

    ``workers`` shards are transferred at once (default :func:`default_workers`). When one
    fails, the shards in flight are finished, none is started, and the error is raised: every
    verified shard stays in OUT, and a shard cut off mid-transfer stays as a partial file
    that the next run continues.

    Args:
        source: the dataset (:func:`wmhub.hub.source.open_stored`).
        out: the local directory to download into (created).
        configs: only these configs (default: all).
        shards: shard positions within each config, e.g. ``"0-3,7"``.
        episodes: only shards overlapping these episodes, e.g. ``"0-999"``.
        show_progress: show a progress bar.
        workers: parallel transfers.
        wait: wait for another process writing to ``out`` instead of failing at once.

    Returns:
        What was fetched and kept.

    Raises:
        DatasetMismatchError: ``out`` holds another dataset, or a version with shards this one lacks.
        ChecksumMismatchError: a shard is corrupt at the source (after a second download), or holds
            other rows, episodes or columns than the manifest says.
        ConfigError: the source's manifest does not add up (configs, duplicates, coverage).

    Example:
        >>> download_into(open_stored(dataset_location("hf://datasets/my-lab/reacher")), Path("out"))  # doctest: +SKIP
    """
    store, resolved, manifest = source.store, source.revision, source.manifest
    inconsistent = check_manifest(manifest)
    if inconsistent:
        raise ConfigError(f"{store.describe()} at {resolved[:12]}: manifest.json does not add up ({inconsistent[0]}); "
                          "report it to the dataset's maintainers")
    selected = select_shards(manifest, configs, shards, episodes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = DownloadResult(source=store.describe(), revision=resolved)
    with directory_lock(out, wait=wait):
        # left by an interrupted download; partial shards stay, to be continued by Range requests
        remove_stale_temporaries(out, keep_partial_downloads=True)
        existing = Manifest.read(out) if (out / "manifest.json").exists() else None
        held = _held_shards(existing, manifest, out, store.describe())
        progress = Progress(sum(s.num_bytes for s in selected), "B", "bytes", "download", enabled=show_progress)
        try:
            outcomes = _obtain_all(store, selected, resolved, out, workers or default_workers(), progress)
        finally:
            progress.close()
        for shard, fetched in zip(selected, outcomes):
            if fetched is None:
                result.cached.append(shard.path)
                continue
            result.fetched.append(shard.path)
            result.bytes_fetched += shard.num_bytes
            result.bytes_transferred += fetched.bytes_transferred
            if fetched.from_cache:
                result.from_cache.append(shard.path)
        _check_contents(manifest, selected, out, store.describe())
        wanted = {s.path for s in selected} | held
        listed = [s for s in manifest.shards if s.path in wanted]
        complete = len(listed) == len(manifest.shards)
        subset = None if complete else {"source": store.describe(), "revision": resolved,
                                         "configs": configs, "shards": shards, "episodes": episodes}
        if subset is not None and existing is not None and not held <= {s.path for s in selected}:
            subset["added_to"] = existing.subset or {"episodes": f"0-{existing.num_episodes - 1}"}
        local = manifest.model_copy(update={"shards": listed, "subset": subset})
        card_bytes = store.read_bytes(CARD_NAME, resolved)
        if card_bytes is not None:  # a partial download lists only its shards, so load_dataset(OUT) reads them
            card = card_bytes.decode("utf-8")
            atomic_write_text(out / CARD_NAME, card if subset is None else with_configs_of(card, local))
        local.write(out)
        atomic_write_json(out / ORIGIN_NAME, {"source": result.source, "revision": resolved,
                                              "manifest_sha256": sha256_file(out / "manifest.json")})
    return result


def _held_shards(existing: Manifest | None, manifest: Manifest, out: Path, where: str) -> set[str]:
    """Paths of the shards OUT already lists, when each is, byte for byte, a shard of ``manifest``;
    raises otherwise (OUT holds another dataset or another version)."""
    if existing is None:
        return set()
    if not existing.same_dataset_as(manifest):
        raise DatasetMismatchError(f"{out} holds another dataset; download into a new directory")
    source = {s.path: s for s in manifest.shards}
    for shard in existing.shards:
        theirs = source.get(shard.path)
        if theirs is None or (theirs.sha256, theirs.config) != (shard.sha256, shard.config):
            raise DatasetMismatchError(f"{out} holds a version of this dataset that {where} at this revision lacks "
                                       f"({shard.path}); download into a new directory")
    return {s.path for s in existing.shards}


def _check_contents(manifest: Manifest, selected: list[ShardInfo], out: Path, where: str) -> None:
    """Rows, episodes and columns of every selected shard (their bytes are the manifest's)."""
    configs = {c.name: c for c in manifest.configs}
    for shard in selected:
        problem = check_shard_content(resolve_inside(out, shard.path), shard, configs.get(shard.config))
        if problem:
            raise ChecksumMismatchError(f"{shard.path} from {where}: {problem}, although its SHA-256 matches the "
                                        "manifest (the manifest is wrong); report it to the dataset's maintainers")


def _obtain(store: Store, shard: ShardInfo, revision: str, out: Path) -> Fetched | None:
    """Keep the shard if OUT holds it intact (None), else fetch it verified."""
    dest = resolve_inside(out, shard.path)
    if dest.is_file() and dest.stat().st_size == shard.num_bytes and sha256_file(dest) == shard.sha256:
        return None
    return _fetch_verified(store, shard, revision, dest)


def _obtain_all(store: Store, selected: list[ShardInfo], revision: str, out: Path, workers: int,
                progress: Progress) -> list[Fetched | None]:
    """:func:`_obtain` every shard, ``workers`` at a time; results in the order of ``selected``."""
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(selected))),
                            thread_name_prefix="wmhub-download") as pool:
        futures = {pool.submit(_obtain, store, shard, revision, out): shard for shard in selected}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    future.result()  # raises the shard's error
                    size = futures[future].num_bytes
                    progress.update(size, size)
        except BaseException:
            for future in pending:
                future.cancel()  # not started: left for the next run; running ones finish first
            raise
        return [future.result() for future in futures]


def _fetch_verified(store: Store, shard: ShardInfo, revision: str, dest: Path) -> Fetched:
    """Fetch one shard, hashed as it is written; a mismatch is fetched once more from scratch, then named."""
    for force in (False, True):
        try:
            return store.fetch(shard.path, revision, dest, expected_sha256=shard.sha256,
                               expected_size=shard.num_bytes, force=force)
        except ChecksumMismatch as exc:
            mismatch = exc
    dest.unlink(missing_ok=True)  # whatever was there did not match the manifest either
    raise ChecksumMismatchError(f"{shard.path} from {store.describe()} is corrupt: SHA-256 {mismatch.actual[:12]}… "
                                f"after a second download, manifest says {shard.sha256[:12]}…; report it to the "
                                "dataset's maintainers") from mismatch
