"""``wmhub reproduce``: retrain and re-evaluate a pushed checkpoint, compare every claimed metric.

Reads the pushed ``recipe.yaml``, ``summary.json`` and ``eval_results.json``;
obtains the data (the recorded dataset revision for Hub sources, or the
recipe's deterministic data steps); trains into a fresh run;
re-runs the same suites; and compares every numeric metric. A metric passes
when its relative difference is within ``tolerance`` (an absolute difference
within ``tolerance`` when the claim is 0). Timings are reported, not compared.

The pushed files are untrusted: everything reproduce writes stays inside the run directory
(``out``). A local ``dataset.source`` of the pushed recipe is re-rooted to ``RUN/data/<name>`` and
recreated there by the recipe's data steps; Hub sources are downloaded into the data cache
(:mod:`wmhub.runs.confine`). ``--set dataset.source=PATH`` uses data of one's own instead.

Data the steps recreate is written in the dataset format the pushed run was trained on
(``summary.json``'s ``dataset.format_version``; 1 for runs whose summary predates format 2), so the
recreated shards are the bytes the run was trained on, not only the same values.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wmhub.errors import ConfigError
from wmhub.runs.confine import confined_dataset
from wmhub.runs.evaluate import evaluate
from wmhub.runs.pushed import read_pushed
from wmhub.runs.results import RESULTS_NAME, EvalResults
from wmhub.runs.run import RECIPE_NAME
from wmhub.training.dataset_source import regenerating_format
from wmhub.training.recipe import DatasetSpec, Recipe, parse_recipe
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
        out: the run directory of the retraining (default: a new temporary directory); nothing is
            written outside it but the data cache of Hub datasets.
        overrides: ``--set`` recipe overrides (the data must stay the same); ``dataset.source=PATH``
            trains on a local dataset of one's own instead of recreating the pushed recipe's inside ``out``.
        show_progress: whether to show progress bars.

    Returns:
        The retrained run and the comparisons (``result.failed`` lists those outside the tolerance).

    Raises:
        ConfigError: a negative tolerance, an invalid recipe override, or a pushed Hub revision that is not
            a ref name.
        NotFoundError: ``source`` does not exist, or lacks a pushed file (``eval_results.json``,
            ``summary.json``, ``recipe.yaml``); or its local dataset is absent and the recipe has no data step.
        TransferError: the Hub cannot be reached.

    Example:
        >>> import wmhub
        >>> result = wmhub.reproduce("hub/tiny-dynamics", out="runs/again")  # doctest: +SKIP
        >>> result.failed                                                   # doctest: +SKIP
        []
    """
    if tolerance < 0:
        raise ConfigError(f"--tolerance must be >= 0, got {tolerance}")
    summary = RunSummary.from_json(read_pushed(source, SUMMARY_NAME), f"{source}/{SUMMARY_NAME}")
    # a summary but no results: pushed with `wmhub push` before any `wmhub eval`, so nothing to compare with
    no_results = ("the checkpoint carries no evaluation results to reproduce; run `wmhub eval RUN` on the "
                  "trained run, then `wmhub push` it again")
    claimed = EvalResults.from_json(read_pushed(source, RESULTS_NAME, missing_hint=no_results),
                                    f"{source}/{RESULTS_NAME}")
    where = f"{source}/{RECIPE_NAME}"
    recipe = parse_recipe(read_pushed(source, RECIPE_NAME), where, overrides)
    run_dir = Path(out) if out else Path(tempfile.mkdtemp(prefix="wmhub-reproduce-")) / recipe.name
    recipe = recipe.model_copy(update={"dataset": _pulled_dataset(recipe, summary, run_dir, overrides, where)})
    with regenerating_format(trained_format_version(summary)):
        train(recipe, run_dir, show_progress=show_progress)
    reproduced = evaluate(run_dir, suites=list(claimed.suites) or None)
    mine, theirs = flatten_metrics(reproduced), flatten_metrics(claimed)
    result = ReproduceResult(run_dir, tolerance)
    for name, value in sorted(theirs.items()):
        result.metrics.append(MetricComparison(name, value, mine.get(name)))
    return result


def trained_format_version(summary: RunSummary) -> int:
    """The dataset format a run was trained on: its summary's ``dataset.format_version``, or 1 for a
    summary written before format 2 existed (all data was format 1 then).

    Args:
        summary: the run's summary.

    Returns:
        The format version.

    Raises:
        ConfigError: the summary records something that is not a format version.

    Example:
        >>> trained_format_version(RunSummary.read("pulled/summary.json"))  # doctest: +SKIP
        1
    """
    recorded = getattr(summary.dataset, "format_version", None)
    if recorded is None:
        return 1
    if isinstance(recorded, bool) or not isinstance(recorded, int):
        raise ConfigError(f"summary.json records dataset.format_version {recorded!r}, not a format version; "
                          "the pushed run is damaged: push it again")
    return recorded


def _pulled_dataset(recipe: Recipe, summary: RunSummary, run_dir: Path, overrides: list[str] | tuple[str, ...],
                    where: str) -> DatasetSpec:
    """The dataset section to train on: the recorded Hub revision pinned, a local source re-rooted in ``run_dir``
    (unless ``--set`` names the source: the user's own data is trusted)."""
    chosen = {assignment.partition("=")[0].strip() for assignment in overrides}
    spec = recipe.dataset
    revision = summary.dataset.revision
    if revision and summary.dataset.source.startswith("hf://") and not chosen & {"dataset", "dataset.revision"}:
        spec = spec.model_copy(update={"revision": revision})
    if chosen & {"dataset", "dataset.source"}:
        return spec
    confined = confined_dataset(spec, run_dir, where)
    if confined.source != spec.source:
        print(f"wmhub: the pushed recipe's dataset.source {spec.source} is recreated inside the run directory, "
              f"at {confined.source} (pass --set dataset.source=PATH to use data of your own)",
              file=sys.stderr, flush=True)
    return confined
