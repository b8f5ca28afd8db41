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
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue as queue_mod
import shlex
import sys
from dataclasses import dataclass
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from toolkit import __version__
from toolkit.data.card import write_dataset_card
from toolkit.data.layout import (EPISODES_CONFIG, JOB_NAME, LOCK_NAME, STEPS_CONFIG, is_temporary,
                                 remove_stale_temporaries)
from toolkit.data.locking import dataset_lock
from toolkit.data.manifest import (MANIFEST_NAME, ConfigInfo, FeatureInfo, GeneratorInfo, Manifest,
                                   ShardInfo)
from toolkit.envs.base import RolloutSpec, get_spec
from toolkit.errors import DatasetMismatchError, InterruptedJobError, WmhubError
from toolkit.fileio import atomic_write_json
from toolkit.generate.shard_task import describe_existing, run_shard_task, shard_complete
from toolkit.progress import Progress
from toolkit.workers import die_with_parent

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


def _worker_init(progress_queue) -> None:  # pragma: no cover - runs in subprocesses
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = progress_queue
    die_with_parent()


def _worker_task(env: str, config_json: str, root: str, start: int, end: int) -> list[dict]:
    spec = get_spec(env)
    infos = run_shard_task(spec, config_json, Path(root), start, end,
                           on_episode=lambda steps: _PROGRESS_QUEUE.put(steps))
    return [info.model_dump(mode="json") for info in infos]


def _run_tasks(spec: RolloutSpec, config_json: str, out: Path, ranges: list[tuple[int, int]],
               workers: int, progress: Progress) -> list[ShardInfo]:
    infos: list[ShardInfo] = []
    if workers <= 1 or len(ranges) <= 1:
        for start, end in ranges:
            infos += run_shard_task(spec, config_json, out, start, end,
                                    on_episode=lambda steps: progress.update(1, steps))
        return infos
    ctx = mp.get_context("spawn")  # no inherited simulator or GL state
    progress_queue = ctx.Queue()
    with ctx.Pool(min(workers, len(ranges)), initializer=_worker_init, initargs=(progress_queue,)) as pool:
        pending = [pool.apply_async(_worker_task, (spec.name, config_json, str(out), a, b)) for a, b in ranges]
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


def generate(env: str, out: str | os.PathLike[str], episodes: int, *, options: dict[str, Any] | None = None,
             episodes_per_shard: int | None = None, workers: int = 1, resume: bool = False,
             show_progress: bool = True) -> GenerateResult:
    """Generate (or grow) the rollout dataset of ``env`` in ``out``.

    Args:
        env: environment name (``wmhub generate --help`` lists them).
        out: dataset directory; created if missing.
        episodes: total number of episodes the dataset must hold. Larger than
            the existing count appends shards for the new range only.
        options: the environment's config (policy, epsilon, seed, ...).
        episodes_per_shard: episodes per shard; default: the existing dataset's value when
            growing, else 500. Growing requires the value the dataset was made with.
        workers: parallel processes; the output does not depend on it. Workers are
            *spawned*, so a script calling this with ``workers > 1`` needs the usual
            ``if __name__ == "__main__":`` guard.
        resume: continue an interrupted job in ``out``.
        show_progress: draw a progress bar on stderr.
    """
    spec = get_spec(env)
    if episodes <= 0:
        raise WmhubError(f"--episodes must be positive, got {episodes}")
    if episodes_per_shard is not None and episodes_per_shard <= 0:
        raise WmhubError(f"--episodes-per-shard must be positive, got {episodes_per_shard}")
    if workers <= 0:
        raise WmhubError(f"--workers must be positive, got {workers}")
    config = _validate_config(spec, options or {})
    out = Path(out)
    _check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    with dataset_lock(out):
        return _generate_locked(spec, out, episodes, config, episodes_per_shard, workers, resume, show_progress)


def _generate_locked(spec: RolloutSpec, out: Path, episodes: int, config: BaseModel, per_shard: int | None,
                     workers: int, resume: bool, show_progress: bool) -> GenerateResult:
    remove_stale_temporaries(out)  # we hold the lock: any temporary file is a dead writer's
    existing = Manifest.read(out) if (out / MANIFEST_NAME).exists() else None
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
    job_path = out / JOB_NAME
    job_content = {"kind": "generate", "env": spec.name, "config": config.model_dump(mode="json"), "episodes": episodes,
                   "episodes_per_shard": per_shard}
    if job_path.exists() and existing is not None and existing.num_episodes == episodes and \
            json.loads(job_path.read_text(encoding="utf-8")).get("kind") != "generate":
        # another kind of job (encode) was interrupted after generation finished: nothing to generate
        return GenerateResult(existing, 0, 0, 0, 0.0)
    if job_path.exists():
        job = json.loads(job_path.read_text(encoding="utf-8"))
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
        atomic_write_json(job_path, {**job_content, "episode_start": start})

    remove_stale_temporaries(out)
    ranges = plan_ranges(start, episodes, per_shard)
    done = [r for r in ranges if shard_complete(out, *r)]
    todo = [r for r in ranges if r not in done]
    reused = [info for r in done for info in describe_existing(spec, out, *r)]
    remaining_episodes = sum(b - a for a, b in todo)
    progress = Progress(remaining_episodes, "ep", "transitions", f"generate {spec.name}", enabled=show_progress)
    try:
        written = _run_tasks(spec, config_json, out, todo, workers, progress)
    finally:
        progress.close()

    kept = [s for s in existing.shards if s.episode_end <= start] if existing else []
    order = {STEPS_CONFIG: 0, EPISODES_CONFIG: 1}
    shards = sorted(kept + reused + written, key=lambda s: (order.get(s.config, 2), s.config, s.episode_start))
    manifest = Manifest(
        generator=GeneratorInfo(env=spec.name, seed=int(getattr(config, "seed", 0)),
                                command=canonical_command(spec.name, episodes, per_shard, config),
                                config={"episodes": episodes, "episodes_per_shard": per_shard,
                                        **config.model_dump(mode="json")}),
        versions=_versions(spec), num_episodes=episodes, configs=_merge_configs(_config_infos(spec), existing),
        shards=shards)
    write_dataset_card(out, manifest, spec)
    manifest.write(out)
    job_path.unlink()
    return GenerateResult(manifest, len(todo), len(done), remaining_episodes, progress.elapsed)
