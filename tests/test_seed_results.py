"""``benchmarks/seed_results.py``: the seeds' table beside wmhub's figures, read from the runs' real evaluation
files (tiny runs trained under the rows' run names), random shooting evaluated into the benchmark's own file,
extra rows, and the exact commands for the rows that are missing."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from wmhub.runs.evaluate import evaluate
from wmhub.training import load_recipe, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks: one thread is ~10x faster when busy

REPO = Path(__file__).resolve().parents[1]
MLP_100K, DREAMER, BC = "reacher_dynamics_mlp_100k_state", "reacher_dreamer_1m_state", "reacher_bc_pcontroller_state"
SEED = "{episodes: 2, steps: 10, videos: 0%s}"
RETURN = "{episodes: 1, episode_length: 30, videos: 0%s}"


def _bench():
    """The benchmark script as a module (registered first: its dataclasses resolve their annotations there)."""
    if "seed_results" not in sys.modules:
        spec = importlib.util.spec_from_file_location("seed_results", REPO / "benchmarks" / "seed_results.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["seed_results"] = module
        spec.loader.exec_module(module)
    return sys.modules["seed_results"]


@pytest.fixture(scope="module")
def runs(small_dataset, tmp_path_factory) -> Path:
    """Tiny runs under the rows' run names, evaluated with `wmhub eval` (seed protocol and 1000-step return,
    cut short): the tiny dynamics recipe as phase 4b's run, the tiny Dreamer inside it as phase 5's, a BC run."""
    root = tmp_path_factory.mktemp("seed-results") / "runs"
    data = [f"dataset.source={small_dataset}", "dataset.generate=null"]
    cem = ", planner: {kind: cem, samples: 20, elites: 4, iterations: 1, horizon: 4}"
    train(load_recipe("tiny_reacher_dynamics_state", [
        *data, "training.epochs=2", "model.hidden_dim=32",
        f"eval={{seed-protocol: {SEED % ''}, reacher-easy-return: {RETURN % cem}}}"]), root / MLP_100K,
        show_progress=False)
    evaluate(root / MLP_100K, device="cpu")
    policy = ", planner: {kind: policy}"
    train(load_recipe("tiny_reacher_dreamer_state", [
        *data, f"imagination.dynamics={root / MLP_100K}", "training.max_steps=10", "training.epochs=1000",
        "imagination.val_starts=64",
        f"eval={{seed-protocol: {SEED % policy}, reacher-easy-return: {RETURN % policy}}}"]),
        root / DREAMER, show_progress=False)
    evaluate(root / DREAMER, device="cpu")
    train(load_recipe(BC, [*data, "training.epochs=1", "training.warmup_steps=2"]), root / BC, show_progress=False)
    return root


def _table(bench, runs: Path, tmp_path: Path, *extra: str) -> tuple[dict, str]:
    out_json, out_md = tmp_path / "table.json", tmp_path / "table.md"
    assert bench.main(["--runs", str(runs), "--json", str(out_json), "--markdown", str(out_md), "--quiet",
                       *extra]) == 0
    table = json.loads(out_json.read_text())
    return {row["key"]: row for row in table["rows"]}, out_md.read_text()


def test_rows_come_from_the_runs_eval_files_and_missing_rows_print_commands(runs, tmp_path, capsys):
    bench = _bench()
    rows, md = _table(bench, runs, tmp_path)
    assert capsys.readouterr().out == md
    for key, run in (("4b-mlp-cem", MLP_100K), ("5-dreamer", DREAMER)):
        path = runs / run / "eval" / "eval_results.json"
        measured = json.loads(path.read_text())["suites"]
        row = rows[key]
        assert row["run"] == str(runs / run) and row["commands"] == []
        protocol, ret = row["suites"]["seed-protocol"], row["suites"]["reacher-easy-return"]
        assert protocol["source"] == ret["source"] == str(path)
        for name in ("improvement", "reward_sum", "initial_distance", "final_distance", "min_distance"):
            assert protocol["figures"][name] == measured["seed-protocol"][name], name
        assert ret["figures"]["return"] == measured["reacher-easy-return"]["return"]
        assert ret["figures"]["final_inside_rate"] == measured["reacher-easy-return"]["final_inside_rate"]
        assert protocol["mean_abs_action"] == measured["seed-protocol"]["mean_abs_action"]
        assert protocol["planner"] == measured["seed-protocol"]["planner"]
        assert protocol["episodes"] == measured["seed-protocol"]["episodes"] >= 1
        assert any("trained from recipe tiny_" in note for note in row["notes"])  # tiny runs stand in
        # the Markdown row shows the measured mean ± s.e.
        improvement = measured["seed-protocol"]["improvement"]
        se = "" if improvement["se"] is None else f" ± {100 * improvement['se']:.1f}"
        cell = f"| {100 * improvement['mean']:.1f}{se}% |"
        assert any(line.startswith(f"| {row['phase']} |") and cell in line for line in md.splitlines())
    assert rows["5-dreamer"]["suites"]["seed-protocol"]["planner"]["kind"] == "policy"
    assert rows["5-dreamer"]["seeds"]["improvement"] == 0.375  # the seeds' figure beside it
    # missing runs: the exact commands, frozen runs first, pointed into RUNS
    assert rows["4e-mlp-1m"]["suites"] == {} and rows["4e-mlp-1m"]["commands"] == [
        f"wmhub train reacher_dynamics_mlp_1m_state --out {runs / 'reacher_dynamics_mlp_1m_state'}",
        f"wmhub eval {runs / 'reacher_dynamics_mlp_1m_state'} --suite seed-protocol --suite reacher-easy-return"]
    hybrid = rows["5b-hybrid"]["commands"]
    assert hybrid[:2] == [f"wmhub train {name} --out {runs / name}"
                          for name in ("reacher_dynamics_mlp_1m_state", "reacher_reward_1m_state")]
    assert hybrid[2] == (f"wmhub train reacher_dreamer_hybrid_1m_state --out {runs / 'reacher_dreamer_hybrid_1m_state'}"
                         f" --set imagination.dynamics={runs / 'reacher_dynamics_mlp_1m_state'}"
                         f" --set imagination.reward_model={runs / 'reacher_reward_1m_state'}")
    assert rows["4-random-shooting"]["commands"] == [
        f"python benchmarks/seed_results.py --runs {runs} --evaluate --rows 4-random-shooting"]
    assert rows["value-mpc"]["commands"] == [  # the ensemble, the reward model, the ensemble Dreamer
        *[f"wmhub train {name} --out {runs / name}" for name in (
            "reacher_ensemble_1m_state", "reacher_reward_1m_state")],
        f"wmhub train reacher_dreamer_ensemble_1m_state --out {runs / 'reacher_dreamer_ensemble_1m_state'}"
        f" --set imagination.dynamics={runs / 'reacher_ensemble_1m_state'}"
        f" --set imagination.reward_model={runs / 'reacher_reward_1m_state'}",
        f"python benchmarks/seed_results.py --runs {runs} --evaluate --rows value-mpc"]
    for row in rows.values():  # every missing row's commands are in the Markdown
        assert all(f"`{command}`" in md for command in row["commands"])
    assert "- `wmhub train reacher_dreamer_ensemble_1m --out " in md  # the V-JEPA 2 twin, for a GPU
    assert f"wmhub train reacher_ensemble_1m --out {runs / 'reacher_ensemble_1m'}" in md  # its frozen run first


def test_random_shooting_is_measured_into_its_own_file(runs, tmp_path):
    bench = _bench()
    cem = runs / MLP_100K / "eval" / "eval_results.json"
    before = cem.read_bytes()
    assert bench.main(["--runs", str(runs), "--evaluate", "--device", "cpu", "--quiet"]) == 0
    assert cem.read_bytes() == before  # the run's CEM evaluation is not overwritten
    own = runs / "seed-results" / "4-random-shooting.json"
    measured = json.loads(own.read_text())
    result = measured["suites"]["seed-protocol"]
    assert result["planner"] | {"kind": "cem"} == {**result["planner"], **bench.RANDOM_SHOOTING}
    assert result["steps"] == 10 and 1 <= result["episodes"] <= 2  # the recipe's seed-protocol options, kept
    rows, _ = _table(bench, runs, tmp_path)
    row = rows["4-random-shooting"]
    assert row["commands"] == [] and row["suites"]["seed-protocol"]["source"] == str(own)
    assert row["suites"]["seed-protocol"]["figures"]["reward_sum"] == result["reward_sum"]
    # the BC run: its row is filled by the suites, or says why they refused it (recorded by --evaluate)
    refused = runs / "seed-results" / "1-bc.refused.json"
    bc = rows["1-bc"]
    if refused.is_file():
        assert bc["suites"] == {} and bc["commands"] == []
        assert bc["notes"] == [f"the planning suites refuse this evaluation: "
                               f"{json.loads(refused.read_text())['error']}"]
    else:
        assert set(bc["suites"]) == {"seed-protocol", "reacher-easy-return"}
    # evaluations of other weights are not shown
    measured["weights_sha256"]["run"] = "0" * 64
    own.write_text(json.dumps(measured))
    rows, _ = _table(bench, runs, tmp_path)
    stale = rows["4-random-shooting"]
    assert stale["suites"] == {} and any("measured other weights" in note for note in stale["notes"])
    assert stale["commands"] == [f"python benchmarks/seed_results.py --runs {runs} --evaluate --rows 4-random-shooting"]


def test_extra_rows_and_row_overrides(runs, tmp_path, capsys):
    bench = _bench()
    path = runs / MLP_100K / "eval" / "eval_results.json"
    measured = json.loads(path.read_text())["suites"]["reacher-easy-return"]
    rows, md = _table(bench, runs, tmp_path, "--extra-row", f"value-mpc={path}:reacher-easy-return",
                      "--extra-row", f"my ablation={runs / MLP_100K}", "--run", f"4e-mlp-1m={runs / MLP_100K}")
    assert rows["value-mpc"]["suites"]["reacher-easy-return"]["figures"]["return"] == measured["return"]
    assert rows["value-mpc"]["commands"] == []
    assert rows["my ablation"]["suites"]["reacher-easy-return"]["source"] == str(path)  # a run dir: its eval file
    assert rows["4e-mlp-1m"]["run"] == str(runs / MLP_100K) and rows["4e-mlp-1m"]["commands"] == []
    assert "| extra | my ablation |" in md
    capsys.readouterr()
    assert bench.main(["--runs", str(runs), "--extra-row", f"value-mpc={path}:latent", "--quiet"]) == 2
    assert "unknown suite 'latent'" in capsys.readouterr().err
    assert bench.main(["--runs", str(runs), "--extra-row", f"value-mpc={path}:seed-protocol", "--quiet",
                       "--run", "nope=x"]) == 2
    assert "--run ['nope']: no such row" in capsys.readouterr().err
    assert bench.main(["--runs", str(runs), "--evaluate", "--rows", "4z", "--quiet"]) == 2
    assert "--rows ['4z']: no such row" in capsys.readouterr().err


def test_train_makes_a_missing_row(small_dataset, tmp_path):
    """--train on a row's missing run: `wmhub train` of its recipe (here cut to a smoke run on the small data
    with --set), then its suites; the row is read from the files that wrote."""
    bench = _bench()
    runs = tmp_path / "runs"
    sets = [f"dataset.source={small_dataset}", "dataset.generate=null", "training.epochs=1", "training.max_steps=1",
            "eval.seed-protocol.episodes=1", "eval.seed-protocol.steps=5", "eval.seed-protocol.videos=0",
            "eval.reacher-easy-return.episodes=1", "eval.reacher-easy-return.episode_length=10",
            "eval.reacher-easy-return.videos=0"]
    assert bench.main(["--runs", str(runs), "--train", "--rows", "4b-mlp-cem", "--device", "cpu", "--quiet",
                       *[f"--set={s}" for s in sets]]) == 0
    run = runs / MLP_100K
    assert json.loads((run / "summary.json").read_text())["steps"] == 1
    rows, _ = _table(bench, runs, tmp_path)
    measured = json.loads((run / "eval" / "eval_results.json").read_text())["suites"]
    row = rows["4b-mlp-cem"]
    assert row["commands"] == [] and row["notes"] == []  # the shipped recipe, the seeds' planner
    assert row["suites"]["seed-protocol"]["figures"]["improvement"] == measured["seed-protocol"]["improvement"]
    assert row["suites"]["reacher-easy-return"]["figures"]["return"] == measured["reacher-easy-return"]["return"]
    assert not (runs / "reacher_bc_pcontroller_state").exists()  # --rows: nothing else trained


def test_value_mpc_row_plans_with_the_learned_reward_and_value(runs, small_dataset, tmp_path):
    """The learned-value MPC row: the return suite on the ensemble's run with the reward run and the ensemble
    Dreamer's run as options (its critic the terminal value, its actor proposing to CEM; tiny stand-ins copied
    under their names), measured into the benchmark's file."""
    import shutil

    from wmhub.eval.suites import suite

    bench = _bench()
    own_runs = tmp_path / "runs"
    shutil.copytree(runs / MLP_100K, own_runs / "reacher_ensemble_1m_state")
    shutil.copytree(runs / DREAMER, own_runs / "reacher_dreamer_ensemble_1m_state")
    train(load_recipe("tiny_reacher_reward_state", [f"dataset.source={small_dataset}", "dataset.generate=null",
                                                    "training.epochs=1", "model.hidden_dim=32", "eval={}"]),
          own_runs / "reacher_reward_1m_state", show_progress=False)
    assert bench.main(["--runs", str(own_runs), "--evaluate", "--rows", "value-mpc", "--device", "cpu",
                       "--quiet"]) == 0
    rows, _ = _table(bench, own_runs, tmp_path)
    row = rows["value-mpc"]
    own = own_runs / "seed-results" / "value-mpc.json"
    if "value_model" in suite("reacher-easy-return").option_names():
        measured = json.loads(own.read_text())
        planner = next(r for r in bench.ROWS if r.key == "value-mpc").options["planner"]
        assert planner["policy_samples"] > 0  # the actor proposes to CEM
        assert measured["options"] == {"reward_model": str(own_runs / "reacher_reward_1m_state"),
                                       "value_model": str(own_runs / "reacher_dreamer_ensemble_1m_state"),
                                       "planner": planner}
        assert set(measured["weights_sha256"]) == {"run", "reward_model", "value_model"}
        result = measured["suites"]["reacher-easy-return"]
        assert result["reward_source"] not in ("state_surrogate", "reward_model")  # the reward and the value
        assert row["commands"] == [] and row["suites"]["reacher-easy-return"]["source"] == str(own)
        assert row["suites"]["reacher-easy-return"]["figures"]["return"] == result["return"]
    else:  # a wmhub without the option: the row says so
        assert not own.exists() and "value_model" in " ".join(row["notes"])
