"""Batched Spot stepping writes the same bytes as stepping one environment at a time.

The SHA-256 of every shard below were computed by the code that stepped, observed and recorded the
environments of a lockstep batch one by one in Python (one ``MjData`` and one ``mj_step`` call per
environment), before :class:`~wmhub.envs.spot_env.SpotBatch` stepped the batch through
``mujoco.batch.Batch`` with vectorised controller, noise, reward and recording. Each case
regenerates its dataset and compares every shard byte for byte: a trot with ε-greedy noise, the
random policy, an MLP policy (``mlp:PATH``, weights drawn here by numpy with a fixed seed) and an MLP
policy that tips the robot over, so episodes of a batch fall at different steps and finish masked.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from wmhub.generation import generate

pytestmark = pytest.mark.skipif(not os.environ.get("MENAGERIE_ROOT") and
                                not (Path.home() / ".cache" / "mujoco_menagerie").exists(),
                                reason="no Menagerie Spot model (set MENAGERIE_ROOT)")

TIP_OVER = [-3.0, -3.0, 3.0, -3.0, 3.0, -3.0] * 2  # output bias: left legs long, right legs short

CASES = {
    "trot": ({"episode_length": 60, "seed": 5, "epsilon": 0.2}, 6, 3),
    "random": ({"episode_length": 60, "seed": 7, "policy": "random"}, 6, 3),
    "mlp": ({"episode_length": 60, "seed": 3, "epsilon": 0.1, "policy": "mlp"}, 4, 2),
    "fall": ({"episode_length": 80, "seed": 9, "epsilon": 0.3, "policy": "mlp-fall", "obs_noise": False}, 4, 4),
}

# computed by the environment-by-environment code (see the module docstring)
RECORDED = {
    "trot": {
        "data/episodes/episodes-00000000-00000003.parquet":
            "c5666cda870e78916ff794fbd22c05eae22a19391bfb9168e06e0208d4b9dea2",
        "data/episodes/episodes-00000003-00000006.parquet":
            "e14232f9fb550c03d518d6c17462b49137baf0e85d0571988e7cc030cb7e61cd",
        "data/steps/episodes-00000000-00000003.parquet":
            "2e48868b8d4111b6906385e824de0fd22bebdce85916fa73ebca6da3e0f036a6",
        "data/steps/episodes-00000003-00000006.parquet":
            "f7de8e0852b190316655c2a75c98683750cb747be351613fd37ccb2f883b1687",
    },
    "random": {
        "data/episodes/episodes-00000000-00000003.parquet":
            "d0f9907fa766bb58856df812721758dd6304d43e6b9fb89199defa1632b954c8",
        "data/episodes/episodes-00000003-00000006.parquet":
            "3f4a480c3abfe743684ce7510fe86cf599c518c632f2b72c351d7c025451407c",
        "data/steps/episodes-00000000-00000003.parquet":
            "60ff6514116d7facd0ca53f2658580ef244c92fa88e6b93c1f9e5bfe472a3ecf",
        "data/steps/episodes-00000003-00000006.parquet":
            "b60ffd6ab6eead34a32cef4974e6f55089564488c22d2e235735c5ec960836ca",
    },
    "mlp": {
        "data/episodes/episodes-00000000-00000002.parquet":
            "4b8ac0df916efa9cc076032167042b1418214b753b289a81d69bd48b9978ddc0",
        "data/episodes/episodes-00000002-00000004.parquet":
            "4ad60ea898e77badb47fa32cc3786a64c0cbbbe71d8939c62c8c240150f37294",
        "data/steps/episodes-00000000-00000002.parquet":
            "1529a9e8f7f35cabe633d5fe606cace7090dcb29b5877ef3884a8570523db543",
        "data/steps/episodes-00000002-00000004.parquet":
            "9972a2daeca4a53c78f24c0a49b9bb671545986efdb05093fc472c93f38068bf",
    },
    "fall": {
        "data/episodes/episodes-00000000-00000004.parquet":
            "49e4382fb479e2a8bf633a6441d31fbf3cee25297babf98397bd8137d8180267",
        "data/steps/episodes-00000000-00000004.parquet":
            "1633ae2f64ac5c5429ad314a4b395d8b7e76adf1083d7e87bb25a3308f3b2d5c",
    },
}


def _mlp_policy(path: Path, fall: bool) -> Path:
    """A small MLP policy with weights drawn by numpy (fixed seed); ``fall``: biased to tip Spot over."""
    from wmhub.envs.spot_mlp_policy import MLPPolicyConfig, policy_from_arrays, save_policy

    config = MLPPolicyConfig(obs_dim=81, action_dim=12, hidden_sizes=[32, 16], activation="silu",
                             normalize_observations=True)
    rng = np.random.default_rng(11)
    tensors = {"obs_mean": rng.normal(size=81), "obs_std": rng.uniform(0.5, 2.0, 81)}
    for i, (fan_in, fan_out) in enumerate(config.layer_shapes()):
        tensors[f"layers.{i}.weight"] = rng.normal(0.0, fan_in ** -0.5, (fan_out, fan_in))
        tensors[f"layers.{i}.bias"] = rng.normal(0.0, 0.1, fan_out)
    if fall:
        last = len(config.layer_shapes()) - 1
        tensors[f"layers.{last}.weight"] *= 0.01
        tensors[f"layers.{last}.bias"][:12] = TIP_OVER
    return save_policy(policy_from_arrays(config, tensors), path)


@pytest.mark.parametrize("case", list(CASES))
def test_shards_are_byte_identical_to_the_per_environment_code(tmp_path, case):
    options, episodes, per_shard = CASES[case]
    options = dict(options)
    if options.get("policy", "").startswith("mlp"):
        options["policy"] = f"mlp:{_mlp_policy(tmp_path / 'policy', fall=options['policy'] == 'mlp-fall')}"
    out = tmp_path / case
    generate("spot", out, episodes, options=options, episodes_per_shard=per_shard, show_progress=False)
    digests = {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest()
               for f in sorted((out / "data").rglob("*.parquet"))}
    assert digests == RECORDED[case]


def test_fall_case_ends_episodes_at_different_steps(tmp_path):
    """The ``fall`` case exercises masking: its episodes fall at different steps of one batch."""
    from wmhub.envs.spot import SpotConfig, SpotRunner

    options, episodes, _ = CASES["fall"]
    policy = _mlp_policy(tmp_path / "policy", fall=True)
    runner = SpotRunner(SpotConfig(**dict(options, policy=f"mlp:{policy}")))
    ends = runner.run_episodes(list(range(episodes)))
    lengths = [ep.episode["length"] for ep in ends]
    assert all(ep.episode["fell"] for ep in ends) and len(set(lengths)) > 1, lengths


def test_reset_some_continues_as_a_batch_of_one():
    """A row reset alone, stepped among running rows and masked ones, equals a batch of one, bit for bit."""
    from wmhub.envs.spot_env import SpotBatch
    from wmhub.envs.spot_model import build_spot_model

    model, info = build_spot_model()
    batch = SpotBatch(model, info, 3)
    batch.reset([np.random.default_rng(s) for s in (1, 2, 3)])
    one = SpotBatch(model, info, 1)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (12, 3, 12)).astype(np.float32)
    for t in range(4):  # the others move away from home first
        batch.step(actions[t], np.ones(3, bool))
    state, privileged = batch.reset_some([1], [np.random.default_rng(42)])
    want_state, want_privileged = one.reset([np.random.default_rng(42)])
    assert state[1].tobytes() == want_state[0].tobytes()
    assert privileged[1].tobytes() == want_privileged[0].tobytes()
    active = np.array([True, True, False])
    for t in range(4, 12):
        state, privileged, result = batch.step(actions[t], active)
        want_state, want_privileged, want = one.step(actions[t, 1:2], np.ones(1, bool))
        assert state[1].tobytes() == want_state[0].tobytes()
        assert privileged[1].tobytes() == want_privileged[0].tobytes()
        assert result.terms[1].tobytes() == want.terms[0].tobytes()
        assert batch.qpos[1].tobytes() == one.qpos[0].tobytes()
        assert batch.qvel[1].tobytes() == one.qvel[0].tobytes()
