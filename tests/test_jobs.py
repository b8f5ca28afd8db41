"""The job engine (wmhub.jobs): destinations, the job file's life, work units and executors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from wmhub.data.manifest import ShardInfo
from wmhub.data.verify import verify_dataset
from wmhub.errors import (
    AlreadyExistsError,
    ConfigError,
    DatasetMismatchError,
    InterruptedJobError,
    UnsupportedLocationError,
)
from wmhub.jobs.destination import LocalDestination, open_destination, worker_files
from wmhub.jobs.engine import claim_job, make_executor, plan_ranges, run_units
from wmhub.jobs.local_executor import LocalExecutor
from wmhub.jobs.units import UnitResult
from wmhub.progress import Progress

from support.datasets import make_small, tree_bytes

GENERATE_JOB = {"kind": "generate", "env": "reacher", "episodes": 12}


@dataclass(frozen=True)
class _Unit:
    """A picklable unit that writes one file through worker_files."""

    location: str
    index: int

    @property
    def key(self) -> str:
        return f"{self.index}-{self.index + 1}"

    @property
    def name(self) -> str:
        return f"wmhub-test-{self.key}"

    def run(self, progress) -> UnitResult:
        with worker_files(self.location) as files:
            files.path(f"out/{self.index}.txt").parent.mkdir(parents=True, exist_ok=True)
            files.path(f"out/{self.index}.txt").write_text(str(self.index))
            files.publish(f"out/{self.index}.txt")
        progress.update(1, 10)
        return UnitResult([], 1, 10)


def test_plan_ranges_cover_the_episodes_in_order():
    assert plan_ranges(0, 10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert plan_ranges(8, 12, 4) == [(8, 12)]
    assert plan_ranges(5, 5, 4) == []


def test_open_destination_refuses_what_a_job_cannot_write(tmp_path):
    with pytest.raises(UnsupportedLocationError, match="`wmhub download` it"):
        open_destination("hf://datasets/org/name")
    with pytest.raises(ConfigError, match="remote"):
        open_destination(tmp_path / "x", {"anon": True})
    dest = open_destination(f"file://{tmp_path}/x")
    assert isinstance(dest, LocalDestination) and dest.location == str(tmp_path / "x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(AlreadyExistsError, match="not a directory"):
        open_destination(tmp_path / "file").check_and_create()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("x")
    with pytest.raises(AlreadyExistsError, match="notes.txt"):
        open_destination(tmp_path / "foreign").check_and_create()


def test_an_fsspec_destination_keeps_the_job_file_and_takes_shards_from_workers(tmp_path):
    url = "memory://wmhub-jobs-test/dataset"
    dest = open_destination(url)
    dest.check_and_create()
    with dest.lock():
        assert dest.read_manifest() is None and claim_job(dest, GENERATE_JOB, resume=False) is None
        dest.write_job({**GENERATE_JOB, "episode_start": 0})
        with pytest.raises(InterruptedJobError, match="--resume"):
            claim_job(dest, GENERATE_JOB, resume=False)
        result = _Unit(dest.location, 3).run(Progress(1, "unit", "rows", "test", enabled=False))
        assert result.units == 1 and dest.exists("out/3.txt") and not dest.exists("out/4.txt")
        with worker_files(dest.location) as files:
            assert files.fetch("out/3.txt").read_text() == "3"
        dest.remove_job()
        assert dest.read_job() is None
    with pytest.raises(AlreadyExistsError, match="out/3.txt"):
        open_destination(url).check_and_create()  # files, but no dataset and no job


def test_an_interrupted_job_is_resumed_only_when_asked_and_with_its_options(tmp_path):
    dest = open_destination(tmp_path / "out")
    dest.check_and_create()
    assert claim_job(dest, GENERATE_JOB, resume=False) is None  # nothing interrupted
    dest.write_job({**GENERATE_JOB, "episode_start": 4})
    with pytest.raises(InterruptedJobError, match=r"`wmhub generate \.\.\. --resume`"):
        claim_job(dest, GENERATE_JOB, resume=False)
    with pytest.raises(InterruptedJobError, match="other options"):
        claim_job(dest, {**GENERATE_JOB, "episodes": 16}, resume=True)
    with pytest.raises(InterruptedJobError, match="interrupted generate job"):
        claim_job(dest, {"kind": "encode", "config": "embeddings-state"}, resume=True)
    assert claim_job(dest, GENERATE_JOB, resume=True)["episode_start"] == 4
    dest.write_job({"kind": "frames", "config": "frames-64"})
    with pytest.raises(InterruptedJobError, match=r"`wmhub encode --save-frames \.\.\. --resume`"):
        claim_job(dest, GENERATE_JOB, resume=True)
    dest.remove_job()
    assert dest.read_job() is None


def test_unit_results_cross_process_boundaries_as_json():
    shard = ShardInfo(config="steps", path="data/steps/episodes-00000000-00000004.parquet", sha256="0" * 64,
                      num_bytes=10, num_rows=124, episode_start=0, episode_end=4, stats={})
    result = UnitResult([shard], 4, 120, reused=True)
    data = json.loads(json.dumps(result.to_json()))
    assert UnitResult.from_json(data) == result


def test_local_executor_runs_units_and_reports_progress(tmp_path):
    units = [_Unit(str(tmp_path), i) for i in range(3)]
    progress = Progress(3, "unit", "rows", "test", enabled=False)
    results = run_units(LocalExecutor(1), units, progress)
    assert [r.units for r in results] == [1, 1, 1] and progress.secondary == 30
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.txt", "1.txt", "2.txt"]
    assert run_units(LocalExecutor(2), [], Progress(0, "unit", "rows", "test", enabled=False)) == []
    assert make_executor("local", 2).workers == 2
    with pytest.raises(ConfigError, match="--executor ray"):
        make_executor("local", ray_address="auto")
    with pytest.raises(ConfigError, match="choose local or ray"):
        make_executor("dask")


def test_top_level_temporaries_are_cleaned_and_reported(small_dataset, small_copy, tmp_path):
    # a kill while the first job file was written: only the lock and a temporary job file
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "..wmhub-job.json.tmp-22178").write_text("{")
    make_small(fresh)
    assert tree_bytes(fresh) == tree_bytes(small_dataset)
    # a kill while the manifest was replaced: verify names the leftover
    (small_copy / ".manifest.json.tmp-999").write_text("{")
    problems = verify_dataset(small_copy)
    assert [p.path for p in problems] == [".manifest.json.tmp-999"]


def test_a_derived_config_built_differently_is_refused(small_copy):
    from wmhub.encoding import encode_dataset

    encode_dataset(small_copy, "state", show_progress=False)
    manifest = json.loads((small_copy / "manifest.json").read_text())
    config = next(c for c in manifest["configs"] if c["name"] == "embeddings-state")
    config["extra"]["identity"]["features"] = ["other"]
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetMismatchError, match="built differently"):
        encode_dataset(small_copy, "state", show_progress=False)


def test_workers_die_with_a_killed_job(tmp_path):
    out = tmp_path / "big"
    cmd = [sys.executable, "-m", "wmhub.cli", "generate", "reacher", str(out), "--episodes", "400",
           "--episodes-per-shard", "100", "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    children: list[int] = []
    while time.time() < deadline and len(children) < 2:
        listing = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
        children = [int(pid) for pid in listing.split()]
        time.sleep(0.05)
    time.sleep(2.0)  # workers are busy rolling out
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)
    alive = [pid for pid in children if os.path.exists(f"/proc/{pid}") and
             open(f"/proc/{pid}/stat").read().split()[2] != "Z"]
    assert children and alive == []
