"""Training samples from a wmhub dataset: episode split, in-memory windows, streamed windows.

Every objective trains on windows that never cross an episode boundary:
``latents [B, H+1, D]``, ``actions [B, H, A]``, ``rewards [B, H]``
(``H`` = the recipe's horizon; 1 for reward and BC models). BC keeps only
the steps whose action came from the scripted policy (``is_random_action``
false), so it clones the expert, not the ε noise.

Validation is a split **by episode**: a seeded permutation of the episode
indices, so no step of a validation episode is ever trained on.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from wmhub.data.layout import STEPS_CONFIG
from wmhub.data.reader import WmDataset
from wmhub.data.schema import column_numpy
from wmhub.data.tensors import TensorData, episode_starts
from wmhub.data.windows import WindowDataset
from wmhub.errors import ConfigError, NotFoundError

SPLIT_SALT = 0x5B1 # keeps the split's random stream apart from every other use of the seed


@dataclass
class EpisodeSplit:
    """Which episodes train and which validate (sorted lists of episode indices)."""

    train: list[int]
    val: list[int]


def split_episodes(episodes: list[int], val_fraction: float, seed: int) -> EpisodeSplit:
    """A seeded split by episode: ``round(val_fraction · E)`` (at least 1) episodes validate."""
    if len(episodes) < 2:
        raise ConfigError(f"training needs at least 2 episodes (one to validate), the dataset has {len(episodes)}; "
                          "generate more with `wmhub generate ... --episodes N`")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SPLIT_SALT,)))
    order = rng.permutation(np.asarray(episodes, dtype=np.int64))
    num_val = min(max(1, round(val_fraction * len(episodes))), len(episodes) - 1)
    return EpisodeSplit(train=sorted(order[num_val:].tolist()), val=sorted(order[:num_val].tolist()))


@dataclass
class SampleSpec:
    """What to read: which config and latent features, which objective, which horizon (in window steps of
    ``frame_skip`` environment steps each)."""

    config: str
    latent_features: list[str]
    objective: str
    horizon: int
    latent_dtype: torch.dtype = torch.float32
    frame_skip: int = 1

    def windows(self, dataset: WmDataset, shards: list[int] | None = None) -> WindowDataset:
        """All candidate windows of the given shards (BC: expert actions only)."""
        bc = self.objective == "bc"
        has_flag = any(f.name == "is_random_action" for f in dataset.features(STEPS_CONFIG))
        data = dataset.load_tensors(self.config, self.latent_features, shards=shards, latent_dtype=self.latent_dtype,
                                    extra_columns=["is_random_action"] if bc and has_flag else None)
        check_finite_data(dataset, self.config, self.latent_features, data, shards)
        windows = WindowDataset(data, horizon=self.horizon, frame_skip=self.frame_skip)
        if bc and has_flag:
            windows.select(~data.columns["is_random_action"][windows.rows].bool())
        return windows


def _first_bad_row(values: torch.Tensor, rows: torch.Tensor | None = None) -> int | None:
    if not values.is_floating_point():
        return None
    flat = values.reshape(len(values), -1)
    step = 1 << 16  # rows per pass: the boolean mask of a large embedding config stays small
    for first in range(0, len(flat), step):
        bad = ~torch.isfinite(flat[first:first + step]).all(dim=1)
        if rows is not None:
            bad &= rows[first:first + step]
        found = torch.nonzero(bad)
        if len(found):
            return first + int(found[0, 0])
    return None


def check_finite_data(dataset: WmDataset, config: str, latent_features: list[str], data: TensorData,
                      shards: list[int] | None = None) -> None:
    """Refuse training data holding nan or inf (the actions and rewards of an episode's last row hold the fill
    value, are never read, and are not checked).

    Args:
        dataset: the dataset the tensors came from (for the message).
        config: the latent's config.
        latent_features: the latent features, in the order of ``data.latents``' columns.
        data: the loaded tensors.
        shards: the shard positions loaded (None: all), for the message.

    Raises:
        ConfigError: the first non-finite value, naming the config, the column, the row and its episode.

    Example:
        >>> check_finite_data(dataset, "steps", ["obs"], dataset.load_tensors("steps", ["obs"]))  # doctest: +SKIP
    """
    ends = data.episode_starts[1:] - 1
    acting = torch.ones(len(data.episode_index), dtype=torch.bool)
    acting[ends[(ends >= 0) & (ends < len(acting))]] = False
    found: list[tuple[int, str, str]] = []
    row = _first_bad_row(data.latents)
    if row is not None:
        dims = {f.name: math.prod(f.shape or (1,)) for f in dataset.config_info(config).features}
        bad_col = int(torch.nonzero(~torch.isfinite(data.latents[row].reshape(-1)))[0, 0])
        offset, name = 0, latent_features[0] if latent_features else "latents"
        for feature in latent_features:
            offset += dims.get(feature, 1)
            if bad_col < offset:
                name = feature
                break
        found.append((row, config, name))
    for column, values in (("action", data.actions), ("reward", data.rewards)):
        row = _first_bad_row(values, acting)
        if row is not None:
            found.append((row, STEPS_CONFIG, column))
    if found:
        row, where, column = min(found)
        which = "all shards" if shards is None else f"shards {list(shards)}"
        raise ConfigError(f"{dataset.root}: config {where!r}, column {column!r} holds nan or inf at row {row} of "
                          f"{which} (episode {int(data.episode_index[row])}); the data cannot be trained on: "
                          "regenerate it, or fix the encoder that wrote it")


def restrict(windows: WindowDataset, episodes: list[int]) -> WindowDataset:
    """A view of ``windows`` holding only windows of ``episodes``."""
    view = copy.copy(windows)
    wanted = torch.as_tensor(episodes, dtype=torch.int64, device=windows.rows.device)
    return view.select(torch.isin(windows.data.episode_index[windows.rows], wanted))


def shards_for(dataset: WmDataset, config: str, max_episodes: int | None) -> list[int]:
    """Positions of the shards holding episodes below ``max_episodes`` (all when None)."""
    infos = dataset.manifest.shards_of(config)
    if not infos:
        raise NotFoundError(f"config {config!r} of {dataset.root} has no shards")
    return [k for k, s in enumerate(infos) if max_episodes is None or s.episode_start < max_episodes]


def count_samples(dataset: WmDataset, spec: SampleSpec, shards: list[int], episodes: list[int]) -> int:
    """Number of windows of ``episodes`` without loading the latents (a pass over two small columns)."""
    bc = spec.objective == "bc"
    has_flag = any(f.name == "is_random_action" for f in dataset.features(STEPS_CONFIG))
    columns = ["episode_index"] + (["is_random_action"] if bc and has_flag else [])
    features = {f.name: f for f in dataset.features(STEPS_CONFIG)}
    table = dataset.table(STEPS_CONFIG, columns, shards)
    index = column_numpy(table, features["episode_index"])
    keep = np.isin(index, np.asarray(episodes, dtype=np.int64))
    if bc and has_flag:
        # BC windows are (z_t, a_t) rows with an expert action; the last row has no action
        random = column_numpy(table, features["is_random_action"]).astype(bool)
        last = np.append(index[1:] != index[:-1], True)
        return int(np.sum(keep & ~random & ~last))
    ids, rows = np.unique(index[keep], return_counts=True)
    return int(np.sum(np.maximum(rows - spec.horizon * spec.frame_skip, 0)))


def epoch_generator(seed: int, epoch: int, part: int = 0) -> torch.Generator:
    """The CPU generator that orders epoch ``epoch`` (the same on resume, whatever happened before)."""
    state = np.random.SeedSequence(seed, spawn_key=(epoch, part)).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def grouped_permutation(episodes: torch.Tensor, group: int, generator: torch.Generator) -> torch.Tensor:
    """An epoch order of windows in which every run of ``group`` consecutive windows comes from one episode.

    ``episodes [N]`` holds each window's episode index. The windows of each
    episode are shuffled and cut into chunks of ``group`` (the last chunk of an
    episode may be shorter); the chunks are then shuffled. Every window appears
    exactly once, and the order depends only on ``generator``. Cut into batches
    of B, a batch holds about B / group episodes with ``group`` windows each, so
    a batch statistic (SIGReg) sees the spread *within* episodes, not only the
    spread between them.
    """
    episodes = episodes.cpu()
    shuffled = torch.randperm(episodes.numel(), generator=generator)
    order = shuffled[torch.argsort(episodes[shuffled], stable=True)]      # by episode, shuffled inside
    _, counts = torch.unique_consecutive(episodes[order], return_counts=True)
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    rank = torch.arange(order.numel()) - first                          # position inside the episode
    new_chunk = (rank % group == 0).long()
    chunk = torch.cumsum(new_chunk, 0) - 1
    chunk_rank = torch.randperm(int(new_chunk.sum()), generator=generator)   # a random rank per chunk
    return order[torch.argsort(chunk_rank[chunk], stable=True)]


class StreamedWindows(IterableDataset):
    """Training batches read shard by shard, for datasets that do not fit in memory.

    Each epoch visits the shards in a seeded order, ``shards_per_chunk`` at a
    time; the windows of a chunk are shuffled and cut into batches, the
    remainder carried into the next chunk, so every batch but the epoch's last
    is full and an epoch has ``ceil(samples / batch_size)`` batches.
    ``start(epoch, skip)`` makes the next iteration begin at batch ``skip`` of
    ``epoch`` (resume). Run it with at most one DataLoader worker (it reads
    ahead while the model trains); the order does not depend on it.
    """

    def __init__(self, dataset: WmDataset, spec: SampleSpec, shards: list[int], episodes: list[int],
                 batch_size: int, seed: int, shards_per_chunk: int) -> None:
        super().__init__()
        self.root, self.spec, self.shards, self.episodes = dataset.root, spec, shards, episodes
        self.batch_size, self.seed, self.shards_per_chunk = batch_size, seed, max(1, shards_per_chunk)
        self.epoch, self.skip = 0, 0

    def start(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        if info is not None and info.num_workers > 1:
            raise ConfigError("training.num_workers must be 0 or 1 with the stream data path")
        dataset = WmDataset(self.root)
        order = torch.randperm(len(self.shards), generator=epoch_generator(self.seed, self.epoch)).tolist()
        carry: dict[str, torch.Tensor] | None = None
        produced = 0
        for c, first in enumerate(range(0, len(order), self.shards_per_chunk)):
            chunk = sorted(self.shards[k] for k in order[first:first + self.shards_per_chunk])
            windows = restrict(self.spec.windows(dataset, chunk), self.episodes)
            if not len(windows):  # a chunk without windows of these episodes (e.g. no validation episode)
                continue
            perm = torch.randperm(len(windows), generator=epoch_generator(self.seed, self.epoch, c + 1))
            items = windows.batch(perm)
            if carry is not None:
                items = {k: torch.cat([carry[k], v]) for k, v in items.items()}
            full = (len(items["latents"]) // self.batch_size) * self.batch_size
            for i in range(0, full, self.batch_size):
                if produced >= self.skip:
                    yield {k: v[i:i + self.batch_size] for k, v in items.items()}
                produced += 1
            carry = {k: v[full:] for k, v in items.items()}
        if carry is not None and len(carry["latents"]) and produced >= self.skip:
            yield carry


    def _index(self, dataset: WmDataset, chunk: list[int]) -> WindowDataset:
        """The windows of ``chunk`` (as :meth:`SampleSpec.windows` and :func:`restrict` make them) from the
        ``steps`` config's small columns alone: the window index, no latents loaded."""
        bc = self.spec.objective == "bc"
        features = {f.name: f for f in dataset.features(STEPS_CONFIG)}
        flag = bc and "is_random_action" in features
        table = dataset.table(STEPS_CONFIG, ["episode_index"] + (["is_random_action"] if flag else []), chunk)
        index = torch.from_numpy(column_numpy(table, features["episode_index"]).astype(np.int64))
        empty = torch.zeros((len(index), 0))
        data = TensorData(latents=empty, actions=empty, rewards=torch.zeros(len(index)), episode_index=index,
                          episode_starts=torch.from_numpy(episode_starts(index.numpy())), columns={})
        windows = WindowDataset(data, horizon=self.spec.horizon, frame_skip=self.spec.frame_skip)
        if flag:
            random = torch.from_numpy(column_numpy(table, features["is_random_action"]).astype(bool))
            windows.select(~random[windows.rows])
        return restrict(windows, self.episodes)

    def rank_batches(self, epoch: int, skip: int, rank: int, world_size: int,
                     total: int) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:
        """Rank ``rank``'s share of each global batch of ``epoch`` (from batch ``skip`` on), reading only the rows
        of its own windows.

        The global batches are those :meth:`__iter__` yields (the epoch's chunks, each chunk's windows in
        their seeded order, cut into consecutive batches of ``batch_size``); the share of a batch of ``n``
        rows is rows ``[n·r/W, n·(r+1)/W)``. Per chunk, the window index comes from the small ``steps``
        columns; then only the rows under this rank's windows are kept, read one shard at a time
        (:meth:`~wmhub.data.reader.WmDataset.load_rows`), so a rank holds one shard plus about 1/W of a chunk.
        A rank whose share of a batch is empty (a last batch of fewer rows than ranks) gets the batch's
        first window, to be counted with weight 0.

        Args:
            epoch: the epoch.
            skip: global batches of the epoch already trained (resume).
            rank: this rank.
            world_size: the number of ranks.
            total: the epoch's training windows (:func:`count_samples`).

        Yields:
            (this rank's rows, the global batch's rows, this rank's share of the batch).

        Raises:
            ConfigError: the shards hold another number of windows than ``total`` (the data changed).

        Example:
            >>> for rows, n, share in stream.rank_batches(0, 0, rank=1, world_size=2, total=1000):  # doctest: +SKIP
            ...     pass
        """
        size = self.batch_size
        slices: list[tuple[int, int, int]] = []  # (first, end) positions in the epoch's window sequence, rows
        for k in range(skip, math.ceil(total / size)):
            n = min(size, total - k * size)
            lo, hi = k * size + n * rank // world_size, k * size + n * (rank + 1) // world_size
            slices.append((lo, hi, n) if hi > lo else (k * size, k * size + 1, n))
        wanted = (np.concatenate([np.arange(lo, hi) for lo, hi, _ in slices]) if slices
                  else np.zeros(0, dtype=np.int64))
        dataset = WmDataset(self.root)
        order = torch.randperm(len(self.shards), generator=epoch_generator(self.seed, epoch)).tolist()
        pending: list[dict[str, torch.Tensor]] = []
        have, done, offset = 0, 0, 0  # rows pending, slices yielded, windows of the chunks so far
        span = torch.arange(self.spec.horizon * self.spec.frame_skip + 1)
        for c, first in enumerate(range(0, len(order), self.shards_per_chunk)):
            chunk = sorted(self.shards[k] for k in order[first:first + self.shards_per_chunk])
            windows = self._index(dataset, chunk)
            perm = torch.randperm(len(windows), generator=epoch_generator(self.seed, epoch, c + 1))
            lo, hi = np.searchsorted(wanted, [offset, offset + len(windows)])
            offset += len(windows)
            if hi > lo:
                picked = perm[torch.from_numpy(wanted[lo:hi] - (offset - len(windows)))]
                starts = windows.rows[picked]
                rows = torch.unique(starts[:, None] + span).numpy()
                loaded = dataset.load_rows(self.spec.config, rows, self.spec.latent_features, shards=chunk)
                loaded = dataclasses.replace(loaded, latents=loaded.latents.to(self.spec.latent_dtype))
                check_finite_data(dataset, self.spec.config, self.spec.latent_features, loaded, chunk)
                mine = copy.copy(windows)
                mine.data = loaded
                mine.rows = torch.from_numpy(np.searchsorted(rows, starts.numpy()))
                mine.step_index = windows.step_index[picked]
                pending.append(mine.batch(torch.arange(len(picked))))
                have += len(picked)
            while done < len(slices) and slices[done][1] - slices[done][0] <= have:
                lo_, hi_, n = slices[done]
                joined = (pending[0] if len(pending) == 1  # one piece: views, no copy
                          else {k: torch.cat([p[k] for p in pending]) for k in pending[0]})
                count = hi_ - lo_
                share, rest = {k: v[:count] for k, v in joined.items()}, {k: v[count:] for k, v in joined.items()}
                pending, have = ([rest] if have > count else []), have - count
                mine_rows = n * (rank + 1) // world_size - n * rank // world_size
                done += 1
                yield mine_rows, n, share
        if done < len(slices) or offset != total:
            raise ConfigError(f"{self.root}: the shards hold {offset} training windows, {total} were counted; the "
                              "dataset changed during training: rerun with --resume")


def estimate_bytes(dataset: WmDataset, spec: SampleSpec, shards: list[int]) -> int:
    """Memory the in-memory path needs for these shards (latents + actions + rewards + index)."""
    rows = sum(dataset.manifest.shards_of(spec.config)[k].num_rows for k in shards)
    features = {f.name: f for f in dataset.config_info(spec.config).features}  # frames too (not parquet)
    dim = sum(math.prod(features[n].shape or (1,)) for n in spec.latent_features)
    action_dim = math.prod({f.name: f for f in dataset.features(STEPS_CONFIG)}["action"].shape or (1,))
    latent_bytes = torch.empty(0, dtype=spec.latent_dtype).element_size()
    return rows * (dim * latent_bytes + action_dim * 4 + 4 + 8)
