"""Gymnasium environments: the generators' own stepping code behind ``gymnasium.make`` / ``make_vec``.

Each env passes Gymnasium's checker; replaying a generated dataset's episodes from their stored seeds and
actions reproduces the stored rows bit for bit; the Spot vector env equals one single env per
sub-environment, autoresets included; a dataset recovers its environment from its manifest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pyarrow.parquet as pq
import pytest
from gymnasium.utils.env_checker import check_env

import wmhub.envs.gym  # noqa: F401  (registers the wmhub/... ids)
from wmhub.envs.gym.reacher import ReacherEasyEnv
from wmhub.errors import ConfigError, NotFoundError
from wmhub.generation import generate
from wmhub.hub.environment import dataset_environment, recover_environment

SPOT_ID, SPOT_ALIAS, REACHER_ID = "wmhub/SpotFlatTerrainJoystick-v0", "wmhub/SpotJoystick-v0", "wmhub/ReacherEasy-v0"
SPOT_OPTIONS = {"episode_length": 25, "policy": "trot", "epsilon": 0.3, "seed": 3, "obs_noise": True}

needs_spot = pytest.mark.skipif(not os.environ.get("MENAGERIE_ROOT") and
                                not (Path.home() / ".cache" / "mujoco_menagerie").exists(),
                                reason="no Menagerie Spot model (set MENAGERIE_ROOT)")


def _table(root: Path, config: str) -> dict[str, np.ndarray]:
    """A config's columns as arrays (a null, e.g. the action of an episode's final row, becomes NaN)."""
    table = pq.read_table(sorted((root / "data" / config).glob("*.parquet")))
    columns = {}
    for name in table.column_names:
        values = table.column(name).to_pylist()
        shape = np.shape(next(v for v in values if v is not None))
        columns[name] = np.asarray([np.full(shape, np.nan) if v is None else v for v in values])
    return columns


def _episodes(root: Path):
    """(episode seed, the episode's steps rows) for every episode of a dataset."""
    steps, episodes = _table(root, "steps"), _table(root, "episodes")
    for index, seed in zip(episodes["episode_index"], episodes["seed"]):
        rows = steps["episode_index"] == index
        yield int(seed), {name: column[rows] for name, column in steps.items()}


def _replay(env, seed: int, rows: dict[str, np.ndarray], observed: tuple[str, ...], exact_info: tuple[str, ...]):
    """Reset ``env`` with the stored seed, apply the stored actions, and compare every row bit for bit."""
    obs, info = env.reset(seed=seed)
    last = len(rows["action"]) - 1
    terminated = truncated = False
    for t in range(last + 1):
        for key in observed:
            stored = rows[key][t].astype(np.float32)
            assert obs[key].dtype == np.float32 and np.array_equal(obs[key], stored), (seed, t, key)
        for key in exact_info:
            assert np.array_equal(info[key], rows[key][t].astype(info[key].dtype)), (seed, t, key)
        assert env.observation_space.contains(obs)
        if t == last:
            return terminated, truncated
        obs, reward, terminated, truncated, info = env.step(rows["action"][t].astype(np.float32))
        assert np.float32(reward) == np.float32(rows["reward"][t]), (seed, t)
        if "reward_terms" in rows:
            assert np.array_equal(info["reward_terms"], rows["reward_terms"][t].astype(np.float32)), (seed, t)
        assert not (terminated or truncated) or t == last - 1, (seed, t)


# ------------------------------------------------------------------------------------------ reacher
def test_reacher_passes_gymnasiums_checker():
    env = gymnasium.make(REACHER_ID)
    assert env.spec.max_episode_steps == 200
    check_env(env.unwrapped, skip_render_check=True)
    assert env.unwrapped.observation_space["position"].dtype == np.float32
    assert env.action_space == gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)


def test_reacher_replays_the_stored_episodes_bit_for_bit(small_dataset):
    env = recover_environment(small_dataset)
    assert env.spec.id == REACHER_ID and env.spec.max_episode_steps == 30
    for seed, rows in _episodes(small_dataset):
        terminated, truncated = _replay(env, seed, rows, ("position", "to_target", "velocity"),
                                        ("qpos", "qvel", "target_pos"))
        assert truncated and not terminated  # the dataset's episode length is the recovered time limit


def test_reacher_unseeded_reset_continues_and_seeds_are_checked():
    env = gymnasium.make(REACHER_ID)
    first, _ = env.reset(seed=5)
    second, _ = env.reset()
    again = gymnasium.make(REACHER_ID)
    again.reset(seed=5)
    assert np.array_equal(again.reset()[0]["to_target"], second["to_target"])
    assert not np.array_equal(first["to_target"], second["to_target"])
    with pytest.raises(ConfigError, match="outside dm_control's range"):
        env.reset(seed=2 ** 32)


def test_reacher_renders_frames():
    env = gymnasium.make(REACHER_ID, render_mode="rgb_array", render_size=48)
    env.reset(seed=1)
    frame = env.render()
    assert frame.shape == (48, 48, 3) and frame.dtype == np.uint8 and frame.std() > 0
    with pytest.raises(ConfigError, match="render_mode"):
        ReacherEasyEnv(render_mode="depth_array")


def test_reacher_vector_env_is_gymnasiums_sync_vector_env():
    envs = gymnasium.make_vec(REACHER_ID, num_envs=2)
    obs, _ = envs.reset(seed=0)
    assert obs["position"].shape == (2, 2) and envs.observation_space.contains(obs)
    obs, reward, terminated, truncated, _ = envs.step(np.zeros((2, 2), np.float32))
    assert reward.shape == terminated.shape == truncated.shape == (2,)


# ------------------------------------------------------------------------------------------ manifest
def test_manifest_records_the_environment_and_old_manifests_derive_it(small_copy):
    manifest = json.loads((small_copy / "manifest.json").read_text())
    assert manifest["generator"]["gymnasium"] == {"id": REACHER_ID, "kwargs": {"max_episode_steps": 30}}
    del manifest["generator"]["gymnasium"]  # as written before the field existed
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    info = dataset_environment(small_copy)
    assert (info.id, info.kwargs) == (REACHER_ID, {"max_episode_steps": 30})
    env = recover_environment(small_copy, max_episode_steps=5)  # a make argument replaces the recorded one
    assert env.spec.max_episode_steps == 5


def test_recover_environment_refuses_unknown_ids_and_missing_datasets(small_copy, tmp_path):
    manifest = json.loads((small_copy / "manifest.json").read_text())
    manifest["generator"]["gymnasium"]["id"] = "wmhub/ReacherEasy-v9"
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(NotFoundError, match="not registered by this wmhub.*upgrade wmhub"):
        recover_environment(small_copy)
    with pytest.raises(NotFoundError):
        recover_environment(tmp_path / "nothing-here")
    # a manifest is untrusted: another package's id, or arguments wmhub's ids do not take, are never made
    for gym_id, kwargs in (("CartPole-v1", {}), ("wmhub/ReacherEasy-v0", {"max_episode_steps": 5, "xml": "x"})):
        manifest["generator"]["gymnasium"] = {"id": gym_id, "kwargs": kwargs}
        (small_copy / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(NotFoundError, match="not registered by this wmhub"):
            recover_environment(small_copy)


def test_gymnasium_make_with_the_module_prefix_needs_no_prior_import():
    code = ("import sys, gymnasium\n"
            "env = gymnasium.make('wmhub.envs.gym:wmhub/ReacherEasy-v0')\n"
            "obs, _ = env.reset(seed=1)\n"
            "print(sorted(obs), 'wmhub' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "['position', 'to_target', 'velocity'] True"
    code = "import sys, wmhub; print(sorted({'gymnasium', 'dm_control', 'mujoco'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"  # the ids are registered by wmhub.envs.gym, never by `import wmhub`


# ------------------------------------------------------------------------------------------ spot
@pytest.fixture(scope="module")
def spot_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("spot-gym") / "ds"
    generate("spot", out, 3, options=SPOT_OPTIONS, episodes_per_shard=3, show_progress=False)
    return out


@needs_spot
def test_spot_passes_gymnasiums_checker_under_both_ids():
    for gym_id in (SPOT_ID, SPOT_ALIAS):
        env = gymnasium.make(gym_id)
        assert env.spec.max_episode_steps == 1000
        check_env(env.unwrapped, skip_render_check=True)
    assert set(env.observation_space.spaces) == {"state", "privileged_state"}
    with pytest.raises(ConfigError, match="no renderer"):
        gymnasium.make(SPOT_ID, render_mode="rgb_array")
    assert env.action_space == gymnasium.spaces.Box(-1.0, 1.0, (12,), np.float32)


@needs_spot
def test_spot_replays_the_stored_episodes_bit_for_bit(spot_dataset):
    manifest = json.loads((spot_dataset / "manifest.json").read_text())
    assert manifest["generator"]["gymnasium"] == {"id": SPOT_ID, "kwargs": {"max_episode_steps": 25,
                                                                             "obs_noise": True}}
    env = recover_environment(spot_dataset)
    for seed, rows in _episodes(spot_dataset):
        terminated, truncated = _replay(env, seed, rows, ("state", "privileged_state"), ("qpos", "qvel", "command"))
        assert terminated == bool(rows["is_terminal"][-1])
        assert truncated == (len(rows["action"]) - 1 == SPOT_OPTIONS["episode_length"])
    envs = recover_environment(spot_dataset, num_envs=2)  # the batched stepper, with the dataset's arguments
    assert type(envs).__name__ == "SpotFlatTerrainJoystickVectorEnv" and envs.max_episode_steps == 25


@needs_spot
def test_spot_vector_env_equals_one_single_env_per_sub_env_across_autoresets():
    num_envs, limit, seed = 3, 30, 10
    envs = gymnasium.make_vec(SPOT_ID, num_envs=num_envs, vectorization_mode="vector_entry_point",
                              max_episode_steps=limit)
    singles = [gymnasium.make(SPOT_ID, max_episode_steps=limit) for _ in range(num_envs)]
    obs, _ = envs.reset(seed=seed)
    assert obs["state"].shape == (num_envs, 81) and obs["privileged_state"].shape == (num_envs, 167)
    single_obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    rng = np.random.default_rng(0)
    ended = np.zeros(num_envs, bool)
    seen_terminated = False
    for _ in range(2 * limit + 3):  # two autoresets per sub-environment
        actions = rng.uniform(-1, 1, (num_envs, 12)).astype(np.float32)
        actions[0] = 1.0  # every joint at its upper target: sub-environment 0 falls within 30 steps
        obs, reward, terminated, truncated, info = envs.step(actions)
        assert reward.shape == terminated.shape == truncated.shape == (num_envs,)
        assert envs.observation_space.contains(obs) and info["qpos"].shape == (num_envs, 19)
        for i, env in enumerate(singles):
            if ended[i]:  # NEXT_STEP autoreset: this step reset sub-environment i, continuing its generator
                single_obs[i], single_info = env.reset()
                single_reward, single_terminated, single_truncated = 0.0, False, False
            else:
                single_obs[i], single_reward, single_terminated, single_truncated, single_info = env.step(actions[i])
            for key in ("state", "privileged_state"):
                assert np.array_equal(obs[key][i], single_obs[i][key]), (i, key)
            assert np.array_equal(info["qpos"][i], single_info["qpos"])
            assert (reward[i], terminated[i], truncated[i]) == (single_reward, single_terminated, single_truncated)
        ended = terminated | truncated
        seen_terminated |= bool(terminated[0])
    assert seen_terminated  # a fall ended an episode early, and its sub-environment restarted
    assert envs.single_action_space == singles[0].action_space


@needs_spot
def test_spot_vector_env_seeds_and_sizes_are_checked():
    from wmhub.envs.gym.spot import SpotFlatTerrainJoystickVectorEnv

    envs = SpotFlatTerrainJoystickVectorEnv(num_envs=2, obs_noise=False)
    listed, _ = envs.reset(seed=[7, 3])
    single, _ = gymnasium.make(SPOT_ID, obs_noise=False).reset(seed=3)
    assert np.array_equal(listed["state"][1], single["state"])  # the command (state[78:81]) comes from seed 3
    with pytest.raises(ConfigError, match="one per environment"):
        envs.reset(seed=[1, 2, 3])
    with pytest.raises(ConfigError, match="num_envs"):
        SpotFlatTerrainJoystickVectorEnv(num_envs=0)
