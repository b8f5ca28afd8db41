"""Reading wmhub datasets: episodes, whole configs as tensors, H-step windows.

>>> ds = open_dataset("reacher-100k")
>>> ds.num_episodes, ds.num_transitions
>>> for ep in ds.iter_episodes(): ...        # dict of numpy arrays, T+1 rows
>>> data = ds.load_tensors()                 # whole config as torch tensors
>>> windows = ds.windows(horizon=5)          # torch Dataset of 5-step windows
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from wmhub.data.layout import STEPS_CONFIG
from wmhub.data.manifest import ConfigInfo, Manifest
from wmhub.data.schema import Feature, column_numpy
from wmhub.data.shard_io import read_parquet
from wmhub.data.tensors import TensorData, episode_starts
from wmhub.data.windows import WindowDataset
from wmhub.errors import ConfigError, NotFoundError, UnsupportedFormatError
from wmhub.fileio import resolve_inside

__all__ = ["TensorData", "WmDataset", "episode_starts", "open_dataset"]


def _writable(array: np.ndarray) -> np.ndarray:
    """torch needs writable memory; Arrow's memory-mapped buffers are read-only."""
    return array if array.flags.writeable and array.flags.c_contiguous else np.array(array, copy=True)


def _feature(info) -> Feature:
    return Feature(info.name, info.dtype, tuple(info.shape), info.description, info.terminal_null)


class WmDataset:
    """A local wmhub dataset directory (use :func:`open_dataset`)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.manifest = Manifest.read(self.root)

    # ------------------------------------------------------------ metadata
    @property
    def num_episodes(self) -> int:
        return self.manifest.num_episodes

    @property
    def num_transitions(self) -> int:
        return self.manifest.num_rows(STEPS_CONFIG) - self.manifest.num_episodes

    def config_info(self, config: str = STEPS_CONFIG) -> ConfigInfo:
        return self.manifest.config(config)

    def features(self, config: str = STEPS_CONFIG) -> list[Feature]:
        return [_feature(f) for f in self.config_info(config).features]

    def shard_paths(self, config: str = STEPS_CONFIG, shards: list[int] | None = None) -> list[Path]:
        """Absolute paths of a config's shards, in episode order (checked to stay inside the root).

        ``shards`` picks some by position (the k-th shards of every step config
        cover the same episodes, so positions align across configs).
        """
        infos = self.manifest.shards_of(config)
        if shards is not None:
            infos = [infos[k] for k in shards]
        paths = [resolve_inside(self.root, s.path) for s in infos]
        for path in paths:
            if not path.is_file():
                raise NotFoundError(f"shard {path} listed in {self.root}/manifest.json is missing or not a file; "
                                 f"run `wmhub verify {self.root}`")
        return paths

    # ---------------------------------------------------------------- data
    def table(self, config: str = STEPS_CONFIG, columns: list[str] | None = None,
              shards: list[int] | None = None) -> pa.Table:
        """A whole config (or the shards at positions ``shards``) as one Arrow table (memory-mapped)."""
        paths = self.shard_paths(config, shards)
        if not paths:
            raise NotFoundError(f"config {config!r} of {self.root} has no shards")
        return pa.concat_tables([read_parquet(p, columns) for p in paths])

    def iter_episodes(self, config: str = STEPS_CONFIG) -> Iterator[dict[str, np.ndarray]]:
        """Yield one dict of numpy arrays per episode, shard by shard."""
        features = self.features(config)
        for path in self.shard_paths(config):
            table = read_parquet(path)
            arrays = {f.name: column_numpy(table, f) for f in features}
            index = arrays["episode_index"]
            bounds = np.flatnonzero(np.diff(index)) + 1
            for rows in np.split(np.arange(len(index)), bounds):
                yield {name: values[rows[0]:rows[-1] + 1] for name, values in arrays.items()}

    def shards_holding(self, config: str, episodes: Iterable[int]) -> list[int]:
        """Positions (as :meth:`load_tensors` takes them) of the shards of ``config`` that hold any of ``episodes``."""
        wanted = np.asarray(sorted(set(episodes)), dtype=np.int64)
        return [k for k, info in enumerate(self.manifest.shards_of(config))
                if np.searchsorted(wanted, info.episode_end) > np.searchsorted(wanted, info.episode_start)]

    def load_tensors(self, config: str = STEPS_CONFIG, latent_features: list[str] | None = None,
                     extra_columns: list[str] | None = None, shards: list[int] | None = None,
                     latent_dtype: torch.dtype = torch.float32) -> TensorData:
        """Load a whole step config (or the shards at positions ``shards``) as tensors.

        Columns come from memory-mapped Arrow buffers; single-chunk vector
        columns convert without a copy before the final cast. ``latent_dtype``
        float16 halves the memory of stored float16 embeddings.
        """
        info = self.config_info(config)
        if info.granularity != "step":
            raise ConfigError(f"config {config!r} has one row per episode; load a step config such as 'steps'")
        if info.format == "webdataset":
            return self._load_frames(config, extra_columns, shards)
        latent_names = latent_features or info.latent_features
        if not latent_names:
            raise ConfigError(f"config {config!r} declares no latent features; pass latent_features=[...]")
        by_name = {f.name: f for f in self.features(config)}
        steps_features = {f.name: f for f in self.features(STEPS_CONFIG)}
        missing = [n for n in latent_names if n not in by_name]
        if missing:
            raise ConfigError(f"config {config!r} has no feature(s) {missing}; it has {sorted(by_name)}")
        extra = list(extra_columns or [])
        unknown = [n for n in extra if n not in by_name and n not in steps_features]
        if unknown:
            raise ConfigError(f"config {config!r} has no column(s) {unknown}; it has {sorted(by_name)}"
                             + ("" if config == STEPS_CONFIG else f" (and steps has {sorted(steps_features)})"))
        from_steps = [n for n in extra if n not in by_name]
        np_dtype = torch.empty(0, dtype=latent_dtype).numpy().dtype
        table = self.table(config, sorted(set(latent_names) | {"episode_index"} | (set(extra) - set(from_steps))),
                           shards)
        latents = np.concatenate([column_numpy(table, by_name[n]).reshape(table.num_rows, -1).astype(np_dtype)
                                  for n in latent_names], axis=1)
        index = column_numpy(table, by_name["episode_index"])
        if config == STEPS_CONFIG:
            act_table = table if "action" in table.column_names else self.table(config, ["action", "reward"], shards)
        else:  # embedding configs are aligned row-for-row with steps
            act_table = self.table(STEPS_CONFIG, ["action", "reward", *from_steps], shards)
        actions = column_numpy(act_table, steps_features["action"]).astype(np.float32)
        rewards = column_numpy(act_table, steps_features["reward"]).astype(np.float32)
        starts = episode_starts(index)
        columns = {n: torch.from_numpy(_writable(column_numpy(act_table if n in from_steps else table,
                                                              steps_features[n] if n in from_steps else by_name[n])))
                   for n in extra}
        return TensorData(latents=torch.from_numpy(latents), actions=torch.from_numpy(actions),
                          rewards=torch.from_numpy(rewards), episode_index=torch.from_numpy(index.astype(np.int64)),
                          episode_starts=torch.from_numpy(starts), columns=columns)

    def load_rows(self, config: str, rows: np.ndarray, latent_features: list[str] | None = None,
                  extra_columns: list[str] | None = None, shards: list[int] | None = None) -> TensorData:
        """Only the rows at positions ``rows`` (sorted, unique) of what :meth:`load_tensors` would load.

        Shards are loaded one at a time and each keeps just its selected rows,
        so memory holds one shard plus the selection, not the whole config
        (the probe samples 20,000 rows of 9M on the 50-hour Spot set).
        ``episode_starts`` is recomputed over the kept rows. Row positions count
        over ``shards`` (all by default) in order, as in :meth:`load_tensors`.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (np.any(np.diff(rows) <= 0) or rows[0] < 0):
            raise ConfigError("load_rows needs sorted, unique, non-negative row positions")
        positions = list(range(len(self.manifest.shards_of(config)))) if shards is None else list(shards)
        parts: list[dict[str, torch.Tensor]] = []  # per shard: its kept rows of every tensor
        offset = 0
        for k in positions:
            count = self.manifest.shards_of(STEPS_CONFIG)[k].num_rows  # every step config aligns with steps
            local = rows[(rows >= offset) & (rows < offset + count)] - offset
            offset += count
            if len(local):
                part = self.load_tensors(config, latent_features, extra_columns, shards=[k])
                keep = torch.from_numpy(local)
                parts.append({"latents": part.latents[keep], "actions": part.actions[keep],
                              "rewards": part.rewards[keep], "episode_index": part.episode_index[keep],
                              **{f"column:{n}": v[keep] for n, v in part.columns.items()}})
        if len(rows) and rows[-1] >= offset:
            raise ConfigError(f"row {int(rows[-1])} is past the {offset} rows of config {config!r} of {self.root}")
        if not parts:
            raise ConfigError(f"no rows selected from config {config!r} of {self.root}")
        joined = {name: torch.cat([p[name] for p in parts]) for name in parts[0]}
        index = joined["episode_index"]
        return TensorData(latents=joined["latents"], actions=joined["actions"], rewards=joined["rewards"],
                          episode_index=index, episode_starts=torch.from_numpy(episode_starts(index.numpy())),
                          columns={n.removeprefix("column:"): v for n, v in joined.items() if n.startswith("column:")})

    def _load_frames(self, config: str, extra_columns: list[str] | None, shards: list[int] | None) -> TensorData:
        """A ``frames-<S>`` config as tensors: ``latents`` = uint8 frames flattened to S·S·3 values per row
        (row t of an episode = the observation of step t), aligned with the steps config's rows."""
        from wmhub.data.frame_shards import iter_frame_episodes

        steps = self.load_tensors(STEPS_CONFIG, ["action", "reward"], extra_columns, shards)
        frames: list[np.ndarray] = []
        for path in self.shard_paths(config, shards):
            frames += [f.reshape(len(f), -1) for _, f in iter_frame_episodes(path)]
        latents = np.concatenate(frames) if frames else np.zeros((0, 0), np.uint8)
        if len(latents) != len(steps.episode_index):
            raise UnsupportedFormatError(f"config {config!r} of {self.root} holds {len(latents)} frames for "
                             f"{len(steps.episode_index)} step rows; run `wmhub verify {self.root}`")
        return TensorData(latents=torch.from_numpy(latents), actions=steps.actions, rewards=steps.rewards,
                          episode_index=steps.episode_index, episode_starts=steps.episode_starts,
                          columns=steps.columns)

    def windows(self, horizon: int, config: str = STEPS_CONFIG, stride: int = 1) -> WindowDataset:
        """A torch Dataset of H-step windows that never cross an episode boundary."""
        return WindowDataset(self.load_tensors(config), horizon=horizon, stride=stride)


def open_dataset(root: str | Path) -> WmDataset:
    """Open a local wmhub dataset directory.

    ``wmhub.open_dataset`` (:func:`wmhub.hub.verbs.open_dataset`) also opens Hub repos, local hubs
    at a tag and fsspec URLs.

    Args:
        root: the directory.

    Returns:
        The :class:`WmDataset`.

    Raises:
        NotFoundError: ``root`` holds no manifest.

    Example:
        >>> open_dataset("data/reacher-tiny").num_episodes  # doctest: +SKIP
        4
    """
    return WmDataset(root)
