"""Recipes: one YAML file per checkpoint, validated on load.

A recipe names the dataset (and the typed data steps that recreate it), the model,
the training schedule, the evaluation suites and the card metadata::

    name: reacher_dynamics_mlp_100k_state
    dataset:
      source: data/reacher-100k            # a directory, or hf://datasets/<org>/<name>
      config: steps
      generate: {env: reacher, episodes: 500, episodes_per_shard: 500, episode_length: 200,
                 policy: p-controller, epsilon: 0.3, seed: 0, workers: 2}
      encode:                              # optional: derived configs (embeddings, frames)
        - {encoder: "vjepa2:facebook/vjepa2-vitl-fpc64-256", dtype: bf16, batch_size: 32}
    model: {kind: mlp_dynamics, hidden_dim: 512, num_layers: 3}
    training: {epochs: 100, batch_size: 256, lr: 1.0e-3, loss: huber}

``dataset.generate`` holds ``env``, ``episodes``, ``episodes_per_shard`` and ``workers`` plus
the environment's own options, validated by its config model (:mod:`wmhub.envs.registry`; the
same model builds ``wmhub generate <env>``'s options). ``dataset.encode`` is a list of
:class:`EncodeStep`.

Recipes written before the data steps were typed hold a list of command strings
(``generate: ["wmhub generate reacher OUT --episodes 500 ...", "wmhub encode OUT ..."]``). They
are read by a small converter (:func:`convert_commands`) into the typed steps, so a recipe
pushed with a checkpoint earlier still reproduces; a string that is not such a command is a
clear error.

Errors name the file, the key and what was expected. ``--set a.b=value``
overrides a key (the value is parsed as YAML, so ``3e-4`` is a number).
Relative dataset sources are relative to the working directory.

This module imports pydantic and yaml only (an environment's config model is imported when a
recipe names the environment); reading a recipe loads neither torch nor a simulator.
"""

from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from wmhub.envs.registry import get_env, validate_options
from wmhub.errors import ConfigError, NotFoundError
from wmhub.models.kinds import kinds

PositiveInt = Annotated[int, Field(ge=1)]


class _Strict(BaseModel):
    # nan and inf are never a valid setting (``--set training.lr=.inf`` is refused at load)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class GenerateStep(BaseModel):
    """``dataset.generate``: the rollouts that recreate the dataset (generation is deterministic).

    Besides the keys below, every key is an option of the environment's config model (e.g.
    reacher's ``episode_length``, ``policy``, ``epsilon``, ``seed``), validated by that model;
    defaults are filled in.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    env: str = Field(description="environment name (wmhub generate --help lists them)")
    episodes: PositiveInt = Field(description="total episodes of the dataset")
    episodes_per_shard: PositiveInt | None = Field(None, description="default: the environment's")
    workers: PositiveInt = Field(1, description="parallel processes (the bytes do not depend on it)")

    @model_validator(mode="after")
    def _environment_options(self) -> GenerateStep:
        config = validate_options(get_env(self.env), dict(self.model_extra or {}))
        extra = self.__pydantic_extra__
        assert extra is not None
        extra.clear()
        extra.update(config.model_dump(mode="json"))
        return self

    @property
    def options(self) -> dict[str, Any]:
        """The environment's config options (defaults filled in)."""
        return dict(self.model_extra or {})

    def command(self) -> str:
        """The equivalent ``wmhub generate`` command line, with OUT for the dataset path.

        Returns:
            The command, e.g. ``wmhub generate reacher OUT --episodes 60 ... --workers 2``.

        Example:
            >>> GenerateStep(env="reacher", episodes=4, policy="random").command().split(" --episode-length")[0]
            'wmhub generate reacher OUT --episodes 4'
        """
        parts = ["wmhub", "generate", self.env, "OUT", "--episodes", str(self.episodes)]
        if self.episodes_per_shard is not None:
            parts += ["--episodes-per-shard", str(self.episodes_per_shard)]
        for key, value in self.options.items():
            parts += [f"--{key.replace('_', '-')}", str(value)]
        return shlex.join([*parts, "--workers", str(self.workers)])


class EncodeStep(_Strict):
    """One ``dataset.encode`` step: an encoder's embeddings and/or stored frames (``wmhub encode``)."""

    encoder: str | None = Field(None, description="vjepa2[:ID_OR_PATH] | hf-image:ID_OR_PATH | random[:DIM] | state")
    save_frames: bool = Field(False, description="also store the frames (config frames-<size>)")
    frame_size: PositiveInt | None = Field(None, description="render size; default: the encoder's (64 for frames)")
    pooling: Literal["cls", "mean"] = Field("cls", description="hf-image only: CLS token or mean of patch tokens")
    dtype: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="compute dtype of the encoder")
    batch_size: PositiveInt = Field(16, description="windows per forward pass")
    device: str = Field("auto", description="auto, cpu or cuda")
    encoder_threads: PositiveInt | None = Field(None, description="CPU threads for the encoder (default: all)")
    workers: Annotated[int, Field(ge=0)] = Field(1, description="render processes running ahead of the encoder")

    @model_validator(mode="after")
    def _does_something(self) -> EncodeStep:
        if not self.encoder and not self.save_frames:
            raise ValueError("an encode step needs encoder: SPEC and/or save_frames: true")
        return self

    def command(self) -> str:
        """The equivalent ``wmhub encode`` command line (options at their defaults left out).

        Example:
            >>> EncodeStep(save_frames=True, frame_size=64).command()
            'wmhub encode OUT --save-frames --frame-size 64'
        """
        parts = ["wmhub", "encode", "OUT"]
        for key, value in self.model_dump(exclude_defaults=True).items():
            flag = f"--{key.replace('_', '-')}"
            parts += [flag] if value is True else [flag, str(value)]
        return shlex.join(parts)


# ------------------------------------------------------------ old recipes: command strings
_ENCODE_KEYS = {"encoder", "save_frames", "frame_size", "pooling", "dtype", "batch_size", "device",
                "encoder_threads"}
_FLAGS = {"--resume", "--quiet", "--save-frames"}
_RUN_ONLY = {"resume", "quiet", "executor", "ray_address", "ray_actors"}  # change nothing in the data


def _command_options(command: str, words: list[str]) -> dict[str, str | bool]:
    options: dict[str, str | bool] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--") or (word not in _FLAGS and i + 1 >= len(words)):
            raise ValueError(f"cannot read {word!r} in {command!r}; write dataset.generate / dataset.encode as "
                             "keys (see recipes/tiny_reacher_dynamics_state.yaml)")
        key = word[2:].replace("-", "_")
        if word in _FLAGS:
            options[key], i = True, i + 1
        else:
            options[key], i = words[i + 1], i + 2
    return {k: v for k, v in options.items() if k not in _RUN_ONLY}


def convert_commands(commands: list[str]) -> dict[str, Any]:
    """Typed ``generate`` / ``encode`` steps from an old recipe's ``dataset.generate`` command strings.

    Args:
        commands: ``wmhub generate ENV OUT --opt value ...`` and ``wmhub encode OUT ...`` strings.

    Returns:
        ``{"generate": {...} or None, "encode": [{...}, ...]}`` (values still strings; the models
        validate and convert them).

    Raises:
        ValueError: a string is not a ``wmhub generate|encode`` command with OUT as the dataset path.

    Example:
        >>> convert_commands(["wmhub generate reacher OUT --episodes 4 --workers 2"])
        {'generate': {'env': 'reacher', 'episodes': '4', 'workers': '2'}, 'encode': []}
    """
    generate: dict[str, Any] | None = None
    encode: list[dict[str, Any]] = []
    for command in commands:
        words = shlex.split(command) if isinstance(command, str) else []
        if len(words) < 2 or words[0] != "wmhub" or words[1] not in ("generate", "encode") or "OUT" not in words:
            raise ValueError(f"generate commands must be `wmhub generate|encode ...` with OUT as the "
                             f"dataset path; got {command!r} (or write dataset.generate as keys: env, episodes, ...)")
        if words[1] == "encode":
            if words[2:3] != ["OUT"]:
                raise ValueError(f"expected `wmhub encode OUT ...`, got {command!r}")
            encode.append(_command_options(command, words[3:]))  # its --workers: render workers
            continue
        if len(words) < 4 or words[3] != "OUT":
            raise ValueError(f"expected `wmhub generate ENV OUT ...`, got {command!r}")
        if generate is not None:
            raise ValueError("dataset.generate holds two `wmhub generate` commands; a dataset has one generator")
        options = _command_options(command, words[4:])
        inline = {k: options.pop(k) for k in list(options) if k in _ENCODE_KEYS}
        render_workers = options.pop("render_workers", None)
        if inline:
            encode.insert(0, {**inline, **({"workers": render_workers} if render_workers is not None else {})})
        generate = {"env": words[2], **options}
    return {"generate": generate, "encode": encode}


class DatasetSpec(_Strict):
    """Where the training data comes from, and the typed steps that recreate it."""

    source: str = Field(description="dataset directory, or hf://datasets/<org>/<name>")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit)")
    config: str = Field("steps", description="step config holding the latent ('steps' or 'embeddings-<name>')")
    latent_features: list[str] | None = Field(None, description="default: the config's declared latent features")
    max_episodes: PositiveInt | None = Field(None, description="use only the first N episodes")
    generate: GenerateStep | None = Field(None, description=(
        "the rollouts that recreate the dataset when it is absent (generation is deterministic)"))
    encode: list[EncodeStep] = Field(default_factory=list, description=(
        "derived configs (embeddings, frames) computed after generation, or when the config is missing"))

    @model_validator(mode="before")
    @classmethod
    def _old_command_strings(cls, data: Any) -> Any:
        """Convert an old recipe's ``generate: [command strings]`` (see :func:`convert_commands`).

        The list holds all the data steps (its ``wmhub encode`` commands included), so it replaces
        ``encode`` too: ``--set dataset.generate=[]`` means no data steps, as it did.
        """
        if isinstance(data, dict) and isinstance(data.get("generate"), list):
            data = {**data, **convert_commands(data["generate"])}
        return data

    def commands(self) -> list[str]:
        """The data steps as ``wmhub`` command lines (OUT for the dataset path), for messages and scripts.

        Example:
            >>> DatasetSpec(source="d", encode=[{"encoder": "state"}]).commands()
            ['wmhub encode OUT --encoder state']
        """
        return ([self.generate.command()] if self.generate else []) + [step.command() for step in self.encode]


class MLPDynamicsSpec(_Strict):
    kind: Literal["mlp_dynamics"]
    hidden_dim: PositiveInt = 512
    num_layers: PositiveInt = 3


class ResBlockDynamicsSpec(_Strict):
    kind: Literal["resblock_dynamics"]
    hidden_dim: PositiveInt = 1024
    num_blocks: PositiveInt = 4
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1


MemberSpec = Annotated[MLPDynamicsSpec | ResBlockDynamicsSpec, Field(discriminator="kind")]


class EnsembleSpec(_Strict):
    kind: Literal["ensemble"]
    member: MemberSpec
    num_members: Annotated[int, Field(ge=2)] = 5


class RewardSpec(_Strict):
    kind: Literal["reward"]
    hidden_dim: PositiveInt = 256
    num_layers: PositiveInt = 2


class BCSpec(_Strict):
    kind: Literal["bc"]
    hidden_dims: list[PositiveInt] = Field(default_factory=lambda: [256, 64], min_length=1)


class WorldModelSpec(_Strict):
    """Causal transformer predictor over a context of k latents (see :mod:`wmhub.models.world_model`)."""

    kind: Literal["world_model"]
    width: PositiveInt = 256
    depth: PositiveInt = 4
    heads: PositiveInt = 4
    context: PositiveInt = Field(4, description="k: past latents the predictor sees")
    mlp_ratio: Annotated[float, Field(gt=0)] = 4.0
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    conditioning: Literal["adaln", "add"] = Field(
        "adaln", description="adaln: action → per-block scale/shift/gate (DiT); add: action added to the token")
    frame_skip: PositiveInt = Field(1, description=(
        "environment steps per model step: the model sees every k-th latent and the k actions between two "
        "of them, concatenated (action blocks); training.horizon and the planner's horizon count model steps"))

    @model_validator(mode="after")
    def _heads_divide_width(self) -> WorldModelSpec:
        if self.width % self.heads:
            raise ValueError(f"model.width ({self.width}) must be divisible by model.heads ({self.heads})")
        return self


class JEPAWorldModelSpec(WorldModelSpec):
    """Encoder trained end to end with the causal predictor (see :mod:`wmhub.models.jepa`)."""

    kind: Literal["jepa_world_model"]  # type: ignore[assignment]
    encoder: Literal["mlp", "cnn", "keypoints"] = Field(
        "mlp", description=("mlp: vector observations (e.g. Spot state); cnn: square RGB frames (frames-<S> "
                            "config); keypoints: the same frames through a spatial soft-argmax"))
    embed_dim: PositiveInt = Field(64, description="dimension of the learned embedding")
    encoder_width: PositiveInt = Field(256, description=(
        "mlp: hidden width; pixel encoders: channels of the first convolution"))
    encoder_depth: PositiveInt = Field(2, description="mlp: hidden layers (the cnn has four stages)")
    keypoints: PositiveInt = Field(32, description="keypoints: feature maps, each giving one (x, y) point")


class ActorCriticSpec(_Strict):
    """Tanh-Gaussian actor and twin-head value critic trained in imagination (see :mod:`wmhub.models.actor_critic`)."""

    kind: Literal["actor_critic"]
    actor_hidden_dims: list[PositiveInt] = Field(default_factory=lambda: [256], min_length=1)
    critic_hidden_dims: list[PositiveInt] = Field(default_factory=lambda: [256], min_length=1)
    min_log_std: float = -5.0
    max_log_std: float = 1.0
    periodic_dims: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list, description=(
        "latent dimensions that are angles: the networks read their sin and cos (the reacher state latent's "
        "joint angles, dims 0 and 1, are unwrapped and grow while the arm turns)"))

    @model_validator(mode="after")
    def _log_std_range(self) -> ActorCriticSpec:
        if self.min_log_std >= self.max_log_std:
            raise ValueError(f"model.min_log_std ({self.min_log_std}) must be below model.max_log_std "
                             f"({self.max_log_std})")
        return self


ModelSpec = Annotated[MLPDynamicsSpec | ResBlockDynamicsSpec | EnsembleSpec | RewardSpec | BCSpec | WorldModelSpec
                      | JEPAWorldModelSpec | ActorCriticSpec, Field(discriminator="kind")]


class ImaginationSpec(_Strict):
    """``imagination``: how an ``actor_critic`` learns inside frozen models (:mod:`wmhub.training.imagination`).

    Frozen models are named like datasets: a training run directory, its ``model/`` directory, or
    ``hf://<org>/<name>[@rev]``; relative paths are relative to the working directory.
    """

    dynamics: str = Field(description="the frozen dynamics model or ensemble (run, model dir or hf://)")
    reward_model: str | None = Field(None, description="the frozen RewardModel (reward: hybrid or learned)")
    reward: Literal["goal_distance", "hybrid", "learned"] = Field("goal_distance", description=(
        "goal_distance: -||z' - g|| / ||g|| with g the mean of the goal_top_k highest-reward states (phase 5); "
        "hybrid: reward_scale R(z, a) + distance_scale (-distance) + action_scale ||a|| (phase 5b); "
        "learned: R(z, a) alone"))
    goal_top_k: PositiveInt = Field(500, description="states averaged into the goal (goal_distance, hybrid)")
    reward_scale: float = Field(10.0, description="hybrid: weight of R(z, a)")
    distance_scale: float = Field(0.1, description="hybrid: weight of -distance")
    action_scale: float = Field(0.5, description="hybrid: weight of ||a|| (the seeds' term)")
    horizon: PositiveInt = Field(15, description="imagined steps per rollout")
    gamma: Annotated[float, Field(gt=0, le=1)] = 0.99
    td_lambda: Annotated[float, Field(ge=0, le=1)] = Field(0.95, description="lambda of the TD(lambda) targets")
    entropy_weight: Annotated[float, Field(ge=0)] = Field(0.01, description="weight of the actor's entropy bonus")
    actor_gradient: Literal["backprop", "likelihood_ratio"] = Field("backprop", description=(
        "backprop: through the frozen model (Dreamer, the seeds); likelihood_ratio: REINFORCE with the critic "
        "as baseline"))
    actor_lr: Annotated[float, Field(gt=0)] | None = Field(None, description="default: training.lr")
    target_update: Annotated[float, Field(gt=0, le=1)] = Field(0.02, description=(
        "EMA rate of the slow critic that gives the TD targets (1 = no slow critic)"))
    uncertainty_penalty: Annotated[float, Field(ge=0)] = Field(0.0, description=(
        "lambda in r - lambda * disagreement (MOPO); needs an ensemble when > 0"))
    ensemble_step: Literal["mean", "member"] = Field("mean", description=(
        "with an ensemble: the next imagined state is the members' mean, or (member) that of one member drawn "
        "at random for each rollout and step (MBPO / MOPO), so the actor cannot exploit one smooth average"))
    bc_weight: Annotated[float, Field(ge=0)] = Field(0.0, description=(
        "TD3+BC: the actor loss becomes -Q/mean|Q| + bc_weight * ||pi(z) - a_data||^2 (0 = off)"))
    val_starts: PositiveInt = Field(1024, description="held-out start states the validation imagines from")

# from the model-kind registry (one registration per kind: wmhub.models.kinds)
OBJECTIVE_OF_KIND = {name: k.objective for name, k in kinds().items()}
LOSSES = {k.objective: k.losses for k in kinds().values()}
MULTISTEP_OBJECTIVES = tuple(dict.fromkeys(k.objective for k in kinds().values() if k.multistep))


class TrainingSpec(_Strict):
    """Optimisation, validation and checkpointing."""

    epochs: PositiveInt = 100
    max_steps: PositiveInt | None = Field(None, description="stop after this many optimizer steps")
    batch_size: PositiveInt = 256
    lr: Annotated[float, Field(gt=0)] = 1e-3
    weight_decay: Annotated[float, Field(ge=0)] = 1e-4
    warmup_steps: Annotated[int, Field(ge=0)] = 100
    min_lr_ratio: Annotated[float, Field(ge=0, le=1)] = 0.0
    grad_clip: Annotated[float, Field(gt=0)] | None = 1.0
    loss: Literal["huber", "mse", "cosine", "bce", "l1"] | None = Field(
        None, description="default: huber (dynamics), bce (reward), mse (bc), l1 (world_model)")
    huber_delta: Annotated[float, Field(gt=0)] = 1.0
    target_layer_norm: bool | None = Field(None, description=(
        "world_model: compare F.layer_norm(prediction) with F.layer_norm(target) over D (default true, as "
        "V-JEPA 2-AC on layer-normed encoder features); false compares the normalised latents themselves"))
    sigreg_weight: Annotated[float, Field(ge=0)] | None = Field(None, description=(
        "jepa_world_model: weight of the SIGReg anti-collapse term (default 10; 0 lets the encoder collapse)"))
    sigreg_slices: PositiveInt = Field(64, description="jepa_world_model: random projections per SIGReg estimate")
    sigreg_scope: Literal["batch", "episode"] = Field("batch", description=(
        "jepa_world_model: SIGReg over the batch, or over each episode's windows on their own (needs "
        "windows_per_episode > 1; what an episode keeps fixed then counts as collapse; measured to collapse "
        "the cnn encoder to z = 0, see BENCHMARKS.md)"))
    windows_per_episode: PositiveInt = Field(1, description=(
        "batches of batch_size / N episodes with N windows each (1 = independent windows). jepa_world_model "
        "needs N > 1 when episodes differ in something static (reacher's target): SIGReg then sees the spread "
        "within episodes and rules out an embedding that is constant over an episode"))
    horizon: PositiveInt = Field(1, description=(
        "rollout length of the dynamics loss (1 = one-step); world_model: open-loop steps after the context"))
    val_fraction: Annotated[float, Field(gt=0, le=0.5)] = 0.1
    eval_every: PositiveInt | None = Field(None, description="validation every N steps (default: every epoch)")
    early_stopping_patience: PositiveInt | None = Field(
        None, description="stop after N validations without improvement (default: never)")
    checkpoint_every: PositiveInt = 1000
    log_every: PositiveInt = 50
    seed: int = 0
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:[0-9]+)?)$",
                        description="auto (CUDA when present), cpu, cuda, cuda:N or mps")
    data_path: Literal["auto", "memory", "stream"] = Field(
        "auto", description="memory: tensors on the device; stream: a DataLoader over shards; auto: memory if it fits")
    memory_budget_gb: Annotated[float, Field(gt=0)] = 8.0
    num_workers: Annotated[int, Field(ge=0, le=1)] = Field(
        0, description="stream path: 1 = a DataLoader worker reads ahead (more would change the order)")
    tensorboard: bool = False
    precision: Literal["fp32", "bf16"] = Field("fp32", description=(
        "bf16: the training forward pass under torch.autocast(bfloat16) on the device type (weights, "
        "gradients, optimizer and validation stay float32); fp32: no autocast"))
    grad_accum_steps: PositiveInt = Field(1, description=(
        "micro-batches per optimizer step: each rank's share of the global batch_size is cut into this many "
        "(batch_size must divide by world size × grad_accum_steps); the step equals one pass over the whole "
        "batch up to float reduction order, for losses that are a mean over the batch's windows"))

    @model_validator(mode="after")
    def _micro_batches_divide(self) -> TrainingSpec:
        k = self.grad_accum_steps
        if self.batch_size % k:
            lower, upper = max(k, self.batch_size // k * k), (self.batch_size // k + 1) * k
            raise ValueError(f"batch_size={self.batch_size} does not divide into grad_accum_steps={k} "
                             f"micro-batches; set training.batch_size={lower} or {upper}, or another "
                             "grad_accum_steps")
        return self


class CardSpec(_Strict):
    """Metadata for the model card."""

    license: str = "apache-2.0"
    tags: list[str] = Field(default_factory=list)
    summary: str = ""


class Recipe(_Strict):
    """A whole recipe file."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    dataset: DatasetSpec
    model: ModelSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    eval: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                            description="evaluation suites by name, with their options")
    card: CardSpec = Field(default_factory=CardSpec)
    imagination: ImaginationSpec | None = Field(None, description=(
        "model.kind actor_critic only: the frozen models and the imagination settings"))
    _source: str = PrivateAttr(default="the recipe")

    @property
    def source(self) -> str:
        """Where the recipe was read from (for error messages)."""
        return self._source

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        objective = self.objective
        if self.training.loss is not None and self.training.loss not in LOSSES[objective]:
            raise ValueError(f"training.loss {self.training.loss!r} does not fit a {objective} model; "
                             f"choose one of {list(LOSSES[objective])}")
        if self.training.target_layer_norm is not None and objective != "world_model":
            raise ValueError(f"training.target_layer_norm is a world_model loss option; remove it for a "
                             f"{objective} model")
        if self.training.sigreg_weight is not None and objective != "jepa":
            raise ValueError(f"training.sigreg_weight is the end-to-end (jepa_world_model) anti-collapse weight; "
                             f"remove it for a {objective} model")
        if objective == "imagination" and (self.training.precision != "fp32" or self.training.grad_accum_steps > 1):
            raise ValueError("training.precision and training.grad_accum_steps apply to the supervised objectives; "
                             "an actor_critic recipe trains in fp32 with one pass per step: remove them")
        if self.training.sigreg_scope == "episode" and (objective != "jepa" or self.training.windows_per_episode < 2):
            raise ValueError("training.sigreg_scope: episode takes SIGReg over each episode's windows in a batch; it "
                             "needs a jepa_world_model and training.windows_per_episode >= 2 (e.g. 16)")
        if (objective == "imagination") != (self.imagination is not None):
            raise ValueError("an imagination section goes with model.kind actor_critic and only with it; add "
                             "imagination: {dynamics: RUN, ...} or remove it" if objective == "imagination" else
                             f"the imagination section is for model.kind actor_critic; remove it for a {objective} "
                             "model")
        if self.imagination is not None:
            im = self.imagination
            if im.reward in ("hybrid", "learned") and im.reward_model is None:
                raise ValueError(f"imagination.reward {im.reward} needs imagination.reward_model (a reward run, "
                                 "e.g. runs/reacher_reward_1m_state)")
            if im.reward == "goal_distance" and im.reward_model is not None:
                raise ValueError("imagination.reward_model is unused by reward goal_distance; remove it or set "
                                 "imagination.reward to hybrid or learned")
        if self.training.horizon > 1 and objective not in MULTISTEP_OBJECTIVES:
            raise ValueError(f"training.horizon > 1 is a dynamics rollout loss; a {objective} model needs horizon 1")
        latent = self.eval.get("latent")
        if self.frame_skip > 1 and latent is not None:
            fs, horizons = self.frame_skip, latent.get("horizons")
            if horizons is None:  # the suite's default horizons (imported only here: the suite needs torch)
                from wmhub.eval.latent import DEFAULT_HORIZONS

                horizons = list(DEFAULT_HORIZONS)
            if not isinstance(horizons, list) or any(not isinstance(h, int) or h < 1 or h % fs for h in horizons):
                raise ValueError(f"eval.latent.horizons {horizons} count environment steps; with model.frame_skip "
                                 f"{fs} each must be a positive multiple of {fs}, e.g. {[fs, 2 * fs, 6 * fs]}")
        return self

    @property
    def objective(self) -> str:
        """'dynamics', 'reward', 'bc', 'world_model', 'jepa' or 'imagination'."""
        return OBJECTIVE_OF_KIND[self.model.kind]

    @property
    def window(self) -> int:
        """Actions per training window: the horizon, or context + horizon − 1 for a world model
        (k real latents, then ``horizon`` open-loop steps: k + horizon latents in all)."""
        if self.model.kind in ("world_model", "jepa_world_model"):
            return self.model.context + self.training.horizon - 1
        return self.training.horizon

    @property
    def frame_skip(self) -> int:
        """Environment steps per model step (``model.frame_skip`` of a world model, else 1)."""
        return int(getattr(self.model, "frame_skip", 1))

    @property
    def loss(self) -> str:
        return self.training.loss or LOSSES[self.objective][0]

    @property
    def target_layer_norm(self) -> bool:
        """Whether the world-model loss layer-normalises predictions and targets (default true; never for
        jepa, whose embeddings SIGReg keeps near N(0, I))."""
        return self.objective == "world_model" and self.training.target_layer_norm is not False

    @property
    def sigreg_weight(self) -> float:
        """Weight of SIGReg in the jepa loss (default 10; 0 for other objectives).

        wmhub's SIGReg is per sample (LeJEPA's statistic divided by the batch size), so 10 is
        LeJEPA's λ ≈ 0.05 at a batch of 200. Measured on a synthetic 8-d linear system (tests/test_jepa.py):
        weight 1 leaves an effective rank of 1.8 of 8 after 400 steps, weight 10 gives 7.3.
        """
        if self.objective != "jepa":
            return 0.0
        return 10.0 if self.training.sigreg_weight is None else self.training.sigreg_weight

    def to_yaml(self) -> str:
        """The fully resolved recipe (defaults filled in), as YAML (no ``imagination`` key unless it has one, so
        other recipes resolve to the same text as before the section existed)."""
        data = self.model_dump(mode="json")
        if data.get("imagination") is None:
            data.pop("imagination", None)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# ------------------------------------------------------------------ loading
def builtin_recipes() -> list[str]:
    """Names of the recipes shipped with wmhub (``recipes/*.yaml``).

    Returns:
        The sorted names (without ``.yaml``).

    Example:
        >>> "tiny_reacher_dynamics_state" in builtin_recipes()
        True
    """
    return sorted(p.name.removesuffix(".yaml") for p in resources.files("wmhub.recipes").iterdir()
                  if p.name.endswith(".yaml"))


def find_recipe(name_or_path: str | Path) -> tuple[str, str]:
    """(display name, YAML text) of a recipe file, or of a built-in recipe by name.

    Args:
        name_or_path: a path to a YAML file, or a built-in recipe's name.

    Returns:
        The name used in messages and the file's text.

    Raises:
        NotFoundError: neither a file nor a built-in recipe.

    Example:
        >>> find_recipe("tiny_reacher_dynamics_state")[0]
        'recipes/tiny_reacher_dynamics_state.yaml'
    """
    path = Path(name_or_path)
    if path.is_file():
        return str(path), path.read_text(encoding="utf-8")
    name = str(name_or_path).removesuffix(".yaml")
    if "/" not in name and name in builtin_recipes():
        resource = resources.files("wmhub.recipes").joinpath(f"{name}.yaml")
        return f"recipes/{name}.yaml", resource.read_text(encoding="utf-8")
    raise NotFoundError(f"recipe {str(name_or_path)!r} is neither a file nor a built-in recipe; built-in: "
                     f"{', '.join(builtin_recipes())}")


def apply_override(raw: dict[str, Any], assignment: str, source: str) -> None:
    """Apply one ``key.sub=value`` override to the raw recipe dict (value parsed as YAML).

    Args:
        raw: the recipe as parsed YAML; changed in place.
        assignment: ``KEY=VALUE`` with a dotted key.
        source: the recipe's name, for messages.

    Raises:
        ConfigError: not ``KEY=VALUE``, the value is not YAML, or a key on the path is not a mapping.

    Example:
        >>> raw = {"training": {"lr": 0.1}}
        >>> apply_override(raw, "training.epochs=5", "r.yaml"); raw
        {'training': {'lr': 0.1, 'epochs': 5}}
    """
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set training.lr=3e-4")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {assignment!r}: the value is not valid YAML ({exc})") from exc
    node = raw
    parts = key.strip().split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {assignment!r}: {'.'.join(parts[:i + 1])} in {source} is not a mapping")
        node = child
    node[parts[-1]] = value


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(p) for p in error["loc"] if not (isinstance(p, str) and p in _TAGS))
    if error["type"] == "extra_forbidden":
        return f"unknown key {location!r}"
    if error["type"] == "missing":
        return f"missing key {location!r}"
    given = error.get("input")
    shown = "" if isinstance(given, (dict, list)) else f" (got {given!r})"
    message = error["msg"].removeprefix("Value error, ")
    return f"{location}: {message}{shown}" if location else f"{message}{shown}"


_TAGS = set(kinds())


def parse_recipe(text: str, source: str = "recipe", overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Validate recipe YAML text (plus ``--set`` overrides); errors name ``source`` and the key.

    Old recipes whose ``dataset.generate`` is a list of command strings are converted (see the
    module docstring).

    Args:
        text: the YAML text.
        source: the recipe's name, for messages.
        overrides: ``KEY=VALUE`` assignments applied before validation.

    Returns:
        The validated :class:`Recipe`.

    Raises:
        ConfigError: invalid YAML, an unknown, missing or invalid key; one line naming ``source`` and the key.

    Example:
        >>> parse_recipe("{name: r, dataset: {source: d}, model: {kind: bc}}").objective
        'bc'
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a recipe is a YAML mapping with keys name, dataset, model, training, ...")
    for assignment in overrides:
        apply_override(raw, assignment, source)
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None
    recipe._source = source
    return recipe


def load_recipe(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Load and validate a recipe file or a built-in recipe by name.

    Reading a recipe imports pydantic, yaml and the named environment's config model only (no torch,
    no simulator).

    Args:
        name_or_path: a path to a YAML file, or a built-in recipe's name (``wmhub train --list``).
        overrides: ``KEY=VALUE`` assignments (``--set``), values parsed as YAML.

    Returns:
        The validated :class:`Recipe`.

    Raises:
        NotFoundError: no such file or built-in recipe.
        ConfigError: the recipe is invalid (the message names the file and the key).

    Example:
        >>> load_recipe("tiny_reacher_dynamics_state", ["training.lr=3e-4"]).training.lr
        0.0003
    """
    source, text = find_recipe(name_or_path)
    return parse_recipe(text, source, overrides)
