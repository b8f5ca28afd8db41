"""Convert a Brax PPO policy (e.g. MuJoCo Playground's Spot joystick) to a wmhub MLP policy.

Brax PPO returns ``params = (normalizer_params, policy_params, value_params)``
(``brax.training.agents.ppo.train``); Playground's ``make_inference_fn(params,
deterministic=True)`` consumes it. Brax's own ``brax.io.model.save_params`` writes a
**pickle** (read back by ``brax.io.model.load_params``), which wmhub never unpickles
(unpickling runs arbitrary code). Accepted inputs, all read without pickle:

``msgpack`` — flax's ``flax.serialization.to_bytes(params)``. Layout (flax
``serialization.py``): tuples, lists and struct dataclasses become maps with string
keys (``'0'``, ``'1'``, … or field names: ``RunningStatisticsState`` ->
``mean``/``std``/``count``/``summed_variance``/``std_eps``); arrays are msgpack
ext type 1 holding ``msgpack((shape, dtype_name, C-order bytes))``, numpy scalars
ext type 3 (same payload), complex ext type 2; arrays over 1 GiB are stored as
``{'__msgpack_chunked_array__': True, 'shape': …, 'chunks': …}``.

``npz`` — ``np.savez`` of the flattened state dict, keys joined with ``/``
(``0/mean/state``, ``1/params/hidden_0/kernel``, …); read with ``allow_pickle=False``.

Orbax checkpoint directories (Playground's ``--save_checkpoint_path``, Brax
``checkpoint.save``) are OCDBT/tensorstore and cannot be read without heavy
dependencies, so they are refused with this export snippet, to run where
Brax is installed::

    from brax.training.agents.ppo import checkpoint; import flax
    params = checkpoint.load("CKPT_DIR/000123456789")      # or: params from ppo.train(...)
    open("spot_policy.msgpack", "wb").write(flax.serialization.to_bytes(params))

Brax PPO's ``train(save_checkpoint_path=CKPT_DIR)`` writes each step as
``CKPT_DIR/<step, 12 digits>/`` holding the orbax files and
``ppo_network_config.json`` (``brax.training.agents.ppo.checkpoint._CONFIG_FNAME``;
the generic ``brax.training.checkpoint.save`` defaults to ``config.json``). That
file, passed as ``brax_config`` (or its step directory), or found next to the
params file when ``brax_config`` is not given, supplies the activation,
``policy_obs_key``, ``distribution_type`` and ``normalize_observations``, and its
``observation_size`` / ``action_size`` are checked against the network.

What is converted (verified against brax ``training/networks.py``,
``agents/ppo/networks.py``, ``distribution.py``, ``acme/running_statistics.py``):

* normaliser: ``(obs - mean) / std`` with the stored ``std`` (``std_eps`` is already
  folded into it by ``update``; PPO calls ``normalize`` without ``max_abs_value``,
  so no clipping). Dict observations (Playground: ``state``, ``privileged_state``)
  have per-key statistics; the policy's key (``state`` or ``privileged_state``) is
  taken and recorded as the policy's ``obs_key``, the observation it reads.
  Brax updates the statistics even when ``normalize_observations=False``, so that
  flag cannot be read from the params: it defaults to True (Playground's
  ``brax_ppo_config``) and can be set explicitly.
* policy: ``{'params': {'hidden_0': {'kernel': [in, out], 'bias': [out]}, …}}`` — a
  ``networks.MLP`` (distribution_type ``tanh_normal``), activation after every layer
  but the last, last layer ``2 * action_dim`` units (loc, scale); the deterministic
  action is ``NormalTanhDistribution.mode = tanh(loc)``.
* activation: not stored in the params; Brax's default ``linen.swish`` (= silu)
  unless given (Playground's locomotion configs, Spot included, keep the default).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

from wmhub.envs.spot_mlp_policy import OBS_KEYS, MLPPolicyConfig, policy_from_arrays, save_policy
from wmhub.errors import NotFoundError, UnsupportedFormatError, WmhubError

InputFormat = Literal["auto", "msgpack", "npz"]

# Brax activation names (brax.training.networks.ACTIVATION) -> MLPPolicyConfig.activation
BRAX_ACTIVATIONS = {"swish": "silu", "silu": "silu", "relu": "relu", "tanh": "tanh", "elu": "elu"}
# what Brax PPO's checkpoint.save writes next to the orbax files of each step
# (brax/training/agents/ppo/checkpoint.py _CONFIG_FNAME); brax.training.checkpoint.save's default name
BRAX_PPO_CONFIG_FILE = "ppo_network_config.json"
BRAX_GENERIC_CONFIG_FILE = "config.json"

EXPORT_SNIPPET = (
    "export it where Brax is installed: "
    "`import flax; open('spot_policy.msgpack', 'wb').write(flax.serialization.to_bytes(params))` "
    "with params = (normalizer_params, policy_params, value_params) from ppo.train or "
    "brax.training.agents.ppo.checkpoint.load(CKPT_DIR/STEP), then convert the .msgpack file"
)
PICKLE_SNIPPET = (
    "load it where Brax is installed, and only if you trust the file, with "
    "`params = brax.io.model.load_params(PATH)`, then write "
    "`open('spot_policy.msgpack', 'wb').write(flax.serialization.to_bytes(params))` and convert that file"
)

_FLAX_NDARRAY, _FLAX_COMPLEX, _FLAX_NPSCALAR = 1, 2, 3  # flax.serialization._MsgpackExtType


def convert_brax_checkpoint(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    fmt: InputFormat = "auto",
    activation: str | None = None,
    obs_key: str | None = None,
    normalize_observations: bool | None = None,
    brax_config: str | os.PathLike[str] | None = None,
    expect_obs_dim: int | None = None,
    expect_action_dim: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert the Brax PPO params in ``src`` to a wmhub MLP policy directory ``out_dir``.

    Args:
        src: the params file (flax msgpack or npz; pickle is refused).
        out_dir: the policy directory to write (``config.json``, ``model.safetensors``).
        fmt: ``auto`` (by the file's first bytes), ``msgpack`` or ``npz``.
        activation: Brax activation name; default from the Brax config, else ``swish``.
        obs_key: the observation the policy reads, ``state`` or ``privileged_state``
            (Brax's ``policy_obs_key``); default from the Brax config, else ``state``.
        normalize_observations: default from the Brax config, else True.
        brax_config: Brax PPO's ``ppo_network_config.json`` (or the checkpoint step
            directory holding it); when None, ``ppo_network_config.json`` next to ``src``
            is used if present.
        expect_obs_dim: fail unless the network takes this many inputs (Spot: 81 for
            ``state``, 167 for ``privileged_state``).
        expect_action_dim: fail unless the network has this many actions (Spot: 12).
        overwrite: replace an existing ``out_dir``.

    Returns:
        ``out_dir``; everything is parsed and checked before anything is written, and
        ``out_dir`` appears only complete.

    Raises:
        UnsupportedFormatError: the file or config is not Brax PPO's, or sizes disagree.
        ConfigError: the network's input size is not that of Spot's ``obs_key`` observation.
        NotFoundError: ``src`` or the config file does not exist.
        AlreadyExistsError: ``out_dir`` exists and ``overwrite`` is false.

    Example:
        >>> convert_brax_checkpoint("spot_policy.msgpack", "policies/spot", expect_obs_dim=81)  # doctest: +SKIP
    """
    src_path = Path(src)
    config_path = find_brax_config(src_path, brax_config)
    settings = _read_brax_config(config_path) if config_path is not None else {}
    activation = activation or settings.get("activation") or "swish"
    obs_key = obs_key or settings.get("obs_key") or "state"
    if obs_key not in OBS_KEYS:
        where = f"{config_path}: policy_obs_key" if obs_key == settings.get("obs_key") else "--obs-key"
        raise UnsupportedFormatError(f"{where} {obs_key!r} is not an observation of the Spot environment; wmhub "
                                     f"runs policies reading {' or '.join(OBS_KEYS)}")
    if normalize_observations is None:
        normalize_observations = settings.get("normalize_observations", True)
    if activation not in BRAX_ACTIVATIONS:
        raise UnsupportedFormatError(f"activation {activation!r} is not supported; use one of "
                                     f"{', '.join(sorted(BRAX_ACTIVATIONS))} (Brax's default is swish)")
    if settings.get("distribution_type", "tanh_normal") != "tanh_normal":
        raise UnsupportedFormatError(f"{config_path}: distribution_type {settings['distribution_type']!r} is not "
                                     "supported; only Brax PPO's default 'tanh_normal' policy head can be converted")

    tree, kind, digest = read_brax_params(src_path, fmt)
    mean, std = _normalizer(tree, obs_key, src_path)
    layers = _policy_layers(tree, src_path)

    obs_dim = layers[0][0].shape[0]
    out_units = layers[-1][0].shape[1]
    if mean.shape != (obs_dim,) or std.shape != (obs_dim,):
        raise UnsupportedFormatError(f"{src_path}: normaliser mean/std have shapes {mean.shape}/{std.shape} but the "
                                     f"policy's first layer takes {obs_dim} inputs; check --obs-key (the "
                                     "policy_obs_key used in training)")
    if out_units % 2:
        raise UnsupportedFormatError(f"{src_path}: the last policy layer has {out_units} units, not 2 * action_dim; "
                                     "only Brax PPO's tanh_normal policy head (loc and scale) can be converted")
    action_dim = out_units // 2
    _check_config_sizes(settings, config_path, obs_key, obs_dim, action_dim)
    for name, want, got in (("observation", expect_obs_dim, obs_dim), ("action", expect_action_dim, action_dim)):
        if want is not None and want != got:
            raise UnsupportedFormatError(f"{src_path}: the policy's {name} size is {got}, expected {want}; convert a "
                                         "policy trained on the matching environment")
    if not np.all(std > 0):
        raise UnsupportedFormatError(f"{src_path}: normaliser std has values <= 0; the checkpoint is corrupt or not "
                                     "Brax PPO's")

    config = MLPPolicyConfig(
        obs_dim=obs_dim,
        action_dim=action_dim,
        hidden_sizes=[kernel.shape[1] for kernel, _ in layers[:-1]],
        activation=BRAX_ACTIVATIONS[activation],  # type: ignore[arg-type]
        normalize_observations=bool(normalize_observations),
        output="tanh_normal_mode",
        source=f"brax-ppo {kind} {src_path.name} sha256:{digest}",
        obs_key=obs_key,  # type: ignore[arg-type]
    )
    config.check_obs_size(f"the policy in {src_path}")  # Spot's state is 81 values, privileged_state 167
    arrays: dict[str, np.ndarray] = {"obs_mean": mean, "obs_std": std}
    for i, (kernel, bias) in enumerate(layers):
        arrays[f"layers.{i}.weight"] = np.ascontiguousarray(kernel.T)
        arrays[f"layers.{i}.bias"] = bias
    arrays = {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()}
    for name, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise UnsupportedFormatError(f"{src_path}: {name} holds NaN or infinite values; the training run diverged")
    return save_policy(policy_from_arrays(config, arrays), out_dir, overwrite=overwrite)


# ------------------------------------------------------------------ reading
def read_brax_params(src: Path, fmt: InputFormat = "auto") -> tuple[Any, str, str]:
    """Parse ``src`` into a nested dict/list tree of numpy arrays; also the format used and its sha256."""
    if src.is_dir():
        if any((src / marker).exists() for marker in ("_CHECKPOINT_METADATA", "_METADATA", "manifest.ocdbt", "d")):
            raise UnsupportedFormatError(f"{src} is an orbax checkpoint directory, which wmhub cannot read; "
                                         f"{EXPORT_SNIPPET}")
        raise UnsupportedFormatError(f"{src} is a directory; give the .msgpack or .npz file of the Brax params")
    if not src.is_file():
        raise NotFoundError(f"{src} does not exist; give the path of a .msgpack or .npz file of Brax PPO params")
    data = src.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if _looks_like_pickle(data):
        raise UnsupportedFormatError(f"{src} is a pickle file (as brax.io.model.save_params writes), which wmhub "
                                     f"never unpickles because unpickling can run arbitrary code; {PICKLE_SNIPPET}")
    if data[:6] == b"\x93NUMPY":
        raise UnsupportedFormatError(f"{src} is a single .npy array; save the flattened params with np.savez (.npz) "
                                     "instead")
    if fmt == "auto":
        fmt = "npz" if data[:4] == b"PK\x03\x04" else "msgpack"
    if fmt == "npz":
        return _read_npz(src), "npz", digest
    return _read_msgpack(src, data), "msgpack", digest


def _looks_like_pickle(data: bytes) -> bool:
    # Pickle protocols 2-5 start with PROTO (0x80) and the protocol number. For msgpack
    # 0x80 is an empty map, so a longer file starting that way cannot be flax msgpack.
    return len(data) > 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def _read_msgpack(src: Path, data: bytes) -> Any:
    import msgpack

    def ext_hook(code: int, payload: bytes) -> Any:
        if code in (_FLAX_NDARRAY, _FLAX_NPSCALAR):
            array = _ndarray_from_flax(payload, src)
            return array[()] if code == _FLAX_NPSCALAR else array
        if code == _FLAX_COMPLEX:
            real, imag = msgpack.unpackb(payload)
            return complex(real, imag)
        raise UnsupportedFormatError(f"{src}: unknown msgpack extension type {code}; expected "
                                     "flax.serialization.to_bytes output")

    try:
        tree = msgpack.unpackb(data, ext_hook=ext_hook, raw=False, strict_map_key=False)
    except WmhubError:
        raise
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        raise UnsupportedFormatError(f"{src} is not a flax msgpack file ({type(exc).__name__}: {exc}); give "
                                     "flax.serialization.to_bytes(params) output or an .npz (--format npz)") from exc
    return _unchunk(tree)


def _ndarray_from_flax(payload: bytes, src: Path) -> np.ndarray:
    """Decode flax's ``_ndarray_to_bytes``: ``msgpack((shape, dtype_name, buffer))``."""
    import msgpack

    try:
        shape, dtype_name, buffer = msgpack.unpackb(payload, raw=True)
        name = dtype_name.decode("ascii")
        if name == "bfloat16":  # top 16 bits of a float32
            bits = np.frombuffer(buffer, dtype="<u2").astype(np.uint32) << 16
            return bits.view(np.float32).reshape(shape)
        dtype = np.dtype(name)
        if dtype.kind not in "biuf":
            raise ValueError(f"dtype {name} is not numeric")
        return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()
    except Exception as exc:
        raise UnsupportedFormatError(f"{src}: an array in the msgpack file cannot be decoded ({exc}); re-export it "
                                     "with flax.serialization.to_bytes") from exc


def _unchunk(tree: Any) -> Any:
    if isinstance(tree, dict):
        if tree.get("__msgpack_chunked_array__") is True:
            shape = [tree["shape"][str(i)] for i in range(len(tree["shape"]))]
            chunks = [tree["chunks"][str(i)] for i in range(len(tree["chunks"]))]
            return np.concatenate(chunks).reshape(shape)
        return {key: _unchunk(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_unchunk(value) for value in tree]
    return tree


def _read_npz(src: Path) -> dict[str, Any]:
    try:
        with np.load(src, allow_pickle=False) as archive:
            flat = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise UnsupportedFormatError(f"{src} is not a readable .npz of plain arrays ({exc}); save the flattened params "
                                     "with np.savez (keys like '1/params/hidden_0/kernel'), no object arrays") from exc
    tree: dict[str, Any] = {}
    for name, array in flat.items():
        parts = name.split("/")
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UnsupportedFormatError(f"{src}: key {name!r} clashes with array {part!r}; keys must be flattened "
                                             "paths")
            node = child
        if parts[-1] in node:
            raise UnsupportedFormatError(f"{src}: key {name!r} clashes with another key; keys must be flattened paths")
        node[parts[-1]] = array
    return tree


def find_brax_config(src: Path, brax_config: str | os.PathLike[str] | None) -> Path | None:
    """The Brax network config file to read: ``brax_config`` (a file, or a step directory
    holding ``ppo_network_config.json``), else ``ppo_network_config.json`` next to ``src``.

    Args:
        src: the params file being converted.
        brax_config: what the user passed, or None.

    Returns:
        The config file, or None when none was given and none lies next to ``src``.

    Raises:
        NotFoundError: ``brax_config`` names a missing file, or a directory without the config.

    Example:
        >>> find_brax_config(Path("ckpt/000000100000/spot_policy.msgpack"), None)  # doctest: +SKIP
        PosixPath('ckpt/000000100000/ppo_network_config.json')
    """
    if brax_config is None:
        beside = src.parent / BRAX_PPO_CONFIG_FILE
        return beside if src.is_file() and beside.is_file() else None
    path = Path(brax_config)
    if path.is_dir():
        for name in (BRAX_PPO_CONFIG_FILE, BRAX_GENERIC_CONFIG_FILE):
            if (path / name).is_file():
                return path / name
        raise NotFoundError(f"{path} holds no {BRAX_PPO_CONFIG_FILE}; pass the checkpoint step directory "
                            f"CKPT_DIR/<step> that Brax PPO wrote, or the {BRAX_PPO_CONFIG_FILE} file itself")
    if not path.is_file():
        raise NotFoundError(f"Brax config {path} does not exist; Brax PPO writes it as CKPT_DIR/<step>/"
                            f"{BRAX_PPO_CONFIG_FILE}")
    return path


def _read_brax_config(path: Path) -> dict[str, Any]:
    """Network settings from Brax PPO's ``ppo_network_config.json`` (``checkpoint.network_config``)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedFormatError(f"cannot read the Brax config {path} ({exc}); pass the {BRAX_PPO_CONFIG_FILE} "
                                     "of the checkpoint step directory, or leave --brax-config out") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("network_factory_kwargs"), dict):
        raise UnsupportedFormatError(f"{path} has no 'network_factory_kwargs'; it is not a Brax checkpoint "
                                     f"{BRAX_PPO_CONFIG_FILE}")
    kwargs = raw["network_factory_kwargs"]
    settings: dict[str, Any] = {}
    if isinstance(kwargs.get("activation"), str):
        settings["activation"] = kwargs["activation"]
    if isinstance(kwargs.get("policy_obs_key"), str):
        settings["obs_key"] = kwargs["policy_obs_key"]
    if isinstance(kwargs.get("distribution_type"), str):
        settings["distribution_type"] = kwargs["distribution_type"]
    if isinstance(raw.get("normalize_observations"), bool):
        settings["normalize_observations"] = raw["normalize_observations"]
    if "observation_size" in raw:
        settings["observation_size"] = raw["observation_size"]
    if isinstance(raw.get("action_size"), int):
        settings["action_size"] = raw["action_size"]
    return settings


def _size(value: Any) -> int | None:
    """An observation size as Brax records it: an int, or a shape list/tuple of one int."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], int):
        return value[0]
    return None


def _check_config_sizes(settings: dict[str, Any], path: Path | None, obs_key: str, obs_dim: int,
                        action_dim: int) -> None:
    """The network's sizes must match the ``observation_size`` / ``action_size`` the Brax config records."""
    sizes = settings.get("observation_size")
    want = _size(sizes[obs_key]) if isinstance(sizes, dict) and obs_key in sizes else _size(sizes)
    if want is not None and want != obs_dim:
        keys = {k: _size(v) for k, v in sizes.items()} if isinstance(sizes, dict) else {}
        match = [k for k, v in keys.items() if v == obs_dim]
        hint = f"pass --obs-key {match[0]}" if match else "check that the config belongs to these params"
        raise UnsupportedFormatError(f"{path}: observation_size[{obs_key!r}] is {want} but the network takes {obs_dim} "
                                     f"inputs; {hint}")
    if "action_size" in settings and settings["action_size"] != action_dim:
        raise UnsupportedFormatError(f"{path}: action_size is {settings['action_size']} but the network has "
                                     f"{action_dim} actions; check that the config belongs to these params")


# ------------------------------------------------------------------ tree access
def _entry(tree: Any, index: int, what: str, src: Path) -> Any:
    """``params[index]`` whether the tuple was serialised as a map ('0', '1', …) or a list."""
    if isinstance(tree, dict) and str(index) in tree:
        return tree[str(index)]
    if isinstance(tree, list) and len(tree) > index:
        return tree[index]
    raise UnsupportedFormatError(f"{src}: missing key {str(index)!r} ({what}); expected Brax PPO params "
                                 "(normalizer_params, policy_params, value_params) as written by "
                                 "flax.serialization.to_bytes")


def _child(node: Any, key: str, path: str, src: Path) -> Any:
    if not isinstance(node, dict) or key not in node:
        have = ", ".join(sorted(map(str, node))) if isinstance(node, dict) else type(node).__name__
        raise UnsupportedFormatError(f"{src}: missing key {path + '/' + key!r} (found: {have}); is this a Brax PPO "
                                     "checkpoint? re-export it with flax.serialization.to_bytes(params)")
    return node[key]


def _float_array(value: Any, path: str, src: Path, ndim: int) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.ndim != ndim:
        got = f"{value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
        raise UnsupportedFormatError(f"{src}: key {path!r} should be a {ndim}-d float array, got {got}; the file does "
                                     "not hold Brax PPO params")
    return value


def _normalizer(tree: Any, obs_key: str, src: Path) -> tuple[np.ndarray, np.ndarray]:
    norm = _entry(tree, 0, "normalizer_params", src)
    stats = []
    for field in ("mean", "std"):
        value = _child(norm, field, "0", src)
        path = f"0/{field}"
        if isinstance(value, dict):  # dict observations: per-key statistics (brax networks.normalizer_select)
            if obs_key not in value:
                raise UnsupportedFormatError(f"{src}: missing key {path + '/' + obs_key!r}; the normaliser has keys "
                                             f"{', '.join(sorted(value))}: pass --obs-key with the policy_obs_key used "
                                             "in training")
            value, path = value[obs_key], f"{path}/{obs_key}"
        stats.append(_float_array(value, path, src, ndim=1).astype(np.float64))
    return stats[0], stats[1]


def _policy_layers(tree: Any, src: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    policy = _entry(tree, 1, "policy_params", src)
    params = _child(policy, "params", "1", src)
    if not isinstance(params, dict):
        raise UnsupportedFormatError(f"{src}: key '1/params' should be a map of layers; the file does not hold Brax "
                                     "PPO params")
    unsupported = sorted(k for k in params if not k.startswith("hidden_"))
    if unsupported:
        raise UnsupportedFormatError(f"{src}: policy parameters {', '.join(unsupported)} are not supported; only Brax "
                                     "PPO's default tanh_normal MLP policy (layers hidden_0 … hidden_N, no "
                                     "layer_norm) can be converted")
    count = len(params)
    if count == 0:
        raise UnsupportedFormatError(f"{src}: key '1/params' holds no layers; the file does not hold Brax PPO params")
    layers = []
    for i in range(count):
        layer = _child(params, f"hidden_{i}", "1/params", src)
        kernel = _float_array(_child(layer, "kernel", f"1/params/hidden_{i}", src),
                              f"1/params/hidden_{i}/kernel", src, ndim=2)
        bias = _float_array(_child(layer, "bias", f"1/params/hidden_{i}", src),
                            f"1/params/hidden_{i}/bias", src, ndim=1)
        if bias.shape != (kernel.shape[1],):
            raise UnsupportedFormatError(f"{src}: key '1/params/hidden_{i}/bias' has shape {bias.shape}, expected "
                                         f"({kernel.shape[1]},) to match its kernel {kernel.shape}; the checkpoint is "
                                         "corrupt")
        if layers and layers[-1][0].shape[1] != kernel.shape[0]:
            raise UnsupportedFormatError(f"{src}: key '1/params/hidden_{i}/kernel' has shape {kernel.shape} but the "
                                         f"previous layer outputs {layers[-1][0].shape[1]} units; the checkpoint is "
                                         "corrupt")
        layers.append((kernel.astype(np.float64), bias.astype(np.float64)))
    return layers


__all__ = ["BRAX_ACTIVATIONS", "BRAX_PPO_CONFIG_FILE", "EXPORT_SNIPPET", "convert_brax_checkpoint",
           "find_brax_config", "read_brax_params"]
