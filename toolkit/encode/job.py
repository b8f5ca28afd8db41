"""Encode every step shard of a dataset into an aligned ``embeddings-<slug>`` config.

Shard i of the new config covers exactly the episode range (and rows, in
order) of step shard i. The job is resumable like generation: complete
shards exist only under their final names, the manifest is written last, and
a re-run skips ranges the manifest already lists for this config (so after a
dataset grows, encoding again fills in only the new shards).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from filelock import FileLock, Timeout

from toolkit.data.card import write_dataset_card
from toolkit.data.layout import JOB_NAME, LOCK_NAME, STEPS_CONFIG, shard_path
from toolkit.data.manifest import ConfigInfo, FeatureInfo, Manifest, ShardInfo
from toolkit.data.schema import Feature, column_numpy, table_from_numpy
from toolkit.data.shard_io import read_parquet, shard_info, write_parquet_atomic
from toolkit.encode.windows import window_indices
from toolkit.encoders import Encoder, parse_encoder_spec
from toolkit.envs.base import get_spec
from toolkit.errors import InterruptedJobError, WmhubError
from toolkit.fileio import atomic_write_json, resolve_inside
from toolkit.generate.job import remove_stale_temporaries
from toolkit.progress import Progress
from toolkit.render.frame_pool import render_episodes


@dataclass
class EncodeResult:
    """What an encode call did."""

    config: str
    shards_written: int
    shards_reused: int
    rows_encoded: int
    seconds: float


def embedding_features(encoder: Encoder) -> list[Feature]:
    """Columns of an embeddings config."""
    return [
        Feature("episode_index", "int64", description="episode number (aligned with steps)"),
        Feature("step_index", "int32", description="t (aligned with steps)"),
        Feature("embedding", encoder.storage_dtype, (encoder.dim,), f"{encoder.slug} embedding of step t"),
    ]


def _episode_states(steps: pa.Table, step_features: dict[str, Feature]):
    """(qpos, qvel, target_pos) per episode of a step shard, in row order."""
    index = column_numpy(steps, step_features["episode_index"])
    columns = [column_numpy(steps, step_features[n]) for n in ("qpos", "qvel", "target_pos")]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(index)) + 1, [len(index)]])
    for a, b in zip(bounds[:-1], bounds[1:]):
        yield tuple(c[a:b] for c in columns)


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
    for episode_frames in render_episodes(_episode_states(steps, step_features), frame_size, workers):
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


def encode_dataset(root: str | os.PathLike[str], spec: str, *, device: str = "auto", dtype: str = "fp32",
                   batch_size: int = 16, frame_size: int | None = None, workers: int = 1, pooling: str = "cls",
                   resume: bool = False, show_progress: bool = True) -> EncodeResult:
    """Add the embeddings of encoder ``spec`` to the dataset in ``root`` (see module docstring)."""
    root = Path(root)
    if batch_size <= 0:
        raise WmhubError(f"--batch-size must be positive, got {batch_size}")
    if workers < 0:
        raise WmhubError(f"--workers must be >= 0, got {workers}")
    manifest = Manifest.read(root)
    steps_info = manifest.config(STEPS_CONFIG)
    step_features = {f.name: Feature(f.name, f.dtype, tuple(f.shape)) for f in steps_info.features}
    latent_dim = sum(int(np.prod(step_features[n].shape or (1,))) for n in steps_info.latent_features)
    encoder = parse_encoder_spec(spec, device=device, dtype=dtype, frame_size=frame_size, pooling=pooling,
                                 state_features=steps_info.latent_features, state_dim=latent_dim)
    name = f"embeddings-{encoder.slug}"
    identity = {"spec": spec, **encoder.identity()}
    try:
        lock = FileLock(str(root / LOCK_NAME), timeout=0)
        lock.acquire()
    except Timeout as exc:
        raise WmhubError(f"another wmhub job is writing to {root}; wait for it to finish") from exc
    threads = torch.get_num_threads()
    if encoder.window and workers and getattr(encoder, "device", torch.device("cpu")).type == "cpu":
        # leave a core to each render process: oversubscribed cores slow both sides down
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - workers))
    try:
        return _encode_locked(root, manifest, encoder, name, identity, step_features,
                              list(steps_info.latent_features), batch_size, frame_size, workers, resume, show_progress)
    finally:
        torch.set_num_threads(threads)
        lock.release()


def _encode_locked(root: Path, manifest: Manifest, encoder: Encoder, name: str, identity: dict,
                   step_features: dict[str, Feature], latent_names: list[str], batch_size: int,
                   frame_size: int | None, workers: int, resume: bool, show_progress: bool) -> EncodeResult:
    existing = next((c for c in manifest.configs if c.name == name), None)
    if existing is not None and existing.extra.get("identity") != identity:
        raise WmhubError(f"{root} already has config {name!r} from a different encoder identity "
                         f"({json.dumps(existing.extra.get('identity'), sort_keys=True)[:200]}); "
                         "remove that config first or use another encoder")
    job_path = root / JOB_NAME
    job = {"kind": "encode", "config": name, "identity": identity}
    if job_path.exists():
        found = json.loads(job_path.read_text(encoding="utf-8"))
        if not resume:
            raise InterruptedJobError(f"{root} holds an interrupted {found.get('kind', 'generate')} job; "
                                      "re-run that command with --resume")
        if found != job:
            raise WmhubError(f"the interrupted job in {root} is {json.dumps(found)[:200]}; resume it with "
                             "its own command")
    else:
        atomic_write_json(job_path, job)
    remove_stale_temporaries(root)

    listed = {(s.episode_start, s.episode_end): s for s in manifest.shards if s.config == name}
    step_shards = manifest.shards_of(STEPS_CONFIG)
    todo = [s for s in step_shards if (s.episode_start, s.episode_end) not in listed]
    features = embedding_features(encoder)
    if encoder.window and manifest.generator.env != "reacher":
        raise WmhubError(f"rendering is implemented for reacher only, not {manifest.generator.env!r}")
    size = frame_size or encoder.frame_size
    progress = Progress(sum(s.num_rows for s in todo), "step", "windows", f"encode {name}", enabled=show_progress)
    new: list[ShardInfo] = []
    reused = 0
    try:
        for step_shard in todo:
            rel = shard_path(name, step_shard.episode_start, step_shard.episode_end)
            if resume and (root / rel).is_file():
                new.append(shard_info(root, rel, name, step_shard.episode_start, step_shard.episode_end,
                                      read_parquet(root / rel), features))
                progress.update(step_shard.num_rows, 0)
                reused += 1
                continue
            steps = read_parquet(resolve_inside(root, step_shard.path))
            table = _encode_table(encoder, steps, step_features, latent_names, size, workers, batch_size, progress)
            write_parquet_atomic(table, root / rel)
            new.append(shard_info(root, rel, name, step_shard.episode_start, step_shard.episode_end, table,
                                  features))
    finally:
        progress.close()

    config = ConfigInfo(name=name, granularity="step",
                        description=f"per-step embeddings from encoder `{identity['spec']}`, aligned row-for-row "
                                    "with steps",
                        features=[FeatureInfo.model_validate(f.describe()) for f in features],
                        latent_features=["embedding"], extra={"identity": identity})
    configs = [c for c in manifest.configs if c.name != name] + [config]
    shards = [s for s in manifest.shards if s.config != name] + sorted(
        list(listed.values()) + new, key=lambda s: s.episode_start)
    updated = manifest.model_copy(update={"configs": configs, "shards": shards})
    write_dataset_card(root, updated, get_spec(manifest.generator.env))
    updated.write(root)
    job_path.unlink()
    return EncodeResult(name, len(todo) - reused, reused, sum(s.num_rows for s in todo), progress.elapsed)
