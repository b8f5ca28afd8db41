"""Jobs that add a config derived from the step shards (embeddings, stored frames).

Shard i of the derived config covers exactly the episode range (and rows, in
order) of step shard i. The job is :mod:`wmhub.jobs.engine`'s: a job file names
what is being built, complete shards exist only under their final names, the
manifest is written last, and a re-run skips the ranges the manifest already
lists for the config (after a dataset grows, running the job again fills in
only the new shards).

What a config is (how a shard is built from a step shard) is the caller's: a
:class:`DerivedConfig`, built on each worker from a picklable
:class:`DerivedFactory` (so a model is loaded where it runs, once per worker
process). Each shard is one :class:`DerivedShardUnit`, run by the ``local``
executor (this process: the model loaded once, rendering overlapped in worker
processes) or by a pool of Ray actors (:class:`wmhub.jobs.ray_actors.RayActorPool`,
each actor loading the model once). The bytes of a shard depend only on the
step shard and the config, so both write the same files.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from wmhub.data.layout import STEPS_CONFIG, shard_path
from wmhub.data.manifest import ConfigInfo, Manifest, ShardInfo
from wmhub.data.shard_io import read_parquet
from wmhub.envs.registry import get_spec
from wmhub.errors import ChecksumMismatchError, ConfigError, DatasetMismatchError
from wmhub.fileio import sha256_file
from wmhub.jobs.destination import Destination, open_destination, read_existing_manifest, worker_files
from wmhub.jobs.engine import (
    claim_job,
    environment_errors,
    finish_job,
    run_units,
    temporaries_removed_on_failure,
)
from wmhub.jobs.local_executor import LocalExecutor
from wmhub.jobs.ray_actors import RayActorPool, WorkerNeeds
from wmhub.jobs.units import ProgressSink, UnitResult
from wmhub.progress import Progress


class DerivedConfig(Protocol):
    """What a derived-config job needs to know about the config it builds.

    Attributes:
        kind: the job kind shown to users (``encode``, ``frames``).
        name: the config's name.
        extension: its shard file extension.
        identity: what must match for existing shards to be kept.
    """

    kind: str
    name: str
    extension: str
    identity: dict

    def config_info(self) -> ConfigInfo:
        """The manifest entry of the config."""

    def build_shard(self, steps: pa.Table, path: Path, progress: ProgressSink) -> tuple[int, dict]:
        """Write the shard for one step shard to ``path`` atomically; return (rows, stats)."""

    def describe_shard(self, path: Path) -> tuple[int, dict]:
        """(rows, stats) of a shard written by an interrupted run."""


class DerivedFactory(WorkerNeeds, Protocol):
    """A picklable recipe for a :class:`DerivedConfig`, built once per worker process (this one, or
    each Ray actor), so heavy state such as a model is created where it runs, once. Its
    :class:`~wmhub.jobs.ray_actors.WorkerNeeds` say what a worker reserves."""

    def build(self, device: str) -> DerivedConfig:
        """The config, its model (if any) on ``device`` (``auto``, ``cpu``, ``cuda``)."""


@dataclass(frozen=True)
class DerivedMeta:
    """The manifest side of a derived config: all the driver needs (no model)."""

    kind: str
    name: str
    extension: str
    identity: dict
    info: ConfigInfo

    @classmethod
    def of(cls, derived: DerivedConfig) -> DerivedMeta:
        """The metadata of a built config."""
        return cls(derived.kind, derived.name, derived.extension, derived.identity, derived.config_info())


@dataclass
class DerivedResult:
    """What a derived-config job did.

    Attributes:
        config: the config's name (``embeddings-state``, ``frames-64``).
        shards_written: shards built by this call.
        shards_reused: complete shards an interrupted run left, kept.
        rows_processed: step rows of the shards this call covered.
        seconds: wall time of the work.
    """

    config: str
    shards_written: int
    shards_reused: int
    rows_processed: int
    seconds: float


# ------------------------------------------------------------------ on a worker
_BUILT: list[tuple[DerivedFactory, str, DerivedConfig]] = []  # this process's built config (one at a time)


def built_config(factory: DerivedFactory, device: str) -> DerivedConfig:
    """``factory.build(device)``, once per process while the factory stays the same."""
    if _BUILT and _BUILT[0][1] == device and _BUILT[0][0] == factory:
        return _BUILT[0][2]
    _BUILT.clear()
    derived = factory.build(device)
    _BUILT.append((factory, device, derived))
    return derived


def describe_built(factory: DerivedFactory, device: str) -> DerivedMeta:
    """Build the config on this worker (loading its model) and return its metadata."""
    return DerivedMeta.of(built_config(factory, device))


@contextmanager
def _built_here(factory: DerivedFactory) -> Iterator[None]:
    """The local executor's run: torch CPU threads as asked, and the model released afterwards."""
    threads = None
    if factory.cpu_threads:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(factory.cpu_threads)
    try:
        yield
    finally:
        _BUILT.clear()
        if threads is not None:
            import torch

            torch.set_num_threads(threads)


def _entry(path: Path, unit: DerivedShardUnit, config: str, rows: int, stats: dict) -> ShardInfo:
    step = unit.step_shard
    if rows != step.num_rows:
        raise ChecksumMismatchError(f"{unit.path} holds {rows} rows but {step.path} has {step.num_rows}; "
                                    f"delete {unit.path} and re-run")
    return ShardInfo(config=config, path=unit.path, sha256=sha256_file(path), num_bytes=path.stat().st_size,
                     num_rows=rows, episode_start=step.episode_start, episode_end=step.episode_end, stats=stats)


@dataclass(frozen=True)
class DerivedShardUnit:
    """One work unit: build the derived shard ``path`` (relative to the dataset) from ``step_shard``.

    Attributes:
        factory: the config's recipe (built once per worker process).
        device: where its model runs.
        identity: the config identity the driver recorded; a worker building another one refuses.
        location: the dataset (an absolute path or an fsspec URL).
        step_shard: the step shard it derives from.
        path: the derived shard's path.
        resume: keep a complete shard an interrupted run left (once checked, see :meth:`run`).
        storage_options: fsspec options for a remote ``location``.
        recorded_sha256: the SHA-256 the job file recorded for the shard when it was finished (None:
            not recorded).
        records: the job file records the shards it saw finished (False for a job file that records
            none: a kept shard is then checked by reading it).
    """

    factory: DerivedFactory
    device: str
    identity: dict
    location: str
    step_shard: ShardInfo
    path: str
    resume: bool
    storage_options: dict[str, Any] | None = None
    recorded_sha256: str | None = None
    records: bool = False

    @property
    def key(self) -> str:
        """``<start>-<end>``."""
        return f"{self.step_shard.episode_start}-{self.step_shard.episode_end}"

    @property
    def name(self) -> str:
        """``wmhub-<config>-episodes-<start>-<end>``."""
        return "wmhub-" + self.path.split("/", 1)[-1].rsplit(".", 1)[0].replace("/", "-")

    def run(self, progress: ProgressSink) -> UnitResult:
        """Build (or, resuming, keep) the shard on this worker and describe it.

        A local dataset is read and written in place (the config writes a temporary name, then
        renames). A remote one: the step shard is downloaded to a scratch directory, the derived
        shard written there and uploaded under its final key (an atomic PUT), so the bytes are
        the same.
        """
        derived = built_config(self.factory, self.device)
        if derived.identity != self.identity:
            raise DatasetMismatchError(
                f"the encoder loaded on {socket.gethostname()} (pid {os.getpid()}) differs from the first "
                f"actor's ({derived.identity} vs {self.identity}); every node needs the same weights and packages")
        rows_total = self.step_shard.num_rows
        with worker_files(self.location, self.storage_options, prefix="wmhub-derive-") as files:
            if self.resume and files.exists(self.path):
                kept = self._kept(derived, files.fetch(self.path))
                if isinstance(kept, ShardInfo):
                    progress.update(rows_total, 0)
                    return UnitResult([kept], kept.num_rows, 0, reused=True)
                print(f"wmhub {derived.kind}: {self.path} {kept}; building it again", file=sys.stderr)
            steps = read_parquet(files.fetch(self.step_shard.path))
            target = files.path(self.path)
            rows, stats = derived.build_shard(steps, target, progress)
            entry = _entry(target, self, derived.name, rows, stats)  # checks the rows before uploading
            files.publish(self.path)
            return UnitResult([entry], entry.num_rows, entry.num_rows)


    def _kept(self, derived: DerivedConfig, path: Path) -> ShardInfo | str:
        """The entry of the shard an interrupted run left, or why it cannot be kept: its bytes must be
        those the job file recorded (when it records them) and it must describe as this shard."""
        if self.records:
            if self.recorded_sha256 is None:
                return "was not recorded as finished"
            if sha256_file(path) != self.recorded_sha256:
                return "is not the file this job wrote (SHA-256 differs from the one recorded)"
        try:
            rows, stats = derived.describe_shard(path)
            return _entry(path, self, derived.name, rows, stats)
        except (OSError, ValueError, KeyError, pa.ArrowException, ChecksumMismatchError) as exc:
            return f"cannot be kept ({type(exc).__name__})"


# ------------------------------------------------------------------ the job
def _updated_manifest(manifest: Manifest, meta: DerivedMeta, listed: list[ShardInfo],
                      new: list[ShardInfo]) -> Manifest:
    configs = [c for c in manifest.configs if c.name != meta.name] + [meta.info]
    shards = [s for s in manifest.shards if s.config != meta.name] + sorted(listed + new,
                                                                             key=lambda s: s.episode_start)
    return manifest.model_copy(update={"configs": configs, "shards": shards})


def _run_job(location: str | os.PathLike[str], factory: DerivedFactory, meta: DerivedMeta, device: str,
             executor: LocalExecutor | RayActorPool, *, resume: bool, show_progress: bool, unit: str,
             rate_unit: str, storage_options: dict[str, Any] | None) -> DerivedResult:
    with environment_errors(location):  # a full or read-only disk, a path too long: one line naming it
        dest = open_destination(location, storage_options)
        with dest.lock(), temporaries_removed_on_failure(dest):
            return _run_locked(dest, factory, meta, device, executor, resume=resume, show_progress=show_progress,
                               unit=unit, rate_unit=rate_unit, storage_options=storage_options)


def _run_locked(dest: Destination, factory: DerivedFactory, meta: DerivedMeta, device: str,
                executor: LocalExecutor | RayActorPool, *, resume: bool, show_progress: bool, unit: str,
                rate_unit: str, storage_options: dict[str, Any] | None) -> DerivedResult:
    manifest = read_existing_manifest(dest)
    existing = next((c for c in manifest.configs if c.name == meta.name), None)
    if existing is not None and existing.extra.get("identity") != meta.identity:
        raise DatasetMismatchError(f"{dest} already has config {meta.name!r} built differently "
                                   f"({json.dumps(existing.extra.get('identity'), sort_keys=True)[:200]}); "
                                   "remove that config first or choose other options")
    job = {"kind": meta.kind, "config": meta.name, "identity": meta.identity}
    found = claim_job(dest, job, resume=resume)
    # shard path -> SHA-256 of the shards the job saw finished; None: a job file that records none
    recorded = found.get("shards") if found is not None else {}
    recorded = recorded if isinstance(recorded, dict) or recorded is None else {}
    job_file = {**job, "shards": dict(recorded or {})}
    if found is None or job_file != found:
        dest.write_job(job_file)
    dest.remove_stale_temporaries()
    listed = {(s.episode_start, s.episode_end): s for s in manifest.shards if s.config == meta.name}
    units = []
    for s in manifest.shards_of(STEPS_CONFIG):
        if (s.episode_start, s.episode_end) in listed:
            continue
        path = shard_path(meta.name, s.episode_start, s.episode_end, meta.extension)
        units.append(DerivedShardUnit(factory, device, meta.identity, dest.location, s, path, resume,
                                      storage_options, (recorded or {}).get(path), recorded is not None))

    def record(result: UnitResult) -> None:  # the job file names each finished shard and its SHA-256
        job_file["shards"].update({s.path: s.sha256 for s in result.shards})
        dest.write_job(job_file)

    rows = sum(u.step_shard.num_rows for u in units)
    progress = Progress(rows, unit, rate_unit, f"{meta.kind} {meta.name}", enabled=show_progress)
    done = run_units(executor, units, progress, record)
    new = [shard for result in done for shard in result.shards]
    reused = sum(1 for result in done if result.reused)
    finish_job(dest, _updated_manifest(manifest, meta, list(listed.values()), new),
               get_spec(manifest.generator.env))  # card, then manifest.json last
    return DerivedResult(meta.name, len(units) - reused, reused, rows, progress.elapsed)


def run_derived(location: str | os.PathLike[str], factory: DerivedFactory, *, device: str = "auto",
                executor: str = "local", ray_address: str | None = None, actors: int | None = None,
                resume: bool = False, show_progress: bool = True, unit: str = "step", rate_unit: str = "rows",
                storage_options: dict[str, Any] | None = None) -> DerivedResult:
    """Build ``factory``'s config for every step shard of the dataset at ``location`` it does not cover.

    Args:
        location: the dataset: a local directory or an fsspec URL.
        factory: the config's recipe.
        device: where the model runs: ``auto``, ``cpu`` or ``cuda`` (with Ray: see
            :mod:`wmhub.jobs.ray_actors` for how it maps to GPUs).
        executor: ``local`` (the config built here, shards one after the other in this process) or
            ``ray`` (a pool of Ray actors at ``ray_address``, each building the config once).
        ray_address: the Ray cluster (``executor="ray"`` only).
        actors: the Ray pool size (``executor="ray"`` only; default from the cluster).
        resume: continue an interrupted job of the same config.
        show_progress: draw a progress bar on stderr.
        unit: the progress bar's unit.
        rate_unit: the unit of its rate.
        storage_options: fsspec options for a remote ``location``.

    Returns:
        What the job did.

    Raises:
        ConfigError: an unknown executor, or Ray options without Ray.
        NotFoundError: no dataset at ``location``.
        InterruptedJobError: an interrupted job is there and ``resume`` is off (or it is another job).
        DatasetMismatchError: the config exists, built with other options.

    Example:
        >>> run_derived("data/reacher", FramesSettings(64, 1, step_features))  # doctest: +SKIP
    """
    options = dict(resume=resume, show_progress=show_progress, unit=unit, rate_unit=rate_unit,
                   storage_options=storage_options)
    if executor == "local":
        if ray_address or actors:
            raise ConfigError(f"--{'ray-address' if ray_address else 'ray-actors'} needs --executor ray")
        local = LocalExecutor(1)
        with _built_here(factory):
            meta = local.call(describe_built, factory, device)
            return _run_job(location, factory, meta, device, local, **options)
    if executor == "ray":
        with RayActorPool(factory, address=ray_address, actors=actors, device=device) as pool:
            meta = pool.call(describe_built, factory, pool.actor_device)
            return _run_job(location, factory, meta, pool.actor_device, pool, **options)
    raise ConfigError(f"unknown --executor {executor!r}; choose local or ray")
