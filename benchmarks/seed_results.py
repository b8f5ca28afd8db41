"""The seeds' results table, reproduced: every phase the seeds report beside wmhub's run of its recipe.

    python benchmarks/seed_results.py --runs runs                              # read evaluated runs
    python benchmarks/seed_results.py --runs runs --evaluate                   # + evaluate trained runs
    python benchmarks/seed_results.py --runs runs --evaluate --rows 4-random-shooting   # one row's
    python benchmarks/seed_results.py --runs runs --train                      # + train what is missing (hours)
    python benchmarks/seed_results.py --runs runs --json seed.json --markdown seed.md \\
        --extra-row value-mpc=runs/value-mpc/eval_results.json:reacher-easy-return

One row per phase the seeds report (BC, random shooting, CEM with each dynamics model, Dreamer, hybrid
Dreamer), plus the fix they proposed (the Dreamer inside an ensemble with a disagreement penalty) and MPC
with a learned reward and a learned terminal value. Each row is the state-latent recipe of its phase
(``recipes/*_state.yaml``): its run is ``RUNS/<recipe>`` (``--run KEY=DIR`` points a row elsewhere) and its
figures are read from what ``wmhub eval`` measured there (``RUN/eval/eval_results.json``):

* ``seed-protocol`` — the seeds' protocol: 100 environment steps toward a state the data policy reached, CEM
  500 samples / 50 elites / 5 iterations / horizon 10 with warm start (a policy: ``{kind: policy}``);
  improvement = (initial − final latent distance) / initial, env reward = the sum of the 100 rewards;
* ``reacher-easy-return`` — the standard 1000-step reacher-easy return, and success: the finger inside the
  target at the last step (the datasets' success).

Two rows evaluate a run with options of their own, which ``wmhub eval`` would write over the run's own
result; so ``--evaluate`` writes them to ``RUNS/seed-results/<row>.json`` (an ``eval_results.json`` of its
own, with the SHA-256 of every weights file it read; re-measured when one changes):

* random shooting (phase 4): the seed protocol with the 100k MLP and a planner that keeps the cheapest of
  1,000 sampled sequences of horizon 10: one CEM iteration with one elite and no warm start
  (:data:`RANDOM_SHOOTING`; the sequences are the planners' Gaussians, std 0.5, clipped to [−1, 1], not
  uniform: the planners draw no other distribution);
* learned-value MPC: the 1000-step return of the 1M ensemble planning with the learned reward
  (``reacher_reward_1m_state``) plus the ensemble Dreamer's critic as terminal value and its actor's proposals
  (``reacher_dreamer_ensemble_1m_state``), no hand-written cost.

BC (phase 1) and the Dreamer rows act with ``{kind: policy}`` (one forward pass per action). Where the
suites refuse a run (they evaluate no BC policy today), ``--evaluate`` records their message in
``RUNS/seed-results/<row>.refused.json`` (with the weights' SHA-256) and the row shows it.

``--extra-row NAME=PATH[:SUITE]`` adds figures measured elsewhere: PATH is an ``eval_results.json`` (or a
run directory, for its ``eval/eval_results.json``), SUITE ``reacher-easy-return`` (default) or
``seed-protocol``; a row's key (e.g. ``value-mpc``) replaces that row's figures, another name adds a row.

Rows without a run or an evaluation print the exact commands that make them (``--evaluate`` runs the
evaluations of trained runs, ``--train`` also trains the missing runs, frozen models first; ``--rows``
limits both to some rows, ``--set`` cuts every trained recipe for a smoke run). The V-JEPA 2
twins of the recipes need a GPU (encoding 1M frames); their commands are printed under the table. Every
wmhub figure comes from an evaluation file; the only numbers written here are the seeds' (``SEEDS``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

from wmhub.errors import ConfigError, NotFoundError, WmhubError  # noqa: E402
from wmhub.fileio import atomic_write_json, atomic_write_text, sha256_file  # noqa: E402
from wmhub.runs.results import EvalResults  # noqa: E402
from wmhub.runs.run import Run  # noqa: E402

SEED_PROTOCOL, RETURN = "seed-protocol", "reacher-easy-return"
SUITES = (SEED_PROTOCOL, RETURN)
POLICY = {"kind": "policy"}
# random shooting: the cheapest of 1,000 sampled sequences of horizon 10 (one iteration, one elite, no warm
# start), the seeds' phase 4 setting
RANDOM_SHOOTING = {"kind": "cem", "samples": 1000, "elites": 1, "iterations": 1, "horizon": 10, "init_std": 0.5,
                   "warm_start": False}
OWN_EVALUATIONS = "seed-results"  # RUNS/seed-results/<row>.json: this benchmark's own evaluations
VALUE_MPC = "value-mpc"
RUN_OPTIONS = ("reward_model", "value_model")  # suite options that name runs


@dataclass(frozen=True)
class SeedFigures:
    """What the seeds reported for one phase (their V-JEPA 2 latent, their units)."""

    init_dist: float | None = None
    final_dist: float | None = None
    min_dist: float | None = None
    improvement: float | None = None
    env_reward: float | None = None
    mean_abs_action: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Row:
    """One row of the table: a phase, the state recipe that reproduces it and how its run is evaluated.

    Attributes:
        key: the row's name on the command line (``--run KEY=DIR``, ``--extra-row KEY=...``).
        phase: the seeds' phase (``new`` for what they did not run).
        method: what the row measures.
        recipe: the state-latent recipe whose run is evaluated (None: figures come from ``--extra-row``).
        vjepa2: the recipe's V-JEPA 2 twin (GPU), if any.
        seeds: the seeds' figures (None: they did not run it).
        policy: the run is a policy (``{kind: policy}`` in the planning suites).
        suite: with ``options``: the one suite of this benchmark's own evaluation of the run.
        options: options replacing the recipe's for ``suite`` (``runs/<name>`` paths are read in RUNS); the
            result goes to ``RUNS/seed-results/<key>.json``, since ``wmhub eval`` would replace the run's own.
    """

    key: str
    phase: str
    method: str
    recipe: str | None
    vjepa2: str | None
    seeds: SeedFigures | None
    policy: bool = False
    suite: str = SEED_PROTOCOL
    options: Mapping[str, Any] | None = None

    def suites(self) -> tuple[str, ...]:
        """The suites the row reads."""
        return (self.suite,) if self.options is not None else SUITES


# The seeds' figures, transcribed from seed-results.md (the report of the research the reacher datasets come
# from): phases 4-5b from its table, phase 1 from its text. Nothing else in this file is a measured number.
SEEDS = {
    "1-bc": SeedFigures(env_reward=66.4, note="their BC protocol: 100 episodes, success 20%, mean reward 66.4 "
                                              "(P-controller 20% / 67.6, random ~2% / ~0)"),
    "4-random-shooting": SeedFigures(env_reward=0.0, note="1,000 sequences, horizon 10"),
    "4b-mlp-cem": SeedFigures(16.18, 9.50, 7.80, 0.413, 6.0, note="100k (80k train)"),
    "4c-multistep": SeedFigures(15.42, 10.57, 9.55, 0.314, 0.0, note="27.1% in their summary table"),
    "4d-resblock-100k": SeedFigures(15.42, 13.64, 9.22, 0.115, 0.0, note="overfit: train 0.0016 / val 0.0137"),
    "4e-mlp-1m": SeedFigures(15.42, 11.48, 7.63, 0.255, 29.0),
    "4e-resblock-1m": SeedFigures(15.42, 8.63, 8.43, 0.441, 0.0),
    "5-dreamer": SeedFigures(15.42, 9.64, 7.64, 0.375, 0.0, 0.05, note="mean |a| ≈ 0.05"),
    "5b-hybrid": SeedFigures(improvement=-0.456, env_reward=0.0, mean_abs_action=0.069),
}

ROWS: tuple[Row, ...] = (
    Row("1-bc", "1", "BC of the P-controller's actions", "reacher_bc_pcontroller_state", "reacher_bc_pcontroller",
        SEEDS["1-bc"], policy=True),
    Row("4-random-shooting", "4", "MLP, random shooting (100k)", "reacher_dynamics_mlp_100k_state",
        "reacher_dynamics_mlp_100k", SEEDS["4-random-shooting"], options={"planner": RANDOM_SHOOTING}),
    Row("4b-mlp-cem", "4b", "MLP, 1-step Huber, CEM (100k)", "reacher_dynamics_mlp_100k_state",
        "reacher_dynamics_mlp_100k", SEEDS["4b-mlp-cem"]),
    Row("4c-multistep", "4c", "MLP, 5-step rollout loss, CEM (100k)", "reacher_dynamics_mlp_multistep_100k_state",
        "reacher_dynamics_mlp_multistep_100k", SEEDS["4c-multistep"]),
    Row("4d-resblock-100k", "4d", "ResBlock 10.5M, CEM (100k)", "reacher_dynamics_resblock_100k_state",
        "reacher_dynamics_resblock_100k", SEEDS["4d-resblock-100k"]),
    Row("4e-mlp-1m", "4e", "MLP, CEM (1M)", "reacher_dynamics_mlp_1m_state", "reacher_dynamics_mlp_1m",
        SEEDS["4e-mlp-1m"]),
    Row("4e-resblock-1m", "4e", "ResBlock + dropout, CEM (1M)", "reacher_dynamics_resblock_1m_state",
        "reacher_dynamics_resblock_1m", SEEDS["4e-resblock-1m"]),
    Row("5-dreamer", "5", "Dreamer actor-critic in the frozen MLP", "reacher_dreamer_1m_state", "reacher_dreamer_1m",
        SEEDS["5-dreamer"], policy=True),
    Row("5b-hybrid", "5b", "hybrid Dreamer: 10·R̂ + 0.1·(−dist) + 0.5·‖a‖", "reacher_dreamer_hybrid_1m_state",
        "reacher_dreamer_hybrid_1m", SEEDS["5b-hybrid"], policy=True),
    Row("fix-ensemble", "new", "Dreamer in the ensemble, −λ·disagreement, TD3+BC", "reacher_dreamer_ensemble_1m_state",
        "reacher_dreamer_ensemble_1m", None, policy=True),
    # the ensemble (5-step loss) planning the 1000-step return with the learned reward (760 ± 55 alone with the
    # 4e MLP, BENCHMARKS.md) plus the critic of the ensemble Dreamer as terminal value and its actor proposing
    # sequences (TD-MPC2's policy prior): no hand-written cost
    Row(VALUE_MPC, "new", "MPC, learned reward + learned terminal value + policy prior", "reacher_ensemble_1m_state",
        None, None, suite=RETURN,
        options={"reward_model": "runs/reacher_reward_1m_state",
                 "value_model": "runs/reacher_dreamer_ensemble_1m_state",
                 "planner": {"kind": "cem", "samples": 200, "elites": 20, "iterations": 3, "horizon": 8,
                             "policy_samples": 24}}),
)


# --------------------------------------------------------------------------- measured figures
@dataclass(frozen=True)
class Estimate:
    """A suite's ``{mean, se, n}`` (``se`` None below two episodes)."""

    mean: float | None
    se: float | None
    n: int

    @classmethod
    def of(cls, value: Any) -> Estimate | None:
        """From a suite's mapping (None when the suite did not report it)."""
        if not isinstance(value, Mapping) or value.get("mean") is None:
            return None
        return cls(float(value["mean"]), None if value.get("se") is None else float(value["se"]), int(value["n"]))


@dataclass(frozen=True)
class SuiteFigures:
    """The figures of one suite's result, and the file they were read from."""

    suite: str
    source: str
    planner: dict[str, Any]
    episodes: int
    model_class: str
    figures: dict[str, Estimate | None]
    mean_abs_action: float | None
    time_per_action_s: float | None
    reward_source: str | None = None

    @classmethod
    def of(cls, suite: str, result: Mapping[str, Any], source: Path) -> SuiteFigures:
        """Read the figures of a ``seed-protocol`` or ``reacher-easy-return`` result."""
        keys = (("improvement", "reward_sum", "initial_distance", "final_distance", "min_distance")
                if suite == SEED_PROTOCOL else ("return", "final_inside_rate", "reached_rate"))
        return cls(suite, str(source), dict(result.get("planner") or {}), int(result.get("episodes") or 0),
                   str((result.get("model") or {}).get("class", "")), {k: Estimate.of(result.get(k)) for k in keys},
                   result.get("mean_abs_action"), result.get("wall_time_per_action_s"), result.get("reward_source"))


@dataclass
class RowResult:
    """A row as measured: the seeds' figures, wmhub's, and what is missing (commands to make it)."""

    key: str
    phase: str
    method: str
    recipe: str | None
    run: str | None
    seeds: SeedFigures | None
    suites: dict[str, SuiteFigures] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class SeedTable:
    """The whole table: rows, and the V-JEPA 2 twins' GPU commands."""

    runs: str
    rows: list[RowResult]
    vjepa2_commands: list[str]


# --------------------------------------------------------------------------- locating runs
class Layout:
    """Where each row's run and evaluations are: ``RUNS/<recipe>`` unless ``--run KEY=DIR`` says otherwise."""

    def __init__(self, runs: Path, overrides: Mapping[str, Path] | None = None) -> None:
        self.runs, self.overrides = runs, dict(overrides or {})
        unknown = sorted(set(self.overrides) - {r.key for r in ROWS})
        if unknown:
            raise ConfigError(f"--run {unknown}: no such row; rows: {[r.key for r in ROWS]}")

    def run_dir(self, row: Row) -> Path:
        return self.overrides.get(row.key, self.runs / str(row.recipe))

    def own_evaluation(self, row: Row) -> Path:
        return self.runs / OWN_EVALUATIONS / f"{row.key}.json"

    def resolve(self, value: str) -> str:
        """A recipe's ``runs/<name>`` path, read in RUNS (other values as they are)."""
        parts = Path(value).parts
        if value.startswith("hf://") or not parts or parts[0] != "runs" or self.runs == Path("runs"):
            return value
        return str(self.runs.joinpath(*parts[1:]))

    def frozen_overrides(self, recipe_name: str) -> list[str]:
        """``--set`` assignments pointing a recipe's frozen runs (``runs/<name>``) into RUNS."""
        from wmhub.training import load_recipe

        spec = load_recipe(recipe_name).imagination
        if spec is None:
            return []
        return [f"imagination.{key}={self.resolve(value)}" for key in ("dynamics", "reward_model")
                if (value := getattr(spec, key)) and self.resolve(value) != value]

    def options(self, row: Row) -> dict[str, Any]:
        """A row's own suite options, with the runs they name read in RUNS."""
        return {k: self.resolve(v) if k in RUN_OPTIONS else v for k, v in (row.options or {}).items()}

    def option_runs(self, row: Row, keys: bool = False) -> list[tuple[str, Path]]:
        """(recipe — or with ``keys`` the option's name —, run directory) of the runs a row's options name."""
        return [(k if keys else Path(v).name, Path(v)) for k, v in self.options(row).items()
                if k in RUN_OPTIONS and not str(v).startswith("hf://")]

    def frozen_runs(self, recipe_name: str) -> list[tuple[str, Path]]:
        """(recipe, run directory) of the frozen runs a recipe names, in RUNS."""
        from wmhub.training import load_recipe

        recipe = load_recipe(recipe_name, self.frozen_overrides(recipe_name))
        spec = recipe.imagination
        if spec is None:
            return []
        return [(Path(value).name, Path(value)) for value in (spec.dynamics, spec.reward_model)
                if value and not value.startswith("hf://")]


def finished(path: Path) -> Run | None:
    """The finished run at ``path``, or None."""
    try:
        return Run.open(path, finished=True)
    except NotFoundError:
        return None


def eval_command(run_dir: Path, suites: Sequence[str]) -> str:
    """``wmhub eval`` of some suites of a run."""
    return f"wmhub eval {run_dir} " + " ".join(f"--suite {s}" for s in suites)


def train_commands(layout: Layout, recipe_name: str, run_dir: Path) -> list[str]:
    """``wmhub train`` of the recipe's missing frozen runs (theirs first), then of the recipe itself
    (``--resume`` where an unfinished run is there: training under way, or interrupted)."""
    out: list[str] = []
    for name, path in layout.frozen_runs(recipe_name):
        out += [c for c in train_commands(layout, name, path) if c not in out]
    if finished(run_dir) is None:
        sets = "".join(f" --set {s}" for s in layout.frozen_overrides(recipe_name))
        resume = " --resume" if (run_dir / "recipe.yaml").is_file() else ""
        out.append(f"wmhub train {recipe_name} --out {run_dir}{sets}{resume}")
    return out


# --------------------------------------------------------------------------- reading
def read_row(row: Row, layout: Layout, extra: Mapping[str, list[tuple[Path, str]]]) -> RowResult:
    """A row's figures from its run's evaluation files (and ``--extra-row`` files), or the commands that
    make them."""
    out = RowResult(row.key, row.phase, row.method, row.recipe, None, row.seeds)
    for path, suite in extra.get(row.key, []):
        out.suites[suite] = read_extra(path, suite)
    if row.recipe is None:
        if not out.suites:
            out.commands.append(f"pass --extra-row {row.key}=EVAL_RESULTS_JSON[:SUITE]")
        return out
    run_dir = layout.run_dir(row)
    out.run = str(run_dir)
    if all(suite in out.suites for suite in row.suites()):
        return out
    run = finished(run_dir)
    if run is None or any(finished(path) is None for _, path in layout.option_runs(row)):
        for name, path in [(str(row.recipe), run_dir), *layout.option_runs(row)]:
            out.commands += [c for c in train_commands(layout, name, path) if c not in out.commands]
        out.commands.append(_evaluation_command(row, layout, run_dir))
        return out
    if run.recipe.name != row.recipe:
        out.notes.append(f"the run was trained from recipe {run.recipe.name}, not {row.recipe}")
    refused = read_refusal(row, layout, run)
    if refused:
        out.notes.append(f"the planning suites refuse this evaluation: {refused}")
        return out
    if row.options is not None:
        figures, why = read_own_evaluation(row, layout, run)
        if figures is not None:
            out.suites[row.suite] = figures
        else:
            out.notes.append(why)
            out.commands.append(_evaluation_command(row, layout, run_dir))
        return out
    results = run.eval_results
    missing = []
    for suite in row.suites():
        if suite in out.suites:
            continue
        if results is not None and suite in results.suites:
            out.suites[suite] = SuiteFigures.of(suite, results.suites[suite], run.eval_results_path)
        else:
            missing.append(suite)
    if missing:
        out.commands.append(_evaluation_command(row, layout, run_dir, missing))
    for figures in out.suites.values():
        if row.policy != (figures.planner.get("kind") == "policy"):
            out.notes.append(f"{figures.suite} was evaluated with planner {figures.planner.get('kind')}")
    protocol = out.suites.get(SEED_PROTOCOL)
    if protocol is not None and not row.policy and protocol.planner != seed_planner():
        out.notes.append(f"seed-protocol planned with {protocol.planner}, not the seeds' CEM {seed_planner()}")
    return out


def seed_planner() -> dict[str, Any]:
    """The seeds' CEM, as the seed-protocol suite records it (its default planner)."""
    from wmhub.eval.planning import SEED_PLANNER

    return SEED_PLANNER.model_dump()


def _evaluation_command(row: Row, layout: Layout, run_dir: Path, suites: Sequence[str] | None = None) -> str:
    if row.options is not None or row.policy and not _recipe_plans_with_policy(row):
        return f"python benchmarks/seed_results.py --runs {layout.runs} --evaluate --rows {row.key}"
    return eval_command(run_dir, suites or row.suites())


def _recipe_plans_with_policy(row: Row) -> bool:
    """Whether the row's recipe declares both suites with ``{kind: policy}`` (so `wmhub eval` runs them)."""
    from wmhub.training import load_recipe

    declared = load_recipe(str(row.recipe)).eval
    return all((declared.get(s) or {}).get("planner", {}).get("kind") == "policy" for s in SUITES)


def weights(layout: Layout, row: Row, run: Run) -> dict[str, str]:
    """SHA-256 of the weights an own evaluation of ``row`` reads: the run's and those of the runs its options
    name."""
    out = {"run": sha256_file(run.model_dir / "model.safetensors")}
    for key, path in layout.option_runs(row, keys=True):
        out[key] = sha256_file(Run(path).model_dir / "model.safetensors")
    return out


def read_own_evaluation(row: Row, layout: Layout, run: Run) -> tuple[SuiteFigures | None, str]:
    """This benchmark's evaluation of a row with its own options, if it measured the current weights."""
    path = layout.own_evaluation(row)
    if not path.is_file():
        return None, f"not evaluated with the {row.key} options yet"
    results = EvalResults.read(path)
    if (results.model_extra or {}).get("weights_sha256") != weights(layout, row, run):
        return None, f"{path} measured other weights than the runs' now; re-evaluate"
    return SuiteFigures.of(row.suite, results.suites[row.suite], path), ""


def refusal_path(row: Row, layout: Layout) -> Path:
    """Where ``--evaluate`` records that the suites refused a row's run."""
    return layout.own_evaluation(row).with_suffix(".refused.json")


def read_refusal(row: Row, layout: Layout, run: Run) -> str | None:
    """Why the suites refused this run's current weights, when an earlier ``--evaluate`` recorded it."""
    import json

    path = refusal_path(row, layout)
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if record.get("weights_sha256") != weights(layout, row, run):
        return None
    return str(record.get("error"))


def read_extra(path: Path, suite: str) -> SuiteFigures:
    """An ``--extra-row`` suite result: an ``eval_results.json``, or a run directory's."""
    file = path / "eval" / "eval_results.json" if path.is_dir() else path
    results = EvalResults.read(file)
    if suite not in results.suites:
        raise NotFoundError(f"--extra-row: {file} has no {suite} result (it has {sorted(results.suites)}); name "
                            "the suite after a colon, PATH:SUITE")
    return SuiteFigures.of(suite, results.suites[suite], file)


def parse_extra_rows(values: Sequence[str]) -> dict[str, list[tuple[Path, str]]]:
    """``NAME=PATH[:SUITE]`` values → name → [(path, suite)]."""
    out: dict[str, list[tuple[Path, str]]] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise ConfigError(f"--extra-row {value!r}: give NAME=PATH[:SUITE], e.g. "
                              f"{VALUE_MPC}=runs/value-mpc/eval_results.json:{RETURN}")
        path, suite = rest, RETURN
        head, colon, tail = rest.rpartition(":")
        if colon and tail in SUITES:
            path, suite = head, tail
        elif colon and not Path(rest).exists():
            raise ConfigError(f"--extra-row {value!r}: unknown suite {tail!r}; choose from {list(SUITES)}")
        out.setdefault(name, []).append((Path(path), suite))
    return out


def build_table(layout: Layout, extra: Mapping[str, list[tuple[Path, str]]] | None = None) -> SeedTable:
    """Read every row (and the ``--extra-row`` rows that are not built in)."""
    extra = dict(extra or {})
    rows = [read_row(row, layout, extra) for row in ROWS]
    known = {row.key for row in ROWS}
    for name in extra:
        if name not in known:
            rows.append(read_row(Row(name, "extra", name, None, None, None), layout, extra))
    return SeedTable(str(layout.runs), rows, vjepa2_commands(layout))


def vjepa2_commands(layout: Layout) -> list[str]:
    """The V-JEPA 2 twins' commands (a GPU), frozen runs first, each once: train, and evaluate the recipes
    that declare suites (the latent suite of the dynamics models)."""
    from wmhub.training import load_recipe

    out: list[str] = []
    for row in ROWS:
        if not row.vjepa2:
            continue
        for name, path in [*layout.frozen_runs(row.vjepa2), (row.vjepa2, layout.runs / row.vjepa2)]:
            sets = "".join(f" --set {s}" for s in layout.frozen_overrides(name))
            command = f"wmhub train {name} --out {path}{sets}"
            if load_recipe(name).eval:
                command += f" && wmhub eval {path}"
            if command not in out:
                out.append(command)
    return out


# --------------------------------------------------------------------------- training and evaluating
def make_missing(layout: Layout, train: bool, device: str, show_progress: bool,
                 keys: Sequence[str] | None = None, sets: Sequence[str] = ()) -> None:
    """Train (with ``train``) and evaluate what the rows (``keys``; default all) lack, frozen runs first;
    ``sets`` (``KEY=VALUE``) change every recipe trained (a smoke run on small data)."""
    chosen = [row for row in ROWS if row.recipe is not None and (not keys or row.key in keys)]
    for k, row in enumerate(chosen, 1):
        step = f"[{k}/{len(chosen)}] {row.key}:"
        needed = [(str(row.recipe), layout.run_dir(row)), *layout.option_runs(row)]
        if train:
            for name, path in needed:
                ensure_trained(layout, name, path, sets, show_progress, step)
        if any(finished(path) is None for _, path in needed):
            continue
        refused = refusal_path(row, layout)
        try:
            evaluate_row(row, layout, device, show_progress, step)
        except NotFoundError as exc:  # e.g. the run's data is gone: nothing to record about the weights
            _say(True, f"{step} not evaluated: {exc}")
        except WmhubError as exc:  # the suites do not run this model or option: recorded, the table says why
            _say(True, f"{step} not evaluated: {exc}")
            run = Run.open(layout.run_dir(row), finished=True)
            refused.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(refused, {"row": row.key, "run": str(run.root), "error": str(exc),
                                        "weights_sha256": weights(layout, row, run)})
        else:
            refused.unlink(missing_ok=True)


def ensure_trained(layout: Layout, recipe_name: str, run_dir: Path, sets: Sequence[str], show_progress: bool,
                   step: str = "") -> None:
    """Train ``recipe_name`` into ``run_dir`` unless finished there (resuming an unfinished run), the frozen
    runs it names first."""
    from wmhub.training import load_recipe
    from wmhub.training import train as train_recipe

    if finished(run_dir) is not None:
        return
    for name, path in layout.frozen_runs(recipe_name):
        ensure_trained(layout, name, path, sets, show_progress, step)
    _say(show_progress, f"{step} training {recipe_name} into {run_dir}")
    recipe = load_recipe(recipe_name, [*layout.frozen_overrides(recipe_name), *sets])
    train_recipe(recipe, run_dir, resume=(run_dir / "recipe.yaml").is_file(), show_progress=show_progress)


def evaluate_row(row: Row, layout: Layout, device: str, show_progress: bool, step: str = "") -> None:
    """Run the suites a row lacks on its (finished) run."""
    from wmhub.runs.evaluate import evaluate

    run = Run.open(layout.run_dir(row), finished=True)
    if row.options is not None:
        figures, _ = read_own_evaluation(row, layout, run)
        if figures is None:
            _say(show_progress, f"{step} evaluating {run.root} ({row.suite} with the row's options)")
            evaluate_with_options(row, layout, run, device, show_progress)
        return
    results = run.eval_results
    missing = [s for s in row.suites() if results is None or s not in results.suites]
    if not missing:
        return
    _say(show_progress, f"{step} evaluating {run.root} ({', '.join(missing)})")
    overrides = {"planner": dict(POLICY)} if row.policy else {}
    evaluate(run, missing, device=device, overrides=overrides, show_progress=show_progress)


def evaluate_with_options(row: Row, layout: Layout, run: Run, device: str, show_progress: bool) -> Path:
    """The row's suite on ``run`` with the row's options over the recipe's, written to
    ``RUNS/seed-results/<row>.json`` beside the SHA-256 of the weights it read (no videos)."""
    import time

    from wmhub.data.reader import WmDataset
    from wmhub.devices import resolve_device
    from wmhub.eval.suite import SuiteContext
    from wmhub.eval.suites import run_suite
    from wmhub.models.registry import load_model
    from wmhub.runs.results import Validation

    path = layout.own_evaluation(row)
    read = weights(layout, row, run)
    model = load_model(run.model_dir)
    torch_device = resolve_device(device)
    split = run.split
    context = SuiteContext(model, WmDataset(run.dataset_root(show_progress=show_progress)), split.train_episodes,
                           split.val_episodes, torch_device, path.parent / row.key, show_progress)
    options = {**dict(run.recipe.eval.get(row.suite) or {}), **layout.options(row), "videos": 0}
    started = time.perf_counter()
    result = run_suite(row.suite, options, context)
    result["wall_time_s"] = time.perf_counter() - started
    results = EvalResults(recipe=run.recipe.name, model_class=type(model).__name__,
                          num_parameters=model.num_parameters, device=str(torch_device),
                          validation=Validation.of(run.summary), suites={row.suite: result},
                          run=str(run.root), row=row.key, options=layout.options(row), weights_sha256=read)
    path.parent.mkdir(parents=True, exist_ok=True)
    results.write(path)
    return path


def _say(enabled: bool, text: str) -> None:
    if enabled:
        print(f"seed_results: {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- output
def _estimate(value: Estimate | None, percent: bool = False, digits: int = 1) -> str:
    if value is None or value.mean is None:
        return "–"
    scale, unit = (100.0, "%") if percent else (1.0, "")
    text = f"{value.mean * scale:.{digits}f}"
    if value.se is not None:
        text += f" ± {value.se * scale:.{digits}f}"
    return text + unit


def _number(value: float | None, fmt: str = ".1f") -> str:
    return "–" if value is None else format(value, fmt)


HEADER = ("phase", "method", "seeds: init / final / min dist", "seeds: improvement", "seeds: env reward",
          "seeds: mean \\|a\\|", "wmhub: improvement", "wmhub: env reward (100 steps)", "wmhub: return (1000 steps)",
          "wmhub: success", "wmhub: mean \\|a\\|", "wmhub: s / action", "episodes", "run")


def table_rows(table: SeedTable) -> list[list[str]]:
    """The cells of every row, in :data:`HEADER`'s order."""
    out = []
    for row in table.rows:
        s = row.seeds or SeedFigures()
        given = [v for v in (s.init_dist, s.final_dist, s.min_dist) if v is not None]
        dists = " / ".join(_number(v, ".2f") for v in (s.init_dist, s.final_dist, s.min_dist)) if given else "–"
        seed_cells = [dists,
                      "–" if s.improvement is None else f"{100 * s.improvement:.1f}%",
                      _number(s.env_reward), _number(s.mean_abs_action, ".3g")]
        protocol, ret = row.suites.get(SEED_PROTOCOL), row.suites.get(RETURN)
        first = protocol or ret
        wm = [_estimate(protocol.figures["improvement"], percent=True) if protocol else "–",
              _estimate(protocol.figures["reward_sum"]) if protocol else "–",
              _estimate(ret.figures["return"]) if ret else "–",
              _estimate(ret.figures["final_inside_rate"], percent=True, digits=0) if ret else "–",
              _number(first.mean_abs_action if first else None, ".3f"),
              _number(first.time_per_action_s if first else None, ".2g"),
              " / ".join(str(f.episodes) for f in (protocol, ret) if f) or "–"]
        where = (Path(row.run).name if row.run else "") + ("" if row.suites or not row.commands else " (missing)")
        out.append([row.phase, row.method, *seed_cells, *wm, where.strip() or "–"])
    return out


def markdown(table: SeedTable) -> str:
    """The table, the commands of the missing rows and the V-JEPA 2 commands, as Markdown."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(table)]
    lines += ["", "Seeds: their V-JEPA 2 latent and units (seed-results.md). wmhub: the state latent; improvement "
              "and env reward from the seed-protocol suite (100 steps toward a reached state; distances in the "
              "model's normalised units), return and success (finger inside the target at the last step) from "
              "reacher-easy-return (1000 steps); mean ± s.e. over the episodes given (seed-protocol / return); "
              "mean |a| and s / action: the seed-protocol run's (else the return run's)."]
    notes = [(row, f"seeds: {row.seeds.note}") for row in table.rows if row.seeds and row.seeds.note]
    notes += [(row, note) for row in table.rows for note in row.notes]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {row.phase} {row.method}: {note}" for row, note in notes]
    missing = [row for row in table.rows if row.commands]
    if missing:
        lines += ["", "Missing rows, and the commands that make them:", ""]
        for row in missing:
            lines.append(f"- {row.phase} {row.method} (`{row.key}`):")
            lines += [f"  - `{command}`" for command in row.commands]
    lines += ["", "V-JEPA 2 latent (a GPU: encoding 1M frames with ViT-L; the planning suites read the simulator's "
              "state latent, so these runs give the latent suite and the imagined returns, not the table's "
              "planning figures):", ""]
    lines += [f"- `{command}`" for command in table.vjepa2_commands]
    return "\n".join(lines) + "\n"


def to_json(table: SeedTable) -> dict[str, Any]:
    """The table as JSON: every row's seeds' and wmhub's figures, their source files and the commands."""
    return {"runs": table.runs, "seeds_source": "seed-results.md", "rows": [asdict(row) for row in table.rows],
            "vjepa2_commands": table.vjepa2_commands}


def _pairs(values: Sequence[str], flag: str) -> dict[str, Path]:
    out = {}
    for value in values:
        key, sep, path = value.partition("=")
        if not sep or not key or not path:
            raise ConfigError(f"{flag} {value!r}: give KEY=DIR")
        out[key] = Path(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="the folder of the runs (default runs)")
    parser.add_argument("--run", action="append", default=[], metavar="KEY=DIR",
                        help="a row's run directory instead of RUNS/<recipe> (repeatable)")
    parser.add_argument("--extra-row", action="append", default=[], metavar="NAME=PATH[:SUITE]",
                        help=f"figures from an eval_results.json (or a run dir's); a row's key (e.g. {VALUE_MPC}) "
                             "replaces that row's figures, another NAME adds a row")
    parser.add_argument("--evaluate", action="store_true", help="evaluate trained runs that lack a suite")
    parser.add_argument("--train", action="store_true", help="also train the missing runs (implies --evaluate)")
    parser.add_argument("--rows", nargs="+", metavar="KEY", help="--evaluate / --train these rows only")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="--train: override every recipe trained (e.g. a smoke run on small data; the runs "
                             "then reproduce nothing)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--json", type=Path, help="write the table as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown here")
    parser.add_argument("--quiet", action="store_true", help="no progress")
    args = parser.parse_args(argv)
    try:
        layout = Layout(args.runs, _pairs(args.run, "--run"))
        extra = parse_extra_rows(args.extra_row)
        unknown = sorted(set(args.rows or ()) - {row.key for row in ROWS})
        if unknown:
            raise ConfigError(f"--rows {unknown}: no such row; rows: {[row.key for row in ROWS]}")
        if args.evaluate or args.train:
            make_missing(layout, args.train, args.device, not args.quiet, args.rows, args.sets)
        table = build_table(layout, extra)
    except WmhubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = markdown(table)
    print(text, end="")
    if args.json:
        atomic_write_json(args.json, to_json(table))
    if args.markdown:
        atomic_write_text(args.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
