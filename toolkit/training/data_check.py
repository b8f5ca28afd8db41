"""What training checks of its local data before it starts: every shard it reads is the one the manifest lists.

``wmhub verify`` hashes every byte; training cannot afford that on every start of a large
dataset, and does not need to after the first. So, before a run reads a shard:

* always: the shard exists, its size is the manifest's ``num_bytes`` and a parquet shard's row
  count (its footer) is the manifest's ``num_rows``: a truncated, missing
  or swapped shard is refused, at the cost of one ``stat`` and one footer read per shard;
* once per dataset state: the SHA-256 of every shard read is compared with the manifest's. A
  shard whose (path, size, modification time, manifest digest) was hashed before is not hashed
  again: the states already checked are kept in ``<wmhub cache root>/verified/<digest of the dataset
  path>.json`` (outside the dataset directory, which stays byte for byte what was published;
  with ``WMHUB_CACHE=off`` nothing is kept and every start hashes).

A failed check is a :class:`~wmhub.errors.ChecksumMismatchError` naming the shard and what differs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from wmhub.data.manifest import ShardInfo
from wmhub.data.reader import WmDataset
from wmhub.errors import ChecksumMismatchError, WmhubError
from wmhub.fileio import atomic_write_text, dumps_json, resolve_inside, sha256_file
from wmhub.storage.cache import cache_enabled, cache_root


def _cheap_problem(path: Path, shard: ShardInfo) -> str | None:
    if not path.is_file():
        return "missing (listed in manifest.json)"
    size = path.stat().st_size
    if size != shard.num_bytes:
        return f"size {size} bytes, manifest says {shard.num_bytes} (truncated or replaced)"
    if path.suffix == ".parquet":
        try:
            rows = pq.read_metadata(path).num_rows
        except Exception as exc:  # noqa: BLE001 - any parquet error is a bad shard
            return f"unreadable parquet ({type(exc).__name__})"
        if rows != shard.num_rows:
            return f"{rows} rows, manifest says {shard.num_rows} (replaced)"
    return None


def _state_file(root: Path) -> Path:
    key = hashlib.sha256(str(root.resolve()).encode("utf-8")).hexdigest()[:32]
    return cache_root() / "verified" / f"{key}.json"


def _read_states(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def check_training_shards(dataset: WmDataset, configs: list[str], shards: list[int], *,
                          hashes: bool = True) -> None:
    """Refuse shards that are not the manifest's (see the module docstring).

    Args:
        dataset: the local dataset a run reads.
        configs: the configs read (e.g. ``steps`` and the latent's config).
        shards: positions of the shards read, in every config (configs are aligned shard for shard).
        hashes: also compare SHA-256 digests, once per dataset state.

    Raises:
        ChecksumMismatchError: a shard is missing, truncated, replaced or corrupted; the message names
            it and says to run ``wmhub verify``.

    Example:
        >>> check_training_shards(WmDataset("data/tiny-reacher"), ["steps"], [0, 1])  # doctest: +SKIP
    """
    root = Path(dataset.root)
    chosen: list[tuple[Path, ShardInfo]] = []
    for config in configs:
        infos = dataset.manifest.shards_of(config)
        for k in shards:
            if k >= len(infos):
                continue
            shard = infos[k]
            try:
                path = resolve_inside(root, shard.path)
            except WmhubError:
                raise ChecksumMismatchError(f"{root}/manifest.json lists {shard.path!r}, outside the dataset "
                                            f"directory; run `wmhub verify {root}`") from None
            problem = _cheap_problem(path, shard)
            if problem:
                raise ChecksumMismatchError(f"{root}/{shard.path}: {problem}; run `wmhub verify {root}`, then "
                                            "re-download or regenerate the dataset")
            chosen.append((path, shard))
    if not hashes:
        return
    state_file = _state_file(root)
    known = _read_states(state_file) if cache_enabled() else {}
    read = {shard.path for _, shard in chosen}
    fresh = {key: value for key, value in known.items() if key.split("|", 1)[0] not in read}  # other shards' states
    for path, shard in chosen:
        stat = path.stat()
        key = f"{shard.path}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
        if known.get(key) != shard.sha256:
            digest = sha256_file(path)
            if digest != shard.sha256:
                raise ChecksumMismatchError(f"{root}/{shard.path}: SHA-256 {digest[:12]}… does not match the "
                                            f"manifest's {shard.sha256[:12]}… (corrupted); run `wmhub verify "
                                            f"{root}`, then re-download or regenerate the dataset")
        fresh[key] = shard.sha256
    if fresh != known and cache_enabled():
        try:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(state_file, dumps_json(fresh))
        except OSError:
            pass  # a read-only cache only costs a second hashing next time
