"""``wmhub export --format triples``: the seeds' flat (z_t, a_t, z_{t+1}) layout.

One row per transition. This duplicates every latent (z_{t+1} of one row is
z_t of the next), which is why the wmhub format does not store it; it exists
for scripts written against the flat layout. Output: one parquet file per
source shard under ``OUT/data/``, plus a README whose YAML lets
``datasets.load_dataset(OUT)`` read it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from wmhub.data.layout import CARD_NAME, STEPS_CONFIG
from wmhub.data.reader import WmDataset
from wmhub.data.schema import Feature, column_numpy, table_from_numpy
from wmhub.data.shard_io import read_parquet, write_parquet_atomic
from wmhub.errors import DatasetMismatchError
from wmhub.fileio import atomic_write_text
from wmhub.interop.source import staged_output
from wmhub.interop.types import ExportResult
from wmhub.progress import Progress

TRIPLES_FORMAT = "triples"


def _triples_features(latent_dim: int, action_dim: int) -> list[Feature]:
    return [
        Feature("episode_index", "int64"),
        Feature("step_index", "int32"),
        Feature("z_t", "float32", (latent_dim,)),
        Feature("a_t", "float32", (action_dim,)),
        Feature("z_t1", "float32", (latent_dim,)),
        Feature("reward", "float32"),
    ]


def export_triples(src: str | Path, out: str | Path, config: str = STEPS_CONFIG,
                   show_progress: bool = True) -> ExportResult:
    """Write the (z_t, a_t, z_t1) triples of dataset ``src`` to ``out``.

    Args:
        src: a local wmhub dataset directory.
        out: a new (or empty) directory.
        config: the config whose latent features form z (``steps``, or an ``embeddings-*`` config).
        show_progress: show a progress bar.

    Returns:
        The :class:`ExportResult` (``rows``: one per transition).

    Raises:
        AlreadyExistsError: ``out`` is not empty.
        DatasetMismatchError: ``config`` is not aligned with ``steps``.

    Example:
        >>> export_triples("data/reacher-100k", "out/triples").rows  # doctest: +SKIP
        100000
    """
    dataset = WmDataset(src)
    info = dataset.config_info(config)
    by_name = {f.name: f for f in dataset.features(config)}
    step_features = {f.name: f for f in dataset.features(STEPS_CONFIG)}
    total = 0
    latent_paths = dataset.shard_paths(config)
    step_paths = dataset.shard_paths(STEPS_CONFIG)
    if len(latent_paths) != len(step_paths):
        raise DatasetMismatchError(f"config {config!r} has {len(latent_paths)} shards but 'steps' has "
                                   f"{len(step_paths)}; they must be aligned (re-run the encode job)")
    bar = Progress(dataset.num_transitions, "transition", "transitions", "export triples", enabled=show_progress)
    try:
        with staged_output(out) as tmp:
            for latent_path, step_path in zip(latent_paths, step_paths):
                latent_table = read_parquet(latent_path)
                step_table = read_parquet(step_path, ["episode_index", "step_index", "action", "reward", "is_last"])
                if latent_table.num_rows != step_table.num_rows:
                    raise DatasetMismatchError(f"{latent_path.name} of config {config!r} has {latent_table.num_rows} "
                                               f"rows but its 'steps' shard {step_table.num_rows}; they must be "
                                               "aligned (re-run the encode job)")
                z = np.concatenate([column_numpy(latent_table, by_name[n]).reshape(latent_table.num_rows, -1)
                                    for n in info.latent_features], axis=1).astype(np.float32)
                has_next = ~column_numpy(step_table, step_features["is_last"]).astype(bool)
                rows = np.flatnonzero(has_next)
                columns = {
                    "episode_index": column_numpy(step_table, step_features["episode_index"])[rows],
                    "step_index": column_numpy(step_table, step_features["step_index"])[rows],
                    "z_t": z[rows], "z_t1": z[rows + 1],
                    "a_t": column_numpy(step_table, step_features["action"])[rows],
                    "reward": column_numpy(step_table, step_features["reward"])[rows],
                }
                features = _triples_features(z.shape[1], columns["a_t"].shape[1])
                write_parquet_atomic(table_from_numpy(features, columns), tmp / "data" / latent_path.name)
                total += len(rows)
                bar.update(len(rows), len(rows))
            header = yaml.safe_dump({"configs": [{"config_name": "default", "data_files": [
                {"split": "train", "path": "data/*.parquet"}]}]}, sort_keys=False)
            atomic_write_text(tmp / CARD_NAME, f"---\n{header}---\n\n# Transitions (z_t, a_t, z_t1) exported "
                                               f"from a wmhub dataset\n\n{total} rows; latents from config "
                                               f"`{config}` (`{' + '.join(info.latent_features)}`).\n")
    finally:
        bar.close()
    return ExportResult(format=TRIPLES_FORMAT, path=str(out), episodes=dataset.num_episodes, rows=total)
