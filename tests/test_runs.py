"""The typed run directory: ``Run.open`` / ``Run.pull``, versioned ``RunSummary`` and ``EvalResults``,
files written before ``schema_version`` existed, and the model-kind and eval-suite registries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import wmhub
from wmhub.errors import AlreadyExistsError, ConfigError, NotFoundError, UnsupportedFormatError
from wmhub.eval.suites import headline_metrics, suite, suite_names
from wmhub.models.kinds import kind, kind_of_class, kinds
from wmhub.runs.evaluate import evaluate
from wmhub.runs.push import push
from wmhub.runs.results import EvalResults, Validation
from wmhub.runs.run import Run, RunSplit
from wmhub.training import load_recipe, train
from wmhub.training.summary import RunSummary

# pushed with `wmhub push` before summary.json / eval_results.json had a schema_version (today's exact shape)
PUSHED_BEFORE = Path(__file__).parent / "fixtures" / "pushed_before_schema"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    recipe = load_recipe("tiny_reacher_dynamics_state", [f"dataset.source={root / 'tiny-reacher'}"])
    run_dir = train(recipe, root / "run", show_progress=False).run_dir
    evaluate(run_dir, suites=["latent"])
    return run_dir


def test_open_exposes_typed_summary_and_results(tiny_run):
    run = wmhub.Run.open(tiny_run)
    assert run.is_finished and run.model_dir == tiny_run / "model"
    summary = run.summary
    assert isinstance(summary, RunSummary) and summary.schema_version == RunSummary.SCHEMA_VERSION
    assert summary.model_class == "MLPDynamics" and summary.dataset.val_episodes == len(run.split.val_episodes)
    assert summary.val_loss < summary.val_baseline_loss
    results = run.eval_results
    assert isinstance(results, EvalResults) and results.validation.loss == summary.val_loss
    assert set(results.suites) == {"latent"} and results.headline("latent")["cosine@1"] > 0.9
    assert run.recipe.name == "tiny_reacher_dynamics_state"
    assert isinstance(run.split, RunSplit) and run.split.train_episodes
    assert run.load_model().num_parameters == summary.num_parameters
    assert {r["split"] for r in run.metrics()} == {"train", "val"}
    assert [p.name for p in run.plots()] == ["latent_drift.png", "training_curve.png"]
    assert run.checkpoints() and run.dataset_root(show_progress=False) == Path(summary.dataset.path)


def test_files_keep_their_keys_and_gain_schema_version(tiny_run):
    written = json.loads((tiny_run / "summary.json").read_text())
    before = json.loads((PUSHED_BEFORE / "summary.json").read_text())
    # new keys only: schema_version, and how the run was trained (ranks, precision, accumulation)
    assert set(written) == set(before) | {"schema_version", "world_size", "precision", "grad_accum_steps"}
    assert set(written["dataset"]) == set(before["dataset"]) | {"format_version"}  # recorded since format 2
    results = json.loads((tiny_run / "eval" / "eval_results.json").read_text())
    claimed = json.loads((PUSHED_BEFORE / "eval_results.json").read_text())
    assert set(results) == set(claimed) | {"schema_version"}
    assert set(results["validation"]) == set(claimed["validation"])


def test_files_written_before_schema_version_load_and_round_trip(tmp_path):
    for cls, name in ((RunSummary, "summary.json"), (EvalResults, "eval_results.json")):
        text = (PUSHED_BEFORE / name).read_text()
        assert "schema_version" not in json.loads(text)
        record = cls.from_json(text, name)
        assert record.schema_version == cls.SCHEMA_VERSION
        again = record.to_json_dict()
        assert again.pop("schema_version") == cls.SCHEMA_VERSION
        assert again == json.loads(text)  # every key and value as written
        record.write(tmp_path / name)
        assert cls.read(tmp_path / name) == record
    summary = RunSummary.read(PUSHED_BEFORE / "summary.json")
    assert summary.dataset.train_episodes == 48 and summary.val_prediction_loss is None
    assert "val_prediction_loss" not in summary.to_json_dict()  # jepa-only keys stay absent
    results = EvalResults.read(PUSHED_BEFORE / "eval_results.json")
    assert results.headline("goal-success")["success_rate"] == results.suites["goal-success"]["success_rate"]["mean"]


def test_newer_or_malformed_files_are_refused_with_one_line(tmp_path):
    data = json.loads((PUSHED_BEFORE / "summary.json").read_text())
    with pytest.raises(UnsupportedFormatError, match="newer than this wmhub reads"):
        RunSummary.from_json(json.dumps({**data, "schema_version": 99}))
    with pytest.raises(UnsupportedFormatError, match="val_loss"):
        RunSummary.from_json(json.dumps({k: v for k, v in data.items() if k != "val_loss"}))
    with pytest.raises(UnsupportedFormatError, match="not valid JSON"):
        RunSummary.from_json("{")
    with pytest.raises(NotFoundError):
        RunSummary.read(tmp_path / "summary.json")


def test_open_refuses_what_is_not_a_run(tmp_path, tiny_run):
    with pytest.raises(NotFoundError, match="not a finished training run"):
        Run.open(tmp_path)
    (tmp_path / "recipe.yaml").write_text((tiny_run / "recipe.yaml").read_text())
    started = Run.open(tmp_path)
    assert not started.is_finished and started.eval_results is None
    with pytest.raises(NotFoundError, match="no summary.json"):
        Run.open(tmp_path, finished=True)


def test_pull_from_a_local_hub_directory(tiny_run, tmp_path):
    hub = tmp_path / "hub"
    push(tiny_run, str(hub))
    run = Run.pull(str(hub), tmp_path / "pulled")
    assert run.is_finished and run.eval_results is None  # claims are not copied: they are measured again
    assert run.summary == Run.open(tiny_run).summary
    assert run.load_model().num_parameters == run.summary.num_parameters
    assert Run.pull(str(hub), tmp_path / "pulled").root == run.root  # reused
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    with pytest.raises(AlreadyExistsError, match="pass another --out"):
        Run.pull(str(hub), tmp_path / "other")


def test_pull_and_evaluate_a_checkpoint_pushed_before_the_change(tmp_path, tiny_run):
    hub = tmp_path / "old-hub"
    shutil.copytree(PUSHED_BEFORE, hub)
    run = Run.pull(str(hub), tmp_path / "old")
    assert run.summary.schema_version == RunSummary.SCHEMA_VERSION and run.summary.steps == 304
    assert json.loads((run.root / "summary.json").read_text()) == json.loads((hub / "summary.json").read_text())
    # the same data as the fixture's (the same recipe's deterministic generation), at this machine's path
    summary = json.loads((run.root / "summary.json").read_text())
    summary["dataset"]["path"] = Run.open(tiny_run).summary.dataset.path
    (run.root / "summary.json").write_text(json.dumps(summary))
    results = evaluate(run, suites=["latent"])
    claimed = EvalResults.read(hub / "eval_results.json")
    assert results.suites["latent"]["horizons"] == claimed.suites["latent"]["horizons"]


def test_model_kind_registry():
    assert list(kinds()) == ["mlp_dynamics", "resblock_dynamics", "ensemble", "reward", "bc", "world_model",
                             "jepa_world_model", "actor_critic"]
    assert kind("reward").baseline == "constant mean reward" and kind("reward").losses[0] == "bce"
    assert kind_of_class("Ensemble").card_template == "dynamics.md"
    assert kind("jepa_world_model").load_class().__name__ == "JEPAWorldModel"
    with pytest.raises(NotFoundError, match="unknown model kind"):
        kind("transformer")


def test_suite_registry_and_typed_options():
    assert suite_names() == ["latent", "probe", "goal-success", "reacher-easy-return", "seed-protocol"]
    latent = suite("latent")
    assert latent.option_names() == {"horizons", "stride", "min_start"}
    assert latent.parse_options({"stride": 5}).given() == {"stride": 5}
    with pytest.raises(ConfigError, match=r"eval.latent: unknown option\(s\) \['strid'\]"):
        latent.parse_options({"strid": 5})
    with pytest.raises(ConfigError, match="eval.latent.stride"):
        latent.parse_options({"stride": "often"})
    assert {"budget", "planner", "cost_features"} <= suite("goal-success").option_names()
    assert "reward_model" in suite("reacher-easy-return").option_names()
    assert headline_metrics("latent", {"horizons": {"1": {"cosine": {"mean": 0.5}}}}) == {"cosine@1": 0.5}
    with pytest.raises(NotFoundError, match="unknown suite"):
        suite("latnet")


def test_a_reward_model_is_refused_by_the_dynamics_suites(tmp_path):
    from wmhub.eval.suite import SuiteContext
    from wmhub.eval.suites import run_suite
    from wmhub.models import RewardModel

    context = SuiteContext(RewardModel(6, 2), None, [], [], None, tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="evaluates dynamics models; this run trained a RewardModel"):
        run_suite("latent", {}, context)


def test_validation_entry_of_a_summary():
    summary = RunSummary.read(PUSHED_BEFORE / "summary.json")
    v = Validation.of(summary)
    claimed = json.loads((PUSHED_BEFORE / "eval_results.json").read_text())["validation"]
    assert v.model_dump() == claimed


def test_the_card_of_a_run_pushed_before_the_change_renders_byte_identical(tmp_path):
    run = Run.pull(str(PUSHED_BEFORE), tmp_path / "run")
    (run.eval_dir).mkdir()
    shutil.copy(PUSHED_BEFORE / "eval_results.json", run.eval_results_path)
    for plot in ("latent_drift.png", "training_curve.png"):
        (run.eval_dir / plot).write_bytes(b"")
    from wmhub.runs.card import render_model_card

    pushed_to = "/tmp/fixture/hub"  # the destination the fixture was pushed to, named in its card
    assert str(render_model_card(run, pushed_to)) == (PUSHED_BEFORE / "README.md").read_text()


def test_cli_prints_what_it_always_printed(tiny_run, tmp_path):
    """``wmhub train``, ``eval`` and ``push`` lines, formatted from the typed records as from the dicts before."""
    from click.testing import CliRunner

    from wmhub.cli import main

    s = json.loads((tiny_run / "summary.json").read_text())
    out = CliRunner().invoke(main, ["train", str(tiny_run / "recipe.yaml"), "--out", str(tiny_run), "--resume",
                                    "--quiet"])
    assert out.exit_code == 0, out.output
    assert out.output == (f"trained {s['model_class']} ({s['num_parameters']:,} parameters) for {s['steps']} steps "
                          f"in {s['wall_time_s']:.1f} s on {s['device']}: validation {s['loss']} {s['val_loss']:.5g} "
                          f"vs {s['baseline']} baseline {s['val_baseline_loss']:.5g}; model in {tiny_run / 'model'}\n")
    out = CliRunner().invoke(main, ["eval", str(tiny_run), "--suite", "latent", "--quiet"])
    assert out.exit_code == 0, out.output
    r = json.loads((tiny_run / "eval" / "eval_results.json").read_text())
    v = r["validation"]
    cosines = ", ".join(f"cosine@{k} {e['cosine']['mean']:.4g}" for k, e in r["suites"]["latent"]["horizons"].items())
    assert out.output == (f"validation {v['loss_name']} {v['loss']:.5g} vs {v['baseline']} {v['baseline_loss']:.5g}\n"
                          f"latent: {cosines}\nwrote {tiny_run / 'eval' / 'eval_results.json'}\n")
    out = CliRunner().invoke(main, ["push", str(tiny_run), str(tmp_path / "hub"), "--tag", "v1.0"])
    assert out.exit_code == 0, out.output
    assert out.output == f"pushed 10 files to {tmp_path / 'hub'} (revision latest), tagged v1.0\n"


def test_default_run_name_ignores_a_revision_with_slashes():
    from wmhub.runs.run import default_run_name

    assert default_run_name("hf://org/name@release/v1") == "name"
    assert default_run_name("hub/tiny-dynamics@v1.0") == "tiny-dynamics"
