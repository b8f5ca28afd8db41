"""``eval/eval_results.json``: what the evaluation of a run measured, as a versioned pydantic model.

:class:`EvalResults` holds the run's identity, the trainer's held-out loss beside its trivial baseline
(``validation``), and one entry per evaluation suite (``suites``: each suite's own result mapping,
as its runner returned it, plus ``wall_time_s``). Like :class:`~wmhub.training.summary.RunSummary`,
the JSON keeps its keys and gains ``schema_version``; files written without it still load.

Example:
    >>> from wmhub.runs.results import EvalResults
    >>> results = EvalResults.read("runs/tiny_reacher_dynamics_state/eval/eval_results.json")  # doctest: +SKIP
    >>> results.headline("latent")                                                              # doctest: +SKIP
    {'cosine@1': 0.99, ...}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from wmhub.eval.suites import headline_metrics
from wmhub.training.summary import RunSummary, VersionedRecord

EVAL_DIR = "eval"
RESULTS_NAME = "eval_results.json"

__all__ = ["EVAL_DIR", "RESULTS_NAME", "EvalResults", "RunSummary", "Validation"]


class Validation(BaseModel):
    """The trainer's held-out loss and its trivial baseline (measured for every model kind)."""

    model_config = ConfigDict(extra="allow")
    loss_name: str
    loss: float
    baseline: str
    baseline_loss: float
    episodes: int
    samples: int

    @classmethod
    def of(cls, summary: RunSummary) -> Validation:
        """The validation entry of a run's summary.

        Args:
            summary: the run's ``summary.json``.

        Returns:
            Its held-out loss, baseline, episodes and samples.
        """
        return cls(loss_name=summary.loss, loss=summary.val_loss, baseline=summary.baseline,
                   baseline_loss=summary.val_baseline_loss, episodes=summary.dataset.val_episodes,
                   samples=summary.val_samples)


class EvalResults(VersionedRecord):
    """``eval/eval_results.json`` of an evaluated run."""

    recipe: str
    model_class: str
    num_parameters: int
    device: str
    validation: Validation
    suites: dict[str, dict[str, Any]] = {}

    def headline(self, suite: str) -> dict[str, float]:
        """The few numbers that summarise one suite's results (CLI, quickstart, card, model-index).

        Args:
            suite: a suite name present in :attr:`suites`.

        Returns:
            Metric name -> value, in the suite's order.

        Raises:
            KeyError: the suite was not evaluated.

        Example:
            >>> results.headline("goal-success")["success_rate"]  # doctest: +SKIP
            0.4
        """
        return headline_metrics(suite, self.suites[suite])
