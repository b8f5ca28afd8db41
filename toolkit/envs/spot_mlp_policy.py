"""A small MLP policy for MuJoCo Spot: observation normaliser, MLP, tanh.

It mirrors the deterministic policy of Brax PPO
(``brax.training.agents.ppo.networks.make_inference_fn(..., deterministic=True)``)::

    x      = (obs - mean) / std                # running_statistics.normalize, no clipping
    out    = MLP(x)                            # Dense layers, activation between them, none after the last
    action = tanh(out[..., :action_dim])       # NormalTanhDistribution.mode(): tanh(loc)

The network reads one of the environment's observations, ``config.obs_key``:
``state`` (81 values, the default) or ``privileged_state`` (167), as Brax's
``policy_obs_key`` chose in training; :data:`OBS_SIZES` gives Spot's sizes.

A policy directory holds ``config.json`` (:class:`MLPPolicyConfig`) and
``model.safetensors`` (``obs_mean``, ``obs_std``, ``layers.{i}.weight``,
``layers.{i}.bias`` as float32; ``weight`` is ``[out, in]`` like ``torch.nn.Linear``).
No pickle is ever read.

:func:`load_mlp_policy` returns a :class:`MLPPolicyRunner`, the evaluator the
data generator uses. It computes in float64 numpy with a fixed order of
operations per row, so each row's action is bitwise the same whatever the batch
size or the other rows in the batch (and so whatever the worker count).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import nn

from wmhub.errors import AlreadyExistsError, ConfigError, NotFoundError, UnsupportedFormatError
from wmhub.fileio import dumps_json, fsync_dir

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

Activation = Literal["silu", "relu", "tanh", "elu"]
OutputKind = Literal["tanh_normal_mode", "tanh"]
ObsKey = Literal["state", "privileged_state"]
OBS_KEYS: tuple[str, ...] = ("state", "privileged_state")
OBS_SIZES = {"state": 81, "privileged_state": 167}  # Playground's Spot joystick observation sizes


class MLPPolicyConfig(BaseModel):
    """Architecture of an MLP policy (``config.json`` of a policy directory).

    ``output``: ``"tanh_normal_mode"`` — the last layer has ``2 * action_dim``
    units (Gaussian loc, then scale) and the action is ``tanh(loc)``, the mode of
    Brax's ``NormalTanhDistribution``; ``"tanh"`` — the last layer has
    ``action_dim`` units and the action is their tanh. ``obs_key``: the observation the
    network reads (``state`` or ``privileged_state``; configs without it read ``state``).
    """

    model_config = ConfigDict(extra="forbid")

    format_version: Literal[1] = 1
    obs_dim: int = Field(gt=0)
    action_dim: int = Field(gt=0)
    hidden_sizes: list[int] = Field(min_length=1)
    activation: Activation = "silu"  # Brax PPO's default activation is linen.swish == silu
    normalize_observations: bool = True
    output: OutputKind = "tanh_normal_mode"
    source: str = ""  # free-text provenance, e.g. the checkpoint a converter read
    obs_key: ObsKey = "state"

    @model_validator(mode="after")
    def _positive_hidden(self) -> MLPPolicyConfig:
        if any(size <= 0 for size in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive, got {self.hidden_sizes}")
        return self

    def check_obs_size(self, where: str = "the MLP policy") -> None:
        """Raise :class:`ConfigError` unless ``obs_dim`` is the size of Spot's ``obs_key`` observation.

        Args:
            where: what to name in the message (e.g. the policy directory).

        Raises:
            ConfigError: the network's input size does not match the observation it reads.

        Example:
            >>> config = MLPPolicyConfig(obs_dim=167, action_dim=12, hidden_sizes=[8], obs_key="privileged_state")
            >>> config.check_obs_size()
        """
        want = OBS_SIZES[self.obs_key]
        if self.obs_dim != want:
            other = [key for key, size in OBS_SIZES.items() if size == self.obs_dim]
            hint = (f"it matches {other[0]!r}: convert it again with --obs-key {other[0]}" if other else
                    "convert a policy trained on Spot's state (81) or privileged_state (167)")
            raise ConfigError(f"{where} reads {self.obs_key!r} ({want} values) but its network takes {self.obs_dim} "
                              f"inputs; {hint}")

    @property
    def output_units(self) -> int:
        """Units of the last layer."""
        return 2 * self.action_dim if self.output == "tanh_normal_mode" else self.action_dim

    def layer_shapes(self) -> list[tuple[int, int]]:
        """``(in, out)`` of every linear layer, first to last."""
        sizes = [self.obs_dim, *self.hidden_sizes, self.output_units]
        return list(zip(sizes[:-1], sizes[1:]))

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor ``model.safetensors`` must hold, with its shape."""
        shapes: dict[str, tuple[int, ...]] = {"obs_mean": (self.obs_dim,), "obs_std": (self.obs_dim,)}
        for i, (fan_in, fan_out) in enumerate(self.layer_shapes()):
            shapes[f"layers.{i}.weight"] = (fan_out, fan_in)
            shapes[f"layers.{i}.bias"] = (fan_out,)
        return shapes


_TORCH_ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


class SpotMLPPolicy(nn.Module):
    """Normaliser buffers (``obs_mean``, ``obs_std``) and an MLP; ``forward(obs) -> action``.

    Float32 torch forward, for inspection and fine-tuning. It is *not* bitwise
    batch-invariant; data generation uses :func:`load_mlp_policy` instead.
    """

    def __init__(self, config: MLPPolicyConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("obs_mean", torch.zeros(config.obs_dim))
        self.register_buffer("obs_std", torch.ones(config.obs_dim))
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in config.layer_shapes())
        self.act = _TORCH_ACTIVATIONS[config.activation]()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Actions in [-1, 1], shape ``[..., action_dim]``, for observations ``[..., obs_dim]``."""
        x = (obs - self.obs_mean) / self.obs_std if self.config.normalize_observations else obs
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return torch.tanh(x[..., : self.config.action_dim])


# ----------------------------------------------------------------- save
def save_policy(policy: SpotMLPPolicy, path_dir: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``path_dir`` atomically.

    Both files are written to a temporary sibling directory which is then
    renamed to ``path_dir``: ``path_dir`` never exists half-written. An existing
    ``path_dir`` is an error unless ``overwrite`` is true.
    """
    from safetensors.torch import save_file

    final = Path(path_dir)
    if final.exists() and not overwrite:
        raise AlreadyExistsError(f"{final} already exists; choose a new output directory or pass --overwrite")
    tensors = {name: t.detach().to(torch.float32).contiguous().cpu() for name, t in policy.state_dict().items()}
    _check_tensors({k: v.numpy() for k, v in tensors.items()}, policy.config, final / WEIGHTS_FILE)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        tmp.mkdir()
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "pt", "wmhub": "mlp-policy/1"})
        (tmp / CONFIG_FILE).write_text(dumps_json(policy.config.model_dump(mode="json")), encoding="utf-8")
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            with open(tmp / name, "rb") as handle:
                os.fsync(handle.fileno())
        fsync_dir(tmp)
        if final.exists():  # overwrite: move the old one aside, swap, then delete it
            old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:12]}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


# ----------------------------------------------------------------- load
def read_policy_dir(path: str | os.PathLike[str]) -> tuple[MLPPolicyConfig, dict[str, np.ndarray]]:
    """Read and strictly validate a policy directory; float32 tensors by name."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    root = Path(path)
    config_path, weights_path = root / CONFIG_FILE, root / WEIGHTS_FILE
    fix = "point --policy mlp:PATH at a directory written by `wmhub policy convert-brax`"
    if not root.is_dir():
        raise NotFoundError(f"policy directory {root} does not exist or is not a directory; {fix}")
    for required in (config_path, weights_path):
        if not required.is_file():
            raise NotFoundError(f"{required} is missing; {fix}")
    try:
        config = MLPPolicyConfig.model_validate(json.loads(config_path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnsupportedFormatError(f"{config_path} is not valid JSON ({exc}); re-create the policy "
                                     "directory") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise UnsupportedFormatError(f"{config_path} is not a valid MLP policy config ({problems}); re-create it with "
                                     "`wmhub policy convert-brax`") from exc
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UnsupportedFormatError(f"{weights_path} is not a readable safetensors file ({exc}); re-create the policy "
                                     "directory") from exc
    _check_tensors(tensors, config, weights_path)
    return config, {name: np.asarray(t, dtype=np.float32) for name, t in tensors.items()}


def _check_tensors(tensors: dict[str, np.ndarray], config: MLPPolicyConfig, where: Path) -> None:
    """Exactly the expected keys and shapes, finite values, positive std."""
    expected = config.tensor_shapes()
    fix = f"the weights do not match {CONFIG_FILE}; re-create the directory with `wmhub policy convert-brax`"
    missing = [k for k in expected if k not in tensors]
    if missing:
        raise UnsupportedFormatError(f"{where}: missing tensor {missing[0]!r} (missing: {', '.join(missing)}); {fix}")
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        raise UnsupportedFormatError(f"{where}: unexpected tensor {unexpected[0]!r} (unexpected: "
                                     f"{', '.join(unexpected)}); {fix}")
    for name, shape in expected.items():
        array = tensors[name]
        if tuple(array.shape) != shape:
            raise UnsupportedFormatError(f"{where}: tensor {name!r} has shape {tuple(array.shape)}, expected {shape}; "
                                         f"{fix}")
        if array.dtype.kind != "f":
            raise UnsupportedFormatError(f"{where}: tensor {name!r} has dtype {array.dtype}, expected float32; {fix}")
        if not np.all(np.isfinite(array)):
            raise UnsupportedFormatError(f"{where}: tensor {name!r} holds NaN or infinite values; {fix}")
    if np.any(np.asarray(tensors["obs_std"]) <= 0):
        raise UnsupportedFormatError(f"{where}: tensor 'obs_std' has values <= 0; {fix}")


_LANE = 16  # activations run on rows padded to a multiple of this (see MLPPolicyRunner)


def _pad(n: int) -> int:
    return -(-n // _LANE) * _LANE


class MLPPolicyRunner:
    """Deterministic numpy evaluator: ``runner(obs[N, obs_dim] float32) -> action[N, action_dim] float32``.

    Row independence, bitwise: every output element is produced by the same
    sequence of float64 element-wise operations on its own row only — each
    linear layer is an explicit loop ``acc += x[:, i] * W[i]`` over inputs in
    a fixed order (no BLAS, whose kernels and threading depend on the batch), and
    activations run on C-contiguous rows padded to a multiple of 16, so an
    element's SIMD lane does not depend on the batch size either.
    """

    def __init__(self, config: MLPPolicyConfig, tensors: dict[str, np.ndarray]) -> None:
        self.config = config
        self.obs_dim = config.obs_dim
        self.action_dim = config.action_dim
        self._mean = tensors["obs_mean"].astype(np.float64)
        self._std = tensors["obs_std"].astype(np.float64)
        self._layers: list[tuple[np.ndarray, np.ndarray]] = []
        for i, (fan_in, fan_out) in enumerate(config.layer_shapes()):
            weight = np.zeros((fan_in, _pad(fan_out)), dtype=np.float64)
            weight[:, :fan_out] = tensors[f"layers.{i}.weight"].astype(np.float64).T
            bias = np.zeros((1, _pad(fan_out)), dtype=np.float64)
            bias[0, :fan_out] = tensors[f"layers.{i}.bias"].astype(np.float64)
            self._layers.append((weight, bias))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations (same row in, same bytes out)."""
        obs = np.asarray(obs)
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ConfigError(f"MLP policy expects observations of shape [N, {self.obs_dim}], got {obs.shape}; check "
                              "that the policy was trained on this environment's observation")
        x = obs.astype(np.float64)
        if self.config.normalize_observations:
            x = (x - self._mean) / self._std
        last = len(self._layers) - 1
        with np.errstate(over="ignore"):
            for index, (weight, bias) in enumerate(self._layers):
                acc = np.zeros((x.shape[0], weight.shape[1]), dtype=np.float64)
                for i in range(weight.shape[0]):
                    acc += x[:, i : i + 1] * weight[i]
                acc += bias
                x = np.tanh(acc) if index == last else self._activate(acc)
        return np.ascontiguousarray(x[:, : self.action_dim], dtype=np.float32)

    def _activate(self, x: np.ndarray) -> np.ndarray:
        kind = self.config.activation
        if kind == "silu":
            return x / (1.0 + np.exp(-x))
        if kind == "relu":
            return np.maximum(x, 0.0)
        if kind == "tanh":
            return np.tanh(x)
        return np.where(x > 0.0, x, np.expm1(np.minimum(x, 0.0)))  # elu, alpha = 1


def load_mlp_policy(path: str | os.PathLike[str]) -> MLPPolicyRunner:
    """Load a policy directory as a deterministic, batch-invariant numpy callable."""
    config, tensors = read_policy_dir(path)
    return MLPPolicyRunner(config, tensors)


def load_policy_module(path: str | os.PathLike[str]) -> SpotMLPPolicy:
    """Load a policy directory as a torch :class:`SpotMLPPolicy` (float32, eval mode)."""
    config, tensors = read_policy_dir(path)
    return policy_from_arrays(config, tensors)


def policy_from_arrays(config: MLPPolicyConfig, tensors: dict[str, np.ndarray]) -> SpotMLPPolicy:
    """Build a :class:`SpotMLPPolicy` from arrays named as in ``model.safetensors`` (checked strictly)."""
    _check_tensors(tensors, config, Path("<arrays>"))
    policy = SpotMLPPolicy(config)
    state = {name: torch.from_numpy(np.array(array, dtype=np.float32)) for name, array in tensors.items()}
    policy.load_state_dict(state, strict=True)
    return policy.eval()
