"""Determinism across worker counts and SIGKILL-then-resume equality."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from wmhub.errors import InterruptedJobError

from support.datasets import SMALL, SMALL_OPTIONS, kill_then_resume, make_small, tree_bytes


def test_workers_do_not_change_bytes(small_dataset, tmp_path):
    parallel = make_small(tmp_path / "w2", workers=2)
    reference = tree_bytes(small_dataset)
    assert tree_bytes(parallel) == reference
    assert any(name.startswith("data/steps/") for name in reference)
    manifest = json.loads(reference["manifest.json"])
    assert "OUT" in manifest["generator"]["command"] and "--workers" not in manifest["generator"]["command"]


def _cli(out: Path, *extra: str) -> list[str]:
    args = [sys.executable, "-m", "wmhub.cli", "generate", "reacher", str(out),
            "--episodes", str(SMALL["episodes"]), "--episodes-per-shard", str(SMALL["episodes_per_shard"]),
            "--quiet"]
    for key, value in SMALL_OPTIONS.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args + list(extra)


@pytest.mark.parametrize("kill_after_shards", [0, 1, 4])
def test_sigkill_then_resume_is_identical(small_dataset, tmp_path, kill_after_shards):
    out = tmp_path / "killed"
    kill_then_resume(_cli(out), _cli(out, "--resume"), out, kill_after_shards)
    assert tree_bytes(out) == tree_bytes(small_dataset)


def test_resume_cleans_stale_temporary_and_keeps_complete_shards(small_dataset, tmp_path):
    out = make_small(tmp_path / "partial")
    # simulate a crash during a grow job: a job file, one complete new shard pair, one half-written temp file
    complete = out / "data" / "steps" / "episodes-00000000-00000004.parquet"
    inode = complete.stat().st_ino
    (out / "manifest.json").unlink()
    (out / "README.md").unlink()
    for shard in sorted((out / "data").rglob("*00000008-00000012.parquet")):
        shard.unlink()
    (out / "data" / "steps" / ".episodes-00000008-00000012.parquet.tmp-999").write_bytes(b"half")
    job = {"kind": "generate", "env": "reacher", "config": SMALL_OPTIONS, "episodes": 12, "episodes_per_shard": 4,
           "format_version": 2, "episode_start": 0}
    (out / ".wmhub-job.json").write_text(json.dumps(job))
    with pytest.raises(InterruptedJobError):
        make_small(out)
    from wmhub.generation import generate

    result = generate("reacher", out, 12, options=SMALL_OPTIONS, episodes_per_shard=4, resume=True,
                      show_progress=False)
    assert (result.shards_written, result.shards_reused) == (1, 2)
    assert complete.stat().st_ino == inode
    assert tree_bytes(out) == tree_bytes(small_dataset)
