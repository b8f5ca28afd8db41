"""Model cards name the training data by its published location and revision, or by its generator, never by a
local path; ``push --dataset-repo`` checks the claim against the run's data; the cards parse with
``huggingface_hub``'s ``ModelCard`` / ``ModelCardData`` / ``EvalResult``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from huggingface_hub import ModelCard, ModelCardData

from wmhub.cli import main
from wmhub.errors import UnsupportedLocationError
from wmhub.runs.card import render_model_card
from wmhub.runs.evaluate import evaluate
from wmhub.runs.push import push
from wmhub.runs.training_data import training_data
from wmhub.training import load_recipe, train
from wmhub.training.recipe import parse_recipe

from support.datasets import SMALL, SMALL_OPTIONS, make_small
from support.hub_server import HubServer, patch_endpoint

GENERATOR = (f"wmhub/reacher ({SMALL_OPTIONS['policy']}, ε = {SMALL_OPTIONS['epsilon']}, {SMALL['episodes']} "
             f"episodes of {SMALL_OPTIONS['episode_length']} steps, seed {SMALL_OPTIONS['seed']})")


def _train(data: Path, run_dir: Path) -> Path:
    """The tiny dynamics recipe, one epoch on ``data`` (a local directory without data steps), latent suite."""
    recipe = load_recipe("tiny_reacher_dynamics_state", [
        f"dataset.source={data}", "dataset.generate=null", "training.epochs=1",
        "eval={latent: {horizons: [1, 5], stride: 5}}"])
    run = train(recipe, run_dir, show_progress=False).run_dir
    evaluate(run, ["latent"], show_progress=False)
    return Path(run)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> tuple[Path, Path]:
    """A run trained on a local, unpublished dataset: ``(tmp root, run directory)``."""
    root = tmp_path_factory.mktemp("card-provenance")
    data = make_small(root / "reacher-small")
    return root, _train(data, root / "run")


def _recipe_block(text: str) -> dict:
    return yaml.safe_load(text.split("```yaml\n", 1)[1].split("```", 1)[0])


def test_a_run_on_local_data_names_its_generator_and_no_path(local_run):
    root, run = local_run
    card = render_model_card(run, "wm-lab/tiny-dynamics")
    text = str(card)
    assert str(root) not in text and str(root.resolve()) not in text
    # the metadata validates with huggingface_hub's card classes, and round-trips
    parsed = ModelCard(text)
    assert isinstance(parsed.data, ModelCardData)
    again = ModelCardData(**parsed.data.to_dict())
    assert again.to_dict() == parsed.data.to_dict()
    assert parsed.data.datasets is None and parsed.data.library_name == "wmhub"
    results = parsed.data.eval_results
    assert results and {r.dataset_type for r in results} == {GENERATOR}
    first = results[0]
    assert first.dataset_revision is None and first.dataset_config == "steps"
    assert first.dataset_args == {"episodes": SMALL["episodes"], "episodes_per_shard": SMALL["episodes_per_shard"],
                                  **SMALL_OPTIONS}
    assert {r.metric_name for r in results} >= {"validation huber", "cosine@1", "cosine@5"}
    # the body says how to regenerate it, and the recipe shown makes the same data again
    data = text.split("## Data", 1)[1].split("\n## ", 1)[0]
    assert "not published" in data and "wmhub generate reacher OUT --episodes 12 --episodes-per-shard 4" in data
    recipe = parse_recipe(yaml.safe_dump(_recipe_block(text)), "the card's recipe")
    assert recipe.dataset.source == "data/reacher-small" and recipe.dataset.revision is None
    step = recipe.dataset.generate
    assert step is not None and (step.env, step.episodes, step.episodes_per_shard) == ("reacher", 12, 4)
    assert {k: step.options[k] for k in SMALL_OPTIONS} == SMALL_OPTIONS


def test_push_with_dataset_repo_names_the_repo_and_its_revision(local_run, tmp_path, monkeypatch):
    root, run = local_run
    from huggingface_hub import HfApi, hf_hub_download

    from wmhub.hub.source import dataset_location, open_stored
    from wmhub.hub.verbs import publish

    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        publish(root / "reacher-small", "hf://datasets/wm-lab/reacher-small", tag="v1.0")
        commit = open_stored(dataset_location("hf://datasets/wm-lab/reacher-small@v1.0")).revision
        result = CliRunner().invoke(main, ["push", str(run), "hf://wm-lab/tiny-dynamics",
                                           "--dataset-repo", "hf://datasets/wm-lab/reacher-small@v1.0"])
        assert result.exit_code == 0, result.output
        text = Path(hf_hub_download("wm-lab/tiny-dynamics", "README.md")).read_text(encoding="utf-8")
        assert str(tmp_path) not in text and str(root) not in text
        card = ModelCard(text)
        assert card.data.datasets == ["wm-lab/reacher-small"]
        assert {(r.dataset_type, r.dataset_name, r.dataset_revision) for r in card.data.eval_results} == {
            ("wm-lab/reacher-small", "reacher-small", commit)}
        assert f"`hf://datasets/wm-lab/reacher-small` at revision `{commit}`" in text
        assert "every shard trained on is published with the same SHA-256" in text
        # the pushed recipe is the card's: it downloads the published revision
        pushed = parse_recipe(Path(hf_hub_download("wm-lab/tiny-dynamics", "recipe.yaml")).read_text(), "pushed")
        assert (pushed.dataset.source, pushed.dataset.revision) == ("hf://datasets/wm-lab/reacher-small", commit)
        assert _recipe_block(text)["dataset"]["source"] == "hf://datasets/wm-lab/reacher-small"

        # a repository that holds other data is refused, before anything is pushed
        make_small(tmp_path / "other", seed=8)
        publish(tmp_path / "other", "hf://datasets/wm-lab/other")
        refused = CliRunner().invoke(main, ["push", str(run), "hf://wm-lab/elsewhere",
                                            "--dataset-repo", "hf://datasets/wm-lab/other"])
        assert refused.exit_code == 2, refused.output
        errors = [line for line in refused.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "not the run's training data" in errors[0], refused.output
        assert not HfApi().repo_exists("wm-lab/elsewhere")
        # a local path is no published location
        with pytest.raises(UnsupportedLocationError, match="not a local directory"):
            push(run, str(tmp_path / "hub"), dataset_repo=str(root / "reacher-small"))
        assert not (tmp_path / "hub").exists()


def test_a_run_on_downloaded_data_names_where_it_came_from(local_run, tmp_path, monkeypatch):
    root, _ = local_run
    from wmhub.hub.source import dataset_location, open_stored
    from wmhub.hub.verbs import download, publish

    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        publish(root / "reacher-small", "hf://datasets/wm-lab/reacher-small")
        commit = open_stored(dataset_location("hf://datasets/wm-lab/reacher-small")).revision
        download("hf://datasets/wm-lab/reacher-small", tmp_path / "downloaded", show_progress=False)
    run = _train(tmp_path / "downloaded", tmp_path / "run")  # the Hub is not needed from here on
    data = training_data(run)
    assert (data.repo_id, data.revision, data.verified) == ("wm-lab/reacher-small", commit, "download record")
    card = ModelCard(str(render_model_card(run, "wm-lab/tiny-dynamics")))
    assert card.data.datasets == ["wm-lab/reacher-small"]
    assert {r.dataset_revision for r in card.data.eval_results} == {commit}
    assert str(tmp_path) not in str(card)
    # data changed after the download (its manifest is not the one recorded) is named by its generator
    origin = tmp_path / "downloaded" / ".wmhub-origin.json"
    record = json.loads(origin.read_text())
    origin.write_text(json.dumps({**record, "manifest_sha256": "0" * 64}))
    assert training_data(run).repo_id is None
    assert {r.dataset_type for r in ModelCard(str(render_model_card(run, "x/y"))).data.eval_results} == {GENERATOR}


def test_media_listed_in_the_results_are_shown_and_pushed(local_run, tmp_path):
    _, run = local_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    results = json.loads((copy / "eval" / "eval_results.json").read_text())
    results["media"] = [{"path": "eval/rollout.gif", "caption": "a planned rollout beside the simulator's"}]
    (copy / "eval" / "eval_results.json").write_text(json.dumps(results))
    import imageio.v3 as iio
    import numpy as np

    iio.imwrite(copy / "eval" / "rollout.gif", np.zeros((2, 8, 8, 3), dtype=np.uint8))
    dest = tmp_path / "hub" / "tiny"
    pushed = push(copy, str(dest))
    assert "eval/rollout.gif" in pushed.files
    assert (dest / "eval" / "rollout.gif").read_bytes() == (copy / "eval" / "rollout.gif").read_bytes()
    assert "![a planned rollout beside the simulator's](eval/rollout.gif)" in (dest / "README.md").read_text()
