"""Spot joystick rollouts: model, observation layout, trot, determinism, resume, verify, card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wmhub.errors import WmhubError
from wmhub.generation import generate

from support.datasets import kill_then_resume, tree_bytes

pytestmark = pytest.mark.skipif(not os.environ.get("MENAGERIE_ROOT") and
                                not (Path.home() / ".cache" / "mujoco_menagerie").exists(),
                                reason="no Menagerie Spot model (set MENAGERIE_ROOT)")

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "playground_spot"
OPTIONS = {"episode_length": 40, "policy": "trot", "epsilon": 0.1, "seed": 3, "obs_noise": True}
EPISODES, PER_SHARD = 6, 2


@pytest.fixture(scope="module")
def spot_model():
    from wmhub.envs.spot_model import build_spot_model

    return build_spot_model()


@pytest.fixture(scope="module")
def spot_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("spot") / "ds"
    generate("spot", out, EPISODES, options=OPTIONS, episodes_per_shard=PER_SHARD, show_progress=False)
    return out


def _run(config_overrides: dict, indices: list[int]):
    from wmhub.envs.spot import SpotConfig, SpotRunner

    return SpotRunner(SpotConfig(**config_overrides)).run_episodes(indices)


def test_model_matches_playground_feetonly(spot_model):
    if not REFERENCE.is_dir():
        pytest.skip("no Playground reference XMLs")
    import mujoco

    spec = mujoco.MjSpec.from_file(str(REFERENCE / "scene_mjx_feetonly_flat_terrain.xml"))
    spec.meshdir = os.path.join(os.environ["MENAGERIE_ROOT"], "boston_dynamics_spot", "assets")
    for geom in list(spec.geoms):
        if geom.type == mujoco.mjtGeom.mjGEOM_MESH:
            spec.delete(geom)
    for mesh in list(spec.meshes):
        spec.delete(mesh)
    ref = spec.compile()
    ref.dof_damping[6:] = 1.0  # what Playground's SpotEnv does after loading
    ref.actuator_gainprm[:, 0] = 300.0
    ref.actuator_biasprm[:, 1] = -300.0
    model, info = spot_model
    for name in ("nq", "nv", "nu", "ngeom", "nsensordata"):
        assert getattr(model, name) == getattr(ref, name), name
    for name in ("timestep", "iterations", "ls_iterations", "integrator", "cone", "impratio", "disableflags"):
        assert getattr(model.opt, name) == getattr(ref.opt, name), name
    for name in ("dof_damping", "dof_armature", "dof_frictionloss", "actuator_gainprm", "actuator_biasprm",
                 "actuator_ctrlrange", "body_mass", "body_inertia", "geom_size", "geom_friction", "geom_solimp",
                 "geom_solref", "geom_condim", "geom_priority", "geom_contype", "geom_conaffinity", "sensor_type",
                 "sensor_adr", "key_qpos"):
        np.testing.assert_allclose(getattr(model, name), getattr(ref, name), err_msg=name)
    assert info.home_qpos[2] == pytest.approx(0.46)
    np.testing.assert_allclose(info.default_pose, [0, 1.04, -1.8] * 4)
    data, rdata = mujoco.MjData(model), mujoco.MjData(ref)
    for m, d in ((model, data), (ref, rdata)):
        mujoco.mj_resetDataKeyframe(m, d, 0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        ctrl = np.clip(info.default_pose + 0.3 * rng.uniform(-1, 1, 12), info.ctrl_low, info.ctrl_high)
        data.ctrl[:] = rdata.ctrl[:] = ctrl
        mujoco.mj_step(model, data, 5)
        mujoco.mj_step(ref, rdata, 5)
    np.testing.assert_allclose(data.qpos, rdata.qpos, atol=1e-9)
    np.testing.assert_allclose(data.sensordata, rdata.sensordata, atol=1e-8)


def test_observation_layout_matches_playground(spot_model):
    from wmhub.envs.spot_env import PRIVILEGED_SIZE, STATE_SIZE

    assert (STATE_SIZE, PRIVILEGED_SIZE) == (81, 167)  # Playground: 3+3+12+36+12+12+3; state + 86
    (ep,) = _run({"episode_length": 5, "obs_noise": False, "policy": "random"}, [0])
    s, p, q = ep.steps["state"], ep.steps["privileged_state"], ep.steps["qpos"]
    model, info = spot_model
    assert s.shape == (6, 81) and p.shape == (6, 167) and q.shape == (6, 19)
    np.testing.assert_array_equal(p[:, :81], s)
    np.testing.assert_allclose(s[:, 6:18], q[:, 7:] - info.default_pose, atol=1e-6)  # joint angles − home
    np.testing.assert_allclose(s[0, 18:30], q[0, 7:], atol=1e-6)  # reset: motor targets are 0 (as Playground)
    np.testing.assert_allclose(s[0, 30:54], 0.0)
    targets = np.clip(info.default_pose + 0.3 * ep.steps["action"][0].astype(np.float64), info.ctrl_low,
                      info.ctrl_high)
    np.testing.assert_allclose(s[1, 18:30], q[1, 7:] - targets, atol=1e-5)
    np.testing.assert_allclose(s[2, 30:42], s[1, 18:30])  # history shifts by 12, newest first
    np.testing.assert_array_equal(s[:2, 66:78], 0.0)
    np.testing.assert_array_equal(s[2, 66:78], ep.steps["action"][0])  # Playground's lag: row t has a_{t-2}
    np.testing.assert_array_equal(s[0, 78:81], ep.steps["command"][0])
    np.testing.assert_allclose(s[0, 3:6], [0, 0, 1], atol=1e-6)  # gravity = body z-axis, upright
    np.testing.assert_allclose(p[0, 87:90], s[0, 3:6])  # clean gravity in the privileged block
    np.testing.assert_allclose(s[0, 54:57], [0.266, 0.166, -0.427], atol=2e-3)  # FL foot rel. imu at home
    np.testing.assert_array_equal(p[:, 164:], 0.0)  # no perturbation force


def test_observation_noise_is_playground_scaled():
    (clean,) = _run({"episode_length": 3, "obs_noise": False}, [4])
    (noisy,) = _run({"episode_length": 3, "obs_noise": True}, [4])
    diff = noisy.steps["state"][0] - clean.steps["state"][0]
    assert 0 < np.abs(diff[0:3]).max() <= 0.1 and np.abs(diff[3:6]).max() <= 0.03
    assert 0 < np.abs(diff[6:18]).max() <= 0.05
    feet = diff[54:66].reshape(4, 3)
    assert np.all(np.abs(feet) <= np.array([0.01, 0.005, 0.02]) + 1e-6)
    np.testing.assert_allclose(feet[:, 0] / 0.01, feet[:, 2] / 0.02, atol=1e-3)  # one draw per foot
    np.testing.assert_array_equal(noisy.steps["qpos"][0], clean.steps["qpos"][0])


def test_trot_follows_forward_command(spot_model):
    from wmhub.envs.spot_env import SpotBatch
    from wmhub.envs.spot_trot import TrotPolicy

    model, info = spot_model
    batch = SpotBatch(model, info, 1, obs_noise=False)
    state, privileged = batch.reset([np.random.default_rng(0)])
    batch.command[:] = [0.5, 0.0, 0.0]
    state[:, 78:81] = batch.command
    policy = TrotPolicy(model, info)
    active = np.ones(1, bool)
    speeds = []
    for t in range(250):  # 5 s
        batch.counter[:] = 0  # keep the command fixed
        state, privileged, result = batch.step(policy(state, np.array([t]), privileged), active)
        assert not result.fell[0], f"fell at step {t}"
        speeds.append(result.local_linvel[0, 0])
    assert abs(np.mean(speeds) - 0.5) < 0.2, np.mean(speeds)


def test_trot_does_not_fall_under_random_commands():
    # 8 episodes of 12 s with random joystick commands (3 commands each: lateral / yaw / backward
    # combinations), observation noise on
    episodes = _run({"episode_length": 600, "policy": "trot", "seed": 5, "obs_noise": True}, list(range(8)))
    assert not any(e.episode["fell"] for e in episodes), [e.episode["length"] for e in episodes]
    assert np.mean([e.episode["lin_vel_error"] for e in episodes]) < 0.45
    assert np.mean([e.episode["yaw_rate_error"] for e in episodes]) < 0.5


def test_episode_boundaries_and_replay():
    from wmhub.envs.spot import SpotConfig, SpotRunner, replay_qpos

    (kept,) = _run({"episode_length": 300, "policy": "trot"}, [0])
    runner = SpotRunner(SpotConfig(episode_length=300, policy="trot"))
    tip_over = np.array([-1, -1, 1, -1, 1, -1] * 2, np.float32)  # left legs long, right legs short: rolls
    runner.policy = lambda state, step: np.tile(tip_over, (len(state), 1))
    (fell,) = runner.run_episodes([1])
    assert fell.episode["fell"] and not kept.episode["fell"]
    for ep in (fell, kept):
        steps, info = ep.steps, ep.episode
        assert len(steps["is_last"]) == info["length"] + 1 and steps["is_last"][-1] and steps["is_last"].sum() == 1
        assert steps["is_terminal"].sum() == int(info["fell"]) and steps["is_terminal"][-1] == info["fell"]
        assert info["termination"] == (1 if info["fell"] else 0)
        assert np.isnan(steps["action"][-1]).all() and not np.isnan(steps["action"][:-1]).any()
        np.testing.assert_array_equal(replay_qpos(steps["action"][:-1]), steps["qpos"])


def test_batch_rows_do_not_depend_on_the_batch():
    together = _run({"episode_length": 30, "epsilon": 0.3}, [5, 6, 7])
    alone = _run({"episode_length": 30, "epsilon": 0.3}, [6])[0]
    for name, values in alone.steps.items():
        np.testing.assert_array_equal(values, together[1].steps[name], err_msg=name)
    assert alone.episode == together[1].episode
    assert together[1].steps["is_random_action"][:-1].any()


def test_workers_do_not_change_bytes_and_verify_passes(spot_dataset, tmp_path):
    parallel = tmp_path / "w2"
    generate("spot", parallel, EPISODES, options=OPTIONS, episodes_per_shard=PER_SHARD, workers=2,
             show_progress=False)
    assert tree_bytes(parallel) == tree_bytes(spot_dataset)
    from wmhub.data.verify import verify_dataset

    assert verify_dataset(spot_dataset) == []
    result = subprocess.run([sys.executable, "-m", "wmhub.cli", "verify", str(spot_dataset)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _cli(out: Path, *extra: str) -> list[str]:
    args = [sys.executable, "-m", "wmhub.cli", "generate", "spot", str(out), "--episodes", str(EPISODES),
            "--episodes-per-shard", str(PER_SHARD), "--quiet"]
    for key, value in OPTIONS.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args + list(extra)


@pytest.mark.parametrize("kill_after_shards", [0, 2])
def test_sigkill_then_resume_is_identical(spot_dataset, tmp_path, kill_after_shards):
    out = tmp_path / "killed"
    kill_then_resume(_cli(out), _cli(out, "--resume"), out, kill_after_shards)
    assert tree_bytes(out) == tree_bytes(spot_dataset)


def test_manifest_command_and_card(spot_dataset):
    manifest = json.loads((spot_dataset / "manifest.json").read_text())
    command = manifest["generator"]["command"]
    assert "generate spot OUT --episodes 6" in command and "--obs-noise True" in command
    card = (spot_dataset / "README.md").read_text()
    assert "# Spot joystick rollouts (trot, ε = 0.1)" in card
    assert "| falls |" in card and "| tracking error" in card and "| v_x |" in card
    assert "zakka2025playground" in card and "menagerie2022github" in card and "todorov2012mujoco" in card
    assert "{{" not in card


def test_hours_option_and_errors(tmp_path):
    from wmhub.envs.spot import spot_hours_to_episodes

    assert spot_hours_to_episodes(0.5, 1000) == 90
    assert spot_hours_to_episodes(50, 1000) == 9000
    assert spot_hours_to_episodes(0.001, 1000) == 1
    both = subprocess.run([sys.executable, "-m", "wmhub.cli", "generate", "spot", str(tmp_path / "x"),
                           "--episodes", "2", "--hours", "1"], capture_output=True, text=True)
    assert both.returncode == 2 and "exactly one of --episodes" in both.stderr
    bad = subprocess.run([sys.executable, "-m", "wmhub.cli", "generate", "spot", str(tmp_path / "y"),
                          "--episodes", "2", "--policy", "walk"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown policy" in bad.stderr


def test_missing_menagerie_is_a_clear_error(tmp_path, monkeypatch):
    from wmhub.envs.spot_model import spot_model_dir

    monkeypatch.setenv("MENAGERIE_ROOT", str(tmp_path))
    with pytest.raises(WmhubError, match="MENAGERIE_ROOT"):
        spot_model_dir()


def test_mlp_policy_is_loaded_lazily(spot_model, tmp_path):
    from wmhub.envs.spot import make_policy

    model, info = spot_model
    try:
        from wmhub.envs.spot_mlp_policy import MLPPolicyConfig, SpotMLPPolicy, save_policy
    except ImportError:
        with pytest.raises(WmhubError, match="MLP policy loader"):
            make_policy(f"mlp:{tmp_path / 'policy'}", model, info)
        return
    import torch

    torch.manual_seed(0)
    save_policy(SpotMLPPolicy(MLPPolicyConfig(obs_dim=81, action_dim=12, hidden_sizes=[16])), tmp_path / "policy")
    options = {"episode_length": 10, "policy": f"mlp:{tmp_path / 'policy'}", "seed": 1}
    together = _run(options, [0, 1, 2])
    alone = _run(options, [1])[0]
    np.testing.assert_array_equal(alone.steps["action"], together[1].steps["action"])
    actions = together[0].steps["action"][:-1]
    assert actions.shape == (10, 12) and np.abs(actions).max() <= 1.0 and actions.std() > 0


def test_mlp_policy_sha256_is_recorded_and_checked(tmp_path):
    pytest.importorskip("torch")
    import torch
    from pydantic import ValidationError

    from wmhub.envs.spot import SpotConfig, SpotRunner, policy_sha256
    from wmhub.envs.spot_mlp_policy import MLPPolicyConfig, SpotMLPPolicy, save_policy

    torch.manual_seed(0)
    policy_dir = tmp_path / "policy"
    save_policy(SpotMLPPolicy(MLPPolicyConfig(obs_dim=81, action_dim=12, hidden_sizes=[8])), policy_dir)
    digest = policy_sha256(policy_dir)
    assert digest.startswith("config.json:") and ",model.safetensors:" in digest
    with pytest.raises(ValidationError, match="mlp:PATH only"):
        SpotConfig(policy="trot", policy_sha256=digest)
    with pytest.raises(ValidationError, match="not of the form"):
        SpotConfig(policy=f"mlp:{policy_dir}", policy_sha256="abc")

    out = tmp_path / "ds"
    subprocess.run([sys.executable, "-m", "wmhub.cli", "generate", "spot", str(out), "--episodes", "1",
                    "--episode-length", "3", "--policy", f"mlp:{policy_dir}", "--quiet"], check=True,
                   capture_output=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["generator"]["config"]["policy_sha256"] == digest
    assert f"--policy-sha256 {digest}" in manifest["generator"]["command"]

    weights = policy_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(WmhubError, match=r"model\.safetensors: sha256 [0-9a-f]{64}, recorded"):
        SpotRunner(SpotConfig(episode_length=3, policy=f"mlp:{policy_dir}", policy_sha256=digest))
    again = subprocess.run([sys.executable, "-m", "wmhub.cli", "generate", "spot", str(tmp_path / "ds2"),
                            "--episodes", "1", "--episode-length", "3", "--policy", f"mlp:{policy_dir}",
                            "--policy-sha256", digest, "--quiet"], capture_output=True, text=True)
    assert again.returncode != 0 and "model.safetensors" in again.stderr and "policy changed" in again.stderr
