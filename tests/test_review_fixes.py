"""Regression tests for problems found in review of the generation engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data.schema import Feature, column_numpy
from wmhub.data.verify import verify_dataset
from wmhub.errors import WmhubError

from support.datasets import make_small, tree_bytes


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


def test_zero_episodes_per_shard_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["generate", "reacher", str(tmp_path / "x"), "--episodes", "2",
                                       "--episodes-per-shard", "0"])
    assert result.exit_code == 2 and "--episodes-per-shard must be positive" in result.output


def test_growing_needs_the_same_shard_size_and_a_whole_dataset(small_copy):
    with pytest.raises(WmhubError, match="same value"):
        make_small(small_copy, episodes=16, episodes_per_shard=7)
    manifest = json.loads((small_copy / "manifest.json").read_text())
    manifest["subset"] = {"episodes": "0-3"}
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WmhubError, match="partial download"):
        make_small(small_copy, episodes=16)


def test_column_numpy_on_sliced_tables():
    values = np.arange(12, dtype=np.float32).reshape(4, 3)
    table = pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), 3)})
    feature = Feature("x", "float32", (3,))
    np.testing.assert_array_equal(column_numpy(table.slice(0, 2), feature), values[:2])
    np.testing.assert_array_equal(column_numpy(table.slice(1, 2), feature), values[1:3])


def test_bad_manifest_paths_are_problems_not_tracebacks(small_copy):
    manifest = json.loads((small_copy / "manifest.json").read_text())
    manifest["shards"][0]["path"] = "data/steps/a\x00b"
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(main, ["verify", str(small_copy)])
    assert result.exit_code == 1 and "outside" in result.output


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
