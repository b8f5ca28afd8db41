"""Predicted vs real fingertip paths over the planning horizon (``wmhub eval``, state-latent models)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("MUJOCO_GL", "egl")

from wmhub.envs.reacher import PLANNING as REACHER  # noqa: E402
from wmhub.eval.planners import CEMConfig, DynamicsRollout  # noqa: E402
from wmhub.eval.planning import STATE_FEATURES, run_goal_success  # noqa: E402
from wmhub.models.jepa import JEPAWorldModel  # noqa: E402
from wmhub.models.registry import load_model  # noqa: E402
from wmhub.render.fingertip_plot import FingertipPath, fingertip_figure, write_fingertip_plot  # noqa: E402
from wmhub.reporting.build import report  # noqa: E402
from wmhub.runs.card import render_model_card  # noqa: E402
from wmhub.runs.evaluate import evaluate  # noqa: E402
from wmhub.runs.run import Run  # noqa: E402
from wmhub.training import load_recipe, train  # noqa: E402

from support.reports import SMALL_RUN_OVERRIDES  # noqa: E402

PLOT = "goal-success-fingertip-paths.png"
BUDGET = 6  # plans at steps 0 … 5: the first plan and the mid-episode one (step 3) of each recorded episode


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_torch_thread) -> Path:
    root = tmp_path_factory.mktemp("fingertip")
    recipe = load_recipe("tiny_reacher_dynamics_state", [f"dataset.source={root / 'data'}", *SMALL_RUN_OVERRIDES,
                                                         f"eval.goal-success.budget={BUDGET}",
                                                         "eval.goal-success.videos=2"])
    run_dir = Path(train(recipe, root / "run", show_progress=False).run_dir)
    evaluate(run_dir, ["goal-success"], device="cpu")
    return run_dir


def test_the_plot_is_written_listed_and_embedded(run, tmp_path):
    saved = json.loads((run / "eval" / "eval_results.json").read_text())
    fingertips = saved["suites"]["goal-success"]["fingertip_paths"]
    assert fingertips["plot"] == PLOT and (run / "eval" / PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"eval/{PLOT}" in [m["path"] for m in saved["media"]]
    assert f"(eval/{PLOT})" in render_model_card(run, "org/tiny").content
    page = report(run, tmp_path / "r", show_progress=False).page.read_text()  # in its suite's section
    section = page.split('id="suite-goal-success"')[1].split("<section")[0]
    assert page.count(f'src="media/{PLOT}"') == 1 and f'src="media/{PLOT}"' in section
    assert (tmp_path / "r" / "media" / PLOT).read_bytes() == (run / "eval" / PLOT).read_bytes()
    # the first plan and the first at or after mid-episode, of each of the 2 recorded episodes
    assert [(p["episode"], p["step"]) for p in fingertips["plans"]] == [(0, 0), (0, BUDGET // 2),
                                                                         (1, 0), (1, BUDGET // 2)]


def test_the_plotted_paths_are_the_model_rollout_and_the_simulator(run):
    fingertips = Run.open(run, finished=True).eval_results.suites["goal-success"]["fingertip_paths"]
    model = DynamicsRollout(load_model(run / "model"), "cpu")
    horizon = Run.open(run, finished=True).eval_results.suites["goal-success"]["planner"]["horizon"]
    env = REACHER.make_env(0)
    for plan in fingertips["plans"]:
        path = FingertipPath.from_json(plan)
        actions = torch.tensor(plan["actions"], dtype=torch.float32)
        assert actions.shape == (horizon, 2) and path.predicted.shape == (horizon, 2)
        latents, _ = model.rollout(torch.tensor(plan["start_latent"], dtype=torch.float32), actions[None])
        np.testing.assert_array_equal(path.predicted, -latents[0, :, 2:4].double().numpy())  # −to_target
        np.testing.assert_array_equal(path.start, -np.asarray(plan["start_latent"])[2:4])
        state = plan["start_state"]
        REACHER.set_state(env, state["qpos"], state["qvel"], state["target_pos"])
        real = []
        for a in plan["actions"]:
            env.step(np.asarray(a))
            real.append(-REACHER.live_latent(env)[2:4])
        np.testing.assert_array_equal(path.real, np.asarray(real, np.float64))
        # what the panel draws: the real path (first line), then the predicted one, both from the start
        figure = fingertip_figure([path], "goal-success")
        real_line, predicted_line = figure.axes[0].lines[:2]
        np.testing.assert_array_equal(real_line.get_xydata(), np.vstack([path.start, path.real]))
        np.testing.assert_array_equal(predicted_line.get_xydata(), np.vstack([path.start, path.predicted]))
        assert plan["final_deviation_m"] == pytest.approx(float(np.linalg.norm(path.predicted[-1] - path.real[-1])))
    assert fingertips["plans"][0]["start_latent"] != fingertips["plans"][2]["start_latent"]  # two episodes


def test_the_plot_is_drawn_from_the_saved_paths_with_the_same_bytes(run, tmp_path):
    fingertips = Run.open(run, finished=True).eval_results.suites["goal-success"]["fingertip_paths"]
    paths = [FingertipPath.from_json(p) for p in fingertips["plans"]]
    again = write_fingertip_plot(paths, tmp_path / "again.png", "goal-success")
    assert again.read_bytes() == (run / "eval" / PLOT).read_bytes()


def test_an_embedding_model_gets_a_note_not_a_plot(run, tmp_path):
    torch.manual_seed(0)
    model = JEPAWorldModel(6, 2, embed_dim=8, encoder_width=8, width=16, depth=1, heads=2, context=2,
                           latent={"config": "steps", "features": list(STATE_FEATURES)})
    split = Run.open(run, finished=True).split
    result = run_goal_success(model, Run.open(run, finished=True).dataset_root(), split.val_episodes, episodes=1,
                              budget=2, planner=CEMConfig(samples=8, elites=2, iterations=1, horizon=2),
                              device="cpu", videos=1, video_dir=tmp_path)
    assert "not readable" in result["fingertip_paths"]["skipped"]
    assert not (tmp_path / PLOT).exists() and result["videos"] == ["goal-success-episode-0.gif"]


def test_nothing_is_captured_without_videos(run, tmp_path):
    recipe = Run.open(run, finished=True)
    model = load_model(run / "model")
    result = run_goal_success(model, recipe.dataset_root(), recipe.split.val_episodes, episodes=1, budget=2,
                              planner=CEMConfig(samples=8, elites=2, iterations=1, horizon=2), device="cpu",
                              videos=0, video_dir=tmp_path)
    assert "fingertip_paths" not in result and list(tmp_path.iterdir()) == []


def test_eval_prints_the_paths_and_rewrites_the_same_bytes(run):
    from click.testing import CliRunner

    from wmhub.cli import main

    before = (run / "eval" / PLOT).read_bytes()
    out = CliRunner().invoke(main, ["eval", str(run), "--suite", "goal-success", "--quiet", "--device", "cpu"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert f"wrote {run / 'eval' / PLOT}" in lines and f"wrote {run / 'eval' / 'goal-success-episode-1.gif'}" in lines
    assert (run / "eval" / PLOT).read_bytes() == before  # same seed and config: the same plot
