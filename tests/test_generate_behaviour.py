"""Policies, growing a dataset, and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data import open_dataset
from wmhub.data.verify import verify_dataset
from wmhub.generation import generate

from support.datasets import SMALL_OPTIONS, make_small, tree_bytes


def _success_rate(tmp_path, policy: str, episodes: int = 60) -> float:
    out = tmp_path / policy
    generate("reacher", out, episodes, options={"policy": policy, "epsilon": 0.0, "seed": 1},
             episodes_per_shard=30, workers=2, show_progress=False)
    success = open_dataset(out).table("episodes").column("success").to_numpy(zero_copy_only=False)
    return float(np.mean(success))


@pytest.mark.slow
def test_jacobian_expert_beats_p_controller(tmp_path):
    jacobian = _success_rate(tmp_path, "jacobian")
    p_controller = _success_rate(tmp_path, "p-controller")
    assert jacobian >= 0.95
    assert p_controller <= jacobian - 0.25


def test_random_policy_uses_full_action_range(tmp_path):
    out = tmp_path / "random"
    generate("reacher", out, 2, options={"policy": "random", "epsilon": 0.0, "episode_length": 50},
             show_progress=False)
    episode = next(open_dataset(out).iter_episodes())
    actions = episode["action"][:-1]
    assert actions.min() < -0.8 and actions.max() > 0.8 and not episode["is_random_action"][:-1].any()


def test_growing_appends_and_leaves_existing_shards_untouched(small_dataset, tmp_path):
    out = make_small(tmp_path / "grow", episodes=8)
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "data").rglob("*.parquet")}
    make_small(out, episodes=12)
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "data").rglob("*.parquet")}
    assert all(after[p] == before[p] for p in before)
    assert len(after) == len(before) + 2
    assert verify_dataset(out) == []
    # same episode ranges as the one-shot dataset, so the bytes match too
    assert tree_bytes(out) == tree_bytes(small_dataset)
    # growing again to the same size is a no-op
    result = generate("reacher", out, 12, options=SMALL_OPTIONS, episodes_per_shard=4, show_progress=False)
    assert result.shards_written == 0


def test_grow_with_partial_last_shard(tmp_path):
    out = make_small(tmp_path / "g", episodes=6)  # shards [0,4) [4,6)
    make_small(out, episodes=11)                  # appends [6,10) [10,11)
    names = sorted(p.name for p in (out / "data" / "steps").iterdir())
    assert names == ["episodes-00000000-00000004.parquet", "episodes-00000004-00000006.parquet",
                     "episodes-00000006-00000010.parquet", "episodes-00000010-00000011.parquet"]
    assert verify_dataset(out) == [] and open_dataset(out).num_episodes == 11


def _invoke(*args):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("args, message", [
    (["--policy", "teleport"], "Invalid value for '--policy'"),
    (["--episodes", "0"], "--episodes must be positive"),
    (["--episodes-per-shard", "-3"], "--episodes-per-shard must be positive"),
    (["--workers", "0"], "--workers must be positive"),
    (["--epsilon", "1.5"], "invalid --epsilon"),
    (["--episode-length", "0"], "invalid --episode-length"),
])
def test_bad_arguments_give_one_clear_line(tmp_path, args, message):
    base = {"--episodes": "2"}
    argv = ["generate", "reacher", str(tmp_path / "x")]
    overrides = dict(zip(args[::2], args[1::2]))
    for key, value in {**base, **overrides}.items():
        argv += [key, value]
    result = _invoke(*argv)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "x" / "manifest.json").exists()


def test_out_with_other_dataset_is_refused_and_untouched(small_copy):
    before = tree_bytes(small_copy)
    result = _invoke("generate", "reacher", str(small_copy), "--episodes", "20", "--seed", "8",
                     "--episode-length", "30", "--episodes-per-shard", "4")
    assert result.exit_code == 2
    assert "holds a different dataset" in result.output and "seed: has 7, asked 8" in result.output
    assert tree_bytes(small_copy) == before


def test_shrinking_is_refused(small_copy):
    result = _invoke("generate", "reacher", str(small_copy), "--episodes", "5", "--seed", "7",
                     "--episode-length", "30")
    assert result.exit_code == 2 and "would shrink it" in result.output


def test_foreign_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = _invoke("generate", "reacher", str(tmp_path), "--episodes", "2")
    assert result.exit_code == 2 and "holds no wmhub dataset" in result.output
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_unknown_manifest_version_is_refused(small_copy):
    manifest = json.loads((small_copy / "manifest.json").read_text())
    manifest["format_version"] = 3
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    before = tree_bytes(small_copy)
    for argv in (["info", str(small_copy)],
                 ["generate", "reacher", str(small_copy), "--episodes", "20", "--seed", "7"]):
        result = _invoke(*argv)
        assert result.exit_code == 2
        assert result.output.count("\n") == 1 and "format_version 3" in result.output
    assert tree_bytes(small_copy) == before


def test_zero_episodes_per_shard_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["generate", "reacher", str(tmp_path / "x"), "--episodes", "2",
                                       "--episodes-per-shard", "0"])
    assert result.exit_code == 2 and "--episodes-per-shard must be positive" in result.output


def test_growing_needs_the_same_shard_size_and_a_whole_dataset(small_copy):
    from wmhub.errors import ConfigError

    with pytest.raises(ConfigError, match="same value"):
        make_small(small_copy, episodes=16, episodes_per_shard=7)
    manifest = json.loads((small_copy / "manifest.json").read_text())
    manifest["subset"] = {"episodes": "0-3"}
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="partial download"):
        make_small(small_copy, episodes=16)
