"""``wmhub generate``: plan shards, run them (1..N workers), resume, finalize.

Life of a job in OUT (:mod:`wmhub.jobs.engine`):

1. ``.wmhub-job.json`` is written (what is being generated, which episode range).
2. Each task (:class:`~wmhub.generation.shard_task.ShardTask`) writes its shard
   files atomically under their final names.
3. Finalize: the dataset card, then ``manifest.json`` (atomic replace), then the
   job file is removed.

A job killed at any point leaves complete shards and a job file; ``--resume``
keeps the complete shards, redoes the rest and finalizes. Because shard bytes
depend only on (config, episode range) and the manifest only on the shards,
the result is byte-identical to an uninterrupted run, for any worker count.

This module says what a generation job is (its options, its shards, its
manifest); the job file, the lock, the destinations (a local path or an fsspec
URL such as ``s3://bucket/prefix``) and the executors (``local``: this process
or a pool of spawned processes; ``ray``: one Ray task per shard) are
:mod:`wmhub.jobs`'s.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from importlib.metadata import version as pkg_version
from typing import Any

from pydantic import BaseModel, ValidationError

from wmhub.data.card import check_license, write_dataset_card
from wmhub.data.layout import EPISODES_CONFIG, STEPS_CONFIG, shard_path
from wmhub.data.manifest import (
    FORMAT_VERSION,
    SUPPORTED_FORMAT_VERSIONS,
    ConfigInfo,
    FeatureInfo,
    GeneratorInfo,
    Manifest,
    ShardInfo,
    extend_provenance,
)
from wmhub.envs.base import RolloutSpec
from wmhub.envs.gym_ids import gymnasium_info
from wmhub.envs.registry import get_spec
from wmhub.errors import ConfigError, DatasetMismatchError
from wmhub.generation.shard_task import ShardTask, check_existing
from wmhub.jobs.destination import Destination, LocalDestination, open_destination, worker_files
from wmhub.jobs.engine import (
    claim_job,
    environment_errors,
    finish_job,
    make_executor,
    plan_ranges,
    run_units,
    temporaries_removed_on_failure,
)
from wmhub.jobs.units import Executor, UnitResult
from wmhub.progress import Progress
from wmhub.version import __version__

# Target episodes per shard: 500 reacher episodes x 201 rows give ~200 MB of
# float16 V-JEPA 2 (1024-d) embeddings, the dataset's main payload; the state
# shards share the same episode ranges so configs stay aligned shard by shard.
DEFAULT_EPISODES_PER_SHARD = 500

#: the most episodes a dataset holds: shard names carry 8-digit episode numbers (so that appended
#: shards sort after existing ones)
MAX_EPISODES = 99_999_999

#: the most shards one job plans (per config): enough for MAX_EPISODES at the default shard size
MAX_SHARDS = 200_000


@dataclass
class GenerateResult:
    """What a generate call did.

    Attributes:
        manifest: the dataset's manifest after the call.
        shards_written: shard ranges rolled out by this call.
        shards_reused: complete shard ranges an interrupted run left, kept.
        episodes_generated: episodes rolled out by this call.
        seconds: wall time of the rollouts.
    """

    manifest: Manifest
    shards_written: int
    shards_reused: int
    episodes_generated: int
    seconds: float


def canonical_command(env: str, episodes: int, per_shard: int, config: BaseModel) -> str:
    """The command that reproduces the dataset (no OUT, worker count or resume flag,
    so the manifest does not depend on them)."""
    parts = ["wmhub", "generate", env, "OUT", "--episodes", str(episodes), "--episodes-per-shard", str(per_shard)]
    for key, value in config.model_dump().items():
        parts += [f"--{key.replace('_', '-')}", str(value)]
    return shlex.join(parts)


#: the ``steps`` config's description in the manifest, by format version
_STEPS_DESCRIPTIONS = {
    1: "one row per observation (T+1 per episode); action/reward null on the last row",
    2: "one row per observation (T+1 per episode); action/reward zero on the last row (is_last)",
}


def _config_infos(spec: RolloutSpec, format_version: int) -> list[ConfigInfo]:
    def feats(features):
        return [FeatureInfo.model_validate(f.describe()) for f in features]

    return [
        ConfigInfo(name=STEPS_CONFIG, granularity="step", description=_STEPS_DESCRIPTIONS[format_version],
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
        raise ConfigError(f"invalid {key} for `wmhub generate {spec.name}`: {first['msg']}") from exc


def _check_same_dataset(existing: Manifest, spec: RolloutSpec, config: BaseModel, out: Destination) -> None:
    wanted = config.model_dump(mode="json")
    have = {k: existing.generator.config.get(k) for k in wanted}
    if existing.generator.env != spec.name or have != wanted:
        diffs = [f"{k}: has {have.get(k)!r}, asked {v!r}" for k, v in wanted.items() if have.get(k) != v]
        if existing.generator.env != spec.name:
            diffs.insert(0, f"env: has {existing.generator.env!r}, asked {spec.name!r}")
        raise DatasetMismatchError(f"OUT {out} holds a different dataset ({'; '.join(diffs)}); "
                                   "use a new OUT, or repeat its options to append episodes")


# ---------------------------------------------------------------------- job
def generate(env: str, out: str | os.PathLike[str], episodes: int, *, options: dict[str, Any] | None = None,
             episodes_per_shard: int | None = None, workers: int = 1, resume: bool = False,
             show_progress: bool = True, executor: str | Executor = "local", ray_address: str | None = None,
             storage_options: dict[str, Any] | None = None, format_version: int | None = None,
             license: str | None = None) -> GenerateResult:
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
        format_version: the dataset format to write (docs/format.md). Default: the existing
            dataset's (a dataset keeps its format as it grows or resumes), else the current
            :data:`~wmhub.data.manifest.FORMAT_VERSION`. An older one recreates the bytes of data
            published in it (``wmhub reproduce`` does).
        license: the Hub license id the dataset card declares (``cc-by-4.0``; local ``out`` only). Default:
            the one its card already has, else apache-2.0; ``wmhub publish`` keeps it.

    Returns:
        What the call did, with the dataset's new manifest.

    Raises:
        ConfigError: an invalid option, or a growth the dataset cannot take (fewer episodes, another
            shard size, another format version, a partial download).
        DatasetMismatchError: ``out`` holds a dataset generated with other options.
        InterruptedJobError: ``out`` holds an interrupted job and ``resume`` is off (or the job is
            another one).
        AlreadyExistsError: ``out`` is a file, or a non-empty directory holding no dataset.
        UnsupportedLocationError: ``out`` is a Hub repo (``hf://``).

    Example:
        >>> import wmhub
        >>> result = wmhub.generate("reacher", "data/reacher-tiny", 4,
        ...                         options={"episode_length": 20})  # doctest: +SKIP
        >>> result.manifest.num_episodes  # doctest: +SKIP
        4
    """
    spec = get_spec(env)
    if episodes <= 0:
        raise ConfigError(f"--episodes must be positive, got {episodes}")
    if episodes > MAX_EPISODES:
        raise ConfigError(f"--episodes {episodes} is more than a dataset holds (at most {MAX_EPISODES:,}: shard "
                          "names carry 8-digit episode numbers); generate fewer episodes")
    if episodes_per_shard is not None and episodes_per_shard <= 0:
        raise ConfigError(f"--episodes-per-shard must be positive, got {episodes_per_shard}")
    if episodes_per_shard is not None:
        _check_shard_count(episodes, episodes_per_shard)
    if workers <= 0:
        raise ConfigError(f"--workers must be positive, got {workers}")
    if format_version is not None and format_version not in SUPPORTED_FORMAT_VERSIONS:
        raise ConfigError(f"format_version {format_version!r} is not one this wmhub writes; choose one of "
                          f"{', '.join(map(str, SUPPORTED_FORMAT_VERSIONS))}")
    if license is not None:
        license = check_license(license)
        if "://" in str(out):
            raise ConfigError("--license is written into a local dataset's card; for an fsspec OUT set it when "
                              "publishing (`wmhub publish DIR DEST --license ID`)")
    config = _validate_config(spec, options or {})
    runner = make_executor(executor, workers, ray_address)
    with environment_errors(out):  # a full or read-only disk, a path too long: one line naming OUT
        dest = open_destination(out, storage_options)
        dest.check_and_create()
        with dest.lock(), temporaries_removed_on_failure(dest):
            result = _generate_locked(spec, dest, episodes, config, episodes_per_shard, runner, resume, show_progress,
                                      format_version)
            if license is not None and isinstance(dest, LocalDestination):  # the card keeps it from now on
                write_dataset_card(dest.path, result.manifest, spec, license=license)
            return result


def _check_shard_count(episodes: int, per_shard: int) -> None:
    """Refuse a plan of more than :data:`MAX_SHARDS` shards before it is made (it would fill memory)."""
    shards = -(-episodes // per_shard)
    if shards > MAX_SHARDS:
        raise ConfigError(f"--episodes {episodes} at --episodes-per-shard {per_shard} makes {shards:,} shards, more "
                          f"than one job plans ({MAX_SHARDS:,}); raise --episodes-per-shard")


def _episodes_per_shard(existing: Manifest | None, per_shard: int | None, out: Destination) -> int:
    """Episodes per shard: as asked, else the existing dataset's; growing requires its value."""
    if per_shard is None:
        per_shard = int(existing.generator.config.get("episodes_per_shard", DEFAULT_EPISODES_PER_SHARD)) \
            if existing else DEFAULT_EPISODES_PER_SHARD
    if existing is not None:
        if existing.subset is not None:
            raise ConfigError(f"{out} is a partial download ({existing.subset}); download the whole dataset "
                              "before growing it")
        if existing.generator.config.get("episodes_per_shard") != per_shard:
            raise ConfigError(f"{out} was generated with --episodes-per-shard "
                              f"{existing.generator.config.get('episodes_per_shard')}; grow it with the same value "
                              "so its manifest command still reproduces it")
    return per_shard


def _format_version(existing: Manifest | None, found: dict[str, Any] | None, asked: int | None,
                    out: Destination) -> int:
    """The format the job writes: the existing dataset's, else an interrupted first job's (a job file that
    names none was written before format 2, so its shards are format 1), else ``asked`` or the current one."""
    if existing is not None:
        have, what = existing.format_version, "holds"
    elif found is not None and found.get("kind", "generate") == "generate":
        have, what = found.get("format_version", 1), "holds an interrupted job writing"
        if have not in SUPPORTED_FORMAT_VERSIONS:
            raise ConfigError(f"the interrupted job in {out} writes format_version {have!r}, which this wmhub does "
                              "not write; finish it with the wmhub that started it, or generate into a new OUT")
    else:
        return FORMAT_VERSION if asked is None else asked
    if asked is not None and asked != have:
        raise ConfigError(f"{out} {what} format_version {have} data, asked for {asked}; a dataset keeps its "
                          "format as it grows: generate into a new OUT for the other format")
    return have


def _check_complete(spec: RolloutSpec, dest: Destination, ranges: list[tuple[int, int]],
                    recorded: dict[str, str] | None,
                    format_version: int) -> tuple[list[ShardInfo], list[tuple[int, int]]]:
    """Check the shard pairs an interrupted run left (read on the driver, see
    :func:`~wmhub.generation.shard_task.check_existing`): the entries of those kept, and the
    ranges to generate again (each named on stderr with the reason)."""
    if not ranges:
        return [], []
    infos: list[ShardInfo] = []
    redo: list[tuple[int, int]] = []
    with worker_files(dest.location, dest.storage_options, prefix="wmhub-describe-") as files:
        for start, end in ranges:
            for config in (STEPS_CONFIG, EPISODES_CONFIG):
                files.fetch(shard_path(config, start, end))
            checked = check_existing(spec, files.root, start, end, recorded, format_version)
            if isinstance(checked, str):
                print(f"wmhub generate: {checked}; regenerating episodes [{start}, {end})", file=sys.stderr)
                redo.append((start, end))
            else:
                infos += checked
        return infos, redo


def _generate_locked(spec: RolloutSpec, dest: Destination, episodes: int, config: BaseModel, per_shard: int | None,
                     runner: Executor, resume: bool, show_progress: bool, asked_format: int | None) -> GenerateResult:
    dest.remove_stale_temporaries()  # we hold the lock: any temporary file is a dead writer's
    existing = dest.read_manifest()
    if existing is not None:
        _check_same_dataset(existing, spec, config, dest)
    per_shard = _episodes_per_shard(existing, per_shard, dest)
    _check_shard_count(episodes, per_shard)
    found = dest.read_job()
    format_version = _format_version(existing, found, asked_format, dest)
    job_content = {"kind": "generate", "env": spec.name, "config": config.model_dump(mode="json"), "episodes": episodes,
                   "episodes_per_shard": per_shard, "format_version": format_version}
    if found is not None and existing is not None and existing.num_episodes == episodes and \
            found.get("kind") != "generate":
        # another kind of job (encode) was interrupted after generation finished: nothing to generate
        return GenerateResult(existing, 0, 0, 0, 0.0)
    # a job file written before format 2 names no format_version (its format is the one chosen above)
    claimed = {k: v for k, v in job_content.items() if k != "format_version" or found is None or k in found}
    job = claim_job(dest, claimed, resume=resume)
    recorded: dict[str, str] | None = {}  # shard path -> SHA-256 of the shards this job saw finished
    if job is not None:
        start = int(job["episode_start"])
        recorded = job.get("shards")  # None: a job file that records no checksums (structure checked only)
        if recorded is not None and not isinstance(recorded, dict):
            recorded = {}
    else:
        start = existing.num_episodes if existing else 0
        if episodes < start:
            raise ConfigError(f"{dest} already holds {start} episodes; --episodes {episodes} would shrink it "
                              "(datasets only grow: generate into a new OUT)")
        if episodes == start:
            assert existing is not None
            return GenerateResult(existing, 0, 0, 0, 0.0)
        dest.write_job({**job_content, "episode_start": start, "shards": {}})

    dest.remove_stale_temporaries()
    ranges = plan_ranges(start, episodes, per_shard)
    complete = [r for r in ranges if all(dest.exists(shard_path(c, *r)) for c in (STEPS_CONFIG, EPISODES_CONFIG))]
    reused, redo = _check_complete(spec, dest, complete, recorded, format_version)
    redo_ranges = set(redo)
    done = [r for r in complete if r not in redo_ranges]
    done_ranges = set(done)
    todo = [r for r in ranges if r not in done_ranges]
    job_file = {**job_content, "episode_start": start, "shards": {s.path: s.sha256 for s in reused}}
    if job is not None and job_file != job:
        dest.write_job(job_file)

    def record(result: UnitResult) -> None:  # the job file names each finished shard and its SHA-256
        job_file["shards"].update({s.path: s.sha256 for s in result.shards})
        dest.write_job(job_file)

    remaining_episodes = sum(b - a for a, b in todo)
    progress = Progress(remaining_episodes, "ep", "transitions", f"generate {spec.name}", enabled=show_progress)
    config_json = config.model_dump_json()
    tasks = [ShardTask(spec.name, config_json, dest.location, a, b, dest.storage_options, format_version)
             for a, b in todo]
    written = [info for result in run_units(runner, tasks, progress, record) for info in result.shards]

    kept = [s for s in existing.shards if s.episode_end <= start] if existing else []
    order = {STEPS_CONFIG: 0, EPISODES_CONFIG: 1}
    shards = sorted(kept + reused + written, key=lambda s: (order.get(s.config, 2), s.config, s.episode_start))
    versions = _versions(spec)
    manifest = Manifest(
        format_version=format_version,
        generator=GeneratorInfo(env=spec.name, seed=int(getattr(config, "seed", 0)),
                                command=canonical_command(spec.name, episodes, per_shard, config),
                                config={"episodes": episodes, "episodes_per_shard": per_shard,
                                        **config.model_dump(mode="json")},
                                # format 1 manifests stay readable by the wmhub versions that wrote format 1
                                gymnasium=(gymnasium_info(spec.name, config.model_dump(mode="json"))
                                           if format_version >= 2 else None)),
        # `versions` stay those that created the dataset; `provenance` says which versions made which episodes
        versions=existing.versions if existing else versions,
        provenance=extend_provenance(existing, start, episodes, versions),
        num_episodes=episodes, configs=_merge_configs(_config_infos(spec, format_version), existing),
        shards=shards)
    finish_job(dest, manifest, spec)  # card, then manifest.json last, then the job file goes
    return GenerateResult(manifest, len(todo), len(done), remaining_episodes, progress.elapsed)
