"""One unit of work: roll out an episode range and write its shards.

A task (:class:`ShardTask`) writes one shard per config (``steps`` and
``episodes``) for episodes [start, end). It depends only on (environment,
config, start, end, format version), so tasks can run in any order, on any
worker, with any executor of :mod:`wmhub.jobs`, and give identical bytes.

A task is staged (:class:`~wmhub.jobs.overlap.StagedUnit`): :func:`roll_out` (the simulation)
and :func:`write_shards` (tables, parquet encoding, checksums, statistics) are separate steps, so
the local executor writes one task's shards on a writer thread while the worker rolls out the next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from wmhub.data.layout import EPISODES_CONFIG, STEPS_CONFIG, shard_path
from wmhub.data.manifest import FORMAT_VERSION, NULL_TERMINAL_FORMAT_VERSIONS, ShardInfo
from wmhub.data.schema import TERMINAL_MASK_COLUMN, arrow_schema, table_from_numpy, terminal_cells_problem
from wmhub.data.shard_io import read_parquet, shard_info, write_parquet_atomic
from wmhub.envs.base import EpisodeData, EpisodeRunner, RolloutSpec
from wmhub.envs.registry import get_spec
from wmhub.jobs.destination import worker_files
from wmhub.jobs.units import ProgressSink, UnitResult

_RUNNERS: dict[tuple[str, str], EpisodeRunner] = {}


def runner_for(spec: RolloutSpec, config_json: str) -> EpisodeRunner:
    """A cached runner per (env, config) so a worker builds its simulator once.

    Args:
        spec: the environment.
        config_json: its validated config, as JSON.

    Returns:
        The runner (the same object while the config stays the same in this process).

    Example:
        >>> runner = runner_for(get_spec("reacher"), '{"episode_length": 20}')  # doctest: +SKIP
    """
    key = (spec.name, config_json)
    if key not in _RUNNERS:
        _RUNNERS.clear()
        _RUNNERS[key] = spec.make_runner(spec.config_cls.model_validate_json(config_json))
    return _RUNNERS[key]


def episodes_to_tables(spec: RolloutSpec, episodes: list[EpisodeData],
                       format_version: int = FORMAT_VERSION) -> dict[str, pa.Table]:
    """Concatenate episodes into the ``steps`` and ``episodes`` tables.

    Args:
        spec: the environment (its features).
        episodes: rolled-out episodes, in order.
        format_version: the dataset format: the last row's ``terminal_null`` cells are zero-filled
            (2) or Arrow nulls (1).

    Returns:
        ``{"steps": table, "episodes": table}``.

    Example:
        >>> tables = episodes_to_tables(spec, [runner.run(0), runner.run(1)])  # doctest: +SKIP
    """
    steps = {f.name: np.concatenate([e.steps[f.name] for e in episodes]) for f in spec.step_features}
    terminal = steps[TERMINAL_MASK_COLUMN]
    per_episode = {f.name: np.asarray([e.episode[f.name] for e in episodes]) for f in spec.episode_features}
    return {
        STEPS_CONFIG: table_from_numpy(spec.step_features, steps, terminal_mask=terminal,
                                       terminal_nulls=format_version in NULL_TERMINAL_FORMAT_VERSIONS),
        EPISODES_CONFIG: table_from_numpy(spec.episode_features, per_episode),
    }


def features_of(spec: RolloutSpec, config: str):
    """The features of one of the spec's configs (``steps`` or ``episodes``).

    Example:
        >>> [f.name for f in features_of(get_spec("reacher"), "episodes")][:1]  # doctest: +SKIP
        ['episode_index']
    """
    return spec.step_features if config == STEPS_CONFIG else spec.episode_features


def check_existing(spec: RolloutSpec, root: Path, start: int, end: int,
                   recorded: dict[str, str] | None = None,
                   format_version: int = FORMAT_VERSION) -> list[ShardInfo] | str:
    """Describe the shards of [start, end) an interrupted run left, if they are what the job writes.

    Each shard must be a readable parquet file with its config's schema holding exactly the
    episodes [start, end); with ``recorded`` (the SHA-256 the job file holds for each shard it
    saw finished) its bytes must also be those recorded, so that a foreign but valid file under
    the shard's name is not kept.

    Args:
        spec: the environment (its features, for the schema and the statistics).
        root: a local directory holding the two shard files.
        start: first episode.
        end: one past the last episode.
        recorded: shard path -> SHA-256 of the shards the job recorded; None for a job file that
            records none (only the structure is checked then).
        format_version: the format the job writes (a steps shard of the other format is not kept).

    Returns:
        The ``steps`` and ``episodes`` entries, or why the pair must be generated again.

    Example:
        >>> infos = check_existing(get_spec("reacher"), Path("data/reacher"), 0, 4)  # doctest: +SKIP
    """
    infos = []
    for config in (STEPS_CONFIG, EPISODES_CONFIG):
        rel = shard_path(config, start, end)
        features = features_of(spec, config)
        try:
            table = read_parquet(root / rel)
        except (OSError, pa.ArrowException):
            return f"{rel} is not a readable parquet file"
        if not table.schema.equals(arrow_schema(features)):
            return f"{rel} does not have the {config} schema"
        episodes = np.asarray(table.column("episode_index").to_numpy(zero_copy_only=False)) \
            if "episode_index" in table.column_names else np.zeros(0)
        planned = np.arange(start, end)
        if episodes.size == 0 or not np.array_equal(np.unique(episodes), planned) or \
                np.any(np.diff(episodes) < 0) or (config == EPISODES_CONFIG and episodes.size != end - start):
            return f"{rel} does not hold exactly episodes [{start}, {end})"
        terminal = [f.name for f in features if f.terminal_null]
        problem = terminal_cells_problem(table, terminal, format_version in NULL_TERMINAL_FORMAT_VERSIONS)
        if problem:
            return f"{rel} {problem} (the job writes format {format_version})"
        info = shard_info(root, rel, config, start, end, table, features)
        if recorded is not None and recorded.get(rel) != info.sha256:
            return (f"{rel} is not the file this job wrote (SHA-256 differs from the one recorded)"
                    if rel in recorded else f"{rel} was not recorded as finished")
        infos.append(info)
    return infos


def run_shard_task(spec: RolloutSpec, config_json: str, root: Path, start: int, end: int,
                   on_episode: Callable[[int], None] | None = None,
                   format_version: int = FORMAT_VERSION) -> list[ShardInfo]:
    """Roll out episodes [start, end), write their shards atomically, describe them.

    :func:`roll_out` then :func:`write_shards`, on this thread.

    Args:
        spec: the environment.
        config_json: its validated config, as JSON.
        root: the local directory the shards are written to.
        start: first episode.
        end: one past the last episode.
        on_episode: called with each finished episode's number of steps.
        format_version: the dataset format to write (see :func:`episodes_to_tables`).

    Returns:
        The ``steps`` and ``episodes`` entries, in that order.

    Example:
        >>> infos = run_shard_task(get_spec("reacher"), config_json, Path("out"), 0, 4)  # doctest: +SKIP
    """
    episodes = roll_out(spec, config_json, start, end, on_episode)
    return write_shards(spec, episodes, root, start, end, format_version)


def roll_out(spec: RolloutSpec, config_json: str, start: int, end: int,
             on_episode: Callable[[int], None] | None = None) -> list[EpisodeData]:
    """Roll out episodes [start, end) with this process's runner (nothing is written).

    A runner with ``run_episodes(indices)`` (lockstep batches, e.g. Spot) gets the whole
    range at once; ``on_episode`` is then called per episode after the batch.

    Args:
        spec: the environment.
        config_json: its validated config, as JSON.
        start: first episode.
        end: one past the last episode.
        on_episode: called with each finished episode's number of steps.

    Returns:
        The episodes, in order.

    Example:
        >>> episodes = roll_out(get_spec("reacher"), config_json, 0, 4)  # doctest: +SKIP
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
    return episodes


def write_shards(spec: RolloutSpec, episodes: list[EpisodeData], root: Path, start: int, end: int,
                 format_version: int = FORMAT_VERSION) -> list[ShardInfo]:
    """Write the ``steps`` and ``episodes`` shards of episodes [start, end) atomically and describe them.

    Safe on another thread than the rollouts' (it reads ``episodes`` only).

    Args:
        spec: the environment (its features).
        episodes: the rolled-out episodes [start, end), in order.
        root: the local directory the shards are written to.
        start: first episode.
        end: one past the last episode.
        format_version: the dataset format to write (see :func:`episodes_to_tables`).

    Returns:
        The ``steps`` and ``episodes`` entries, in that order.

    Example:
        >>> infos = write_shards(get_spec("reacher"), episodes, Path("out"), 0, 4)  # doctest: +SKIP
    """
    tables = episodes_to_tables(spec, episodes, format_version)
    infos = []
    # episodes table first: a shard pair counts as complete when the steps file exists too
    for config in (EPISODES_CONFIG, STEPS_CONFIG):
        rel = shard_path(config, start, end)
        write_parquet_atomic(tables[config], root / rel)
        infos.append(shard_info(root, rel, config, start, end, tables[config], features_of(spec, config)))
    return infos[::-1]


@dataclass(frozen=True)
class ShardTask:
    """One picklable work unit: roll out episodes [start, end) of ``env`` and write their shards.

    Attributes:
        env: the environment's name.
        config_json: its validated config, as JSON.
        location: the dataset (an absolute local path or an fsspec URL).
        start: first episode.
        end: one past the last episode.
        storage_options: fsspec options for a remote ``location``.
        format_version: the dataset format the shards are written in.
    """

    env: str
    config_json: str
    location: str
    start: int
    end: int
    storage_options: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION

    @property
    def key(self) -> str:
        """``<start>-<end>``."""
        return f"{self.start}-{self.end}"

    @property
    def name(self) -> str:
        """``wmhub-<env>-<start>-<end>`` (zero-padded)."""
        return f"wmhub-{self.env}-{self.start:08d}-{self.end:08d}"

    def run(self, progress: ProgressSink) -> UnitResult:
        """Roll out the range on this worker and write its shards; returns their entries.

        A local dataset gets :func:`write_shards`'s atomic writes in place; a remote one gets the
        same files written to a worker-local scratch directory and uploaded (episodes shard first,
        steps shard last, each an atomic PUT), so the bytes are the same.
        """
        return self.stage(progress)()

    def stage(self, progress: ProgressSink) -> Callable[[], UnitResult]:
        """Roll out the range on this thread; returns the step that writes its shards (see :meth:`run`),
        which may run on another thread.

        Example:
            >>> result = task.stage(progress)()  # doctest: +SKIP
        """
        spec = get_spec(self.env)
        episodes = roll_out(spec, self.config_json, self.start, self.end,
                            on_episode=lambda steps: progress.update(1, steps))
        return lambda: self._write(spec, episodes)

    def _write(self, spec: RolloutSpec, episodes: list[EpisodeData]) -> UnitResult:
        with worker_files(self.location, self.storage_options, prefix="wmhub-shard-") as files:
            infos = write_shards(spec, episodes, files.root, self.start, self.end, self.format_version)
            for info in sorted(infos, key=lambda i: i.config != EPISODES_CONFIG):
                files.publish(info.path)
        count = self.end - self.start
        rows = sum(i.num_rows for i in infos if i.config == STEPS_CONFIG)
        return UnitResult(infos, count, rows - count)  # exact: T+1 rows per episode
