"""MLP policy for Spot and the Brax PPO checkpoint converter.

The checkpoints are built here with the structure Brax PPO returns
(``(normalizer_params, policy_params, value_params)``) and written as flax's
``serialization.to_bytes`` would (own minimal encoder: JAX is not installed).
The reference actions come from an independent float64 numpy version of Brax's
deterministic policy: normalize -> MLP (swish between layers) -> tanh(loc).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import msgpack
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.numpy import load_file, save_file

from wmhub.cli.policy import policy as policy_cli
from wmhub.envs.brax_convert import convert_brax_checkpoint
from wmhub.envs.spot_mlp_policy import (
    MLPPolicyConfig,
    SpotMLPPolicy,
    load_mlp_policy,
    load_policy_module,
    save_policy,
)
from wmhub.errors import WmhubError

OBS, ACT, PRIV = 81, 12, 167  # Spot's state and privileged_state sizes
SPOT_HIDDEN = (128, 128, 128, 128)  # mujoco_playground locomotion_params default (Spot)


# ----------------------------------------------------------- flax-like msgpack writer
def _flax_ext(obj):
    """flax.serialization._msgpack_ext_pack: ndarray -> ext 1, numpy scalar -> ext 3."""
    if isinstance(obj, np.ndarray):
        return msgpack.ExtType(1, msgpack.packb((obj.shape, obj.dtype.name, obj.tobytes("C")), use_bin_type=True))
    if isinstance(obj, np.generic):
        arr = np.asarray(obj)
        return msgpack.ExtType(3, msgpack.packb((arr.shape, arr.dtype.name, arr.tobytes("C")), use_bin_type=True))
    raise TypeError(f"cannot serialise {type(obj)}")


def flax_to_bytes(state_dict) -> bytes:
    """flax.serialization.msgpack_serialize of an already-converted state dict."""
    return msgpack.packb(state_dict, default=_flax_ext, strict_types=True)


def flatten(tree, prefix=""):
    """flax.traverse_util.flatten_dict(..., sep='/')."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "/"))
        else:
            out[name] = np.asarray(value)
    return out


def _mlp_params(rng, sizes):
    layers = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        limit = np.sqrt(3.0 / fan_in)  # lecun_uniform
        layers[f"hidden_{i}"] = {
            "bias": rng.normal(0, 0.05, fan_out).astype(np.float32),
            "kernel": rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32),
        }
    return {"params": layers}


def brax_state_dict(seed=0, hidden=SPOT_HIDDEN, dict_obs=True, policy_obs_key="state"):
    """to_state_dict((RunningStatisticsState, policy_params, value_params)) as Brax PPO returns it."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, 1, OBS).astype(np.float32)
    std = rng.uniform(0.3, 2.0, OBS).astype(np.float32)
    if dict_obs:
        priv_mean = rng.normal(0, 1, PRIV).astype(np.float32)
        priv_std = rng.uniform(0.3, 2.0, PRIV).astype(np.float32) if policy_obs_key == "privileged_state" else \
            np.ones(PRIV, np.float32)
        mean_tree = {"privileged_state": priv_mean, "state": mean}
        std_tree = {"privileged_state": priv_std, "state": std}
        var_tree = {"privileged_state": priv_std**2, "state": std**2}
    else:
        mean_tree, std_tree, var_tree = mean, std, std**2
    normalizer = {  # RunningStatisticsState data fields (mode is pytree_node=False)
        "mean": mean_tree,
        "std": std_tree,
        "count": {"hi": np.array(0, np.uint32), "lo": np.array(81920, np.uint32)},  # types.UInt64
        "summed_variance": var_tree,
        "std_eps": 0.0,
    }
    policy = _mlp_params(rng, [PRIV if policy_obs_key == "privileged_state" else OBS, *hidden, 2 * ACT])
    value = _mlp_params(rng, [OBS, 16, 1])
    return {"0": normalizer, "1": policy, "2": value}


def brax_reference(state_dict, obs, obs_key="state", normalize=True):
    """Independent float64 numpy of Brax's deterministic PPO policy."""
    mean, std = state_dict["0"]["mean"], state_dict["0"]["std"]
    if isinstance(mean, dict):
        mean, std = mean[obs_key], std[obs_key]
    x = obs.astype(np.float64)
    if normalize:
        x = (x - mean.astype(np.float64)) / std.astype(np.float64)
    layers = state_dict["1"]["params"]
    for i in range(len(layers)):
        x = x @ layers[f"hidden_{i}"]["kernel"].astype(np.float64) + layers[f"hidden_{i}"]["bias"].astype(np.float64)
        if i < len(layers) - 1:
            x = x * (1.0 / (1.0 + np.exp(-x)))  # linen.swish
    loc, _scale = np.split(x, 2, axis=-1)
    return np.tanh(loc)  # NormalTanhDistribution.mode


def observations(state_dict, n=64, seed=1, obs_key="state"):
    mean, std = state_dict["0"]["mean"], state_dict["0"]["std"]
    if isinstance(mean, dict):
        mean, std = mean[obs_key], std[obs_key]
    rng = np.random.default_rng(seed)
    return (mean + std * rng.normal(0, 1.5, (n, len(mean)))).astype(np.float32)


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ----------------------------------------------------------- conversion
def test_convert_msgpack_reproduces_brax_actions(tmp_path):
    sd = brax_state_dict()
    src = tmp_path / "spot_policy.msgpack"
    src.write_bytes(flax_to_bytes(sd))
    out = convert_brax_checkpoint(src, tmp_path / "policy", expect_obs_dim=OBS, expect_action_dim=ACT)

    config = MLPPolicyConfig.model_validate_json((out / "config.json").read_text())
    assert (config.obs_dim, config.action_dim, config.hidden_sizes) == (OBS, ACT, list(SPOT_HIDDEN))
    assert config.activation == "silu" and config.normalize_observations and config.output == "tanh_normal_mode"
    assert "sha256:" in config.source

    obs = observations(sd)
    expected = brax_reference(sd, obs)
    runner = load_mlp_policy(out)
    actions = runner(obs)
    assert actions.dtype == np.float32 and actions.shape == (64, ACT)
    np.testing.assert_allclose(actions, expected, atol=1e-5, rtol=0)
    assert np.abs(expected).max() < 0.999  # not all saturated: the comparison means something

    with torch.no_grad():
        torch_actions = load_policy_module(out)(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(torch_actions, expected, atol=1e-5, rtol=0)


def test_convert_npz_and_array_normaliser(tmp_path):
    sd = brax_state_dict(seed=3, hidden=(32, 24), dict_obs=False)
    src = tmp_path / "params.npz"
    np.savez(src, **flatten(sd))
    out = convert_brax_checkpoint(src, tmp_path / "p", fmt="npz")
    obs = observations(sd, n=20)
    np.testing.assert_allclose(load_mlp_policy(out)(obs), brax_reference(sd, obs), atol=1e-5, rtol=0)


def test_convert_options_activation_and_no_normalize(tmp_path):
    sd = brax_state_dict(seed=4, hidden=(16, 16))
    src = tmp_path / "p.msgpack"
    src.write_bytes(flax_to_bytes(sd))
    brax_config = tmp_path / "config.json"  # as brax.training.checkpoint.save writes it
    brax_config.write_text(json.dumps({"network_factory_kwargs": {"activation": "relu", "policy_obs_key": "state"},
                                       "normalize_observations": False, "action_size": ACT}))
    out = convert_brax_checkpoint(src, tmp_path / "p", brax_config=brax_config)
    config = MLPPolicyConfig.model_validate_json((out / "config.json").read_text())
    assert config.activation == "relu" and not config.normalize_observations

    obs = observations(sd, n=8)
    x = obs.astype(np.float64)
    layers = sd["1"]["params"]
    for i in range(len(layers)):
        x = x @ layers[f"hidden_{i}"]["kernel"].astype(np.float64) + layers[f"hidden_{i}"]["bias"]
        x = np.maximum(x, 0) if i < len(layers) - 1 else x
    np.testing.assert_allclose(load_mlp_policy(out)(obs), np.tanh(x[:, :ACT]), atol=1e-5, rtol=0)


# ----------------------------------------------------------- save / load
def _random_policy(activation="silu", hidden=(37, 20), normalize=True, seed=0) -> SpotMLPPolicy:
    torch.manual_seed(seed)
    config = MLPPolicyConfig(obs_dim=OBS, action_dim=ACT, hidden_sizes=list(hidden), activation=activation,
                             normalize_observations=normalize)
    policy = SpotMLPPolicy(config)
    with torch.no_grad():
        policy.obs_mean.normal_()
        policy.obs_std.uniform_(0.5, 2.0)
    return policy.eval()


def test_save_load_round_trip(tmp_path):
    policy = _random_policy()
    out = save_policy(policy, tmp_path / "pol")
    assert entries(tmp_path) == ["pol"] and entries(out) == ["config.json", "model.safetensors"]
    loaded = load_policy_module(out)
    assert loaded.config == policy.config
    for name, tensor in policy.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name

    obs = np.random.default_rng(0).normal(0, 2, (16, OBS)).astype(np.float32)
    with torch.no_grad():
        reference = policy(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(load_mlp_policy(out)(obs), reference, atol=1e-5, rtol=0)

    with pytest.raises(WmhubError, match="already exists"):
        save_policy(policy, out)
    save_policy(_random_policy(seed=1), out, overwrite=True)
    assert entries(tmp_path) == ["pol"]
    assert not np.array_equal(load_mlp_policy(out)(obs), reference)  # the new weights are in place


@pytest.mark.parametrize("activation", ["silu", "relu", "tanh", "elu"])
def test_rows_are_bitwise_independent_of_batch(tmp_path, activation):
    runner = load_mlp_policy(save_policy(_random_policy(activation, hidden=(37, 128, 20)), tmp_path / "p"))
    rng = np.random.default_rng(5)
    obs = rng.normal(0, 3, (64, OBS)).astype(np.float32)
    full = runner(obs)
    assert runner(obs).tobytes() == full.tobytes()  # deterministic
    singles = np.concatenate([runner(obs[i : i + 1]) for i in range(64)])
    assert singles.tobytes() == full.tobytes()
    sevens = np.concatenate([runner(obs[i : i + 7]) for i in range(0, 64, 7)])
    assert sevens.tobytes() == full.tobytes()
    order = rng.permutation(64)
    assert runner(obs[order]).tobytes() == full[order].tobytes()
    mixed = np.concatenate([obs[:3], rng.normal(0, 3, (60, OBS)).astype(np.float32), obs[3:4]])
    assert runner(mixed)[[0, 1, 2, 63]].tobytes() == full[:4].tobytes()


# ----------------------------------------------------------- bad inputs
def _write_msgpack(tmp_path, sd) -> Path:
    src = tmp_path / "bad.msgpack"
    src.write_bytes(flax_to_bytes(sd))
    return src


def _assert_fails(tmp_path, src, match, **kwargs):
    before = entries(tmp_path)
    with pytest.raises(WmhubError, match=match):
        convert_brax_checkpoint(src, tmp_path / "out", **kwargs)
    assert entries(tmp_path) == before  # no OUT, no temporary directory left behind


def test_missing_key_and_wrong_shape(tmp_path):
    sd = brax_state_dict(hidden=(16, 16))
    del sd["1"]["params"]["hidden_1"]["bias"]
    _assert_fails(tmp_path, _write_msgpack(tmp_path, sd), r"missing key '1/params/hidden_1/bias'")

    sd = brax_state_dict(hidden=(16, 16))
    sd["1"]["params"]["hidden_1"]["bias"] = np.zeros(15, np.float32)
    _assert_fails(tmp_path, _write_msgpack(tmp_path, sd), r"hidden_1/bias' has shape \(15,\)")

    sd = brax_state_dict(hidden=(16, 16))
    del sd["0"]["mean"]["state"]
    _assert_fails(tmp_path, _write_msgpack(tmp_path, sd), r"0/mean/state.*--obs-key")

    flat = flatten(brax_state_dict(hidden=(16,)))
    del flat["1/params/hidden_0/kernel"]
    np.savez(tmp_path / "bad.npz", **flat)
    _assert_fails(tmp_path, tmp_path / "bad.npz", r"missing key '1/params/hidden_0/kernel'")

    _assert_fails(tmp_path, _write_msgpack(tmp_path, brax_state_dict(hidden=(16,))), r"observation size is 81, "
                  r"expected 80", expect_obs_dim=80)

    sd = brax_state_dict(hidden=(16,))
    sd["1"]["params"]["LayerNorm_0"] = {"scale": np.ones(16, np.float32)}
    _assert_fails(tmp_path, _write_msgpack(tmp_path, sd), "LayerNorm_0 are not supported")


class _Tripwire:
    """Unpickling this creates a file: proof that the converter never unpickles."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_pickle_orbax_and_garbage_are_refused(tmp_path):
    sentinel = tmp_path / "unpickled"
    src = tmp_path / "params.pkl"  # what brax.io.model.save_params writes
    src.write_bytes(pickle.dumps({"params": _Tripwire(sentinel)}, protocol=4))
    _assert_fails(tmp_path, src, r"pickle.*to_bytes")
    _assert_fails(tmp_path, src, r"pickle", fmt="msgpack")
    assert not sentinel.exists()

    orbax = tmp_path / "000000100000"
    (orbax / "d").mkdir(parents=True)
    (orbax / "_CHECKPOINT_METADATA").write_text("{}")
    _assert_fails(tmp_path, orbax, r"orbax.*flax.serialization.to_bytes")

    junk = tmp_path / "junk.msgpack"
    junk.write_bytes(b"\xc1not msgpack at all")
    _assert_fails(tmp_path, junk, "not a flax msgpack file")
    _assert_fails(tmp_path, junk, "not a readable .npz", fmt="npz")
    _assert_fails(tmp_path, tmp_path / "absent.msgpack", "does not exist")


def test_strict_loading_names_file_and_key(tmp_path):
    out = save_policy(_random_policy(), tmp_path / "p")
    weights = out / "model.safetensors"
    tensors = load_file(str(weights))

    bad = dict(tensors, **{"layers.1.bias": np.zeros(3, np.float32)})
    save_file(bad, str(weights))
    with pytest.raises(WmhubError, match=r"model.safetensors: tensor 'layers.1.bias' has shape \(3,\), expected"):
        load_mlp_policy(out)

    save_file({k: v for k, v in tensors.items() if k != "obs_std"}, str(weights))
    with pytest.raises(WmhubError, match=r"model.safetensors: missing tensor 'obs_std'.*convert-brax"):
        load_mlp_policy(out)

    save_file(dict(tensors, extra=np.zeros(1, np.float32)), str(weights))
    with pytest.raises(WmhubError, match=r"unexpected tensor 'extra'"):
        load_mlp_policy(out)

    save_file(tensors, str(weights))
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps(dict(config, dropout=0.1)))
    with pytest.raises(WmhubError, match=r"config.json is not a valid MLP policy config \(dropout"):
        load_mlp_policy(out)
    (out / "config.json").write_text(json.dumps(config))
    assert load_mlp_policy(out)(np.zeros((1, OBS), np.float32)).shape == (1, ACT)
    with pytest.raises(WmhubError, match=r"shape \[N, 81\]"):
        load_mlp_policy(out)(np.zeros((2, 80), np.float32))
    with pytest.raises(WmhubError, match="model.safetensors is missing"):
        (out / "model.safetensors").unlink()
        load_mlp_policy(out)


# ----------------------------------------------------------- CLI
def test_cli_convert_brax(tmp_path):
    sd = brax_state_dict(hidden=(16, 16))
    src = _write_msgpack(tmp_path, sd)
    result = CliRunner().invoke(policy_cli, ["convert-brax", str(src), str(tmp_path / "pol"), "--expect-obs-dim",
                                             "81", "--expect-action-dim", "12"])
    assert result.exit_code == 0, result.output
    assert "hidden [16, 16]" in result.output and "activation silu" in result.output
    obs = observations(sd, n=4)
    np.testing.assert_allclose(load_mlp_policy(tmp_path / "pol")(obs), brax_reference(sd, obs), atol=1e-5, rtol=0)

    result = CliRunner().invoke(policy_cli, ["convert-brax", str(src), str(tmp_path / "pol")])
    assert result.exit_code == 2 and "error:" in result.output and "--overwrite" in result.output
    help_text = CliRunner().invoke(policy_cli, ["convert-brax", "--help"]).output
    assert "Example:" in help_text


# ----------------------------------------------------------- observation key and Brax config
def _ppo_network_config(path: Path, obs_key: str, activation: str = "swish") -> Path:
    """What brax.training.agents.ppo.checkpoint.save writes next to the orbax files of a step."""
    path.write_text(json.dumps({
        "network_factory_kwargs": {"policy_hidden_layer_sizes": [16, 16], "activation": activation,
                                   "policy_obs_key": obs_key, "value_obs_key": "privileged_state",
                                   "distribution_type": "tanh_normal"},
        "normalize_observations": True, "observation_size": {"state": [OBS], "privileged_state": [PRIV]},
        "action_size": ACT}))
    return path


def test_privileged_state_policy_converts_and_is_checked(tmp_path):
    sd = brax_state_dict(seed=7, hidden=(16, 16), policy_obs_key="privileged_state")
    step = tmp_path / "ckpt" / "000000100000"
    step.mkdir(parents=True)
    src = step / "spot_policy.msgpack"
    src.write_bytes(flax_to_bytes(sd))
    _ppo_network_config(step / "ppo_network_config.json", "privileged_state", activation="relu")
    out = convert_brax_checkpoint(src, tmp_path / "priv")  # the step's ppo_network_config.json is found
    config = MLPPolicyConfig.model_validate_json((out / "config.json").read_text())
    assert (config.obs_key, config.obs_dim, config.activation) == ("privileged_state", PRIV, "relu")
    config.check_obs_size()

    # the step directory given as --brax-config, through the CLI
    result = CliRunner().invoke(policy_cli, ["convert-brax", str(src), str(tmp_path / "cli"), "--brax-config",
                                             str(step)])
    assert result.exit_code == 0, result.output
    assert "privileged_state 167 -> hidden [16, 16]" in result.output

    # the wrong key: the normaliser's statistics do not fit the network, or the config's sizes do not
    _assert_fails(tmp_path, src, r"shapes \(81,\)/\(81,\).*167 inputs.*--obs-key", obs_key="state")
    other = _ppo_network_config(tmp_path / "ppo_network_config.json", "state")
    plain = brax_state_dict(seed=7, hidden=(16, 16), dict_obs=False)
    flat = tmp_path / "flat.msgpack"
    flat.write_bytes(flax_to_bytes(plain))
    _assert_fails(tmp_path, flat, r"observation_size\['privileged_state'\] is 167 but the network takes 81 inputs; "
                  r"pass --obs-key state", obs_key="privileged_state", brax_config=other)
    result = CliRunner().invoke(policy_cli, ["convert-brax", str(src), str(tmp_path / "x"), "--obs-key", "obs"])
    assert result.exit_code == 2 and "'obs' is not one of 'state', 'privileged_state'" in result.output

    # a network on privileged_state with plain-array statistics, converted as if it read state
    (tmp_path / "alone").mkdir()
    flat_priv = tmp_path / "alone" / "flat_priv.msgpack"  # no ppo_network_config.json beside it
    flat_priv.write_bytes(flax_to_bytes(dict(sd, **{"0": dict(sd["0"], mean=sd["0"]["mean"]["privileged_state"],
                                                               std=sd["0"]["std"]["privileged_state"])})))
    _assert_fails(tmp_path, flat_priv, r"reads 'state' \(81 values\) but its network takes 167 inputs; it matches "
                  r"'privileged_state'")
    assert convert_brax_checkpoint(flat_priv, tmp_path / "fp", obs_key="privileged_state").is_dir()

    # a hand-made directory whose key and input size disagree is refused before it runs
    mislabeled = save_policy(SpotMLPPolicy(MLPPolicyConfig(obs_dim=PRIV, action_dim=ACT, hidden_sizes=[8])),
                             tmp_path / "mislabeled")
    with pytest.raises(WmhubError, match=r"reads 'state' \(81 values\) but its network takes 167 inputs; it matches "
                                         r"'privileged_state': convert it again with --obs-key privileged_state"):
        load_mlp_policy(mislabeled).config.check_obs_size(f"MLP policy {mislabeled}")


def test_brax_config_file_name_and_pickle_message(tmp_path):
    from wmhub.envs.brax_convert import BRAX_PPO_CONFIG_FILE, find_brax_config

    assert BRAX_PPO_CONFIG_FILE == "ppo_network_config.json"  # brax/training/agents/ppo/checkpoint.py
    src = tmp_path / "params.msgpack"
    src.write_bytes(flax_to_bytes(brax_state_dict(hidden=(16,))))
    assert find_brax_config(src, None) is None
    beside = _ppo_network_config(tmp_path / BRAX_PPO_CONFIG_FILE, "state")
    assert find_brax_config(src, None) == beside and find_brax_config(src, tmp_path) == beside
    (tmp_path / "empty_step").mkdir()
    with pytest.raises(WmhubError, match=r"holds no ppo_network_config.json"):
        find_brax_config(src, tmp_path / "empty_step")
    with pytest.raises(WmhubError, match=r"CKPT_DIR/<step>/ppo_network_config.json"):
        find_brax_config(src, tmp_path / "absent.json")
    help_text = CliRunner().invoke(policy_cli, ["convert-brax", "--help"]).output
    assert "ppo_network_config.json" in help_text and "orbax checkpoint step" not in help_text

    pickled = tmp_path / "params.pkl"
    pickled.write_bytes(pickle.dumps({"params": np.zeros(3)}, protocol=4))
    _assert_fails(tmp_path, pickled, r"never unpickles.*brax\.io\.model\.load_params\(PATH\).*to_bytes")


@pytest.mark.skipif(not os.environ.get("MENAGERIE_ROOT"), reason="no Menagerie Spot model (set MENAGERIE_ROOT)")
def test_privileged_state_policy_drives_spot(tmp_path):
    from wmhub.envs.spot import SpotConfig, SpotRunner, make_policy
    from wmhub.envs.spot_model import build_spot_model

    sd = brax_state_dict(seed=3, hidden=(16, 16), policy_obs_key="privileged_state")
    src = tmp_path / "p.msgpack"
    src.write_bytes(flax_to_bytes(sd))
    out = convert_brax_checkpoint(src, tmp_path / "priv", obs_key="privileged_state")
    (ep,) = SpotRunner(SpotConfig(episode_length=6, policy=f"mlp:{out}", obs_noise=False)).run_episodes([0])
    privileged, actions = ep.steps["privileged_state"][:-1], ep.steps["action"][:-1]
    np.testing.assert_array_equal(actions, np.clip(load_mlp_policy(out)(privileged), -1, 1))
    np.testing.assert_allclose(actions, brax_reference(sd, privileged, obs_key="privileged_state"), atol=1e-5)

    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps(dict(config, obs_key="state")))
    model, info = build_spot_model()
    with pytest.raises(WmhubError, match=r"reads 'state' \(81 values\) but its network takes 167 inputs"):
        make_policy(f"mlp:{out}", model, info)
