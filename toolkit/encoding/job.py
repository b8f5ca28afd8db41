"""Encode every step shard of a dataset into an aligned ``embeddings-<slug>`` config.

Frames are rendered by worker processes ahead of the encoder
(:mod:`wmhub.render.frame_pool`) and encoded in consecutive batches of
``batch_size`` rows, so the stored bytes depend on neither the number of
workers nor their timing. Sharding, resume, the manifest update and the
executors (this process, or a pool of Ray actors that each load the encoder
once: :mod:`wmhub.jobs.ray_actors`) are :mod:`wmhub.jobs.derived`'s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from wmhub.data.layout import STEPS_CONFIG
from wmhub.data.manifest import ConfigInfo, FeatureInfo
from wmhub.data.schema import Feature, column_numpy, table_from_numpy
from wmhub.data.shard_io import read_parquet, write_parquet_atomic
from wmhub.data.stats import FeatureStats
from wmhub.encoders import Encoder, parse_encoder_spec
from wmhub.encoding.windows import window_indices
from wmhub.errors import ConfigError
from wmhub.jobs.derived import DerivedResult, run_derived
from wmhub.jobs.destination import open_destination, read_existing_manifest
from wmhub.progress import Progress
from wmhub.render.frame_pool import episode_states, render_episodes

EncodeResult = DerivedResult


def embedding_features(encoder: Encoder) -> list[Feature]:
    """Columns of an embeddings config."""
    return [
        Feature("episode_index", "int64", description="episode number (aligned with steps)"),
        Feature("step_index", "int32", description="t (aligned with steps)"),
        Feature("embedding", encoder.storage_dtype, (encoder.dim,), f"{encoder.slug} embedding of step t"),
    ]


def _encode_frames(encoder: Encoder, steps: pa.Table, step_features: dict[str, Feature], out: np.ndarray,
                   frame_size: int, workers: int, batch_size: int, progress: Progress) -> None:
    """Encode a shard's windows in consecutive batches of ``batch_size`` rows (the same batches
    whatever the number of render workers, so the bytes do not depend on it)."""
    step_index = column_numpy(steps, step_features["step_index"])
    windows = window_indices(step_index, encoder.window)
    total = len(step_index)
    buffer = np.empty((0, frame_size, frame_size, 3), np.uint8)  # frames of rows buffer_start ...
    buffer_start = 0
    done = 0
    for episode_frames in render_episodes(episode_states(steps, step_features), frame_size, workers):
        # the oldest frame any row from `done` on still needs is the first of done's window
        keep_from = int(windows[done, 0]) - buffer_start if done < total else len(buffer)
        buffer = np.concatenate([buffer[keep_from:], episode_frames])
        buffer_start += keep_from
        available = buffer_start + len(buffer)
        while available - done >= batch_size or (available == total and done < total):
            end = min(done + batch_size, available)
            out[done:end] = encoder.encode_windows(buffer[windows[done:end] - buffer_start])
            progress.update(end - done, end - done)
            done = end


def _encode_table(encoder: Encoder, steps: pa.Table, step_features: dict[str, Feature], latent_names: list[str],
                  frame_size: int, workers: int, batch_size: int, progress: Progress) -> pa.Table:
    rows = steps.num_rows
    out = np.empty((rows, encoder.dim), np.float32)
    if encoder.window:
        _encode_frames(encoder, steps, step_features, out, frame_size, workers, batch_size, progress)
    else:
        states = np.concatenate([column_numpy(steps, step_features[n]).reshape(rows, -1) for n in latent_names], 1)
        out[:] = encoder.encode_states(states)
        progress.update(rows, rows)
    columns = {"episode_index": column_numpy(steps, step_features["episode_index"]),
               "step_index": column_numpy(steps, step_features["step_index"]), "embedding": out}
    return table_from_numpy(embedding_features(encoder), columns)


class EmbeddingConfig:
    """The ``embeddings-<slug>`` config of one encoder (a :class:`~wmhub.jobs.derived.DerivedConfig`)."""

    kind = "encode"
    extension = "parquet"

    def __init__(self, encoder: Encoder, spec: str, step_features: dict[str, Feature], latent_names: list[str],
                 frame_size: int, workers: int, batch_size: int) -> None:
        self.encoder = encoder
        self.name = f"embeddings-{encoder.slug}"
        self.identity = {"spec": spec, **encoder.identity()}
        self.features = embedding_features(encoder)
        self.step_features = step_features
        self.latent_names = latent_names
        self.frame_size = frame_size
        self.workers = workers
        self.batch_size = batch_size

    def config_info(self) -> ConfigInfo:
        return ConfigInfo(name=self.name, granularity="step",
                          description=f"per-step embeddings from encoder `{self.identity['spec']}`, aligned "
                                      "row-for-row with steps",
                          features=[FeatureInfo.model_validate(f.describe()) for f in self.features],
                          latent_features=["embedding"], extra={"identity": self.identity})

    def _stats(self, table: pa.Table) -> dict:
        return {f.name: FeatureStats.from_array(column_numpy(table, f)) for f in self.features if f.stats}

    def build_shard(self, steps: pa.Table, path: Path, progress: Progress) -> tuple[int, dict]:
        table = _encode_table(self.encoder, steps, self.step_features, self.latent_names, self.frame_size,
                              self.workers, self.batch_size, progress)
        write_parquet_atomic(table, path)
        return table.num_rows, self._stats(table)

    def describe_shard(self, path: Path) -> tuple[int, dict]:
        table = read_parquet(path)
        return table.num_rows, self._stats(table)


@dataclass(frozen=True)
class EncodeSettings:
    """Everything needed to build an :class:`EmbeddingConfig` (its encoder loaded) on any worker:
    plain data, sent to each Ray actor, which builds it once (a
    :class:`~wmhub.jobs.derived.DerivedFactory`)."""

    spec: str
    env: str
    step_features: dict[str, Feature]
    latent_names: list[str]
    dtype: str = "fp32"
    batch_size: int = 16
    frame_size: int | None = None
    workers: int = 1
    pooling: str = "cls"
    encoder_threads: int | None = None

    @property
    def accelerated(self) -> bool:
        """Every encoder but ``state`` runs a network."""
        return self.spec.partition(":")[0] != "state"

    @property
    def render_workers(self) -> int:
        """Render processes a worker spawns (the state encoder renders nothing)."""
        return self.workers if self.accelerated else 0

    @property
    def cpu_threads(self) -> int | None:
        """``--encoder-threads``."""
        return self.encoder_threads

    def build(self, device: str) -> EmbeddingConfig:
        """Load the encoder on ``device`` and return its config."""
        latent_dim = sum(int(np.prod(self.step_features[n].shape or (1,))) for n in self.latent_names)
        encoder = parse_encoder_spec(self.spec, device=device, dtype=self.dtype, frame_size=self.frame_size,
                                     pooling=self.pooling, state_features=self.latent_names, state_dim=latent_dim)
        if encoder.window and self.env != "reacher":
            raise ConfigError(f"rendering is implemented for reacher only, not {self.env!r}")
        return EmbeddingConfig(encoder, self.spec, self.step_features, self.latent_names,
                               self.frame_size or encoder.frame_size, self.workers, self.batch_size)


def encode_dataset(root: str | os.PathLike[str], spec: str, *, device: str = "auto", dtype: str = "fp32",
                   batch_size: int = 16, frame_size: int | None = None, workers: int = 1, pooling: str = "cls",
                   encoder_threads: int | None = None, resume: bool = False, show_progress: bool = True,
                   executor: str = "local", ray_address: str | None = None, actors: int | None = None,
                   storage_options: dict[str, Any] | None = None) -> EncodeResult:
    """Add the per-step embeddings of encoder ``spec`` to the dataset in ``root`` as ``embeddings-<slug>``.

    Args:
        root: the dataset: a local directory or an fsspec URL (``s3://bucket/prefix``; each shard is
            downloaded to a scratch directory, encoded and its embeddings uploaded).
        spec: ``vjepa2[:ID_OR_PATH]``, ``hf-image:ID_OR_PATH``, ``random[:DIM]`` or ``state``.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``. With ``executor="ray"``: ``auto``
            gives each actor a GPU when the cluster has GPUs, ``cuda`` requires them, ``cpu`` never
            uses them (:mod:`wmhub.jobs.ray_actors`).
        dtype: compute dtype (``fp32``, ``bf16``, ``fp16``); storage is the encoder's (float16 for images).
        batch_size: windows per forward pass.
        frame_size: render size (default: the encoder's input size).
        workers: render processes running ahead of the encoder (0: render in this process); with
            Ray, per actor.
        pooling: ``cls`` or ``mean`` for ``hf-image``.
        encoder_threads: torch CPU threads for the encoder (default: torch's, all cores; 1 in a Ray
            actor). On a CPU-only machine a light encoder is render-bound: 1 thread leaves the other
            cores to the render workers (BENCHMARKS.md); a heavy one (ViT-L) wants them all.
        resume: continue an interrupted encode job.
        executor: ``local`` (this process) or ``ray`` (a pool of Ray actors, each loading the
            encoder once and taking shards from a queue; ``pip install 'wmhub[ray]'``). The bytes do
            not depend on it (for a given device type).
        ray_address: with ``executor="ray"``: the cluster (``auto``, ``ray://host:10001``); default
            ``RAY_ADDRESS``, else a local Ray instance for the job.
        actors: with ``executor="ray"``: the pool size (default: one per GPU, or per the CPUs an actor
            reserves; never more than the shards to encode).
        storage_options: fsspec options for a remote ``root`` (e.g. ``{"endpoint_url": ...}``).

    Returns:
        What the job did (config name, shards written and reused, rows, seconds).

    Raises:
        ConfigError: an invalid option (or Ray options without ``executor="ray"``).
        NotFoundError: no dataset at ``root``.
        UnsupportedLocationError: ``root`` is a Hub repo (``hf://``): encode a local copy.
        InterruptedJobError: an interrupted job is there and ``resume`` is off (or it is another job).
        DatasetMismatchError: the config exists, built by another encoder or with other options.

    Example:
        >>> import wmhub
        >>> result = wmhub.encode("data/reacher-tiny", "state", show_progress=False)  # doctest: +SKIP
        >>> result.config  # doctest: +SKIP
        'embeddings-state'
    """
    if batch_size <= 0:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}")
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    if encoder_threads is not None and encoder_threads <= 0:
        raise ConfigError(f"--encoder-threads must be positive, got {encoder_threads}")
    manifest = read_existing_manifest(open_destination(root, storage_options))
    steps_info = manifest.config(STEPS_CONFIG)
    settings = EncodeSettings(spec, manifest.generator.env,
                              {f.name: Feature(f.name, f.dtype, tuple(f.shape)) for f in steps_info.features},
                              list(steps_info.latent_features), dtype=dtype, batch_size=batch_size,
                              frame_size=frame_size, workers=workers, pooling=pooling, encoder_threads=encoder_threads)
    return run_derived(root, settings, device=device, executor=executor, ray_address=ray_address, actors=actors,
                       resume=resume, show_progress=show_progress, rate_unit="windows",
                       storage_options=storage_options)
