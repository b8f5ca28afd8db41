"""``wmhub reproduce``: retrain and re-evaluate a pushed checkpoint, compare every claimed metric.

Reads the pushed ``recipe.yaml``, ``summary.json`` and ``eval_results.json``;
obtains the data (the recorded dataset revision for Hub sources, or the
recipe's deterministic generation commands); trains into a fresh run;
re-runs the same suites; and compares every numeric metric. A metric passes
when its relative difference is within ``tolerance`` (an absolute difference
within ``tolerance`` when the claim is 0). Timings are reported, not compared.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wmhub.errors import ConfigError
from wmhub.runs.evaluate import evaluate
from wmhub.runs.pushed import read_pushed
from wmhub.runs.results import RESULTS_NAME, EvalResults
from wmhub.runs.run import RECIPE_NAME
from wmhub.training.recipe import parse_recipe
from wmhub.training.summary import SUMMARY_NAME, RunSummary
from wmhub.training.trainer import train

SKIPPED_KEYS = ("time", "per_s", "plot", "curve", "device", "samples_per_s", "schema_version")


@dataclass
class MetricComparison:
    """One claimed metric beside its reproduction (None: the reproduction has no such metric)."""

    name: str
    claimed: float
    reproduced: float | None

    def ok(self, tolerance: float) -> bool:
        """Whether the reproduction is within ``tolerance`` (relative; absolute when the claim is 0)."""
        if self.reproduced is None:
            return False
        if self.claimed == 0:
            return abs(self.reproduced) <= tolerance
        return abs(self.reproduced - self.claimed) <= tolerance * abs(self.claimed)


@dataclass
class ReproduceResult:
    """The retrained run and every claimed metric compared."""

    run_dir: Path
    tolerance: float
    metrics: list[MetricComparison] = field(default_factory=list)

    @property
    def failed(self) -> list[MetricComparison]:
        return [m for m in self.metrics if not m.ok(self.tolerance)]


def flatten_metrics(results: Mapping[str, Any] | EvalResults, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of an eval-results dict, as dotted names (timings and plots left out)."""
    if isinstance(results, EvalResults):
        results = results.to_json_dict()
    out: dict[str, float] = {}
    for key, value in results.items():
        name = f"{prefix}{key}"
        if any(s in str(key) for s in SKIPPED_KEYS):
            continue
        if isinstance(value, dict):
            out.update(flatten_metrics(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            out[name] = float(value)
    return out


def reproduce(source: str, *, tolerance: float = 0.02, out: str | os.PathLike[str] | None = None,
              overrides: list[str] | tuple[str, ...] = (), show_progress: bool = True) -> ReproduceResult:
    """Retrain and re-evaluate the checkpoint pushed at ``source``; compare every claimed metric.

    Args:
        source: ``hf://<org>/<name>[@rev]`` or a local hub directory written by ``wmhub push``
            (before or after ``schema_version`` was added to its files).
        tolerance: the largest relative difference allowed (absolute when the claim is 0).
        out: the run directory of the retraining (default: a new temporary directory).
        overrides: ``--set`` recipe overrides (the data must stay the same).
        show_progress: whether to show progress bars.

    Returns:
        The retrained run and the comparisons (``result.failed`` lists those outside the tolerance).

    Raises:
        ConfigError: a negative tolerance, or an invalid recipe override.
        NotFoundError: ``source`` lacks a pushed file (``eval_results.json``, ``summary.json``, ``recipe.yaml``).

    Example:
        >>> import wmhub
        >>> result = wmhub.reproduce("hub/tiny-dynamics", out="runs/again")  # doctest: +SKIP
        >>> result.failed                                                   # doctest: +SKIP
        []
    """
    if tolerance < 0:
        raise ConfigError(f"--tolerance must be >= 0, got {tolerance}")
    claimed = EvalResults.from_json(read_pushed(source, RESULTS_NAME), f"{source}/{RESULTS_NAME}")
    summary = RunSummary.from_json(read_pushed(source, SUMMARY_NAME), f"{source}/{SUMMARY_NAME}")
    revision = summary.dataset.revision
    pinned = [f"dataset.revision={revision}"] if revision and summary.dataset.source.startswith("hf://") else []
    recipe = parse_recipe(read_pushed(source, RECIPE_NAME), f"{source}/{RECIPE_NAME}", [*pinned, *overrides])
    run_dir = Path(out) if out else Path(tempfile.mkdtemp(prefix="wmhub-reproduce-")) / recipe.name
    train(recipe, run_dir, show_progress=show_progress)
    reproduced = evaluate(run_dir, suites=list(claimed.suites) or None)
    mine, theirs = flatten_metrics(reproduced), flatten_metrics(claimed)
    result = ReproduceResult(run_dir, tolerance)
    for name, value in sorted(theirs.items()):
        result.metrics.append(MetricComparison(name, value, mine.get(name)))
    return result
