"""Writing and reading shard files, and describing them for the manifest."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wmhub.data.manifest import ShardInfo
from wmhub.data.schema import Feature, column_numpy, valued_rows
from wmhub.data.stats import FeatureStats
from wmhub.fileio import fsync_dir, sha256_file, tmp_name

PARQUET_OPTIONS = dict(compression="zstd", compression_level=3, row_group_size=100_000,
                       write_statistics=True, use_dictionary=False)


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` as parquet: temp name, fsync, rename.

    The writer stores no timestamps or host names, so equal tables give equal
    bytes (for a given pyarrow version).

    Args:
        table: the shard's rows.
        path: its final path (parents are created).

    Example:
        >>> write_parquet_atomic(table, Path("data/steps/episodes-00000000-00000004.parquet"))  # doctest: +SKIP
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    with open(tmp, "wb") as handle:
        pq.write_table(table, handle, **PARQUET_OPTIONS)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read a shard (memory-mapped).

    Args:
        path: the parquet file.
        columns: only these columns (default: all).

    Returns:
        The table.

    Example:
        >>> read_parquet(Path("data/steps/episodes-00000000-00000004.parquet")).num_rows  # doctest: +SKIP
        124
    """
    return pq.read_table(path, columns=columns, memory_map=True)


def shard_info(root: Path, rel_path: str, config: str, episode_start: int, episode_end: int,
               table: pa.Table, features: list[Feature]) -> ShardInfo:
    """Describe a written shard: checksum, size, rows and mergeable statistics.

    Args:
        root: the dataset directory.
        rel_path: the shard's path inside it.
        config: the config it belongs to.
        episode_start: its first episode.
        episode_end: one past its last episode.
        table: its rows (for the statistics).
        features: the config's features (those with ``stats`` get statistics).

    Returns:
        The shard's manifest entry.

    Example:
        >>> info = shard_info(root, rel, "steps", 0, 4, table, spec.step_features)  # doctest: +SKIP
    """
    full = root / rel_path
    return ShardInfo(config=config, path=rel_path, sha256=sha256_file(full), num_bytes=full.stat().st_size,
                     num_rows=table.num_rows, episode_start=episode_start, episode_end=episode_end,
                     stats=feature_stats(table, features))


def feature_stats(table: pa.Table, features: list[Feature]) -> dict[str, FeatureStats]:
    """The mergeable statistics of a shard's features that keep them (``stats``).

    A ``terminal_null`` feature counts the rows of real transitions only: each episode's last row
    (``is_last``), zero-filled in format 2 and null in format 1, is left out, so both formats
    record the same statistics.

    Args:
        table: the shard's rows.
        features: the config's features.

    Returns:
        Feature name -> statistics.

    Example:
        >>> feature_stats(table, spec.step_features)["action"].count  # doctest: +SKIP
        120
    """
    kept = [f for f in features if f.stats]
    acting = valued_rows(table) if any(f.terminal_null for f in kept) else None
    return {f.name: FeatureStats.from_array(column_numpy(table, f)[acting] if f.terminal_null else
                                            column_numpy(table, f))
            for f in kept}
