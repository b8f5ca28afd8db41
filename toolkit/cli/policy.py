"""``wmhub policy``: tools for the policies that drive data generation.

Registered in :mod:`wmhub.cli`. Heavy
imports (torch, msgpack) happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import click

from wmhub.cli.group import ErrorReportingGroup


@click.group(name="policy", cls=ErrorReportingGroup)
def policy() -> None:
    """Convert and inspect policies used by `wmhub generate --policy mlp:PATH`.

    \b
    Example:
      wmhub policy convert-brax spot_policy.msgpack policies/spot-joystick
    """


@policy.command("convert-brax")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", "msgpack", "npz"]), default="auto", show_default=True,
              help="msgpack: flax.serialization.to_bytes(params); npz: np.savez of the '/'-flattened params.")
@click.option("--activation", type=click.Choice(["swish", "silu", "relu", "tanh", "elu"]), default=None,
              help="Activation the policy was trained with [default: from --brax-config, else swish].")
@click.option("--obs-key", type=click.Choice(["state", "privileged_state"]), default=None,
              help="Observation the policy reads (Brax's policy_obs_key): state (81) or privileged_state (167); "
                   "recorded in OUT/config.json and checked against the network's input size "
                   "[default: from --brax-config, else state].")
@click.option("--normalize/--no-normalize", "normalize", default=None,
              help="Whether training used normalize_observations [default: from --brax-config, else on].")
@click.option("--brax-config", type=click.Path(exists=True, path_type=Path), default=None,
              help="Brax PPO's CKPT_DIR/<step>/ppo_network_config.json (or that step directory), to read the "
                   "activation, policy_obs_key and normalisation from and check the sizes against "
                   "[default: ppo_network_config.json next to SRC, if present].")
@click.option("--expect-obs-dim", type=int, default=None,
              help="Fail unless the policy takes this many inputs (Spot: 81 for state, 167 for privileged_state).")
@click.option("--expect-action-dim", type=int, default=None,
              help="Fail unless the policy has this many actions (Spot: 12).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def convert_brax(src: Path, out: Path, fmt: str, activation: str | None, obs_key: str | None,
                 normalize: bool | None, brax_config: Path | None, expect_obs_dim: int | None,
                 expect_action_dim: int | None, overwrite: bool) -> None:
    """Convert Brax PPO params (MuJoCo Playground) in SRC to an MLP policy directory OUT.

    SRC is flax.serialization.to_bytes(params) (.msgpack) or an .npz of the
    flattened params. Pickle files (brax.io.model.save_params) are refused:
    wmhub never unpickles; load one with brax.io.model.load_params where Brax is
    installed and write it with flax.serialization.to_bytes. OUT gets
    config.json and model.safetensors.

    \b
    Example:
      wmhub policy convert-brax spot_policy.msgpack policies/spot-joystick --expect-obs-dim 81
      wmhub policy convert-brax priv.msgpack policies/spot-priv --obs-key privileged_state \\
          --brax-config ckpt/000100000000/ppo_network_config.json
      wmhub generate spot data/spot --policy mlp:policies/spot-joystick
    """
    from wmhub.envs.brax_convert import convert_brax_checkpoint
    from wmhub.envs.spot_mlp_policy import read_policy_dir

    path = convert_brax_checkpoint(src, out, fmt=fmt, activation=activation, obs_key=obs_key,  # type: ignore[arg-type]
                                   normalize_observations=normalize, brax_config=brax_config,
                                   expect_obs_dim=expect_obs_dim, expect_action_dim=expect_action_dim,
                                   overwrite=overwrite)
    config, _ = read_policy_dir(path)
    click.echo(f"wrote {path}: {config.obs_key} {config.obs_dim} -> hidden {config.hidden_sizes} -> action "
               f"{config.action_dim}, activation {config.activation}, normalised observations: "
               f"{config.normalize_observations}")
