"""``wmhub generate``: plan shards, run them (1..N workers), resume, finalize.

Life of a job in OUT:

1. ``.wmhub-job.json`` is written (what is being generated, which episode range).
2. Each task writes its shard files atomically under their final names.
3. Finalize: the dataset card, then ``manifest.json`` (atomic replace), then the
   job file is removed.

A job killed at any point leaves complete shards and a job file; ``--resume``
keeps the complete shards, redoes the rest and finalizes. Because shard bytes
depend only on (config, episode range) and the manifest only on the shards,
the result is byte-identical to an uninterrupted run, for any worker count.

Planning, resume and finalize live here, once. Running the tasks is an
:class:`Executor`'s: ``local`` (this process, or a pool of spawned processes) or
``ray`` (one Ray task per shard, :mod:`wmhub.generation.ray_executor`). OUT is a
local path or an fsspec URL (``s3://bucket/prefix``, :mod:`wmhub.data.remote_fs`);
tasks write their shards straight to it either way.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue as queue_mod
import shlex
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from wmhub.data.card import render_dataset_card, write_dataset_card
from wmhub.data.layout import (
    CARD_NAME,
    EPISODES_CONFIG,
    JOB_NAME,
    LOCK_NAME,
    STEPS_CONFIG,
    is_temporary,
    remove_stale_temporaries,
    shard_path,
)
from wmhub.data.locking import dataset_lock
from wmhub.data.manifest import (
    MANIFEST_NAME,
    ConfigInfo,
    FeatureInfo,
    GeneratorInfo,
    Manifest,
    ShardInfo,
    extend_provenance,
)
from wmhub.data.remote_fs import RemoteDir, is_remote, local_path, remote_lease
from wmhub.envs.base import RolloutSpec, get_spec
from wmhub.errors import DatasetMismatchError, InterruptedJobError, WmhubError
from wmhub.fileio import atomic_write_json, dumps_json
from wmhub.generation.shard_task import describe_existing, run_shard_task, shard_complete
from wmhub.progress import Progress
from wmhub.version import __version__
from wmhub.workers import die_with_parent

# Target episodes per shard: 500 reacher episodes x 201 rows give ~200 MB of
# float16 V-JEPA 2 (1024-d) embeddings, the dataset's main payload; the state
# shards share the same episode ranges so configs stay aligned shard by shard.
DEFAULT_EPISODES_PER_SHARD = 500


@dataclass
class GenerateResult:
    """What a generate call did."""

    manifest: Manifest
    shards_written: int
    shards_reused: int
    episodes_generated: int
    seconds: float


def plan_ranges(start: int, end: int, per_shard: int) -> list[tuple[int, int]]:
    """Contiguous episode ranges [a, b) of at most ``per_shard`` covering [start, end)."""
    return [(a, min(a + per_shard, end)) for a in range(start, end, per_shard)]


def canonical_command(env: str, episodes: int, per_shard: int, config: BaseModel) -> str:
    """The command that reproduces the dataset (no OUT, worker count or resume flag,
    so the manifest does not depend on them)."""
    parts = ["wmhub", "generate", env, "OUT", "--episodes", str(episodes), "--episodes-per-shard", str(per_shard)]
    for key, value in config.model_dump().items():
        parts += [f"--{key.replace('_', '-')}", str(value)]
    return shlex.join(parts)


def _config_infos(spec: RolloutSpec) -> list[ConfigInfo]:
    def feats(features):
        return [FeatureInfo.model_validate(f.describe()) for f in features]

    return [
        ConfigInfo(name=STEPS_CONFIG, granularity="step",
                   description="one row per observation (T+1 per episode); action/reward null on the last row",
                   features=feats(spec.step_features), latent_features=list(spec.latent_features)),
        ConfigInfo(name=EPISODES_CONFIG, granularity="episode", description="one row per episode",
                   features=feats(spec.episode_features)),
    ]


def _merge_configs(base: list[ConfigInfo], existing: Manifest | None) -> list[ConfigInfo]:
    """Keep configs added later (embeddings) when a dataset grows; they cover the old
    episodes until `wmhub encode` is run again, which fills in the new shards."""
    names = {c.name for c in base}
    return base + [c for c in existing.configs if c.name not in names] if existing else base


def _versions(spec: RolloutSpec) -> dict[str, str]:
    versions = {"wmhub": __version__, "python": ".".join(map(str, sys.version_info[:3])),
                "numpy": pkg_version("numpy"), "pyarrow": pkg_version("pyarrow")}
    versions.update(spec.versions())
    return versions


def _validate_config(spec: RolloutSpec, options: dict[str, Any]) -> BaseModel:
    try:
        return spec.config_cls.model_validate(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "config"
        raise WmhubError(f"invalid {key} for `wmhub generate {spec.name}`: {first['msg']}") from exc


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise WmhubError(f"OUT {out} exists and is not a directory; choose another path")
    if out.is_dir() and not (out / MANIFEST_NAME).exists() and not (out / JOB_NAME).exists():
        stray = [p.name for p in out.iterdir() if p.name != LOCK_NAME and not is_temporary(p.name)]
        if stray:
            raise WmhubError(f"OUT {out} is not empty and holds no wmhub dataset ({stray[0]}, ...); "
                             "choose an empty or new directory")


def _check_same_dataset(existing: Manifest, spec: RolloutSpec, config: BaseModel, out: Path) -> None:
    wanted = config.model_dump(mode="json")
    have = {k: existing.generator.config.get(k) for k in wanted}
    if existing.generator.env != spec.name or have != wanted:
        diffs = [f"{k}: has {have.get(k)!r}, asked {v!r}" for k, v in wanted.items() if have.get(k) != v]
        if existing.generator.env != spec.name:
            diffs.insert(0, f"env: has {existing.generator.env!r}, asked {spec.name!r}")
        raise DatasetMismatchError(f"OUT {out} holds a different dataset ({'; '.join(diffs)}); "
                                   "use a new OUT, or repeat its options to append episodes")


# ------------------------------------------------------------------ destinations
class _LocalDestination:
    """OUT on a local (or mounted network) filesystem: atomic renames and an OS file lock."""

    remote = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path.resolve())  # what tasks get: absolute, for workers with another cwd

    def __str__(self) -> str:
        return str(self.path)

    def check_and_create(self) -> None:
        _check_out_dir(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

    def lock(self):
        return dataset_lock(self.path)

    def remove_stale_temporaries(self) -> None:
        remove_stale_temporaries(self.path)

    def read_manifest(self) -> Manifest | None:
        return Manifest.read(self.path) if (self.path / MANIFEST_NAME).exists() else None

    def read_job(self) -> dict | None:
        job_path = self.path / JOB_NAME
        return json.loads(job_path.read_text(encoding="utf-8")) if job_path.exists() else None

    def write_job(self, job: dict) -> None:
        atomic_write_json(self.path / JOB_NAME, job)

    def remove_job(self) -> None:
        (self.path / JOB_NAME).unlink()

    def shard_complete(self, start: int, end: int) -> bool:
        return shard_complete(self.path, start, end)

    def describe_existing(self, spec: RolloutSpec, start: int, end: int) -> list[ShardInfo]:
        return describe_existing(spec, self.path, start, end)

    def finalize(self, manifest: Manifest, spec: RolloutSpec) -> None:
        write_dataset_card(self.path, manifest, spec)
        manifest.write(self.path)


class _RemoteDestination:
    """OUT on an fsspec filesystem (``s3://...``): a lease instead of the lock; the card is
    rendered from a local copy of the (small) episodes shards, then uploaded before the manifest."""

    remote = True

    def __init__(self, url: str, storage_options: dict[str, Any] | None) -> None:
        self.dir = RemoteDir(url, storage_options)
        self.location = self.dir.url

    def __str__(self) -> str:
        return self.dir.url

    def check_and_create(self) -> None:
        self.dir.refresh()
        if self.dir.root_is_file():
            raise WmhubError(f"OUT {self} exists and is a file; choose another path")
        names = self.dir.listing()
        if names and MANIFEST_NAME not in names and JOB_NAME not in names:
            stray = [n for n in names if n != LOCK_NAME and not is_temporary(n.rsplit("/", 1)[-1])]
            if stray:
                raise WmhubError(f"OUT {self} is not empty and holds no wmhub dataset ({stray[0]}, ...); "
                                 "choose an empty or new prefix")

    def lock(self):
        return remote_lease(self.dir)

    def remove_stale_temporaries(self) -> None:
        self.dir.refresh()
        self.dir.remove_stale_temporaries()

    def read_manifest(self) -> Manifest | None:
        try:
            raw = json.loads(self.dir.read_bytes(MANIFEST_NAME))
        except FileNotFoundError:
            return None
        return Manifest.from_json_obj(raw, source=f"{self}/{MANIFEST_NAME}")

    def read_job(self) -> dict | None:
        try:
            return json.loads(self.dir.read_bytes(JOB_NAME))
        except FileNotFoundError:
            return None

    def write_job(self, job: dict) -> None:
        self.dir.write_bytes(JOB_NAME, dumps_json(job).encode("utf-8"))

    def remove_job(self) -> None:
        self.dir.remove(JOB_NAME)

    def shard_complete(self, start: int, end: int) -> bool:
        self.dir.refresh()
        return all(self.dir.is_file(shard_path(c, start, end)) for c in (STEPS_CONFIG, EPISODES_CONFIG))

    def describe_existing(self, spec: RolloutSpec, start: int, end: int) -> list[ShardInfo]:
        with tempfile.TemporaryDirectory(prefix="wmhub-describe-") as tmp:
            for config in (STEPS_CONFIG, EPISODES_CONFIG):
                rel = shard_path(config, start, end)
                self.dir.get_file(rel, Path(tmp) / rel)
            return describe_existing(spec, Path(tmp), start, end)

    def finalize(self, manifest: Manifest, spec: RolloutSpec) -> None:
        with tempfile.TemporaryDirectory(prefix="wmhub-card-") as tmp:
            for shard in manifest.shards_of(EPISODES_CONFIG):  # all the card reads besides the manifest
                self.dir.get_file(shard.path, Path(tmp) / shard.path)
            card = render_dataset_card(Path(tmp), manifest, spec.card_template)
        self.dir.write_bytes(CARD_NAME, card.encode("utf-8"))
        self.dir.write_bytes(MANIFEST_NAME, dumps_json(manifest.to_json_obj()).encode("utf-8"))


def destination_for(out: str | os.PathLike[str], storage_options: dict[str, Any] | None):
    """Where a job writes: a local dataset directory (file lock) or an fsspec URL (remote lease)."""
    if is_remote(out):
        return _RemoteDestination(os.fspath(out), storage_options)
    if storage_options:
        raise WmhubError("storage_options apply to remote (fsspec URL) destinations only")
    return _LocalDestination(local_path(out))


# --------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class TaskSet:
    """The shard tasks of one job: everything an executor needs, all of it picklable."""

    env: str
    config_json: str
    destination: str  # an absolute local path or an fsspec URL
    ranges: list[tuple[int, int]]
    storage_options: dict[str, Any] | None = None


def run_task(env: str, config_json: str, destination: str, start: int, end: int,
             on_episode: Callable[[int], None] | None = None,
             storage_options: dict[str, Any] | None = None) -> list[dict]:
    """One task, on any worker: roll out [start, end) and write its shards to ``destination``.

    A local destination gets :func:`run_shard_task`'s atomic writes in place; a remote one gets
    the same files written to a worker-local scratch directory and uploaded (episodes shard
    first, steps shard last, each an atomic PUT), so the bytes are the same. Returns the
    manifest entries as JSON-able dicts.
    """
    spec = get_spec(env)
    if not is_remote(destination):
        infos = run_shard_task(spec, config_json, local_path(destination), start, end, on_episode=on_episode)
        return [info.model_dump(mode="json") for info in infos]
    rdir = RemoteDir(destination, storage_options)
    with tempfile.TemporaryDirectory(prefix="wmhub-shard-") as tmp:
        infos = run_shard_task(spec, config_json, Path(tmp), start, end, on_episode=on_episode)
        for info in sorted(infos, key=lambda i: i.config != EPISODES_CONFIG):
            rdir.put_file(Path(tmp) / info.path, info.path)
    return [info.model_dump(mode="json") for info in infos]


class Executor(Protocol):
    """Runs a job's shard tasks (each one :func:`run_task`) and reports progress.

    ``run`` returns the manifest entries of every shard written, in any order; it must call
    ``progress.update(episodes, transitions)`` as work completes, and raise (leaving the job
    file for ``--resume``) if a task fails for good.
    """

    name: str

    def run(self, tasks: TaskSet, progress: Progress) -> list[ShardInfo]: ...


def _worker_init(progress_queue) -> None:  # pragma: no cover - runs in subprocesses
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = progress_queue
    die_with_parent()


def _worker_task(env: str, config_json: str, root: str, start: int, end: int,
                 storage_options: dict[str, Any] | None = None) -> list[dict]:
    return run_task(env, config_json, root, start, end, on_episode=lambda steps: _PROGRESS_QUEUE.put(steps),
                    storage_options=storage_options)


class LocalExecutor:
    """This machine: in-process for one worker, else a pool of ``workers`` spawned processes."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers

    def run(self, tasks: TaskSet, progress: Progress) -> list[ShardInfo]:
        infos: list[ShardInfo] = []
        ranges = tasks.ranges
        if self.workers <= 1 or len(ranges) <= 1:
            for start, end in ranges:
                infos += [ShardInfo.model_validate(d) for d in
                          run_task(tasks.env, tasks.config_json, tasks.destination, start, end,
                                   on_episode=lambda steps: progress.update(1, steps),
                                   storage_options=tasks.storage_options)]
            return infos
        ctx = mp.get_context("spawn")  # no inherited simulator or GL state
        progress_queue = ctx.Queue()
        with ctx.Pool(min(self.workers, len(ranges)), initializer=_worker_init, initargs=(progress_queue,)) as pool:
            pending = [pool.apply_async(_worker_task, (tasks.env, tasks.config_json, tasks.destination, a, b,
                                                       tasks.storage_options)) for a, b in ranges]
            while pending:
                try:
                    progress.update(1, progress_queue.get(timeout=0.2))
                except queue_mod.Empty:
                    pass
                done = [p for p in pending if p.ready()]
                for result in done:
                    infos += [ShardInfo.model_validate(d) for d in result.get()]
                    pending.remove(result)
            while True:  # drain the last progress messages
                try:
                    progress.update(1, progress_queue.get_nowait())
                except queue_mod.Empty:
                    break
        return infos


def make_executor(executor: str | Executor, workers: int = 1, ray_address: str | None = None) -> Executor:
    """``"local"`` (``workers`` processes) or ``"ray"`` (a Ray cluster at ``ray_address``; default:
    ``RAY_ADDRESS``, else a local one) or an :class:`Executor` instance."""
    if not isinstance(executor, str):
        return executor
    if executor == "local":
        if ray_address:
            raise WmhubError("--ray-address needs --executor ray")
        return LocalExecutor(workers)
    if executor == "ray":
        from wmhub.generation.ray_executor import RayExecutor

        return RayExecutor(address=ray_address)
    raise WmhubError(f"unknown --executor {executor!r}; choose local or ray")


# ---------------------------------------------------------------------- job
def generate(env: str, out: str | os.PathLike[str], episodes: int, *, options: dict[str, Any] | None = None,
             episodes_per_shard: int | None = None, workers: int = 1, resume: bool = False,
             show_progress: bool = True, executor: str | Executor = "local", ray_address: str | None = None,
             storage_options: dict[str, Any] | None = None) -> GenerateResult:
    """Generate (or grow) the rollout dataset of ``env`` in ``out``.

    Args:
        env: environment name (``wmhub generate --help`` lists them).
        out: dataset directory; created if missing. A local path, or an fsspec URL such as
            ``s3://bucket/prefix`` (the backend, e.g. s3fs, must be installed; see docs/scale-out.md).
        episodes: total number of episodes the dataset must hold. Larger than
            the existing count appends shards for the new range only.
        options: the environment's config (policy, epsilon, seed, ...).
        episodes_per_shard: episodes per shard; default: the existing dataset's value when
            growing, else 500. Growing requires the value the dataset was made with.
        workers: parallel processes of the local executor; the output does not depend on it.
            Workers are *spawned*, so a script calling this with ``workers > 1`` needs the usual
            ``if __name__ == "__main__":`` guard. Ignored by the Ray executor (the cluster's CPUs
            set the parallelism).
        resume: continue an interrupted job in ``out``.
        show_progress: draw a progress bar on stderr.
        executor: ``"local"``, ``"ray"`` (one Ray task per shard; ``pip install wmhub[ray]``) or an
            :class:`Executor`. The bytes written do not depend on it.
        ray_address: with ``executor="ray"``: the cluster (``auto``, ``ray://host:10001``);
            default ``RAY_ADDRESS``, else a local cluster is started for the job.
        storage_options: fsspec options for a remote ``out`` (e.g. ``{"endpoint_url": ...}``),
            passed to the tasks too.
    """
    spec = get_spec(env)
    if episodes <= 0:
        raise WmhubError(f"--episodes must be positive, got {episodes}")
    if episodes_per_shard is not None and episodes_per_shard <= 0:
        raise WmhubError(f"--episodes-per-shard must be positive, got {episodes_per_shard}")
    if workers <= 0:
        raise WmhubError(f"--workers must be positive, got {workers}")
    config = _validate_config(spec, options or {})
    runner = make_executor(executor, workers, ray_address)
    dest = destination_for(out, storage_options)
    dest.check_and_create()
    with dest.lock():
        return _generate_locked(spec, dest, episodes, config, episodes_per_shard, runner, resume, show_progress,
                                storage_options)


def _generate_locked(spec: RolloutSpec, dest, episodes: int, config: BaseModel, per_shard: int | None,
                     runner: Executor, resume: bool, show_progress: bool,
                     storage_options: dict[str, Any] | None) -> GenerateResult:
    out = dest  # for messages
    dest.remove_stale_temporaries()  # we hold the lock: any temporary file is a dead writer's
    existing = dest.read_manifest()
    if per_shard is None:
        per_shard = int(existing.generator.config.get("episodes_per_shard", DEFAULT_EPISODES_PER_SHARD)) \
            if existing else DEFAULT_EPISODES_PER_SHARD
    if existing is not None:
        _check_same_dataset(existing, spec, config, out)
        if existing.subset is not None:
            raise WmhubError(f"{out} is a partial download ({existing.subset}); download the whole dataset "
                             "before growing it")
        if existing.generator.config.get("episodes_per_shard") != per_shard:
            raise WmhubError(f"{out} was generated with --episodes-per-shard "
                             f"{existing.generator.config.get('episodes_per_shard')}; grow it with the same value "
                             "so its manifest command still reproduces it")
    config_json = config.model_dump_json()
    job_content = {"kind": "generate", "env": spec.name, "config": config.model_dump(mode="json"), "episodes": episodes,
                   "episodes_per_shard": per_shard}
    job = dest.read_job()
    if job is not None and existing is not None and existing.num_episodes == episodes and \
            job.get("kind") != "generate":
        # another kind of job (encode) was interrupted after generation finished: nothing to generate
        return GenerateResult(existing, 0, 0, 0, 0.0)
    if job is not None:
        if not resume or job.get("kind") != "generate":
            kind = job.get("kind", "?")
            raise InterruptedJobError(f"{out} holds an interrupted {kind} job; finish it first with "
                                      f"`wmhub {kind} ... --resume` (the command that started it)")
        if {k: job.get(k) for k in job_content} != job_content:
            raise WmhubError(f"the interrupted job in {out} was started with other options "
                             f"({json.dumps(job, sort_keys=True)}); resume it with those options")
        start = int(job["episode_start"])
    else:
        start = existing.num_episodes if existing else 0
        if episodes < start:
            raise WmhubError(f"{out} already holds {start} episodes; --episodes {episodes} would shrink it "
                             "(datasets only grow: generate into a new OUT)")
        if episodes == start:
            assert existing is not None
            return GenerateResult(existing, 0, 0, 0, 0.0)
        dest.write_job({**job_content, "episode_start": start})

    dest.remove_stale_temporaries()
    ranges = plan_ranges(start, episodes, per_shard)
    done = [r for r in ranges if dest.shard_complete(*r)]
    todo = [r for r in ranges if r not in done]
    reused = [info for r in done for info in dest.describe_existing(spec, *r)]
    remaining_episodes = sum(b - a for a, b in todo)
    progress = Progress(remaining_episodes, "ep", "transitions", f"generate {spec.name}", enabled=show_progress)
    try:
        written = runner.run(TaskSet(spec.name, config_json, dest.location, todo, storage_options), progress) \
            if todo else []
    finally:
        progress.close()

    kept = [s for s in existing.shards if s.episode_end <= start] if existing else []
    order = {STEPS_CONFIG: 0, EPISODES_CONFIG: 1}
    shards = sorted(kept + reused + written, key=lambda s: (order.get(s.config, 2), s.config, s.episode_start))
    versions = _versions(spec)
    manifest = Manifest(
        generator=GeneratorInfo(env=spec.name, seed=int(getattr(config, "seed", 0)),
                                command=canonical_command(spec.name, episodes, per_shard, config),
                                config={"episodes": episodes, "episodes_per_shard": per_shard,
                                        **config.model_dump(mode="json")}),
        # `versions` stay those that created the dataset; `provenance` says which versions made which episodes
        versions=existing.versions if existing else versions,
        provenance=extend_provenance(existing, start, episodes, versions),
        num_episodes=episodes, configs=_merge_configs(_config_infos(spec), existing), shards=shards)
    dest.finalize(manifest, spec)  # card, then manifest.json last
    dest.remove_job()
    return GenerateResult(manifest, len(todo), len(done), remaining_episodes, progress.elapsed)
