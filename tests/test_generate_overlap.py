"""Writing a shard task's files on a writer thread while the worker rolls out the next (wmhub.jobs.overlap)."""

from __future__ import annotations

import hashlib

import pytest

from wmhub.data.layout import EPISODES_CONFIG, STEPS_CONFIG, shard_path
from wmhub.envs.registry import get_spec
from wmhub.generation.shard_task import ShardTask, run_shard_task
from wmhub.jobs.local_executor import LocalExecutor
from wmhub.jobs.overlap import is_staged, run_overlapped
from wmhub.progress import Progress

from support.datasets import SMALL, SMALL_OPTIONS, make_small
from support.overlap_units import Hooks, StagedFileUnit


def _progress(total: int) -> Progress:
    return Progress(total, "unit", "rows", "test", enabled=False)


def test_overlapped_shards_are_those_written_on_one_thread(tmp_path):
    out = make_small(tmp_path / "overlapped")  # one worker: each task's shards written while the next rolls out
    spec = get_spec("reacher")
    config_json = spec.config_cls.model_validate(SMALL_OPTIONS).model_dump_json()
    per_shard = SMALL["episodes_per_shard"]
    for start in range(0, SMALL["episodes"], per_shard):
        infos = run_shard_task(spec, config_json, tmp_path / "plain", start, start + per_shard)
        for info in infos:
            assert hashlib.sha256((out / info.path).read_bytes()).hexdigest() == info.sha256, info.path
    assert {p.relative_to(out).as_posix() for p in (out / "data").rglob("*.parquet")} == {
        shard_path(config, start, start + per_shard)
        for config in (STEPS_CONFIG, EPISODES_CONFIG) for start in range(0, SMALL["episodes"], per_shard)}


def test_shard_tasks_are_staged_and_a_stage_then_its_write_is_a_run(tmp_path):
    spec = get_spec("reacher")
    config_json = spec.config_cls.model_validate(SMALL_OPTIONS).model_dump_json()
    staged = ShardTask("reacher", config_json, str(tmp_path / "a"), 0, 4)
    plain = ShardTask("reacher", config_json, str(tmp_path / "b"), 0, 4)
    assert is_staged(staged) and not is_staged(object())
    write = staged.stage(_progress(4))
    assert not (tmp_path / "a").exists()  # nothing is written before the write step
    assert [s.sha256 for s in write().shards] == [s.sha256 for s in plain.run(_progress(4)).shards]


def test_each_write_overlaps_the_next_rollout_and_one_write_at_most_is_in_flight(tmp_path):
    hooks = Hooks()
    units = [StagedFileUnit(str(tmp_path), i, wait_for_next=i < 3, hooks=hooks) for i in range(4)]
    results = []
    run_overlapped(units, _progress(4), results.append)
    assert len(results) == 4 and sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{i}.txt" for i in range(4)]
    log = hooks.log
    assert [k for what, k in log if what == "overlapped"] == [0, 1, 2]  # unit k+1 computed while k was written
    for k in range(3):
        assert log.index(("write-end", k)) < log.index(("write-start", k + 1))  # one writer, in order
    for k in range(2):
        assert log.index(("write-end", k)) < log.index(("stage-start", k + 2))  # bounded: one write in flight


def test_the_local_executor_overlaps_staged_units_in_this_process(tmp_path):
    hooks = Hooks()
    units = [StagedFileUnit(str(tmp_path), i, wait_for_next=i < 2, hooks=hooks) for i in range(3)]
    reported = []
    results = LocalExecutor(1).run(units, _progress(3), reported.append)
    assert len(results) == 3 and reported == results
    assert [k for what, k in hooks.log if what == "overlapped"] == [0, 1]


def _names_unit(error: BaseException, index: int) -> bool:
    return any(f"wmhub-test-{index:08d}-{index + 1:08d}" in note for note in getattr(error, "__notes__", []))


def test_a_failed_write_is_raised_on_the_worker_thread_as_itself_naming_the_unit(tmp_path):
    units = [StagedFileUnit(str(tmp_path), 0), StagedFileUnit(str(tmp_path), 1, fail="write"),
             StagedFileUnit(str(tmp_path), 2)]
    reported = []
    with pytest.raises(ValueError, match="the encoder refused the rows") as info:
        run_overlapped(units, _progress(3), reported.append)
    assert _names_unit(info.value, 1)
    assert len(reported) == 1 and (tmp_path / "out" / "0.txt").exists()  # the unit before it was written
    assert not (tmp_path / "out" / "2.txt").exists()


def test_a_failed_write_of_the_environment_keeps_its_type_and_names_the_unit(tmp_path):
    units = [StagedFileUnit(str(tmp_path), 0, fail="disk")]
    with pytest.raises(OSError) as info:
        run_overlapped(units, _progress(1), lambda result: None)
    assert info.value.errno == 28 and _names_unit(info.value, 0)


def test_a_failed_rollout_waits_for_the_write_in_flight(tmp_path):
    hooks = Hooks()
    units = [StagedFileUnit(str(tmp_path), 0, wait_for_next=True, hooks=hooks),
             StagedFileUnit(str(tmp_path), 1, fail="compute", hooks=hooks)]
    reported = []
    with pytest.raises(RuntimeError, match="unit 1 could not compute"):
        run_overlapped(units, _progress(2), reported.append)
    # unit 0's write was still waiting for unit 1 to start when unit 1 failed: it finished before the error left
    assert ("write-end", 0) in hooks.log and len(reported) == 1


def test_a_failed_write_in_a_worker_process_fails_the_job(tmp_path):
    units = [StagedFileUnit(str(tmp_path), i, fail="write" if i == 2 else "") for i in range(4)]
    with pytest.raises(ValueError, match="the encoder refused the rows") as info:
        LocalExecutor(2).run(units, _progress(4))
    assert _names_unit(info.value, 2)  # the note crosses the process boundary with the error


def test_worker_processes_report_every_staged_unit(tmp_path):
    units = [StagedFileUnit(str(tmp_path), i) for i in range(5)]
    reported = []
    results = LocalExecutor(2).run(units, _progress(5), reported.append)
    assert len(results) == 5 and reported == results
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{i}.txt" for i in range(5)]
