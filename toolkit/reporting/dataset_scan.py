"""What a dataset report shows, measured from the data: feature histograms, actions, episodes.

The manifest keeps exact mergeable statistics per feature (count, sum, sum of squares, min, max;
:mod:`wmhub.data.stats`) but no histograms. The histograms are therefore counted here in one
streaming pass over the ``steps`` shards (one shard in memory at a time), with bin edges fixed
beforehand from the manifest's exact minima and maxima, so every shard is binned the same way and
the pass is never repeated. Means and standard deviations shown beside them are the manifest's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from wmhub.data.layout import STEPS_CONFIG
from wmhub.data.reader import WmDataset
from wmhub.data.schema import column_numpy
from wmhub.data.shard_io import read_parquet
from wmhub.data.summary import episode_table

BINS = 40
HISTOGRAM_MAX_DIMS = 4  # wider vectors get one per-dimension range plot from the manifest's exact statistics
SKIPPED_FEATURES = ("episode_index", "step_index")


@dataclass
class FeatureHistogram:
    """Histograms of one numeric feature of the ``steps`` config (one per dimension).

    Attributes:
        name: the feature.
        description: its manifest description.
        edges: ``[dims, bins + 1]`` edges, from the manifest's exact min and max.
        counts: ``[dims, bins]`` counts over every non-missing row.
        mean: exact per-dimension means (manifest).
        std: exact per-dimension standard deviations (manifest).
        minimum: exact per-dimension minima (manifest).
        maximum: exact per-dimension maxima (manifest).
        count: rows counted.
    """

    name: str
    description: str
    edges: np.ndarray
    counts: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    count: int

    @property
    def dims(self) -> int:
        return len(self.mean)

    @property
    def histogrammed(self) -> bool:
        """Whether per-dimension histograms were counted (narrow features only)."""
        return self.dims <= HISTOGRAM_MAX_DIMS


@dataclass
class ActionScan:
    """The actions of the ``steps`` config split by the ε branch.

    Attributes:
        edges: ``[dims, bins + 1]`` bin edges per action dimension.
        policy_counts: ``[dims, bins]`` counts of the policy's actions.
        random_counts: ``[dims, bins]`` counts of the ε-random actions.
        random_share: the share of actions drawn uniformly (``is_random_action``), or None without the column.
        actions: actions counted.
    """

    edges: np.ndarray
    policy_counts: np.ndarray
    random_counts: np.ndarray
    random_share: float | None
    actions: int


@dataclass
class EpisodeScan:
    """The ``episodes`` config: one value per episode.

    Attributes:
        lengths: actions per episode.
        returns: sum of rewards per episode.
        flags: each boolean column (``success``, ``ever_reached``, ``fell`` ...) -> its values.
        numbers: each other numeric column (``forward_speed`` ...) -> its values.
    """

    lengths: np.ndarray
    returns: np.ndarray
    flags: dict[str, np.ndarray] = field(default_factory=dict)
    numbers: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class StepScan:
    """What the streaming pass over the ``steps`` shards measured."""

    features: list[FeatureHistogram]
    actions: ActionScan | None


def _edges(low: np.ndarray, high: np.ndarray, bins: int = BINS) -> np.ndarray:
    """``[dims, bins + 1]`` edges spanning [low, high] per dimension (a constant gets a unit-wide bin)."""
    lo = np.asarray(low, np.float64)
    hi = np.asarray(high, np.float64)
    hi = np.where(hi > lo, hi, lo + 1.0)
    return np.linspace(lo, hi, bins + 1, axis=1)


def _count(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``[dims, bins]`` counts of ``values`` ``[rows, dims]`` (rows with a NaN skipped), per-dimension edges."""
    values = values[~np.isnan(values).any(axis=1)]
    return np.stack([np.histogram(values[:, d], bins=edges[d])[0] for d in range(values.shape[1])])


def _shard_tables(dataset: WmDataset, columns: list[str]) -> Iterator:
    for path in dataset.shard_paths(STEPS_CONFIG):
        yield read_parquet(path, columns)


def scan_steps(dataset: WmDataset, progress=None) -> StepScan:
    """Histograms of every numeric ``steps`` feature and of the actions, in one pass over the shards.

    Args:
        dataset: the dataset.
        progress: a :class:`wmhub.progress.Progress` advanced by one per shard, or None.

    Returns:
        The :class:`StepScan`.
    """
    stats = dataset.manifest.stats(STEPS_CONFIG)
    infos = {f.name: f for f in dataset.features(STEPS_CONFIG)}
    names = [n for n in stats if n not in SKIPPED_FEATURES and n in infos]
    edges = {n: _edges(stats[n].min, stats[n].max) for n in names if len(stats[n].sum) <= HISTOGRAM_MAX_DIMS}
    counts = {n: np.zeros((e.shape[0], BINS), np.int64) for n, e in edges.items()}
    has_action = "action" in infos and "action" in stats
    has_random = "is_random_action" in infos
    if has_action:
        action_edges = _edges(np.full(len(stats["action"].min), min(-1.0, *stats["action"].min)),
                              np.full(len(stats["action"].max), max(1.0, *stats["action"].max)))
        policy = np.zeros((action_edges.shape[0], BINS), np.int64)
        random = np.zeros_like(policy)
    random_count = actions = 0
    has_last = "is_last" in infos
    wanted = {"action": has_action, "is_random_action": has_random, "is_last": has_last}
    columns = sorted(set(edges) | {name for name, needed in wanted.items() if needed})
    for table in _shard_tables(dataset, columns):
        # terminal_null cells (each episode's last row) hold no value: null (format 1) or zero (format 2)
        last = (column_numpy(table, infos["is_last"]).astype(bool) if has_last
                else np.zeros(table.num_rows, bool))
        for name, e in edges.items():
            values = column_numpy(table, infos[name]).astype(np.float64).reshape(table.num_rows, -1)
            counts[name] += _count(values[~last] if infos[name].terminal_null else values, e)
        if has_action:
            acts = column_numpy(table, infos["action"]).astype(np.float64).reshape(table.num_rows, -1)
            present = ~last & ~np.isnan(acts).any(axis=1)
            is_random = np.zeros(table.num_rows, bool)
            if has_random:
                is_random = column_numpy(table, infos["is_random_action"]).astype(bool)
            policy += _count(acts[present & ~is_random], action_edges)
            random += _count(acts[present & is_random], action_edges)
            random_count += int((present & is_random).sum())
            actions += int(present.sum())
        if progress is not None:
            progress.update(1, table.num_rows)
    features = []
    for name in names:
        s = stats[name]
        e = edges.get(name)
        features.append(FeatureHistogram(
            name=name, description=infos[name].description,
            edges=e if e is not None else np.zeros((0, BINS + 1)),
            counts=counts[name] if name in counts else np.zeros((0, BINS), np.int64),
            mean=s.mean, std=s.std, minimum=np.asarray(s.min), maximum=np.asarray(s.max), count=s.count))
    action_scan = None
    if has_action:
        action_scan = ActionScan(edges=action_edges, policy_counts=policy, random_counts=random,
                                 random_share=(random_count / actions if has_random and actions else None),
                                 actions=actions)
    return StepScan(features=features, actions=action_scan)


def scan_episodes(dataset: WmDataset) -> EpisodeScan:
    """The per-episode columns of the ``episodes`` config (small: one row per episode).

    Args:
        dataset: the dataset.

    Returns:
        The :class:`EpisodeScan`.
    """
    table = episode_table(dataset.root, dataset.manifest)
    scan = EpisodeScan(lengths=table.column("length").to_numpy().astype(np.int64),
                       returns=table.column("return").to_numpy().astype(np.float64))
    for name in table.column_names:
        if name in ("episode_index", "seed", "length", "return"):
            continue
        column = table.column(name)
        values = column.to_numpy(zero_copy_only=False)
        if values.dtype == bool:
            scan.flags[name] = values
        elif np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer):
            scan.numbers[name] = values.astype(np.float64)
    return scan
