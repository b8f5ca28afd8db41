"""The evaluation-suite registry: every suite by name, in the order ``wmhub eval`` lists them.

The built-in suites are ``latent`` (:mod:`wmhub.eval.latent`), ``probe`` (:mod:`wmhub.eval.probe`)
and the planning suites (:mod:`wmhub.eval.planning_suites`). Adding a suite is one new module that
defines a :class:`~wmhub.eval.suite.Suite` plus one :func:`register_suite` call (a line below for a
built-in one).

Example:
    >>> from wmhub.eval.suites import suite, suite_names
    >>> suite_names()
    ['latent', 'probe', 'goal-success', 'reacher-easy-return', 'seed-protocol']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wmhub.errors import ConfigError, NotFoundError
from wmhub.eval import latent, planning_suites, probe
from wmhub.eval.suite import Suite, SuiteContext

_SUITES: dict[str, Suite] = {}


def register_suite(new: Suite) -> Suite:
    """Register an evaluation suite under its name.

    Args:
        new: the suite.

    Returns:
        ``new``, so a module can keep it as a constant.

    Raises:
        ConfigError: another suite is registered under the same name.

    Example:
        >>> mine = Suite("my-suite", MyOptions, run_mine, headline_mine, lambda: (DynamicsModel,))  # doctest: +SKIP
        >>> register_suite(mine)                                                                  # doctest: +SKIP
    """
    existing = _SUITES.get(new.name)
    if existing is not None and existing is not new:
        raise ConfigError(f"evaluation suite {new.name!r} is already registered; choose another name")
    _SUITES[new.name] = new
    return new


def suite(name: str) -> Suite:
    """The suite registered as ``name``.

    Raises:
        NotFoundError: no suite has that name.

    Example:
        >>> suite("probe").name
        'probe'
    """
    try:
        return _SUITES[name]
    except KeyError:
        raise NotFoundError(f"unknown suite(s) {[name]}; choose from {suite_names()}") from None


def suite_names() -> list[str]:
    """Every registered suite's name, in registration order."""
    return list(_SUITES)


def check_suites(names: list[str]) -> None:
    """Refuse unknown suite names, all at once.

    Raises:
        NotFoundError: some names are not registered suites.
    """
    unknown = [s for s in names if s not in _SUITES]
    if unknown:
        raise NotFoundError(f"unknown suite(s) {unknown}; choose from {suite_names()}")


def headline_metrics(name: str, result: Mapping[str, Any]) -> dict[str, float]:
    """The few numbers that summarise a suite's results (CLI, quickstart, card, model-index).

    Args:
        name: the suite's name.
        result: its result mapping.

    Returns:
        Metric name -> value.

    Example:
        >>> headline_metrics("latent", {"horizons": {"1": {"cosine": {"mean": 0.99}}}})
        {'cosine@1': 0.99}
    """
    return suite(name).headline(result)


def run_suite(name: str, options: Mapping[str, Any], context: SuiteContext) -> dict[str, Any]:
    """Run suite ``name`` on ``context`` with a recipe's options.

    Args:
        name: a registered suite.
        options: the recipe's ``eval.<name>`` mapping (plus overrides).
        context: the model, dataset, split and output directory.

    Returns:
        The suite's result mapping.

    Raises:
        NotFoundError: the suite is not registered.
        ConfigError: the model is not one the suite evaluates, or an option is unknown or invalid.

    Example:
        >>> run_suite("latent", {"horizons": [1, 5]}, context)  # doctest: +SKIP
    """
    chosen = suite(name)
    chosen.check_model(context.model)
    return chosen.run(context, chosen.parse_options(options))


for _builtin in (latent.SUITE, probe.SUITE, *planning_suites.SUITES.values()):
    register_suite(_builtin)
