"""Jobs that add a config derived from the step shards (embeddings, stored frames).

Shard i of the derived config covers exactly the episode range (and rows, in
order) of step shard i. The job is resumable like generation: a job file
names what is being built, complete shards exist only under their final
names, the manifest is written last, and a re-run skips the ranges the
manifest already lists for the config (after a dataset grows, running the
job again fills in only the new shards).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from toolkit.data.card import write_dataset_card
from toolkit.data.layout import JOB_NAME, STEPS_CONFIG, remove_stale_temporaries, shard_path
from toolkit.data.locking import dataset_lock
from toolkit.data.manifest import ConfigInfo, Manifest, ShardInfo
from toolkit.data.shard_io import read_parquet
from toolkit.envs.base import get_spec
from toolkit.errors import InterruptedJobError, WmhubError
from toolkit.fileio import atomic_write_json, resolve_inside
from toolkit.progress import Progress


class DerivedConfig(Protocol):
    """What a derived-config job needs to know about the config it builds."""

    kind: str          # job kind shown to users: "encode", "frames"
    name: str          # config name
    extension: str     # shard file extension
    identity: dict     # what must match for shards to be reused

    def config_info(self) -> ConfigInfo:
        """The manifest entry of the config."""

    def build_shard(self, steps: pa.Table, path: Path, progress: Progress) -> tuple[int, dict]:
        """Write the shard for one step shard to ``path`` atomically; return (rows, stats)."""

    def describe_shard(self, path: Path) -> tuple[int, dict]:
        """(rows, stats) of a shard written by an interrupted run."""


@dataclass
class DerivedResult:
    """What a derived-config job did."""

    config: str
    shards_written: int
    shards_reused: int
    rows_processed: int
    seconds: float


def _shard_entry(root: Path, rel: str, config: str, step_shard: ShardInfo, rows: int, stats: dict) -> ShardInfo:
    from toolkit.fileio import sha256_file

    path = root / rel
    return ShardInfo(config=config, path=rel, sha256=sha256_file(path), num_bytes=path.stat().st_size,
                     num_rows=rows, episode_start=step_shard.episode_start, episode_end=step_shard.episode_end,
                     stats=stats)


def _check_job(root: Path, job: dict, resume: bool) -> None:
    job_path = root / JOB_NAME
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


def run_derived_job(root: Path, derived: DerivedConfig, *, resume: bool, show_progress: bool,
                    unit: str = "step", rate_unit: str = "rows") -> DerivedResult:
    """Build ``derived`` for every step shard it does not cover yet (see module docstring)."""
    with dataset_lock(root):
        manifest = Manifest.read(root)
        existing = next((c for c in manifest.configs if c.name == derived.name), None)
        if existing is not None and existing.extra.get("identity") != derived.identity:
            raise WmhubError(f"{root} already has config {derived.name!r} built differently "
                             f"({json.dumps(existing.extra.get('identity'), sort_keys=True)[:200]}); "
                             "remove that config first or choose other options")
        _check_job(root, {"kind": derived.kind, "config": derived.name, "identity": derived.identity}, resume)
        remove_stale_temporaries(root)
        listed = {(s.episode_start, s.episode_end): s for s in manifest.shards if s.config == derived.name}
        todo = [s for s in manifest.shards_of(STEPS_CONFIG) if (s.episode_start, s.episode_end) not in listed]
        progress = Progress(sum(s.num_rows for s in todo), unit, rate_unit, f"{derived.kind} {derived.name}",
                            enabled=show_progress)
        new: list[ShardInfo] = []
        reused = 0
        try:
            for step_shard in todo:
                rel = shard_path(derived.name, step_shard.episode_start, step_shard.episode_end, derived.extension)
                if resume and (root / rel).is_file():
                    rows, stats = derived.describe_shard(root / rel)
                    progress.update(step_shard.num_rows, 0)
                    reused += 1
                else:
                    steps = read_parquet(resolve_inside(root, step_shard.path))
                    rows, stats = derived.build_shard(steps, root / rel, progress)
                if rows != step_shard.num_rows:
                    raise WmhubError(f"{rel} holds {rows} rows but {step_shard.path} has {step_shard.num_rows}; "
                                     f"delete {rel} and re-run")
                new.append(_shard_entry(root, rel, derived.name, step_shard, rows, stats))
        finally:
            progress.close()
        configs = [c for c in manifest.configs if c.name != derived.name] + [derived.config_info()]
        shards = [s for s in manifest.shards if s.config != derived.name] + sorted(
            list(listed.values()) + new, key=lambda s: s.episode_start)
        updated = manifest.model_copy(update={"configs": configs, "shards": shards})
        write_dataset_card(root, updated, get_spec(manifest.generator.env))
        updated.write(root)
        (root / JOB_NAME).unlink()
        return DerivedResult(derived.name, len(todo) - reused, reused, sum(s.num_rows for s in todo),
                             progress.elapsed)
