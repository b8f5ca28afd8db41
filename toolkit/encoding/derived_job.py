"""Jobs that add a config derived from the step shards (embeddings, stored frames).

Shard i of the derived config covers exactly the episode range (and rows, in
order) of step shard i. The job is resumable like generation: a job file
names what is being built, complete shards exist only under their final
names, the manifest is written last, and a re-run skips the ranges the
manifest already lists for the config (after a dataset grows, running the
job again fills in only the new shards).

The dataset is a local directory or an fsspec URL (``s3://bucket/prefix``); the
driver reaches it through the destinations of :mod:`wmhub.generation.job` (OS
lock or remote lease, job file, card then manifest last). Each shard is one unit
of work, :func:`build_derived_shard`, run by a *runner*:

* :class:`LocalDerivedRunner` -- this process, one shard after the other (the
  encoder is loaded once; rendering overlaps in worker processes);
* :class:`wmhub.encoding.ray_runner.RayDerivedRunner` -- a pool of Ray actors, each
  building the config (loading the encoder) once and taking shards from a queue.

The bytes of a shard depend only on the step shard and the config, so both
runners write the same files.

Why not generate's :class:`~wmhub.generation.job.Executor`: its tasks are
stateless rollouts described by a ``TaskSet`` (environment, config, ranges), while
a derived shard needs a loaded model, which should live in a long-lived worker
(an actor) rather than be reloaded per task. The Ray plumbing both share is in
:mod:`wmhub.ray_support`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from wmhub.data.layout import STEPS_CONFIG, shard_path
from wmhub.data.manifest import ConfigInfo, Manifest, ShardInfo
from wmhub.data.remote_fs import RemoteDir, is_remote, local_path
from wmhub.data.shard_io import read_parquet
from wmhub.envs.base import get_spec
from wmhub.errors import InterruptedJobError, WmhubError
from wmhub.fileio import resolve_inside, sha256_file
from wmhub.progress import Progress


class DerivedConfig(Protocol):
    """What a derived-config job needs to know about the config it builds."""

    kind: str          # job kind shown to users: "encode", "frames"
    name: str          # config name
    extension: str     # shard file extension
    identity: dict     # what must match for shards to be reused

    def config_info(self) -> ConfigInfo:
        """The manifest entry of the config."""

    def build_shard(self, steps: pa.Table, path: Path, progress: Progress) -> tuple[int, dict]:
        """Write the shard for one step shard to ``path`` atomically; return (rows, stats).

        ``progress`` is anything with :meth:`Progress.update` (a Ray worker passes a relay)."""

    def describe_shard(self, path: Path) -> tuple[int, dict]:
        """(rows, stats) of a shard written by an interrupted run."""


class DerivedFactory(Protocol):
    """A picklable recipe for a :class:`DerivedConfig`, built once per worker (this process or each
    Ray actor), so heavy state such as a model is created where it runs, once.

    Attributes:
        accelerated: the config runs a model that a GPU speeds up (Ray gives its actors ``num_gpus=1``
            when the cluster has GPUs); False for the state encoder and stored frames.
        render_workers: render processes each worker spawns (Ray reserves a CPU for each).
        cpu_threads: torch CPU threads for the model (None: torch's default locally, 1 in a Ray actor).
    """

    accelerated: bool
    render_workers: int
    cpu_threads: int | None

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


@dataclass(frozen=True)
class ShardWork:
    """One unit of work: build ``path`` (relative to the dataset) from ``step_shard``."""

    step_shard: ShardInfo
    path: str

    @property
    def key(self) -> str:
        """``<start>-<end>``: names the unit in progress reports and error messages."""
        return f"{self.step_shard.episode_start}-{self.step_shard.episode_end}"


@dataclass(frozen=True)
class DerivedTasks:
    """The shards a job must build, and where: everything a runner needs, all of it picklable."""

    location: str                   # an absolute local path or an fsspec URL
    shards: list[ShardWork]
    resume: bool                    # reuse a complete shard an interrupted run left
    storage_options: dict[str, Any] | None = None


@dataclass
class DerivedResult:
    """What a derived-config job did."""

    config: str
    shards_written: int
    shards_reused: int
    rows_processed: int
    seconds: float


class DerivedRunner(Protocol):
    """Runs a job's :class:`ShardWork` units (each one :func:`build_derived_shard`).

    ``meta`` describes the config the runner's workers build. ``run`` returns ``(entry, reused)``
    for every unit, in any order; it must report progress as rows complete (``progress.update(rows,
    rows)``, reused rows as ``(rows, 0)``) and raise, leaving the job file for ``--resume``, if a
    unit fails for good.
    """

    name: str
    meta: DerivedMeta

    def run(self, tasks: DerivedTasks, progress: Progress) -> list[tuple[ShardInfo, bool]]: ...


# ------------------------------------------------------------------ one shard
def _entry(path: Path, work: ShardWork, config: str, rows: int, stats: dict) -> ShardInfo:
    step = work.step_shard
    if rows != step.num_rows:
        raise WmhubError(f"{work.path} holds {rows} rows but {step.path} has {step.num_rows}; "
                         f"delete {work.path} and re-run")
    return ShardInfo(config=config, path=work.path, sha256=sha256_file(path), num_bytes=path.stat().st_size,
                     num_rows=rows, episode_start=step.episode_start, episode_end=step.episode_end, stats=stats)


def build_derived_shard(derived: DerivedConfig, location: str, work: ShardWork, *, resume: bool, progress: Progress,
                        storage_options: dict[str, Any] | None = None) -> tuple[ShardInfo, bool]:
    """Build one derived shard on any worker; returns its manifest entry and whether it was reused.

    A local ``location`` is read and written in place (the config writes a temporary name, then
    renames). A remote one: the step shard is downloaded to a worker-local scratch directory, the
    derived shard is written there and uploaded under its final key (an atomic PUT; see
    :mod:`wmhub.data.remote_fs`), so the bytes are the same. With ``resume``, a complete shard
    that an interrupted run left is described and kept instead of rebuilt.
    """
    rows_total = work.step_shard.num_rows
    if not is_remote(location):
        root = local_path(location)
        target = resolve_inside(root, work.path)
        if resume and target.is_file():
            rows, stats = derived.describe_shard(target)
            progress.update(rows_total, 0)
            return _entry(target, work, derived.name, rows, stats), True
        steps = read_parquet(resolve_inside(root, work.step_shard.path))
        rows, stats = derived.build_shard(steps, target, progress)
        return _entry(target, work, derived.name, rows, stats), False
    rdir = RemoteDir(location, storage_options)
    rdir.refresh()
    with tempfile.TemporaryDirectory(prefix="wmhub-derive-") as tmp:
        target = resolve_inside(tmp, work.path)
        if resume and rdir.is_file(work.path):
            rdir.get_file(work.path, target)
            rows, stats = derived.describe_shard(target)
            progress.update(rows_total, 0)
            return _entry(target, work, derived.name, rows, stats), True
        source = resolve_inside(tmp, work.step_shard.path)
        rdir.get_file(work.step_shard.path, source)
        rows, stats = derived.build_shard(read_parquet(source), target, progress)
        entry = _entry(target, work, derived.name, rows, stats)  # checks the rows before uploading
        rdir.put_file(target, work.path)
        return entry, False


class LocalDerivedRunner:
    """This process: the config is built (its model loaded) once, shards run one after the other."""

    name = "local"

    def __init__(self, derived: DerivedConfig, cpu_threads: int | None = None) -> None:
        self.derived = derived
        self.meta = DerivedMeta.of(derived)
        self.cpu_threads = cpu_threads

    def run(self, tasks: DerivedTasks, progress: Progress) -> list[tuple[ShardInfo, bool]]:
        import torch

        threads = torch.get_num_threads()
        if self.cpu_threads:
            torch.set_num_threads(self.cpu_threads)
        try:
            return [build_derived_shard(self.derived, tasks.location, work, resume=tasks.resume, progress=progress,
                                        storage_options=tasks.storage_options) for work in tasks.shards]
        finally:
            torch.set_num_threads(threads)


# ------------------------------------------------------------------ the job
def open_destination(location: str | Path, storage_options: dict[str, Any] | None = None):
    """The dataset at ``location`` (a path or an fsspec URL) as a generate destination (lock or lease,
    job file, manifest, card-then-manifest finalize)."""
    from wmhub.data.remote_fs import protocol_of
    from wmhub.generation.job import destination_for

    if protocol_of(location) == "hf":
        raise WmhubError(f"{location} is a Hub repo, not a dataset directory: `wmhub download` it, encode the "
                         "local copy, then `wmhub publish` it")
    return destination_for(location, storage_options)


def read_manifest_at(dest) -> Manifest:
    """The manifest of the dataset at ``dest``, or an error saying none is there."""
    manifest = dest.read_manifest()
    if manifest is None:
        raise WmhubError(f"{dest} holds no wmhub dataset (no manifest.json); create one with `wmhub generate`, "
                         "or finish an interrupted generate job with --resume")
    return manifest


def _check_job(dest, job: dict, resume: bool) -> None:
    found = dest.read_job()
    if found is None:
        dest.write_job(job)
        return
    if not resume:
        raise InterruptedJobError(f"{dest} holds an interrupted {found.get('kind', 'generate')} job; "
                                  "re-run that command with --resume")
    if found != job:
        raise WmhubError(f"the interrupted job in {dest} is {_json_text(found)[:200]}; resume it with its own command")


def _json_text(data: Any) -> str:
    """Compact, key-sorted JSON for messages."""
    import json

    return json.dumps(data, sort_keys=True)


def run_derived_job(location: str | Path, runner: DerivedRunner, *, resume: bool, show_progress: bool,
                    unit: str = "step", rate_unit: str = "rows",
                    storage_options: dict[str, Any] | None = None) -> DerivedResult:
    """Build ``runner.meta``'s config for every step shard it does not cover yet (see module docstring)."""
    meta = runner.meta
    dest = open_destination(location, storage_options)
    with dest.lock():
        manifest = read_manifest_at(dest)
        existing = next((c for c in manifest.configs if c.name == meta.name), None)
        if existing is not None and existing.extra.get("identity") != meta.identity:
            raise WmhubError(f"{dest} already has config {meta.name!r} built differently "
                             f"({_json_text(existing.extra.get('identity'))[:200]}); "
                             "remove that config first or choose other options")
        _check_job(dest, {"kind": meta.kind, "config": meta.name, "identity": meta.identity}, resume)
        dest.remove_stale_temporaries()
        listed = {(s.episode_start, s.episode_end): s for s in manifest.shards if s.config == meta.name}
        todo = [ShardWork(s, shard_path(meta.name, s.episode_start, s.episode_end, meta.extension))
                for s in manifest.shards_of(STEPS_CONFIG) if (s.episode_start, s.episode_end) not in listed]
        rows = sum(w.step_shard.num_rows for w in todo)
        progress = Progress(rows, unit, rate_unit, f"{meta.kind} {meta.name}", enabled=show_progress)
        try:
            done = runner.run(DerivedTasks(dest.location, todo, resume, storage_options), progress) if todo else []
        finally:
            progress.close()
        new = [info for info, _ in done]
        reused = sum(1 for _, was_reused in done if was_reused)
        configs = [c for c in manifest.configs if c.name != meta.name] + [meta.info]
        shards = [s for s in manifest.shards if s.config != meta.name] + sorted(
            list(listed.values()) + new, key=lambda s: s.episode_start)
        updated = manifest.model_copy(update={"configs": configs, "shards": shards})
        dest.finalize(updated, get_spec(manifest.generator.env))  # card, then manifest.json last
        dest.remove_job()
        return DerivedResult(meta.name, len(todo) - reused, reused, rows, progress.elapsed)


def run_derived(location: str | Path, factory: DerivedFactory, *, device: str = "auto", executor: str = "local",
                ray_address: str | None = None, actors: int | None = None, resume: bool = False,
                show_progress: bool = True, unit: str = "step", rate_unit: str = "rows",
                storage_options: dict[str, Any] | None = None) -> DerivedResult:
    """Build ``factory``'s config for ``location`` with the ``local`` or ``ray`` executor.

    ``local``: the config is built here (its model on ``device``) and shards run in this process.
    ``ray``: a pool of actors on the Ray cluster at ``ray_address`` (see
    :mod:`wmhub.encoding.ray_runner` for how ``device`` maps to GPUs and ``actors`` to the pool).
    """
    if executor == "local":
        if ray_address or actors:
            raise WmhubError(f"--{'ray-address' if ray_address else 'ray-actors'} needs --executor ray")
        runner = LocalDerivedRunner(factory.build(device), factory.cpu_threads)
        return run_derived_job(location, runner, resume=resume, show_progress=show_progress, unit=unit,
                               rate_unit=rate_unit, storage_options=storage_options)
    if executor == "ray":
        from wmhub.encoding.ray_runner import RayDerivedRunner

        with RayDerivedRunner(factory, address=ray_address, actors=actors, device=device) as runner:
            return run_derived_job(location, runner, resume=resume, show_progress=show_progress, unit=unit,
                                   rate_unit=rate_unit, storage_options=storage_options)
    raise WmhubError(f"unknown --executor {executor!r}; choose local or ray")
