"""Hostile inputs to `wmhub generate` and its job engine: damaged or foreign shards under a resumed
job's names, absurd sizes, full and unusable disks, a second writer."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from wmhub.generation import generate
from wmhub.generation.shard_task import ShardTask

from support.datasets import SMALL, SMALL_OPTIONS, make_small, tree_bytes

STEPS_0 = "data/steps/episodes-00000000-00000004.parquet"


def _interrupted(out: Path, monkeypatch) -> Path:
    """The small dataset's job stopped after its first shard task (a worker fails on the second)."""
    real = ShardTask.stage  # a worker rolls a task out (stage), then writes it, overlapped with the next

    def fail_after_first(self, progress):
        if self.start > 0:
            raise RuntimeError("worker lost")
        return real(self, progress)

    monkeypatch.setattr(ShardTask, "stage", fail_after_first)
    with pytest.raises(RuntimeError, match="worker lost"):
        make_small(out)
    monkeypatch.setattr(ShardTask, "stage", real)
    assert (out / ".wmhub-job.json").exists() and (out / STEPS_0).exists()
    return out


def _resume(out: Path):
    return generate("reacher", out, SMALL["episodes"], options=SMALL_OPTIONS,
                    episodes_per_shard=SMALL["episodes_per_shard"], resume=True, show_progress=False)


def test_resume_regenerates_a_truncated_shard(small_dataset, tmp_path, monkeypatch, capsys):
    out = _interrupted(tmp_path / "out", monkeypatch)
    shard = out / STEPS_0
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    result = _resume(out)
    assert result.shards_reused == 0
    assert tree_bytes(out) == tree_bytes(small_dataset)
    assert "episodes-00000000-00000004.parquet" in capsys.readouterr().err


def test_resume_regenerates_a_foreign_shard(small_dataset, tmp_path, monkeypatch, capsys):
    other = make_small(tmp_path / "other", seed=8)  # valid, same schema and range, other content
    out = _interrupted(tmp_path / "out", monkeypatch)
    shutil.copyfile(other / STEPS_0, out / STEPS_0)
    result = _resume(out)
    assert result.shards_reused == 0
    assert tree_bytes(out) == tree_bytes(small_dataset)
    assert "regenerat" in capsys.readouterr().err


def test_resume_keeps_a_recorded_intact_shard(small_dataset, tmp_path, monkeypatch):
    out = _interrupted(tmp_path / "out", monkeypatch)
    job = json.loads((out / ".wmhub-job.json").read_text())
    assert STEPS_0 in job["shards"]
    result = _resume(out)
    assert (result.shards_written, result.shards_reused) == (2, 1)
    assert tree_bytes(out) == tree_bytes(small_dataset)


def test_resume_of_an_unrecorded_job_checks_the_shard(small_dataset, tmp_path, monkeypatch, capsys):
    """A job file without recorded checksums: a shard that is not a readable parquet file of the
    planned schema and range is regenerated, not read into a traceback."""
    out = _interrupted(tmp_path / "out", monkeypatch)
    job = json.loads((out / ".wmhub-job.json").read_text())
    job.pop("shards")
    (out / ".wmhub-job.json").write_text(json.dumps(job))
    (out / STEPS_0).write_bytes(b"PAR1 not really")
    _resume(out)
    assert tree_bytes(out) == tree_bytes(small_dataset)
    assert "episodes-00000000-00000004.parquet" in capsys.readouterr().err



# the same for a derived config (encode): a resumed encode job checks the shards it keeps
EMB_0 = "data/embeddings-state/episodes-00000000-00000004.parquet"


def _encode_interrupted(small_dataset: Path, out: Path, monkeypatch) -> Path:
    from wmhub.encoding import encode_dataset
    from wmhub.jobs.derived import DerivedShardUnit

    shutil.copytree(small_dataset, out)
    real = DerivedShardUnit.run

    def fail_after_first(self, progress):
        if self.step_shard.episode_start > 0:
            raise RuntimeError("worker lost")
        return real(self, progress)

    monkeypatch.setattr(DerivedShardUnit, "run", fail_after_first)
    with pytest.raises(RuntimeError, match="worker lost"):
        encode_dataset(out, "state", show_progress=False)
    monkeypatch.setattr(DerivedShardUnit, "run", real)
    assert (out / ".wmhub-job.json").exists() and (out / EMB_0).exists()
    return out


@pytest.mark.parametrize("damage", ["truncated", "foreign", "unrecorded-garbage"])
def test_resumed_encode_rebuilds_a_bad_shard(small_dataset, tmp_path, monkeypatch, capsys, damage):
    from wmhub.encoding import encode_dataset

    reference = tmp_path / "reference"
    shutil.copytree(small_dataset, reference)
    encode_dataset(reference, "state", show_progress=False)
    out = _encode_interrupted(small_dataset, tmp_path / "out", monkeypatch)
    shard = out / EMB_0
    if damage == "truncated":
        shard.write_bytes(shard.read_bytes()[:100])
    elif damage == "foreign":  # a valid shard of the same config, from another range
        shutil.copyfile(reference / EMB_0.replace("00000000-00000004", "00000004-00000008"), shard)
    else:
        job = json.loads((out / ".wmhub-job.json").read_text())
        job.pop("shards", None)
        (out / ".wmhub-job.json").write_text(json.dumps(job))
        shard.write_bytes(b"PAR1 garbage")
    capsys.readouterr()
    encode_dataset(out, "state", resume=True, show_progress=False)
    assert tree_bytes(out) == tree_bytes(reference)
    assert "episodes-00000000-00000004.parquet" in capsys.readouterr().err


# ------------------------------------------------------------ absurd sizes (case 11)
def _cli(*args: str):
    from click.testing import CliRunner

    from wmhub.cli import main

    return CliRunner().invoke(main, list(args))


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("args, words", [
    (["--episodes", "100000000000"], ["99,999,999"]),
    (["--episodes", "50000000", "--episodes-per-shard", "1"], ["--episodes-per-shard"]),
])
def test_absurd_episode_counts_are_refused_before_planning(tmp_path, args, words):
    out = tmp_path / "huge"
    line = _one_error_line(_cli("generate", "reacher", str(out), *args, "--quiet"))
    assert all(word in line for word in words), line
    assert not (out / ".wmhub-job.json").exists() and not (out / ".wmhub.lock").exists()


@pytest.mark.parametrize("hours", ["nan", "inf", "-inf", "1e30"])
def test_spot_hours_that_are_not_a_size_give_one_line(tmp_path, hours):
    out = tmp_path / "spot"
    line = _one_error_line(_cli("generate", "spot", str(out), "--hours", hours, "--quiet"))
    assert "--hours" in line or "--episodes" in line, line
    assert not (out / ".wmhub-job.json").exists()


# ------------------------------------------------- full and unusable disks (case 14)
def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp-" in p.name or p.name.endswith(".wmhub-partial")]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EDQUOT])
@pytest.mark.parametrize("where", ["shard", "job file"])
def test_a_full_or_read_only_disk_gives_one_line_and_no_temporaries(small_dataset, tmp_path, monkeypatch,
                                                                     code, where):
    import pyarrow.parquet as pq

    out = tmp_path / "out"

    def disk_fails(handle=None):
        if handle is not None:
            handle.write(b"PAR1 half a shard")
        raise OSError(code, os.strerror(code))

    if where == "shard":
        monkeypatch.setattr(pq, "write_table", lambda table, handle, **options: disk_fails(handle))
    else:
        monkeypatch.setattr("wmhub.fileio.os.fsync", lambda fd: disk_fails())
    line = _one_error_line(_cli("generate", "reacher", str(out), *_small_args(), "--quiet"))
    assert str(out) in line and os.strerror(code) in line, line
    assert _temporaries(out) == [] and not list(out.rglob("*.parquet"))
    monkeypatch.undo()
    result = _cli("generate", "reacher", str(out), *_small_args(), "--quiet",
                  *(["--resume"] if (out / ".wmhub-job.json").exists() else []))
    assert result.exit_code == 0, result.output
    assert tree_bytes(out) == tree_bytes(small_dataset)


def _small_args() -> list[str]:
    args = ["--episodes", str(SMALL["episodes"]), "--episodes-per-shard", str(SMALL["episodes_per_shard"])]
    for key, value in SMALL_OPTIONS.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


@pytest.mark.parametrize("length", [300, 5000])
def test_a_very_long_out_path_gives_one_line(tmp_path, length):
    if length < 4096:
        out = tmp_path / ("x" * length)  # one component longer than NAME_MAX
    else:
        out = tmp_path.joinpath(*["y" * 99] * (length // 100))  # longer than PATH_MAX
    line = _one_error_line(_cli("generate", "reacher", str(out), "--episodes", "2", "--quiet"))
    assert "too long" in line and len(line) < 400, line


# ----------------------------------------------------- the lock of a job (case 15)
def test_a_finished_job_leaves_no_lock_file(small_dataset, tmp_path):
    assert not (small_dataset / ".wmhub.lock").exists()
    out = make_small(tmp_path / "grown", episodes=SMALL["episodes"] + 2)  # a second job in the same OUT
    assert not (out / ".wmhub.lock").exists()


def _hold_lock(out: Path):
    """Another process holding OUT's writer lock (a job still running), until it is killed."""
    import subprocess
    import sys

    code = ("import sys, time\nfrom wmhub.storage.files import directory_lock\n"
            "with directory_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_running_job_is_not_called_interrupted(small_copy):
    (small_copy / ".wmhub-job.json").write_text(json.dumps({"kind": "generate", "episode_start": 12}))
    proc = _hold_lock(small_copy)
    try:
        verify = _cli("verify", str(small_copy))
        assert "interrupted" not in verify.output, verify.output
        assert f"another wmhub job is writing to {small_copy} (pid {proc.pid})" in verify.output, verify.output
        again = _one_error_line(_cli("generate", "reacher", str(small_copy), *_small_args(), "--quiet"))
        assert f"another wmhub job is writing to {small_copy} (pid {proc.pid})" in again
    finally:
        proc.kill()
        proc.wait()
    assert "--resume" in _cli("verify", str(small_copy)).output  # the job died: now it is interrupted


def test_a_damaged_job_file_is_one_error_line(tmp_path):
    from click.testing import CliRunner

    from wmhub.cli import main

    out = tmp_path / "out"
    out.mkdir()
    (out / ".wmhub-job.json").write_text("[1, 2")
    result = CliRunner().invoke(main, ["generate", "reacher", str(out), "--episodes", "2", "--resume", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "is damaged (not a wmhub job file)" in result.output and "Traceback" not in result.output
