"""The ``policy`` planner kind: a learned actor runs in the planning suites instead of CEM (one forward pass per
action), reporting return, mean |action| and time per action; a tiny Dreamer run evaluates, pushes and
reproduces like every recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wmhub.errors import WmhubError
from wmhub.eval.planners import CEMConfig, PolicyConfig
from wmhub.eval.planning import run_goal_success, run_reacher_return, run_seed_protocol
from wmhub.models.registry import load_model
from wmhub.runs.evaluate import evaluate
from wmhub.runs.push import push
from wmhub.runs.reproduce import reproduce
from wmhub.training import load_recipe, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks: one thread is ~10x faster when busy


@pytest.fixture(scope="module")
def dreamer_run(small_dataset, tmp_path_factory) -> Path:
    """Tiny dynamics and reward runs on the small dataset, then the tiny Dreamer recipe trained inside the
    dynamics."""
    root = tmp_path_factory.mktemp("policy")
    data = [f"dataset.source={small_dataset}", "dataset.generate=null"]
    for name, out in (("tiny_reacher_dynamics_state", "dynamics"), ("tiny_reacher_reward_state", "reward")):
        train(load_recipe(name, [*data, "training.epochs=2", "eval={}", "model.hidden_dim=32"]), root / out,
              show_progress=False)
    recipe = load_recipe("tiny_reacher_dreamer_state", [*data, f"imagination.dynamics={root / 'dynamics'}",
                                                        "training.max_steps=20", "training.epochs=1000",
                                                        "imagination.val_starts=64",
                                                        "eval.reacher-easy-return.episode_length=50"])
    train(recipe, root / "dreamer", show_progress=False)
    return root


def test_policy_runs_the_return_suite(dreamer_run):
    actor = load_model(dreamer_run / "dreamer" / "model")
    results = [run_reacher_return(actor, planner=PolicyConfig(), episodes=1, episode_length=30, device="cpu")
               for _ in range(2)]
    first = results[0]
    assert first["planner"]["kind"] == "policy" and first["model"]["class"] == "ActorCritic"
    assert first["reward_source"] == "policy"
    assert first["actions_planned"] == 30 and first["wall_time_per_action_s"] > 0
    assert 0 <= first["mean_abs_action"] <= 1
    assert first["model_flops_per_action"] == 2 * actor.actor_parameters  # one forward pass of the actor
    # the deterministic action in a seeded simulator: the same return and actions twice
    assert [r["return"] for r in results][0] == results[1]["return"]
    assert first["mean_abs_action"] == results[1]["mean_abs_action"]


def test_policy_named_by_run_beside_a_dynamics_model(dreamer_run, small_dataset):
    dynamics = load_model(dreamer_run / "dynamics" / "model")
    val = json.loads((dreamer_run / "dreamer" / "split.json").read_text())["val_episodes"]
    result = run_seed_protocol(dynamics, small_dataset, val, planner=PolicyConfig(actor=str(dreamer_run / "dreamer")),
                               episodes=2, steps=10, device="cpu")
    assert result["model"]["class"] == "ActorCritic" and result["actions_planned"] == 10 * result["episodes"]
    assert result["mean_abs_action"] is not None and "improvement" in result


def test_policy_refusals_are_clear(dreamer_run, small_dataset):
    actor = load_model(dreamer_run / "dreamer" / "model")
    dynamics = load_model(dreamer_run / "dynamics" / "model")
    with pytest.raises(WmhubError, match="acts with planner {kind: policy}, not cem"):
        run_reacher_return(actor, planner=CEMConfig(samples=10, elites=2), episodes=1, episode_length=5)
    with pytest.raises(WmhubError, match="planner kind policy runs an actor-critic.*MLPDynamics"):
        run_reacher_return(dynamics, planner=PolicyConfig(), episodes=1, episode_length=5)
    with pytest.raises(WmhubError, match="not an ActorCritic"):
        run_reacher_return(dynamics, planner=PolicyConfig(actor=str(dreamer_run / "dynamics")), episodes=1,
                           episode_length=5)
    with pytest.raises(WmhubError, match="a policy uses no reward model"):
        run_reacher_return(actor, reward_model=load_model(dreamer_run / "reward" / "model"), planner=PolicyConfig(),
                           episodes=1, episode_length=5)
    with pytest.raises(WmhubError, match="not goal-conditioned"):
        run_goal_success(actor, small_dataset, [0], planner=PolicyConfig(), episodes=1)


def test_tiny_dreamer_evaluates_pushes_and_reproduces(dreamer_run, small_dataset, tmp_path):
    results = evaluate(dreamer_run / "dreamer")
    suite = results.suites["reacher-easy-return"]
    assert suite["planner"]["kind"] == "policy" and suite["episode_length"] == 50
    assert suite["mean_abs_action"] is not None
    hub = tmp_path / "hub"
    push(dreamer_run / "dreamer", str(hub))
    assert "actor-critic trained in imagination" in (hub / "README.md").read_text()
    again = reproduce(str(hub), out=tmp_path / "again", overrides=[f"dataset.source={small_dataset}"],
                      show_progress=False)
    assert not again.failed, [(m.name, m.claimed, m.reproduced) for m in again.failed]
    assert {"validation.loss", "suites.reacher-easy-return.return.mean"} <= {m.name for m in again.metrics}
