"""``wmhub reproduce``: retrain and re-evaluate a pushed checkpoint, compare every claimed metric.

Reads the pushed ``recipe.yaml``, ``summary.json`` and ``eval_results.json``;
obtains the data (the recorded dataset revision for Hub sources, or the
recipe's deterministic generation commands); trains into a fresh run;
re-runs the same suites; and compares every numeric metric. A metric passes
when its relative difference is within ``tolerance`` (an absolute difference
within ``tolerance`` when the claim is 0). Timings are reported, not compared.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wmhub.errors import WmhubError
from wmhub.hub.push_model import read_pushed

SKIPPED_KEYS = ("time", "per_s", "plot", "curve", "device", "samples_per_s")


@dataclass
class MetricComparison:
    name: str
    claimed: float
    reproduced: float | None

    def ok(self, tolerance: float) -> bool:
        if self.reproduced is None:
            return False
        if self.claimed == 0:
            return abs(self.reproduced) <= tolerance
        return abs(self.reproduced - self.claimed) <= tolerance * abs(self.claimed)


@dataclass
class ReproduceResult:
    run_dir: Path
    tolerance: float
    metrics: list[MetricComparison] = field(default_factory=list)

    @property
    def failed(self) -> list[MetricComparison]:
        return [m for m in self.metrics if not m.ok(self.tolerance)]


def flatten_metrics(results: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of an eval-results dict, as dotted names (timings and plots left out)."""
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


def reproduce(source: str, *, tolerance: float = 0.02, out: str | Path | None = None,
              overrides: list[str] | tuple[str, ...] = (), show_progress: bool = True) -> ReproduceResult:
    """Retrain and re-evaluate the checkpoint pushed at ``source``; compare with its claims."""
    from wmhub.eval.runner import evaluate_run
    from wmhub.training.recipe import parse_recipe
    from wmhub.training.trainer import train

    if tolerance < 0:
        raise WmhubError(f"--tolerance must be >= 0, got {tolerance}")
    claimed = json.loads(read_pushed(source, "eval_results.json"))
    summary = json.loads(read_pushed(source, "summary.json"))
    revision = summary["dataset"].get("revision")
    pinned = [f"dataset.revision={revision}"] if revision and summary["dataset"]["source"].startswith("hf://") else []
    recipe = parse_recipe(read_pushed(source, "recipe.yaml"), f"{source}/recipe.yaml", [*pinned, *overrides])
    run_dir = Path(out) if out else Path(tempfile.mkdtemp(prefix="wmhub-reproduce-")) / recipe.name
    train(recipe, run_dir, show_progress=show_progress)
    reproduced = evaluate_run(run_dir, suites=list(claimed.get("suites", {})) or None)
    mine, theirs = flatten_metrics(reproduced), flatten_metrics(claimed)
    result = ReproduceResult(run_dir, tolerance)
    for name, value in sorted(theirs.items()):
        result.metrics.append(MetricComparison(name, value, mine.get(name)))
    return result
