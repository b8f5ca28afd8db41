"""The planning suites as registered suites: ``goal-success``, ``reacher-easy-return``, ``seed-protocol``.

Each suite's options are the keyword arguments of its function in :mod:`wmhub.eval.planning`
(declared once, there: the options model is built from the signature). ``planner`` is a mapping
(``{kind: cem, samples: 500, ...}``; ``kind`` defaults to ``cem``); ``reward_model`` and ``value_model``
(return suite) name a reward run and an actor-critic run (the learned terminal value): a run directory, its
``model/`` directory or an ``hf://`` source.

Example:
    >>> from wmhub.eval.suites import suite
    >>> "budget" in suite("goal-success").option_names()
    True
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import TypeAdapter, ValidationError, create_model

from wmhub.errors import ConfigError
from wmhub.eval import planning
from wmhub.eval.planners import PlannerConfig
from wmhub.eval.suite import Suite, SuiteContext, SuiteOptions
from wmhub.models.actor_critic import ActorCritic
from wmhub.models.bc import BCPolicy
from wmhub.models.dynamics import DynamicsModel
from wmhub.models.jepa import JEPAWorldModel
from wmhub.models.registry import load_named_model
from wmhub.models.reward import RewardModel

# arguments the runner passes itself, not options of a recipe
_CONTEXT_ARGUMENTS = {"dynamics", "dataset_root", "val_episodes", "device", "show_progress", "video_dir"}
# options given as plain values in a recipe and converted here
_OPTION_TYPES: dict[str, Any] = {"planner": Any, "reward_model": str | None, "value_model": str | None}


def options_model(name: str, function: Callable[..., Any]) -> type[SuiteOptions]:
    """The options model of a planning suite, from its function's keyword arguments and defaults."""
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function, eval_str=True).parameters.values():
        if parameter.name in _CONTEXT_ARGUMENTS:
            continue
        annotation = _OPTION_TYPES.get(parameter.name, parameter.annotation)
        fields[parameter.name] = (annotation, parameter.default)
    class_name = "".join(part.title() for part in name.split("-")) + "Options"
    return create_model(class_name, __base__=SuiteOptions, **fields)


def _planner(name: str, planner: Any) -> Any:
    """A :data:`PlannerConfig` from a recipe mapping (``kind`` defaults to cem, as the planners' own default)."""
    try:
        planner = {"kind": "cem", **planner} if isinstance(planner, dict) else planner
        return TypeAdapter(PlannerConfig).validate_python(planner)
    except ValidationError as exc:
        raise ConfigError(f"eval.{name}.planner: {exc.errors()[0]['msg']} (at "
                          f"{'.'.join(str(p) for p in exc.errors()[0]['loc'])}); give "
                          "{kind: cem|mppi, samples: ..., ...}") from exc


def load_reward_model(source: str, suite: str) -> RewardModel:
    """A :class:`RewardModel` from a run directory, its ``model/`` or an ``hf://`` source.

    Raises:
        NotFoundError: ``source`` is neither a training run nor a model directory.
        ConfigError: it holds another kind of model.
    """
    return load_named_model(source, RewardModel, f"eval.{suite}.reward_model",
                       "train the reward recipe first (e.g. `wmhub train reacher_reward_1m_state`) or drop the "
                       "option to plan with the state surrogate")


def load_value_model(source: str, suite: str) -> ActorCritic:
    """The :class:`ActorCritic` whose critic is a planner's learned terminal value (``value_model``).

    Raises:
        NotFoundError: ``source`` is neither a training run nor a model directory.
        ConfigError: it holds another kind of model.
    """
    return load_named_model(source, ActorCritic, f"eval.{suite}.value_model",
                       "train an actor_critic recipe first (e.g. `wmhub train reacher_dreamer_ensemble_1m_state`)")


def run_planning_suite(name: str, options: Mapping[str, Any], model: DynamicsModel, dataset_root: Path,
                       val: list[int], device: torch.device, show_progress: bool) -> dict[str, Any]:
    """Run planning suite ``name`` with a recipe's ``options`` (checked against the suite's signature).

    Args:
        name: one of :data:`wmhub.eval.planning.SUITES`.
        options: the recipe's ``eval.<name>`` mapping.
        model: the dynamics model to plan with.
        dataset_root: the run's dataset (start and goal states).
        val: the run's held-out episodes.
        device: where the planner runs.
        show_progress: whether to show a progress bar.

    Returns:
        The suite's result mapping.

    Raises:
        ConfigError: an unknown or invalid option.

    Example:
        >>> cpu = torch.device("cpu")
        >>> run_planning_suite("goal-success", {"episodes": 2}, model, root, val, cpu, False)  # doctest: +SKIP
    """
    parsed = SUITES[name].parse_options(options)
    return _run(name, parsed, model, dataset_root, val, device, show_progress)


def _run(name: str, options: SuiteOptions, model: DynamicsModel, dataset_root: Path, val: list[int],
         device: torch.device, show_progress: bool, video_dir: Path | None = None) -> dict[str, Any]:
    function = planning.SUITE_FUNCTIONS[name]
    kwargs = dict(options.given(), show_progress=show_progress, video_dir=video_dir)  # videos: RUN/eval/
    if "planner" in kwargs:
        kwargs["planner"] = _planner(name, kwargs["planner"])
    reward_source, value_source = kwargs.get("reward_model"), kwargs.get("value_model")
    if reward_source is not None:
        kwargs["reward_model"] = load_reward_model(str(reward_source), name)
    if value_source is not None:
        kwargs["value_model"] = load_value_model(str(value_source), name)
    if name == "reacher-easy-return":
        result = function(model, device=device, **kwargs)
        result["reward_model"] = None if reward_source is None else str(reward_source)
        if value_source is not None:
            result["value_model"] = str(value_source)
        return result
    return function(model, dataset_root, val, device=device, **kwargs)


def _runner(name: str) -> Callable[[SuiteContext, SuiteOptions], dict[str, Any]]:
    def run(context: SuiteContext, options: SuiteOptions) -> dict[str, Any]:
        return _run(name, options, context.model, context.dataset.root, context.val_episodes, context.device,
                    context.show_progress, context.output_dir)
    return run


def _headline(name: str) -> Callable[[Mapping[str, Any]], dict[str, float]]:
    def headline(result: Mapping[str, Any]) -> dict[str, float]:
        out = {key: result[key]["mean"] for key in planning.HEADLINES.get(name, ())
               if result.get(key, {}).get("mean") is not None}
        if result.get("mean_abs_action") is not None:
            out["mean |a|"] = result["mean_abs_action"]
        if result.get("wall_time_per_action_s") is not None:
            out["s/action"] = result["wall_time_per_action_s"]
        return out
    return headline


def _model_types() -> tuple[type, ...]:
    return (DynamicsModel, JEPAWorldModel, ActorCritic, BCPolicy)


_DESCRIPTIONS = {"goal-success": "goal reaching from held-out states in the real simulator",
                 "reacher-easy-return": "return of the standard reacher-easy episode, planning with the model",
                 "seed-protocol": "the seeds' goal-reaching protocol toward reached states"}

SUITES: dict[str, Suite] = {
    name: Suite(name, options_model(name, planning.SUITE_FUNCTIONS[name]), _runner(name), _headline(name),
                _model_types, _DESCRIPTIONS.get(name, ""))
    for name in planning.SUITES
}
