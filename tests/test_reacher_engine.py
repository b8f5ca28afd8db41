"""The reacher engines give the same bytes: raw MuJoCo (batched) against dm_control (the reference)."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

import wmhub
from wmhub.cli import main
from wmhub.data import open_dataset
from wmhub.envs.reacher import (
    ENGINE_VARIABLE,
    ReacherConfig,
    ReacherEngineRunner,
    ReacherRunner,
    current_engine,
    engine_selected,
)
from wmhub.envs.reacher_engine import BATCH, model_xml_and_assets
from wmhub.errors import ConfigError

LENGTH, EPISODES, PER_SHARD = 40, 6, 4


def _generate(out, engine: str, policy: str, seed: int, episodes: int = EPISODES) -> None:
    with engine_selected(engine):
        wmhub.generate("reacher", out, episodes, options={"episode_length": LENGTH, "policy": policy,
                                                          "epsilon": 0.3, "seed": seed},
                       episodes_per_shard=PER_SHARD, show_progress=False)


def _shard_digests(root) -> dict[str, str]:
    """SHA-256 of every shard file, computed from the bytes on disk (not taken from the manifest)."""
    files = sorted(p for p in (root / "data").rglob("*.parquet"))
    assert files
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.mark.parametrize("policy", ["p-controller", "random", "jacobian"])
@pytest.mark.parametrize("seed", [0, 11])
def test_both_engines_write_the_same_shards(tmp_path, policy, seed):
    fast, reference = tmp_path / "mujoco", tmp_path / "dm_control"
    _generate(fast, "mujoco", policy, seed)
    _generate(reference, "dm_control", policy, seed)
    assert _shard_digests(fast) == _shard_digests(reference)
    fast_manifest, reference_manifest = open_dataset(fast).manifest, open_dataset(reference).manifest
    assert [s.sha256 for s in fast_manifest.shards] == [s.sha256 for s in reference_manifest.shards]
    assert fast_manifest.generator.config == reference_manifest.generator.config  # the engine is not recorded
    assert "engine" not in json.dumps(fast_manifest.generator.config)


@pytest.mark.parametrize(("length", "policy", "epsilon"), [(1, "random", 1.0), (1, "p-controller", 0.0),
                                                         (12, "random", 0.0), (12, "jacobian", 1.0)])
def test_edge_settings_and_more_than_one_batch_match_the_reference(length, policy, epsilon):
    """Episodes beyond the first lockstep batch, T = 1, ε at 0 and 1: every array and scalar equal."""
    config = ReacherConfig(episode_length=length, policy=policy, epsilon=epsilon, seed=99)
    count = BATCH + 3
    with engine_selected("mujoco"):
        fast = ReacherEngineRunner(config).run_episodes(range(count))
    reference = ReacherRunner(config)
    for index, episode in enumerate(fast):
        expected = reference.run(index)
        assert episode.episode == expected.episode
        for name, values in expected.steps.items():
            assert np.asarray(episode.steps[name]).dtype == values.dtype, name
            assert np.asarray(episode.steps[name]).tobytes() == np.asarray(values).tobytes(), (index, name)


def test_the_model_is_the_one_dm_control_loads():
    from dm_control.suite import reacher

    xml, assets = reacher.get_model_and_assets()
    assert model_xml_and_assets() == (xml, assets)


def test_the_data_is_not_trivial():
    """The compared episodes exercise both reward values, the ε branch and the wrist limit."""
    episodes = ReacherEngineRunner(ReacherConfig(episode_length=LENGTH, policy="jacobian", seed=0)).run_episodes(
        range(EPISODES))
    rewards = np.concatenate([e.steps["reward"][:-1] for e in episodes])
    assert set(np.unique(rewards)) == {0.0, 1.0}
    assert 0 < np.mean(np.concatenate([e.steps["is_random_action"][:-1] for e in episodes])) < 1


def test_a_dataset_started_with_one_engine_grows_with_the_other(tmp_path):
    mixed, fast = tmp_path / "mixed", tmp_path / "fast"
    _generate(mixed, "dm_control", "p-controller", 5, episodes=4)
    _generate(mixed, "mujoco", "p-controller", 5, episodes=EPISODES)  # appends shard 4..6 with the fast engine
    _generate(fast, "mujoco", "p-controller", 5, episodes=EPISODES)
    assert _shard_digests(mixed) == _shard_digests(fast)


def test_cli_engine_option_is_applied_and_not_recorded(tmp_path, monkeypatch):
    monkeypatch.delenv(ENGINE_VARIABLE, raising=False)
    args = ["generate", "reacher", "--episodes", "4", "--episode-length", "20", "--quiet"]
    reference = CliRunner().invoke(main, [*args, str(tmp_path / "ref"), "--engine", "dm_control"])
    fast = CliRunner().invoke(main, [*args, str(tmp_path / "fast")])
    assert reference.exit_code == 0 and fast.exit_code == 0, reference.output + fast.output
    assert _shard_digests(tmp_path / "ref") == _shard_digests(tmp_path / "fast")
    commands = {open_dataset(tmp_path / name).manifest.generator.command for name in ("ref", "fast")}
    assert len(commands) == 1 and "engine" not in commands.pop()
    assert ENGINE_VARIABLE not in os.environ  # the selection ends with the command
    bad = CliRunner().invoke(main, [*args, str(tmp_path / "bad"), "--engine", "bullet"])
    assert bad.exit_code != 0 and "bullet" in bad.output


def test_engine_selection_is_checked(monkeypatch):
    monkeypatch.delenv(ENGINE_VARIABLE, raising=False)
    assert current_engine() == "mujoco"
    with engine_selected("dm_control"):
        assert current_engine() == "dm_control"
    assert current_engine() == "mujoco"
    with pytest.raises(ConfigError, match="choose one of"):
        with engine_selected("bullet"):
            pass
    monkeypatch.setenv(ENGINE_VARIABLE, "bullet")
    with pytest.raises(ConfigError, match=ENGINE_VARIABLE):
        current_engine()
