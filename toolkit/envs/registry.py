"""The environment registry: one module and one :func:`register_env` call per environment.

An :class:`Environment` gathers everything wmhub knows about a simulator, declared once:

* ``rollout``: the :class:`~wmhub.envs.base.RolloutSpec` the shard engine runs, whose
  ``config_cls`` is the pydantic model of the generation options (defaults and help text). It
  validates a recipe's ``dataset.generate`` keys and builds the options of ``wmhub generate <env>``;
* ``planning``: an adapter for the live-planning suites (state latent, setting a recorded state,
  the success check), or ``None`` when the environment has no planning suites;
* the size rules of a generation request (``size_cls`` and ``episodes_from_size``, e.g. Spot's
  ``--hours``; ``default_episodes_per_shard`` for a new dataset; ``complete_options``, e.g. the
  digest of an MLP policy's files);
* execution options (``execution_cls``, applied by ``execution``): how a dataset is computed, not what it
  holds, so they are not recorded (e.g. reacher's ``--engine``, which gives the same bytes either way).

This module is light (no numpy, no simulator): the environment modules are imported on first use.

Example:
    >>> from wmhub.envs.registry import get_env, registered_envs
    >>> registered_envs()
    ['reacher', 'spot']
    >>> get_env("reacher").config_cls().episode_length
    200
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from wmhub.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from wmhub.envs.base import RolloutSpec

# environment name -> the module whose import registers it
_MODULES: dict[str, str] = {"reacher": "wmhub.envs.reacher", "spot": "wmhub.envs.spot"}
_LOADED: dict[str, Environment] = {}


def _no_size(size: BaseModel, config: BaseModel) -> int | None:
    return None


def _same_options(options: dict[str, Any]) -> dict[str, Any]:
    return options


class _NoSize(BaseModel):
    """No size option besides ``episodes``."""


class _NoExecution(BaseModel):
    """No execution option besides the shared ones (``workers``, ``executor``)."""


def _no_execution(options: BaseModel) -> AbstractContextManager[None]:
    return nullcontext()


class PlanningAdapter(Protocol):
    """What the live-planning suites (:mod:`wmhub.eval.planning`) need from an environment's simulator.

    Latents are the dataset's state latent (``state_features`` concatenated); recorded states are the
    ``state_columns`` of a ``steps`` row.
    """

    state_features: tuple[str, ...]
    state_columns: tuple[str, ...]
    goal_features: tuple[str, ...]
    to_target: slice

    def make_env(self, seed: int = 0) -> Any: ...
    def observation_latent(self, observation: Any) -> Any: ...
    def live_latent(self, env: Any) -> Any: ...
    def set_state(self, env: Any, qpos: Any, qvel: Any, target_pos: Any) -> Any: ...
    def physics_state(self, env: Any) -> tuple[Any, Any, Any]: ...
    def joint_error(self, env: Any, goal_qpos: Any) -> Any: ...
    def reach_radius(self, physics: Any) -> float: ...


@dataclass(frozen=True)
class GenerateRequest:
    """A resolved generation request: what :func:`wmhub.generation.generate` is called with."""

    env: str
    episodes: int
    episodes_per_shard: int | None
    options: dict[str, Any]


@dataclass(frozen=True)
class Environment:
    """Everything wmhub knows about one environment (see the module docstring).

    Attributes:
        rollout: the shard engine's spec (name, config model, features, runner factory).
        cli_help: the help of ``wmhub generate <name>``, ending with an example.
        planning: the adapter of the live-planning suites, or None.
        renderable: frames can be rendered from the stored state (``--encoder``/``--save-frames``).
        size_cls: options that give the size instead of ``episodes`` (e.g. Spot's ``hours``).
        episodes_from_size: the episodes a ``size_cls`` value asks for (None when none was given).
        default_episodes_per_shard: episodes per shard of a new dataset (None: the engine's 500).
        complete_options: fills in derived options (e.g. the SHA-256 of an MLP policy's files).
        execution_cls: options of how the data is computed that do not change it (not recorded; e.g.
            reacher's ``engine``); ``wmhub generate <name>`` has one option per field.
        execution: a context manager applying an ``execution_cls`` value while a generation job runs.
    """

    rollout: RolloutSpec
    cli_help: str
    planning: PlanningAdapter | None = None
    renderable: bool = False  # frames can be rendered from the stored state (``wmhub encode`` works on it)
    size_cls: type[BaseModel] = _NoSize
    episodes_from_size: Callable[[BaseModel, BaseModel], int | None] = _no_size
    default_episodes_per_shard: int | None = None
    complete_options: Callable[[dict[str, Any]], dict[str, Any]] = _same_options
    execution_cls: type[BaseModel] = _NoExecution
    execution: Callable[[Any], AbstractContextManager[None]] = _no_execution

    @property
    def name(self) -> str:
        """The environment's name (the rollout spec's): ``wmhub generate <name>``, a recipe's ``env``."""
        return self.rollout.name

    @property
    def config_cls(self) -> type[BaseModel]:
        """The generation config model (the rollout spec's): defaults, validation and help text."""
        return self.rollout.config_cls

    def resolve(self, out: str | Path, episodes: int | None, episodes_per_shard: int | None,
                options: Mapping[str, Any], size: Mapping[str, Any] | None = None) -> GenerateRequest:
        """Apply the environment's size and option rules to a generation request.

        Args:
            out: the dataset location (a new dataset gets ``default_episodes_per_shard``).
            episodes: the total number of episodes, or ``None`` when a size option gives it.
            episodes_per_shard: episodes per shard, or ``None`` for the default.
            options: the environment's config options (validated by ``config_cls``).
            size: values of ``size_cls``'s options (e.g. ``{"hours": 0.5}``).

        Returns:
            The :class:`GenerateRequest` to run.

        Raises:
            ConfigError: the options are invalid, or the size is given twice or not at all.

        Example:
            >>> get_env("reacher").resolve("data/new", 4, None, {}).episodes
            4
        """
        config = validate_options(self, dict(options), as_flags=True)
        sized = self.size_cls.model_validate(dict(size or {}))
        from_size = self.episodes_from_size(sized, config)
        if from_size is not None:
            if episodes is not None:
                raise ConfigError(f"give exactly one of --episodes N or {self._size_flags()}")
            episodes = from_size
        if episodes is None:
            raise ConfigError(f"give exactly one of --episodes N or {self._size_flags()}"
                              if self.size_cls.model_fields else "--episodes is required")
        if episodes_per_shard is None and self.default_episodes_per_shard is not None \
                and not (Path(out) / "manifest.json").exists():
            episodes_per_shard = self.default_episodes_per_shard  # growing keeps the dataset's own value
        return GenerateRequest(self.name, episodes, episodes_per_shard,
                               self.complete_options(config.model_dump(mode="json")))

    def _size_flags(self) -> str:
        return " or ".join(f"--{name.replace('_', '-')} {name[0].upper()}" for name in self.size_cls.model_fields)


def validate_options(env: Environment, options: dict[str, Any], as_flags: bool = False) -> BaseModel:
    """``options`` validated by the environment's config model.

    Args:
        env: the environment.
        options: option name -> value (names as the config model spells them).
        as_flags: name a bad value as the ``wmhub generate`` flag (``invalid --epsilon for `wmhub
            generate reacher`: ...``) instead of the key.

    Returns:
        The validated config (defaults filled in).

    Raises:
        ConfigError: an option is unknown or its value is invalid; the message names it.

    Example:
        >>> validate_options(get_env("reacher"), {"epsilon": 0.1}).epsilon
        0.1
    """
    from pydantic import ValidationError

    try:
        return env.config_cls.model_validate(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        if as_flags:
            flag = "--" + key.replace("_", "-") if key else "config"
            raise ConfigError(f"invalid {flag} for `wmhub generate {env.name}`: {first['msg']}") from None
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"unknown option {key!r} for environment {env.name}; options: "
                              f"{', '.join(env.config_cls.model_fields)}") from None
        where = f"option {key!r}" if key else "options"
        raise ConfigError(f"invalid {where} for environment {env.name}: "
                          f"{first['msg'].removeprefix('Value error, ')}") from None


def register_env(env: Environment) -> Environment:
    """Register an environment (called once by its module, at import).

    Args:
        env: the registration.

    Returns:
        ``env``, so a module can write ``ENV = register_env(Environment(...))``.

    Raises:
        ConfigError: the name is not listed in the registry's module table.

    Example:
        >>> get_env("spot").name  # spot's module called register_env(...) on import
        'spot'
    """
    if env.name not in _MODULES:
        raise ConfigError(f"environment {env.name!r} is not listed in wmhub.envs.registry; add it to _MODULES")
    _LOADED[env.name] = env
    return env


def registered_envs() -> list[str]:
    """Names of the registered environments (what ``wmhub generate`` accepts).

    Returns:
        The sorted names.

    Example:
        >>> "reacher" in registered_envs()
        True
    """
    return sorted(_MODULES)


def get_env(name: str) -> Environment:
    """The registration of environment ``name``, importing its module on first use.

    Args:
        name: an environment name (see :func:`registered_envs`).

    Returns:
        Its :class:`Environment`.

    Raises:
        ConfigError: no environment of that name.

    Example:
        >>> get_env("reacher").rollout.latent_features
        ['position', 'to_target', 'velocity']
    """
    if name not in _MODULES:
        raise ConfigError(f"unknown environment {name!r}; choose one of: {', '.join(registered_envs())}")
    if name not in _LOADED:
        importlib.import_module(_MODULES[name])
    return _LOADED[name]


def get_spec(name: str) -> RolloutSpec:
    """The rollout spec of environment ``name``, importing its module lazily.

    Args:
        name: an environment name.

    Returns:
        Its :class:`~wmhub.envs.base.RolloutSpec`.

    Raises:
        ConfigError: no environment of that name.

    Example:
        >>> get_spec("reacher").name
        'reacher'
    """
    return get_env(name).rollout
