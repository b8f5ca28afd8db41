"""Evaluation suites, model cards, push and reproduce, end to end on a tiny recipe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from huggingface_hub import ModelCard

from wmhub.cli import main
from wmhub.data.reader import open_dataset
from wmhub.errors import AlreadyExistsError, WmhubError
from wmhub.eval.latent import latent_suite, prediction_metrics
from wmhub.fileio import dumps_json
from wmhub.models import MLPDynamics
from wmhub.models.registry import load_model
from wmhub.runs.evaluate import evaluate
from wmhub.runs.push import push
from wmhub.runs.reproduce import flatten_metrics, reproduce
from wmhub.training import load_recipe, train

from support.hub_server import HubServer, patch_endpoint


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("evalrun")
    recipe = load_recipe("tiny_reacher_dynamics_state", [f"dataset.source={root / 'tiny-reacher'}"])
    run = train(recipe, root / "run", show_progress=False).run_dir
    evaluate(run)
    return run


def test_metrics_on_known_answers():
    target = torch.randn(10, 4, 6)
    perfect = prediction_metrics(target.clone(), target)
    assert torch.allclose(perfect["cosine"], torch.ones(10, 4)) and torch.equal(perfect["l2"], torch.zeros(10, 4))
    scaled = prediction_metrics(2 * target, target)
    assert torch.allclose(scaled["cosine"], torch.ones(10, 4), atol=1e-6)
    assert torch.allclose(scaled["relative_l2"], torch.ones(10, 4), atol=1e-6)


def test_copy_last_model_equals_the_baseline(evaluated_run):
    """A model predicting Δz = 0 is copy-last: its metrics equal the baseline's at every horizon."""
    model = MLPDynamics(6, 2, hidden_dim=8)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    split = json.loads((evaluated_run / "split.json").read_text())
    dataset = open_dataset(json.loads((evaluated_run / "summary.json").read_text())["dataset"]["path"])
    result = latent_suite(model, dataset, split["val_episodes"], horizons=[1, 5, 30], stride=20)
    for entry in result["horizons"].values():
        for name in ("cosine", "l2", "relative_l2"):
            assert entry[name]["mean"] == pytest.approx(entry[f"copy_last_{name}"]["mean"], rel=1e-6)
        assert entry["data_cosine"]["mean"] == pytest.approx(entry["copy_last_cosine"]["mean"], rel=1e-6)


def test_one_held_out_episode_has_no_standard_error(evaluated_run):
    """With one episode the s.e. is None (not NaN, which is not JSON): the results file can be written."""
    model = load_model(evaluated_run / "model")
    split = json.loads((evaluated_run / "split.json").read_text())
    dataset = open_dataset(json.loads((evaluated_run / "summary.json").read_text())["dataset"]["path"])
    result = latent_suite(model, dataset, split["val_episodes"][:1], horizons=[1, 5], stride=20)
    assert result["horizons"]["1"]["cosine"]["se"] is None
    assert result["horizons"]["5"]["copy_last_l2"]["n"] == 1
    json.loads(dumps_json(result))
    many = latent_suite(model, dataset, split["val_episodes"], horizons=[1], stride=20)["horizons"]["1"]
    assert many["cosine"]["n"] == len(split["val_episodes"]) and many["cosine"]["se"] > 0


def test_trained_model_beats_copy_last_and_writes_plots(evaluated_run):
    results = json.loads((evaluated_run / "eval" / "eval_results.json").read_text())
    latent = results["suites"]["latent"]
    assert latent["episodes"] == results["validation"]["episodes"] == 12
    for k in ("1", "5", "10", "30"):
        e = latent["horizons"][k]
        assert e["relative_l2"]["mean"] < e["copy_last_relative_l2"]["mean"]
        assert e["cosine"]["se"] > 0
    for plot in ("latent_drift.png", "training_curve.png"):
        assert (evaluated_run / "eval" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_suite_errors(evaluated_run, tmp_path):
    with pytest.raises(WmhubError, match="unknown suite"):
        evaluate(evaluated_run, ["latnet"])
    with pytest.raises(WmhubError, match="not a finished training run"):
        evaluate(tmp_path)
    model = load_model(evaluated_run / "model")
    dataset = open_dataset(json.loads((evaluated_run / "summary.json").read_text())["dataset"]["path"])
    with pytest.raises(WmhubError, match="no held-out window"):
        latent_suite(model, dataset, [0], horizons=[500])


def test_push_local_then_load_card_and_tag(evaluated_run, tmp_path):
    dest = tmp_path / "hub" / "tiny-dynamics"
    result = push(evaluated_run, str(dest), tag="v1.0")
    assert {"README.md", "config.json", "model.safetensors", "eval_results.json", "recipe.yaml", "metrics.jsonl",
            "eval/latent_drift.png", "eval/training_curve.png"} <= set(result.files)
    pushed = load_model(dest)
    original = load_model(evaluated_run / "model")
    z, a = torch.randn(5, 6), torch.rand(5, 2)
    assert torch.equal(pushed(z, a), original(z, a))
    assert torch.equal(MLPDynamics.from_pretrained(str(dest))(z, a), original(z, a))
    card = ModelCard.load(dest / "README.md")
    results = card.data.eval_results
    assert card.data.library_name == "wmhub" and card.data.license == "apache-2.0"
    claimed = json.loads((dest / "eval_results.json").read_text())
    by_name = {r.metric_name: r.metric_value for r in results}
    assert by_name["cosine@5"] == pytest.approx(claimed["suites"]["latent"]["horizons"]["5"]["cosine"]["mean"],
                                                rel=1e-5)
    text = (dest / "README.md").read_text()
    assert "copy-last" in text and "```yaml\nname: tiny_reacher_dynamics_state" in text
    assert "HF_TOKEN" not in text
    # re-pushing the same run with the same tag is fine; a changed run cannot move the tag
    push(evaluated_run, str(dest), tag="v1.0")
    changed = tmp_path / "changed"
    shutil.copytree(evaluated_run, changed)
    summary = json.loads((changed / "summary.json").read_text())
    summary["steps"] += 1
    (changed / "summary.json").write_text(json.dumps(summary))
    before = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    with pytest.raises(AlreadyExistsError, match="tags are never moved"):
        push(changed, str(dest), tag="v1.0")
    # refused before anything was committed: the destination is as it was
    assert {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == before


def test_push_to_hub_server_and_from_pretrained(evaluated_run, tmp_path, monkeypatch):
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        result = push(evaluated_run, "hf://wm-lab/tiny-dynamics", tag="v1.0")
        assert len(result.revision) == 40
        commits = [r for r in server.request_log if "/commit/" in r[1]]
        assert len(commits) == 1, server.request_log
        model = MLPDynamics.from_pretrained("wm-lab/tiny-dynamics")
        also = load_model("hf://wm-lab/tiny-dynamics@v1.0")
        z, a = torch.randn(3, 6), torch.rand(3, 2)
        assert torch.equal(model(z, a), load_model(evaluated_run / "model")(z, a))
        assert torch.equal(also(z, a), model(z, a))
        from huggingface_hub import hf_hub_download
        card = ModelCard.load(hf_hub_download("wm-lab/tiny-dynamics", "README.md"))
        assert any(r.metric_name == "cosine@1" for r in card.data.eval_results)
        with pytest.raises(WmhubError, match="dataset repo"):
            push(evaluated_run, "hf://datasets/wm-lab/tiny-dynamics")
        # `wmhub eval` on the pushed checkpoint: copied into a run directory, evaluated here
        from click.testing import CliRunner

        from wmhub.cli import main

        out = tmp_path / "from-hub"
        result = CliRunner().invoke(main, ["eval", "hf://wm-lab/tiny-dynamics@v1.0", "--out", str(out),
                                           "--suite", "latent", "--quiet"])
        assert result.exit_code == 0, result.output
        mine = json.loads((out / "eval" / "eval_results.json").read_text())["suites"]["latent"]["horizons"]
        claimed = json.loads((evaluated_run / "eval" / "eval_results.json").read_text())["suites"]["latent"]
        assert mine == claimed["horizons"]


def test_reproduce_passes_then_fails_on_an_altered_claim(evaluated_run, tmp_path):
    import yaml

    from wmhub.training.recipe import parse_recipe

    dest = tmp_path / "hub"
    push(evaluated_run, str(dest))
    # as pushed before the data steps were typed: dataset.generate holds `wmhub generate ...` command strings
    raw = yaml.safe_load((dest / "recipe.yaml").read_text())
    raw["dataset"]["generate"] = parse_recipe((dest / "recipe.yaml").read_text()).dataset.commands()
    raw["dataset"].pop("encode")
    (dest / "recipe.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert isinstance(raw["dataset"]["generate"][0], str)
    result = reproduce(str(dest), out=tmp_path / "again", show_progress=False)
    names = {m.name for m in result.metrics}
    assert "validation.loss" in names and "suites.latent.horizons.30.cosine.mean" in names
    assert not result.failed, [(m.name, m.claimed, m.reproduced) for m in result.failed]
    claims = json.loads((dest / "eval_results.json").read_text())
    claims["suites"]["latent"]["horizons"]["5"]["cosine"]["mean"] *= 0.9
    (dest / "eval_results.json").write_text(json.dumps(claims))
    runner = CliRunner()
    out = runner.invoke(main, ["reproduce", str(dest), "--out", str(tmp_path / "third"), "--quiet"])
    assert out.exit_code == 1
    assert "suites.latent.horizons.5.cosine.mean" in out.output and "NO" in out.output


def test_flatten_metrics_skips_timings():
    flat = flatten_metrics({"a": {"mean": 1.0, "wall_time_s": 3.0}, "curve": {"x": [1]}, "plot": "p.png", "n": 4})
    assert flat == {"a.mean": 1.0, "n": 4.0}


def test_quickstart_end_to_end_and_rerun(tmp_path, capsys):
    """generate → publish → download + verify → train → eval → push; a re-run reuses everything."""
    from wmhub.quickstart import run_quickstart

    run_quickstart(tmp_path / "qs")
    hub = tmp_path / "qs" / "hub"
    assert (hub / "datasets" / "tiny-reacher" / "manifest.json").is_file()
    for name in ("tiny_reacher_dynamics_state", "tiny_reacher_reward_state"):
        model = load_model(hub / "models" / name)
        assert model.latent_dim == 6
        assert ModelCard.load(hub / "models" / name / "README.md").data.eval_results
    assert "cos@30" in capsys.readouterr().out
    before = (hub / "models" / "tiny_reacher_dynamics_state" / "README.md").read_bytes()
    run_quickstart(tmp_path / "qs")
    assert (hub / "models" / "tiny_reacher_dynamics_state" / "README.md").read_bytes() == before


def test_reproduce_a_card_pushed_before_the_change(evaluated_run, tmp_path):
    """A checkpoint pushed before summary.json / eval_results.json had a schema_version (and before the
    recipe's data steps were typed) reproduces every claimed metric: files and metrics are unchanged.

    The fixture was trained and evaluated on one torch thread; the planning suite's CEM picks other
    actions when matrix products are summed in another order (goal-success 0.3 vs 0.4 on two
    threads), so it is reproduced on one thread too.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _reproduce_pushed_before(evaluated_run, tmp_path)
    finally:
        torch.set_num_threads(threads)


def _reproduce_pushed_before(evaluated_run, tmp_path):
    hub = tmp_path / "pushed-before"
    shutil.copytree(Path(__file__).parent / "fixtures" / "pushed_before_schema", hub)
    data = json.loads((evaluated_run / "summary.json").read_text())["dataset"]["path"]
    result = reproduce(str(hub), out=tmp_path / "again", overrides=[f"dataset.source={data}"], show_progress=False)
    names = {m.name for m in result.metrics}
    assert "suites.goal-success.success_rate.mean" in names and "schema_version" not in names
    assert not result.failed, [(m.name, m.claimed, m.reproduced) for m in result.failed]
