"""``--save-frames``: store rendered frames as WebDataset tar shards (config ``frames-<S>``).

For pixel-based world models. Frames are rendered from the stored physics
state by the same worker pool as encoding; shards align with the step shards
and are registered in the manifest with SHA-256 like every shard (format
``webdataset``; they are not a ``datasets`` config). See
:mod:`wmhub.data.frame_shards` for the layout and why PNG.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from wmhub.data.frame_shards import PNG_COMPRESS_LEVEL, FrameShardWriter, tar_contents
from wmhub.data.layout import FRAMES_PREFIX
from wmhub.data.manifest import ConfigInfo, FeatureInfo
from wmhub.data.schema import Feature, column_numpy
from wmhub.errors import ConfigError
from wmhub.jobs.derived import DerivedResult, run_derived
from wmhub.jobs.destination import open_destination, read_existing_manifest
from wmhub.progress import Progress
from wmhub.render.frame_pool import episode_states, render_episodes


class FramesConfig:
    """The ``frames-<S>`` config (a :class:`~wmhub.jobs.derived.DerivedConfig`)."""

    kind = "frames"
    extension = "tar"

    def __init__(self, size: int, workers: int, step_features: dict[str, Feature]) -> None:
        self.size = size
        self.workers = workers
        self.step_features = step_features
        self.name = f"{FRAMES_PREFIX}{size}"
        self.identity = {"renderer": "dm_control physics.render", "camera": 0, "height": size, "width": size,
                         "encoding": f"png (compress_level {PNG_COMPRESS_LEVEL})",
                         "sample": "one per episode, key episode_XXXXXXXX"}

    def config_info(self) -> ConfigInfo:
        return ConfigInfo(
            name=self.name, granularity="step", format="webdataset",
            description=f"rendered {self.size}x{self.size} frames, one WebDataset sample per episode, "
                        "frame t = observation of step t",
            features=[FeatureInfo(name="frames", dtype="uint8", shape=[self.size, self.size, 3],
                                  description="PNG frames fNNNN.png per sample")],
            extra={"identity": self.identity})

    def build_shard(self, steps: pa.Table, path: Path, progress: Progress) -> tuple[int, dict]:
        index = column_numpy(steps, self.step_features["episode_index"])
        episodes = index[np.concatenate([[0], np.flatnonzero(np.diff(index)) + 1])]
        writer = FrameShardWriter(path)
        try:
            for episode, frames in zip(episodes, render_episodes(episode_states(steps, self.step_features),
                                                                 self.size, self.workers)):
                writer.add_episode(int(episode), frames)
                progress.update(len(frames), len(frames))
        except BaseException:
            writer.abort()
            raise
        writer.close()
        return writer.frames, {}

    def describe_shard(self, path: Path) -> tuple[int, dict]:
        return sum(tar_contents(path).values()), {}


@dataclass(frozen=True)
class FramesSettings:
    """Builds a :class:`FramesConfig` on any worker (a :class:`~wmhub.jobs.derived.DerivedFactory`; no model,
    CPU only)."""

    size: int
    workers: int
    step_features: dict[str, Feature]
    accelerated = False
    cpu_threads = None

    @property
    def render_workers(self) -> int:
        """Render processes a worker spawns."""
        return self.workers

    def build(self, device: str) -> FramesConfig:
        """The config (``device`` is ignored: rendering runs on CPUs)."""
        return FramesConfig(self.size, self.workers, self.step_features)


def save_frames(root: str | os.PathLike[str], size: int = 64, *, workers: int = 1, resume: bool = False,
                show_progress: bool = True, executor: str = "local", ray_address: str | None = None,
                actors: int | None = None, storage_options: dict[str, Any] | None = None) -> DerivedResult:
    """Render and store the frames of every step of the dataset in ``root`` as config ``frames-<size>``.

    Args:
        root: the dataset: a local directory or an fsspec URL.
        size: frame height and width in pixels.
        workers: render processes (0: render in this process); with Ray, per actor.
        resume: continue an interrupted frames job.
        show_progress: draw a progress bar on stderr.
        executor: ``local`` or ``ray`` (as :func:`wmhub.encoding.encode_dataset`; actors render on CPUs).
        ray_address: with ``executor="ray"``: the cluster.
        actors: with ``executor="ray"``: the pool size.
        storage_options: fsspec options for a remote ``root``.

    Returns:
        What the job did (config name, shards written and reused, frames, seconds).

    Raises:
        ConfigError: an invalid option, or a dataset of an environment that cannot be rendered.
        NotFoundError: no dataset at ``root``.
        InterruptedJobError: an interrupted job is there and ``resume`` is off (or it is another job).
        DatasetMismatchError: ``frames-<size>`` exists, rendered differently.

    Example:
        >>> from wmhub.encoding.frames import save_frames
        >>> save_frames("data/reacher-tiny", 64, show_progress=False).config  # doctest: +SKIP
        'frames-64'
    """
    if size <= 0:
        raise ConfigError(f"--frame-size must be positive, got {size}")
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    manifest = read_existing_manifest(open_destination(root, storage_options))
    if manifest.generator.env != "reacher":
        raise ConfigError(f"rendering is implemented for reacher only, not {manifest.generator.env!r}")
    step_features = {f.name: Feature(f.name, f.dtype, tuple(f.shape))
                     for f in manifest.config("steps").features}
    return run_derived(root, FramesSettings(size, workers, step_features), device="cpu", executor=executor,
                       ray_address=ray_address, actors=actors, resume=resume, show_progress=show_progress,
                       unit="frame", rate_unit="frames", storage_options=storage_options)
