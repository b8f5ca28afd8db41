"""Fetch the rows (and stored frames) of a few episodes of a dataset, wherever it lives.

The manifest is read first, so that an episode the dataset does not hold is refused with the
range it does hold before anything is downloaded; then :func:`wmhub.hub.verbs.open_dataset`
brings only the shards that hold the wanted episodes (of ``steps``, and of ``frames-S`` when the
stored frames are shown) into wmhub's cache. A local dataset directory is read in place.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wmhub.data.frame_shards import decode_png, episode_key
from wmhub.data.layout import FRAMES_PREFIX, STEPS_CONFIG
from wmhub.data.manifest import Manifest
from wmhub.data.schema import Feature, column_numpy
from wmhub.errors import ConfigError, NotFoundError, UnsupportedFormatError
from wmhub.hub.source import dataset_location, open_stored
from wmhub.hub.verbs import open_dataset
from wmhub.storage.location import LocalDir

STEP_COLUMNS = ("episode_index", "step_index", "action", "reward")  # besides the physics state
SPOT_COLUMNS = ("command",)


@dataclass(frozen=True)
class Episode:
    """One episode's rows.

    Attributes:
        index: the episode index.
        columns: step columns by name, ``[T+1, ...]`` each (row t: the state before action t).
        frames_shard: the ``frames-S`` tar shard holding its stored frames, when they were asked for
            (read by :meth:`stored_frames`, so that only one episode's frames are in memory at a time).
    """

    index: int
    columns: dict[str, np.ndarray]
    frames_shard: Path | None = None

    @property
    def steps(self) -> int:
        """T, the number of actions."""
        return len(self.columns["episode_index"]) - 1

    def stored_frames(self) -> np.ndarray:
        """The stored frames ``uint8 [T+1, S, S, 3]`` (decoded now).

        Raises:
            ConfigError: the frames were not asked for.
            UnsupportedFormatError: the shard holds another number of frames than the episode has rows.
        """
        if self.frames_shard is None:
            raise ConfigError(f"episode {self.index} was read without its stored frames (select with from_frames)")
        frames = _read_frames(self.frames_shard, self.index)
        if len(frames) != self.steps + 1:
            raise UnsupportedFormatError(f"{self.frames_shard} holds {len(frames)} frames of episode {self.index}, "
                                         f"which has {self.steps + 1} rows; run `wmhub verify` on the dataset")
        return frames


@dataclass(frozen=True)
class EpisodeSelection:
    """The dataset's environment and what :func:`read_episodes` needs to read the wanted episodes.

    Attributes:
        env: the generator's environment (``reacher``, ``spot``).
        frames_config: the ``frames-S`` config to read frames from, or None.
        frame_size: S of ``frames_config``.
        root: the local directory read (the dataset itself, or its cached selection).
        episodes: the episode indices, in the order asked.
    """

    env: str
    frames_config: str | None
    frame_size: int | None
    root: Path
    episodes: list[int]


def _ranges(spans: Iterable[tuple[int, int]]) -> str:
    """``[(0, 4), (4, 8), (12, 16)]`` -> ``"0-7, 12-15"`` (half-open spans, merged)."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return ", ".join(f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in merged) or "none"


def _manifest(source: str, revision: str | None, storage_options: dict[str, Any] | None) -> Manifest:
    location = dataset_location(source, revision)
    if isinstance(location, LocalDir) and location.revision in (None, "latest", "main"):
        if not (location.path / "manifest.json").is_file():
            raise NotFoundError(f"{source}: no wmhub dataset there (no manifest.json); give a dataset directory, "
                                "a local hub, hf://datasets/<org>/<name> or an fsspec URL")
        return Manifest.read(location.path)
    return open_stored(location, storage_options).manifest


def frame_configs(manifest: Manifest) -> dict[int, str]:
    """``{S: "frames-S"}`` of the stored-frame configs of a dataset."""
    found = {}
    for config in manifest.configs:
        if config.name.startswith(FRAMES_PREFIX) and config.format == "webdataset":
            size = config.name.removeprefix(FRAMES_PREFIX)
            if size.isdigit():
                found[int(size)] = config.name
    return found


def select_episodes(source: str | Path, episodes: Iterable[int], *, from_frames: bool = False,
                    size: int | None = None, revision: str | None = None, show_progress: bool = False,
                    storage_options: dict[str, Any] | None = None) -> EpisodeSelection:
    """Check the episodes against the dataset and bring the shards holding them here.

    Args:
        source: a dataset directory, a local hub (``DIR@tag``), ``hf://datasets/<org>/<name>[@rev]`` or an
            fsspec URL.
        episodes: episode indices.
        from_frames: read the stored ``frames-S`` config too.
        size: with ``from_frames``: S (default: the one stored frame size).
        revision: branch, tag or commit (default: latest).
        show_progress: show a progress bar while downloading.
        storage_options: fsspec options for an fsspec URL.

    Returns:
        The :class:`EpisodeSelection`.

    Raises:
        ConfigError: no episode given, an episode the dataset does not hold (the message gives the
            range it holds), or ``from_frames`` without stored frames of that size.
        NotFoundError: no dataset at ``source``.

    Example:
        >>> select_episodes("data/reacher-tiny", [0, 3]).env  # doctest: +SKIP
        'reacher'
    """
    wanted = [int(e) for e in episodes]
    if not wanted:
        raise ConfigError("no episode selected; give one or more with --episode N")
    manifest = _manifest(str(source), revision, storage_options)
    spans = [(s.episode_start, s.episode_end) for s in manifest.shards_of(STEPS_CONFIG)]
    missing = [e for e in wanted if not any(a <= e < b for a, b in spans)]
    if missing:
        held = _ranges(spans)
        whole = manifest.subset is None
        raise ConfigError(f"episode {', '.join(map(str, missing))} out of range: {source} holds episodes {held}"
                          + ("" if whole else " (a partial download)") + "; pick --episode in that range")
    frames_config = frame_size = None
    if from_frames:
        stored = frame_configs(manifest)
        if not stored:
            raise ConfigError(f"{source} stores no frames; drop --from-frames to render from the physics state, "
                              f"or store them with `wmhub encode {source} --save-frames --frame-size S`")
        if size is None:
            if len(stored) > 1:
                raise ConfigError(f"{source} stores frames of sizes {sorted(stored)}; pick one with --size")
            size = next(iter(stored))
        if size not in stored:
            raise ConfigError(f"{source} stores no frames-{size}, only {', '.join(stored[s] for s in sorted(stored))}"
                              "; pick that --size, or drop --from-frames to render from the physics state")
        frames_config, frame_size = stored[size], size
    dataset = open_dataset(source, episodes=sorted(set(wanted)), revision=revision,
                           configs=[frames_config] if frames_config else [STEPS_CONFIG],
                           show_progress=show_progress, storage_options=storage_options)
    return EpisodeSelection(env=manifest.generator.env, frames_config=frames_config, frame_size=frame_size,
                            root=dataset.root, episodes=wanted)


def _read_frames(path: Path, episode: int) -> np.ndarray:
    """The frames of one episode from a ``frames-S`` tar shard (only its members are decoded)."""
    key = episode_key(episode)
    frames: dict[int, np.ndarray] = {}
    with tarfile.open(path, mode="r") as tar:
        for member in tar:
            name, _, field = member.name.partition(".")
            if name != key or not member.isfile() or not field.endswith(".png"):
                continue
            t = int(field.removeprefix("f").removesuffix(".png"))
            frames[t] = decode_png(tar.extractfile(member).read())
    if not frames:
        raise UnsupportedFormatError(f"{path} holds no frames of episode {episode}; run `wmhub verify` on the dataset")
    return np.stack([frames[t] for t in sorted(frames)])


def read_episodes(selection: EpisodeSelection, columns: Iterable[str]) -> Iterator[Episode]:
    """The selected episodes' rows (and frames), in the order asked, one episode in memory at a time.

    Args:
        selection: from :func:`select_episodes`.
        columns: the step columns to read besides :data:`STEP_COLUMNS` (physics state, ``command``).

    Yields:
        One :class:`Episode` per selected episode.

    Raises:
        UnsupportedFormatError: the steps config lacks a column.

    Example:
        >>> for episode in read_episodes(select_episodes("data/reacher-tiny", [2]), ["qpos"]):  # doctest: +SKIP
        ...     print(episode.steps)
    """
    from wmhub.data.reader import WmDataset

    dataset = WmDataset(selection.root)
    features: dict[str, Feature] = {f.name: f for f in dataset.features(STEPS_CONFIG)}
    wanted = list(dict.fromkeys([*STEP_COLUMNS, *columns]))
    absent = [name for name in wanted if name not in features]
    if absent:
        raise UnsupportedFormatError(f"the steps config of {selection.root} lacks {', '.join(absent)}; "
                                     f"a {selection.env} dataset of this wmhub version has them")
    for episode in selection.episodes:
        shards = dataset.shards_holding(STEPS_CONFIG, [episode])
        table = dataset.table(STEPS_CONFIG, wanted, shards)
        index = column_numpy(table, features["episode_index"])
        rows = np.flatnonzero(index == episode)
        values = {name: column_numpy(table, features[name])[rows] for name in wanted}
        frames_shard = dataset.shard_paths(selection.frames_config, shards)[0] if selection.frames_config else None
        yield Episode(index=episode, columns=values, frames_shard=frames_shard)
