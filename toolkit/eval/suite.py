"""What an evaluation suite is: a name, a typed options model, a runner and its headline metrics.

A suite module defines its options (a :class:`SuiteOptions` subclass, the keys a recipe's
``eval.<suite>`` section accepts), a runner ``run(context, options) -> dict`` and a headline
function, and exposes them as one :class:`Suite`; :mod:`wmhub.eval.suites` registers it.

Example:
    >>> from wmhub.eval.suites import suite
    >>> sorted(suite("latent").option_names())
    ['horizons', 'min_start', 'stride']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from wmhub.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from wmhub.data.reader import WmDataset
    from wmhub.models.base import LatentModel


class SuiteOptions(BaseModel):
    """Base of a suite's options: unknown keys are refused; only the keys given reach the runner."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    def given(self) -> dict[str, Any]:
        """The options set explicitly (the runner's own defaults apply to the rest)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


@dataclass(frozen=True)
class SuiteContext:
    """What a suite evaluates: the model, the run's dataset and split, where plots go.

    Attributes:
        model: the checkpoint under evaluation.
        dataset: the dataset the run was trained on.
        train_episodes: the run's training episodes.
        val_episodes: the run's held-out episodes (every suite measures on these, or in the simulator).
        device: the torch device to evaluate on.
        output_dir: the run's ``eval/`` directory (plots).
        show_progress: whether long suites show a progress bar.
    """

    model: LatentModel
    dataset: WmDataset
    train_episodes: list[int]
    val_episodes: list[int]
    device: torch.device
    output_dir: Path
    show_progress: bool = False


@dataclass(frozen=True)
class Suite:
    """One evaluation suite.

    Attributes:
        name: the suite's name in recipes (``eval.<name>``) and on the command line (``--suite``).
        options: its options model.
        run: ``run(context, options)`` -> the suite's result mapping (JSON-serialisable).
        headline: ``headline(result)`` -> the few numbers that summarise it.
        model_types: the model classes it evaluates, as a callable returning them (imported lazily).
        description: one line for listings.
    """

    name: str
    options: type[SuiteOptions]
    run: Callable[[SuiteContext, Any], dict[str, Any]]
    headline: Callable[[Mapping[str, Any]], dict[str, float]]
    model_types: Callable[[], tuple[type, ...]]
    description: str = ""

    def option_names(self) -> set[str]:
        """The option names a recipe's ``eval.<name>`` section accepts."""
        return set(self.options.model_fields)

    def parse_options(self, options: Mapping[str, Any]) -> SuiteOptions:
        """Validate a recipe's options for this suite.

        Args:
            options: the ``eval.<name>`` mapping (plus command-line overrides).

        Returns:
            The typed options.

        Raises:
            ConfigError: an unknown option, or a value of the wrong type or range.

        Example:
            >>> suite("latent").parse_options({"stride": 5}).stride  # doctest: +SKIP
            5
        """
        known = self.option_names()
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"eval.{self.name}: unknown option(s) {unknown}; known: {sorted(known)}")
        try:
            return self.options.model_validate(dict(options))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise ConfigError(f"eval.{self.name}.{where}: {error['msg']} (got {error.get('input')!r}); see the "
                              f"suite's options {sorted(known)}") from None

    def check_model(self, model: object) -> None:
        """Refuse a model this suite does not evaluate.

        Raises:
            ConfigError: the model is not one of :attr:`model_types`.
        """
        if not isinstance(model, self.model_types()):
            raise ConfigError(f"suite {self.name!r} evaluates dynamics models; this run trained a "
                              f"{type(model).__name__}")
