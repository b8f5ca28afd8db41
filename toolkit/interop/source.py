"""Reading a wmhub dataset episode by episode for the exporters, and where an export is staged.

Every exporter (:mod:`wmhub.interop.lerobot`, :mod:`wmhub.interop.minari`) sees the same
:class:`ExportEpisode`: the T+1 observations of each observation feature, the T actions and
rewards (the final row's action and reward are dropped whether the dataset stores them as null or
zero-filled: ``is_last`` marks the row), each embedding config's T+1 vectors, the stored frames
when asked for, and the episode's row of the ``episodes`` table (seed, return, success, ...).
Episodes come shard by shard, so memory holds one shard of each config.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wmhub.data.layout import EMBEDDINGS_PREFIX, EPISODES_CONFIG, FRAMES_PREFIX, STEPS_CONFIG, TMP_MARKER
from wmhub.data.reader import WmDataset
from wmhub.data.schema import column_numpy
from wmhub.data.shard_io import read_parquet
from wmhub.errors import AlreadyExistsError, ConfigError, DatasetMismatchError, NotFoundError


@dataclass(frozen=True)
class ObservationLayout:
    """Which ``steps`` features an environment observes.

    Attributes:
        state: features concatenated, in order, into one state vector (LeRobot's ``observation.state``).
        extra: further observation features, each kept as its own vector (Spot's ``privileged_state``).
    """

    state: tuple[str, ...]
    extra: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every observation feature, state first."""
        return self.state + self.extra


#: the observation of each environment: what its policies read (reacher's dm_control observation;
#: Spot's policy ``state``, with the critic's ``privileged_state`` beside it)
OBSERVATIONS: dict[str, ObservationLayout] = {
    "reacher": ObservationLayout(("position", "to_target", "velocity")),
    "spot": ObservationLayout(("state",), ("privileged_state",)),
}


def control_timestep(env: str) -> float:
    """The seconds between two actions of environment ``env``, asked of the environment itself.

    Args:
        env: the dataset's environment (the manifest's ``generator.env``).

    Returns:
        The control timestep in seconds (0.02 for reacher and Spot).

    Raises:
        ConfigError: an environment wmhub does not know.

    Example:
        >>> control_timestep("spot")
        0.02
    """
    if env == "spot":
        from wmhub.envs.spot_model import CTRL_DT

        return float(CTRL_DT)
    if env == "reacher":
        from wmhub.envs.reacher import make_env

        return float(make_env().control_timestep())
    raise ConfigError(f"no control timestep known for environment {env!r}; export a reacher or spot dataset")


@dataclass
class ExportEpisode:
    """One episode as the exporters read it.

    Attributes:
        index: the episode index.
        observations: feature -> ``[T+1, n]`` (row t is the observation before action t).
        actions: ``[T, A]`` float32.
        rewards: ``[T]`` float32.
        terminated: the episode ended in a terminal state (Spot's fall), not a time limit.
        metadata: the episode's row of the ``episodes`` table (``seed``, ``return``, ``success``, ...).
        embeddings: embedding config name (without ``embeddings-``) -> ``[T+1, E]`` float32.
        frames: ``uint8 [T+1, S, S, 3]`` when a frames config was asked for, else None.
    """

    index: int
    observations: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    metadata: dict[str, object]
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    frames: np.ndarray | None = None

    @property
    def num_steps(self) -> int:
        """T, the number of actions."""
        return len(self.actions)


def _python(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


class ExportSource:
    """A local wmhub dataset read for export.

    Args:
        root: the dataset directory.
        embeddings: embedding configs to include (names with or without ``embeddings-``); None: all.
        frames: a ``frames-S`` config to include, or None.

    Raises:
        NotFoundError: no manifest, or a named config is missing.
        ConfigError: an environment without a known observation layout.

    Example:
        >>> source = ExportSource("data/reacher-tiny")  # doctest: +SKIP
        >>> next(source.iter_episodes()).actions.shape  # doctest: +SKIP
        (200, 2)
    """

    def __init__(self, root: str | Path, embeddings: list[str] | None = None, frames: str | None = None) -> None:
        self.root = Path(root)
        self.dataset = WmDataset(self.root)
        self.manifest = self.dataset.manifest
        self.env = self.manifest.generator.env
        if self.env not in OBSERVATIONS:
            raise ConfigError(f"no observation layout known for environment {self.env!r}; "
                              f"export a dataset of {', '.join(sorted(OBSERVATIONS))}")
        self.layout = OBSERVATIONS[self.env]
        names = [c.name for c in self.manifest.configs]
        available = [n for n in names if n.startswith(EMBEDDINGS_PREFIX)]
        if embeddings is None:
            self.embedding_configs = available
        else:
            self.embedding_configs = [n if n.startswith(EMBEDDINGS_PREFIX) else EMBEDDINGS_PREFIX + n
                                      for n in embeddings]
            missing = [n for n in self.embedding_configs if n not in available]
            if missing:
                raise NotFoundError(f"{self.root} has no embedding config(s) {missing}; it has {available or 'none'} "
                                    "(add one with `wmhub encode`)")
        if frames is not None:
            frames = frames if frames.startswith(FRAMES_PREFIX) else FRAMES_PREFIX + frames
            if frames not in names:
                have = [n for n in names if n.startswith(FRAMES_PREFIX)]
                raise NotFoundError(f"{self.root} has no frames config {frames!r}; it has {have or 'none'} "
                                    "(store frames with `wmhub encode DIR --save-frames`)")
        self.frames_config = frames
        self.step_features = {f.name: f for f in self.dataset.features(STEPS_CONFIG)}
        self.episode_features = {f.name: f for f in self.dataset.features(EPISODES_CONFIG)}
        missing = [n for n in (*self.layout.names, "action", "reward", "is_last", "episode_index")
                   if n not in self.step_features]
        if missing:
            raise DatasetMismatchError(f"the steps config of {self.root} lacks {missing}; regenerate the dataset")

    # ------------------------------------------------------------ metadata
    @property
    def num_episodes(self) -> int:
        """Episodes present (all of them, or a partial download's selection)."""
        return sum(s.episode_end - s.episode_start for s in self.manifest.shards_of(STEPS_CONFIG))

    @property
    def num_transitions(self) -> int:
        """Actions present (T summed over the episodes present)."""
        return self.manifest.num_rows(STEPS_CONFIG) - self.num_episodes

    @property
    def num_shards(self) -> int:
        """Shards of the ``steps`` config (episodes come shard by shard)."""
        return len(self.manifest.shards_of(STEPS_CONFIG))

    def observation_shape(self, name: str) -> int:
        """The length of observation feature ``name``."""
        shape = self.step_features[name].shape
        return int(shape[0]) if shape else 1

    @property
    def action_dim(self) -> int:
        """The length of an action."""
        return self.observation_shape("action")

    def embedding_dim(self, config: str) -> int:
        """The length of the latent of embedding config ``config`` (its latent features concatenated)."""
        info = self.dataset.config_info(config)
        by_name = {f.name: f for f in self.dataset.features(config)}
        return sum(int(by_name[n].shape[0]) if by_name[n].shape else 1 for n in info.latent_features)

    def frame_size(self) -> int | None:
        """S of the frames config, or None without one."""
        return int(self.frames_config.removeprefix(FRAMES_PREFIX)) if self.frames_config else None

    def observation_description(self, name: str) -> str:
        """The manifest's description of a steps feature."""
        return self.step_features[name].description

    # ---------------------------------------------------------------- data
    def iter_shards(self) -> Iterator[list[ExportEpisode]]:
        """Yield the episodes of each shard, in episode order."""
        step_paths = self.dataset.shard_paths(STEPS_CONFIG)
        episode_paths = self.dataset.shard_paths(EPISODES_CONFIG)
        embedding_paths = {c: self.dataset.shard_paths(c) for c in self.embedding_configs}
        frame_paths = self.dataset.shard_paths(self.frames_config) if self.frames_config else None
        for paths in (*embedding_paths.values(), episode_paths, *([frame_paths] if frame_paths else [])):
            if len(paths) != len(step_paths):
                raise DatasetMismatchError(f"the configs of {self.root} are not aligned ({len(paths)} vs "
                                           f"{len(step_paths)} shards); run `wmhub verify {self.root}`")
        for k, step_path in enumerate(step_paths):
            yield self._read_shard(step_path, episode_paths[k], {c: p[k] for c, p in embedding_paths.items()},
                                   frame_paths[k] if frame_paths else None)

    def iter_episodes(self) -> Iterator[ExportEpisode]:
        """Yield every episode, in order."""
        for shard in self.iter_shards():
            yield from shard

    def _read_shard(self, step_path: Path, episode_path: Path, embedding_paths: dict[str, Path],
                    frame_path: Path | None) -> list[ExportEpisode]:
        columns = [*self.layout.names, "action", "reward", "is_last", "episode_index"]
        if "is_terminal" in self.step_features:
            columns.append("is_terminal")
        table = read_parquet(step_path, columns)
        steps = {n: column_numpy(table, self.step_features[n]) for n in columns}
        episode_table = read_parquet(episode_path)
        episode_rows = {n: column_numpy(episode_table, f) for n, f in self.episode_features.items()}
        by_episode = {int(e): i for i, e in enumerate(episode_rows["episode_index"])}
        embeddings: dict[str, np.ndarray] = {}
        for config, path in embedding_paths.items():
            info = self.dataset.config_info(config)
            features = {f.name: f for f in self.dataset.features(config)}
            latent = read_parquet(path, list(info.latent_features))
            embeddings[config] = np.concatenate(
                [column_numpy(latent, features[n]).reshape(latent.num_rows, -1) for n in info.latent_features],
                axis=1).astype(np.float32)
            if len(embeddings[config]) != table.num_rows:
                raise DatasetMismatchError(f"shard {path} of {config!r} has {len(embeddings[config])} rows but "
                                           f"steps has {table.num_rows}; run `wmhub verify {self.root}`")
        frames: dict[int, np.ndarray] = {}
        if frame_path is not None:
            from wmhub.data.frame_shards import iter_frame_episodes

            frames = dict(iter_frame_episodes(frame_path))
        index = steps["episode_index"]
        bounds = np.flatnonzero(np.diff(index)) + 1
        out = []
        for rows in np.split(np.arange(len(index)), bounds):
            if not len(rows):
                continue
            start, stop = int(rows[0]), int(rows[-1]) + 1
            episode = int(index[start])
            is_last = steps["is_last"][start:stop].astype(bool)
            if not is_last[-1] or is_last[:-1].any():
                raise DatasetMismatchError(f"episode {episode} of {step_path} does not end with its one `is_last` "
                                           f"row; run `wmhub verify {self.root}`")
            if episode not in by_episode:
                raise DatasetMismatchError(f"episode {episode} is in {step_path} but not in {episode_path}")
            row = by_episode[episode]
            acted = slice(start, stop - 1)
            ep_frames = frames.get(episode) if frame_path is not None else None
            if frame_path is not None and (ep_frames is None or len(ep_frames) != stop - start):
                raise DatasetMismatchError(f"frames of episode {episode} in {frame_path} do not match its "
                                           f"{stop - start} steps rows; run `wmhub verify {self.root}`")
            out.append(ExportEpisode(
                index=episode,
                observations={n: steps[n][start:stop].reshape(stop - start, -1) for n in self.layout.names},
                actions=steps["action"][acted].astype(np.float32),
                rewards=steps["reward"][acted].astype(np.float32),
                terminated=bool(steps["is_terminal"][stop - 1]) if "is_terminal" in steps else False,
                metadata={n: _python(v[row]) for n, v in episode_rows.items() if n != "episode_index"},
                embeddings={c.removeprefix(EMBEDDINGS_PREFIX): e[start:stop] for c, e in embeddings.items()},
                frames=ep_frames))
        return out


@contextmanager
def staged_output(out: str | Path) -> Iterator[Path]:
    """A temporary sibling of ``out`` to write an export into, renamed to ``out`` when the block succeeds.

    On an error the temporary directory is deleted and ``out`` is untouched, so a failed export
    never leaves half-written files.

    Args:
        out: the export's directory; it must not exist, or be empty.

    Yields:
        The temporary directory.

    Raises:
        AlreadyExistsError: ``out`` exists and is not empty.

    Example:
        >>> with staged_output("out/lerobot") as tmp:  # doctest: +SKIP
        ...     (tmp / "meta").mkdir()
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AlreadyExistsError(f"export OUT {out} is not an empty directory; choose a new directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}{TMP_MARKER}export-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        if out.exists():
            out.rmdir()  # empty when the export began; fails if something was written there meanwhile
        tmp.replace(out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise AlreadyExistsError(f"export OUT {out} was filled by something else during the export ({err}); "
                                 "choose a new directory") from err
