"""One unit of work: roll out an episode range and write its shards.

A task writes one shard per config (``steps`` and ``episodes``) for episodes
[start, end). It depends only on (environment, config, start, end), so tasks
can run in any order, on any worker, and give identical bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from wmhub.data.layout import EPISODES_CONFIG, STEPS_CONFIG, shard_path
from wmhub.data.manifest import ShardInfo
from wmhub.data.schema import table_from_numpy
from wmhub.data.shard_io import read_parquet, shard_info, write_parquet_atomic
from wmhub.envs.base import EpisodeData, EpisodeRunner, RolloutSpec

_RUNNERS: dict[tuple[str, str], EpisodeRunner] = {}


def runner_for(spec: RolloutSpec, config_json: str) -> EpisodeRunner:
    """A cached runner per (env, config) so a worker builds its simulator once."""
    key = (spec.name, config_json)
    if key not in _RUNNERS:
        _RUNNERS.clear()
        _RUNNERS[key] = spec.make_runner(spec.config_cls.model_validate_json(config_json))
    return _RUNNERS[key]


def episodes_to_tables(spec: RolloutSpec, episodes: list[EpisodeData]) -> dict[str, pa.Table]:
    """Concatenate episodes into the ``steps`` and ``episodes`` tables."""
    steps = {f.name: np.concatenate([e.steps[f.name] for e in episodes]) for f in spec.step_features}
    terminal = steps["is_last"]
    per_episode = {f.name: np.asarray([e.episode[f.name] for e in episodes]) for f in spec.episode_features}
    return {
        STEPS_CONFIG: table_from_numpy(spec.step_features, steps, terminal_mask=terminal),
        EPISODES_CONFIG: table_from_numpy(spec.episode_features, per_episode),
    }


def features_of(spec: RolloutSpec, config: str):
    """The features of one of the spec's configs."""
    return spec.step_features if config == STEPS_CONFIG else spec.episode_features


def shard_complete(root: Path, start: int, end: int) -> bool:
    """True if every config's shard for [start, end) exists under its final name."""
    return all((root / shard_path(c, start, end)).is_file() for c in (STEPS_CONFIG, EPISODES_CONFIG))


def describe_existing(spec: RolloutSpec, root: Path, start: int, end: int) -> list[ShardInfo]:
    """Manifest entries for shards a previous (interrupted) run completed."""
    infos = []
    for config in (STEPS_CONFIG, EPISODES_CONFIG):
        rel = shard_path(config, start, end)
        infos.append(shard_info(root, rel, config, start, end, read_parquet(root / rel), features_of(spec, config)))
    return infos


def run_shard_task(spec: RolloutSpec, config_json: str, root: Path, start: int, end: int,
                   on_episode: Callable[[int], None] | None = None) -> list[ShardInfo]:
    """Roll out episodes [start, end), write their shards atomically, describe them.

    A runner with ``run_episodes(indices)`` (lockstep batches, e.g. Spot) gets the whole
    range at once; ``on_episode`` is then called per episode after the batch.
    """
    runner = runner_for(spec, config_json)
    episodes = []
    run_batch = getattr(runner, "run_episodes", None)
    if run_batch is not None:  # lockstep runners: the whole range in one batch, progress after it
        episodes = run_batch(list(range(start, end)))
        for episode in episodes:
            if on_episode is not None:
                on_episode(episode.num_steps)
    else:
        for index in range(start, end):
            episode = runner.run(index)
            episodes.append(episode)
            if on_episode is not None:
                on_episode(episode.num_steps)
    tables = episodes_to_tables(spec, episodes)
    infos = []
    # episodes table first: a shard pair counts as complete when the steps file exists too
    for config in (EPISODES_CONFIG, STEPS_CONFIG):
        rel = shard_path(config, start, end)
        write_parquet_atomic(tables[config], root / rel)
        infos.append(shard_info(root, rel, config, start, end, tables[config], features_of(spec, config)))
    return infos[::-1]
