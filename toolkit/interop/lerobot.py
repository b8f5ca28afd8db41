"""``wmhub export --format lerobot``: a LeRobotDataset v3.0 directory (codebase version ``v3.0``).

Layout (what ``lerobot.datasets.lerobot_dataset.LeRobotDataset(repo_id, root=OUT)`` reads)::

    meta/info.json                          codebase_version "v3.0", fps, features, paths, totals
    meta/stats.json                         min / max / mean / std / count of every feature
    meta/tasks.parquet                      the task string(s), indexed by task, column task_index
    meta/episodes/chunk-000/file-000.parquet  one row per episode: where its rows are, its length,
                                            its per-episode stats and wmhub's episode metadata
    data/chunk-CCC/file-FFF.parquet         one file per wmhub shard, one row per action

LeRobot has one row per frame with an action, so an episode of T actions is T rows: row t holds
observation t, action t, ``next.reward`` r_t and ``next.done`` (true on row T−1). The T+1-th
observation (the state after the last action) has no row; wmhub's own ``steps`` config keeps it.
Features: ``observation.state`` (the environment's observation features concatenated: reacher
``position, to_target, velocity``; Spot ``state``), further observation features as
``observation.<name>`` (Spot ``observation.privileged_state``), each embedding config as
``observation.embedding.<name>``, ``action``, ``next.reward``, ``next.done`` and LeRobot's
``timestamp``, ``frame_index``, ``episode_index``, ``index``, ``task_index``. ``fps`` is
1 / the environment's control timestep (50 for reacher and Spot). The episodes table also carries
the episode's row of wmhub's ``episodes`` table (``seed``, ``return``, ``success`` or ``fell``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wmhub.data.stats import FeatureStats
from wmhub.errors import ConfigError
from wmhub.fileio import atomic_write_text
from wmhub.interop.source import ExportEpisode, ExportSource, control_timestep, staged_output
from wmhub.interop.types import ExportResult
from wmhub.progress import Progress

LEROBOT_FORMAT = "lerobot"
CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk folder, LeRobot's default
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
VIDEO_CODEC = "h264"  # libx264, yuv420p (wmhub.render.video_io): decoded by LeRobot's pyav and torchcodec backends

#: the task string of each environment (LeRobot's ``task``; ``--task`` overrides it)
DEFAULT_TASKS = {
    "reacher": "Move the finger of the two-link arm into the target.",
    "spot": "Walk at the commanded forward, lateral and yaw velocity.",
}
ROBOT_TYPES = {"reacher": "dm_control_reacher", "spot": "spot"}


def check_repo_id(repo_id: str) -> str:
    """Check a LeRobot repo id, ``<org>/<name>``.

    Args:
        repo_id: e.g. ``my-lab/reacher-1m``.

    Returns:
        The id.

    Raises:
        ConfigError: not of the form org/name.

    Example:
        >>> check_repo_id("my-lab/reacher-1m")
        'my-lab/reacher-1m'
    """
    parts = repo_id.split("/")
    ok = len(parts) == 2 and all(p and all(c.isalnum() or c in "-_." for c in p) and not p.startswith(".")
                                 for p in parts)
    if not ok:
        raise ConfigError(f"{repo_id!r} is not a LeRobot repo id; use <org>/<name>, e.g. --repo-id my-lab/reacher-1m")
    return repo_id


def _fixed(values: np.ndarray, dtype: pa.DataType) -> pa.Array:
    flat = pa.array(np.ascontiguousarray(values).reshape(-1), type=dtype)
    return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])


class _Features:
    """The LeRobot features of an export, with the dataset-wide statistics gathered while writing."""

    def __init__(self, source: ExportSource, fps: int) -> None:
        self.source = source
        self.fps = fps
        state_names = [f"{n}_{i}" for n in source.layout.state for i in range(source.observation_shape(n))]
        self.vectors: dict[str, tuple[int, list[str] | None]] = {"observation.state": (len(state_names), state_names)}
        for name in source.layout.extra:
            self.vectors[f"observation.{name}"] = (source.observation_shape(name), None)
        for config in source.embedding_configs:
            self.vectors[f"observation.embedding.{config.removeprefix('embeddings-')}"] = (
                source.embedding_dim(config), None)
        self.vectors["action"] = (source.action_dim, [f"action_{i}" for i in range(source.action_dim)])
        self.scalars = {"next.reward": "float32", "next.done": "bool", "timestamp": "float32",
                        "frame_index": "int64", "episode_index": "int64", "index": "int64", "task_index": "int64"}
        self.stats: dict[str, list[FeatureStats]] = {}

    def info(self) -> dict[str, dict]:
        out: dict[str, dict] = {name: {"dtype": "float32", "shape": [dim], "names": names}
                                for name, (dim, names) in self.vectors.items()}
        out.update({name: {"dtype": dtype, "shape": [1], "names": None} for name, dtype in self.scalars.items()})
        return out

    def episode_columns(self, episode: ExportEpisode, episode_index: int, start_index: int,
                        task_index: int) -> dict[str, np.ndarray]:
        steps = episode.num_steps
        state = np.concatenate([episode.observations[n][:steps] for n in self.source.layout.state], axis=1)
        columns: dict[str, np.ndarray] = {"observation.state": state.astype(np.float32)}
        for name in self.source.layout.extra:
            columns[f"observation.{name}"] = episode.observations[name][:steps].astype(np.float32)
        for name, values in episode.embeddings.items():
            columns[f"observation.embedding.{name}"] = values[:steps]
        columns["action"] = episode.actions
        frame_index = np.arange(steps, dtype=np.int64)
        done = np.zeros(steps, dtype=bool)
        done[-1:] = True
        columns.update({"next.reward": episode.rewards, "next.done": done,
                        "timestamp": (frame_index / self.fps).astype(np.float32), "frame_index": frame_index,
                        "episode_index": np.full(steps, episode_index, dtype=np.int64),
                        "index": start_index + frame_index, "task_index": np.full(steps, task_index, np.int64)})
        return columns

    def table(self, columns: dict[str, list[np.ndarray]]) -> pa.Table:
        arrays, names = [], []
        for name in self.vectors:
            values = np.concatenate(columns[name]).astype(np.float32)
            arrays.append(_fixed(values, pa.float32()))
            names.append(name)
        for name, dtype in self.scalars.items():
            arrays.append(pa.array(np.concatenate(columns[name]).astype(dtype)))
            names.append(name)
        return pa.Table.from_arrays(arrays, names=names)


class _Video:
    """The frames of a ``frames-S`` config as LeRobot video: one MP4 per data file, its episodes one after
    another, each episode's first T frames (the frame of row t is observation t)."""

    def __init__(self, source: ExportSource) -> None:
        self.size = source.frame_size()
        if self.size % 2:
            raise ConfigError(f"H.264 video needs an even frame size; {source.frames_config} has {self.size} px "
                              "(store frames with an even --frame-size)")
        self.key = f"observation.images.{source.frames_config.replace('-', '_')}"
        self.pending: list[np.ndarray] = []
        self.count = 0
        self.sum = np.zeros(3)
        self.sum_sq = np.zeros(3)
        self.min = np.full(3, 255.0)
        self.max = np.zeros(3)

    def add(self, episode: ExportEpisode, fps: int, chunk: int, file_index: int) -> dict[str, object]:
        frames = episode.frames[:episode.num_steps]
        start = sum(len(f) for f in self.pending) / fps
        self.pending.append(frames)
        pixels = frames.reshape(-1, 3).astype(np.float64) / 255.0
        self.count += len(pixels)
        self.sum += pixels.sum(axis=0)
        self.sum_sq += np.square(pixels).sum(axis=0)
        self.min = np.minimum(self.min, pixels.min(axis=0))
        self.max = np.maximum(self.max, pixels.max(axis=0))
        return {f"videos/{self.key}/chunk_index": chunk, f"videos/{self.key}/file_index": file_index,
                f"videos/{self.key}/from_timestamp": start,
                f"videos/{self.key}/to_timestamp": start + len(frames) / fps}

    def write(self, root: Path, chunk: int, file_index: int, fps: int) -> None:
        from wmhub.render.video_io import VideoWriter

        with VideoWriter(root / VIDEO_PATH.format(video_key=self.key, chunk_index=chunk, file_index=file_index),
                         fps=fps) as writer:
            for frames in self.pending:
                for frame in frames:
                    writer.add(frame)
        self.pending = []

    def info(self, fps: int) -> dict[str, dict]:
        return {self.key: {"dtype": "video", "shape": [self.size, self.size, 3],
                           "names": ["height", "width", "channels"],
                           "info": {"video.height": self.size, "video.width": self.size, "video.codec": VIDEO_CODEC,
                                    "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": fps,
                                    "video.channels": 3, "has_audio": False}}}

    def stats(self) -> dict[str, list]:
        """Per-channel statistics of the stored (lossless) frames in [0, 1], shaped [3, 1, 1] as LeRobot's."""
        mean = self.sum / max(self.count, 1)
        std = np.sqrt(np.maximum(self.sum_sq / max(self.count, 1) - mean * mean, 0.0))
        shape = lambda v: [[[float(x)]] for x in v]  # noqa: E731
        return {"min": shape(self.min), "max": shape(self.max), "mean": shape(mean), "std": shape(std),
                "count": [self.count]}


def _episode_stats(columns: dict[str, np.ndarray]) -> dict[str, list]:
    out: dict[str, list] = {}
    for name, values in columns.items():
        arr = values.astype(np.float64).reshape(len(values), -1)
        out[f"stats/{name}/min"] = arr.min(axis=0).tolist()
        out[f"stats/{name}/max"] = arr.max(axis=0).tolist()
        out[f"stats/{name}/mean"] = arr.mean(axis=0).tolist()
        out[f"stats/{name}/std"] = arr.std(axis=0).tolist()
        out[f"stats/{name}/count"] = [len(arr)]
    return out


def _stats_json(stats: dict[str, list[FeatureStats]]) -> dict[str, dict[str, list]]:
    out = {}
    for name, parts in stats.items():
        merged = FeatureStats.merge(parts)
        out[name] = {"min": merged.min, "max": merged.max, "mean": merged.mean.tolist(),
                     "std": merged.std.tolist(), "count": [merged.count]}
    return out


def _write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="snappy")


def _tasks_table(tasks: Iterable[str]) -> pa.Table:
    """``meta/tasks.parquet`` as pandas writes a frame indexed by task (LeRobot reads it with pandas)."""
    import pandas as pd

    tasks = list(tasks)
    frame = pd.DataFrame({"task_index": np.arange(len(tasks), dtype=np.int64)}, index=pd.Index(tasks, name="task"))
    return pa.Table.from_pandas(frame, preserve_index=True)


def _card(repo_id: str, source: ExportSource, task: str, fps: int) -> str:
    import yaml

    header = yaml.safe_dump({"task_categories": ["robotics"], "tags": ["LeRobot", "wmhub", source.env],
                             "configs": [{"config_name": "default",
                                          "data_files": [{"split": "train", "path": "data/*/*.parquet"}]}]},
                            sort_keys=False)
    generator = source.manifest.generator
    return (f"---\n{header}---\n\n# {repo_id}\n\nA LeRobotDataset (codebase version {CODEBASE_VERSION}) exported "
            f"by `wmhub export --format lerobot` from a wmhub `{source.env}` dataset: {source.num_episodes} "
            f"episodes, {source.num_transitions} frames at {fps} fps. Task: \"{task}\".\n\n"
            "One row per action; the observation after an episode's last action is not a row (the wmhub "
            "dataset keeps it). Episode metadata (seed, return, success) is in `meta/episodes/`.\n\n"
            f"Regenerate the source data with:\n\n```bash\n{generator.command}\n```\n\n"
            "```python\nfrom lerobot.datasets.lerobot_dataset import LeRobotDataset\n"
            f"ds = LeRobotDataset(\"{repo_id}\")\n```\n")


def export_lerobot(src: str | Path, out: str | Path, repo_id: str, task: str | None = None,
                   embeddings: list[str] | None = None, frames: str | None = None,
                   show_progress: bool = True) -> ExportResult:
    """Write dataset ``src`` as a LeRobotDataset v3.0 in ``out``.

    Args:
        src: a local wmhub dataset directory.
        out: a new (or empty) directory.
        repo_id: the LeRobot repo id (``org/name``), written into the card.
        task: the task string (default: the environment's, see ``DEFAULT_TASKS``).
        embeddings: embedding configs to add as ``observation.embedding.<name>`` (default: all).
        frames: a ``frames-S`` config to add as the video ``observation.images.frames_S`` (default: none).
        show_progress: show a progress bar.

    Returns:
        The :class:`ExportResult`.

    Raises:
        ConfigError: an invalid repo id, or frames of an odd size (H.264 needs even sizes).
        AlreadyExistsError: ``out`` is not empty.

    Example:
        >>> export_lerobot("data/reacher-100k", "out/reacher-lerobot", "my-lab/reacher-100k")  # doctest: +SKIP
        >>> # LeRobotDataset("my-lab/reacher-100k", root="out/reacher-lerobot")
    """
    check_repo_id(repo_id)
    source = ExportSource(src, embeddings=embeddings, frames=frames)
    video = _Video(source) if source.frames_config else None
    task = task or DEFAULT_TASKS[source.env]
    dt = control_timestep(source.env)
    fps = round(1.0 / dt)
    if abs(fps * dt - 1.0) > 1e-9:
        raise ConfigError(f"the {source.env} control timestep {dt} s is not 1/integer; LeRobot needs an integer fps")
    features = _Features(source, fps)
    episode_rows: list[dict] = []
    index = 0
    bar = Progress(source.num_episodes, "ep", "frames", f"export lerobot {repo_id}", enabled=show_progress)
    try:
        with staged_output(out) as tmp:
            for file_number, shard in enumerate(source.iter_shards()):
                chunk, file_index = divmod(file_number, CHUNKS_SIZE)
                gathered: dict[str, list[np.ndarray]] = {}
                for episode in shard:
                    number = len(episode_rows)  # LeRobot's episode_index is the row of meta/episodes
                    columns = features.episode_columns(episode, number, index, 0)
                    for name, values in columns.items():
                        gathered.setdefault(name, []).append(values)
                    episode_rows.append({
                        "episode_index": number, "tasks": [task], "length": episode.num_steps,
                        "data/chunk_index": chunk, "data/file_index": file_index,
                        "dataset_from_index": index, "dataset_to_index": index + episode.num_steps,
                        "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
                        "wmhub/episode_index": episode.index,
                        **{f"wmhub/{k}": v for k, v in episode.metadata.items()},
                        **_episode_stats(columns)})
                    if video is not None:
                        episode_rows[-1].update(video.add(episode, fps, chunk, file_index))
                    index += episode.num_steps
                for name, values in gathered.items():
                    features.stats.setdefault(name, []).append(FeatureStats.from_array(np.concatenate(values)))
                _write_parquet(features.table(gathered), tmp / DATA_PATH.format(chunk_index=chunk,
                                                                                file_index=file_index))
                if video is not None:
                    video.write(tmp, chunk, file_index, fps)
                bar.update(len(shard), sum(e.num_steps for e in shard))
            _write_parquet(pa.Table.from_pylist(episode_rows), tmp / EPISODES_PATH)
            _write_parquet(_tasks_table([task]), tmp / "meta" / "tasks.parquet")
            info = {
                "codebase_version": CODEBASE_VERSION, "robot_type": ROBOT_TYPES.get(source.env, source.env),
                "total_episodes": source.num_episodes, "total_frames": index, "total_tasks": 1,
                "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": 100, "video_files_size_in_mb": 200,
                "fps": fps, "splits": {"train": f"0:{source.num_episodes}"}, "data_path": DATA_PATH,
                "video_path": VIDEO_PATH if video is not None else None,
                "features": {**features.info(), **(video.info(fps) if video is not None else {})},
            }
            stats = _stats_json(features.stats)
            if video is not None:
                stats[video.key] = video.stats()
            atomic_write_text(tmp / "meta" / "info.json", json.dumps(info, indent=4) + "\n")
            atomic_write_text(tmp / "meta" / "stats.json", json.dumps(stats, indent=4) + "\n")
            atomic_write_text(tmp / "README.md", _card(repo_id, source, task, fps))
    finally:
        bar.close()
    return ExportResult(format=LEROBOT_FORMAT, path=str(out), episodes=source.num_episodes, rows=index,
                        name=repo_id)
