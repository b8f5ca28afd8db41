"""The ``policy`` planner kind: a learned actor runs in the planning suites instead of CEM (one forward pass per
action), reporting return, mean |action| and time per action; a tiny Dreamer run evaluates, pushes and
reproduces like every recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from wmhub.errors import ConfigError, WmhubError
from wmhub.eval.planners import CEMConfig, PolicyConfig, Rollout
from wmhub.eval.planning import reward_value_cost, run_goal_success, run_reacher_return, run_seed_protocol
from wmhub.eval.planning_suites import run_planning_suite
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
    with pytest.raises(WmhubError, match="a policy uses no reward or value model"):
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


def test_reward_value_cost_is_the_discounted_reward_plus_terminal_value(dreamer_run):
    reward = load_model(dreamer_run / "reward" / "model").eval()
    agent = load_model(dreamer_run / "dreamer" / "model").eval()
    generator = torch.Generator().manual_seed(0)
    start, latents = torch.randn(6, generator=generator), torch.randn(4, 3, 6, generator=generator)
    actions = torch.rand(4, 3, 2, generator=generator) * 2 - 1
    with torch.no_grad():
        cost = reward_value_cost(reward, agent, 0.9)(Rollout(start, latents, actions))
        for n in range(4):  # by hand, one sequence at a time
            zs = [start, latents[n, 0], latents[n, 1]]
            total = sum(0.9 ** h * float(reward(zs[h][None], actions[n, h][None])) for h in range(3))
            total += 0.9 ** 3 * float(agent.values_normalized(agent.normalize(latents[n, 2][None])).min())
            assert float(cost[n]) == pytest.approx(-total, rel=1e-5, abs=1e-6)


def test_cem_plans_with_learned_reward_and_value(dreamer_run, small_dataset):
    dynamics = load_model(dreamer_run / "dynamics" / "model")
    options = {"reward_model": str(dreamer_run / "reward"), "value_model": str(dreamer_run / "dreamer"),
               "gamma": 0.95, "episodes": 1, "episode_length": 10, "videos": 0,
               "planner": {"samples": 16, "elites": 4, "iterations": 2, "horizon": 3}}
    result = run_planning_suite("reacher-easy-return", options, dynamics, small_dataset, [0], torch.device("cpu"),
                                False)
    assert result["reward_source"] == "reward_model+value" and result["gamma"] == 0.95
    assert result["value_model"] == str(dreamer_run / "dreamer") and result["actions_planned"] == 10
    assert 0 <= result["return"]["mean"] <= 10
    with pytest.raises(WmhubError, match="name the reward run too"):
        run_reacher_return(dynamics, value_model=load_model(dreamer_run / "dreamer" / "model"), episodes=1,
                           episode_length=5)
    with pytest.raises(ConfigError, match="value_model: .* holds a MLPDynamics, not an ActorCritic"):
        run_planning_suite("reacher-easy-return", {**options, "value_model": str(dreamer_run / "dynamics")},
                           dynamics, small_dataset, [0], torch.device("cpu"), False)


def test_a_bc_policy_acts_in_the_suites(dreamer_run):
    """The seeds' phase-1 BC policy runs with {kind: policy} too: one forward pass, no critic (cost NaN)."""
    from wmhub.models.bc import BCPolicy

    actor = load_model(dreamer_run / "dreamer" / "model")
    torch.manual_seed(0)
    bc = BCPolicy(actor.latent_dim, actor.action_dim, latent=dict(actor.latent))
    result = run_reacher_return(bc, planner=PolicyConfig(), episodes=1, episode_length=20, device="cpu", videos=0)
    assert result["model"]["class"] == "BCPolicy" and result["actions_planned"] == 20
    assert result["model_flops_per_action"] == 2 * bc.num_parameters and result["mean_abs_action"] > 0


def test_cem_policy_prior_adds_the_actors_rollout_to_the_population(dreamer_run, small_dataset):
    from wmhub.eval.planners import DynamicsRollout, make_planner

    dynamics = DynamicsRollout(load_model(dreamer_run / "dynamics" / "model"), "cpu")
    agent = load_model(dreamer_run / "dreamer" / "model").eval()
    z0 = torch.randn(6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # the actor's deterministic rollout through the model, by hand
        z, by_hand = z0[None], []
        for _ in range(4):
            by_hand.append(agent(z)[0])
            z = dynamics.rollout(z0, torch.stack(by_hand)[None])[0][:, -1]
    wanted = torch.stack(by_hand)

    def cost(rollout: Rollout) -> torch.Tensor:  # cheapest: exactly the actor's sequence
        return (rollout.actions - wanted).abs().sum((1, 2))

    config = CEMConfig(samples=4, elites=1, iterations=1, horizon=4, init_std=0.05, min_std=0.0,
                       policy_samples=5)
    planner = make_planner(config, 2, seed=0, policy=agent)
    step = planner.plan(dynamics, z0, cost)
    assert step.cost == pytest.approx(0.0, abs=1e-5)
    assert torch.allclose(torch.as_tensor(step.action, dtype=torch.float32), wanted[0], atol=1e-6)
    assert step.model_evaluations == (4 + 5) * 4 + 5 * (1 + 2 + 3 + 4)  # the population, then the proposals
    without = make_planner(config.model_copy(update={"policy_samples": 0}), 2, seed=0).plan(dynamics, z0, cost)
    assert without.cost > 0.05  # four Gaussian samples around zero do not find it

    # the suite's value model proposes by default; the refusals name the fix
    options = {"reward_model": str(dreamer_run / "reward"), "value_model": str(dreamer_run / "dreamer"),
               "episodes": 1, "episode_length": 5, "videos": 0,
               "planner": {"samples": 8, "elites": 2, "iterations": 1, "horizon": 3, "policy_samples": 4}}
    result = run_planning_suite("reacher-easy-return", options, dynamics.model, small_dataset, [0],
                                torch.device("cpu"), False)
    assert result["planner"]["policy_samples"] == 4 and result["actions_planned"] == 5
    with pytest.raises(WmhubError, match="needs an actor: name an actor_critic run in planner.actor"):
        run_reacher_return(dynamics.model, reward_model=load_model(dreamer_run / "reward" / "model"),
                           planner=CEMConfig(samples=8, elites=2, horizon=3, policy_samples=4), episodes=1,
                           episode_length=5)
    with pytest.raises(ValueError, match="set policy_samples > 0 or drop actor"):
        CEMConfig(actor="runs/x")


def test_imagination_drift_benchmark_measures_open_loop_error(dreamer_run, small_dataset, tmp_path):
    """benchmarks/imagination_drift.py: the one-step figures on the data equal a by-hand model step."""
    import importlib.util
    import sys

    import numpy as np

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "imagination_drift.py"
    if "imagination_drift" not in sys.modules:
        spec = importlib.util.spec_from_file_location("imagination_drift", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["imagination_drift"] = module
        spec.loader.exec_module(module)
    bench = sys.modules["imagination_drift"]
    out = tmp_path / "drift.json"
    assert bench.main(["--actor", str(dreamer_run / "dreamer"), "--dynamics", str(dreamer_run / "dynamics"),
                       "--data", str(small_dataset), "--episodes", "0", "--steps", "12", "--horizons", "1", "4",
                       "--data-episodes", "2", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["where"].split(" (")[0], r["horizon"], r["windows"]) for r in rows] == [  # 30-step episodes
        ("policy path", 1, 12), ("policy path", 4, 9), ("held-out data", 1, 2 * 30), ("held-out data", 4, 2 * 27)]
    model = load_model(dreamer_run / "dynamics" / "model").eval()
    (zs, actions), _ = bench.data_paths(str(small_dataset), 2)
    with torch.no_grad():
        z = torch.as_tensor(zs[:-1])
        predicted = model.denormalize(model.step_normalized(model.normalize(z), torch.as_tensor(actions)))
        real = torch.as_tensor(zs[1:])
    errors, distance, truth = bench.drift(model, [(zs, actions)], 1)
    np.testing.assert_allclose(errors, (model.normalize(predicted) - model.normalize(real)).abs().numpy(), atol=1e-6)
    np.testing.assert_allclose(distance - truth, (predicted[:, 2:4].norm(dim=-1) - real[:, 2:4].norm(dim=-1)).numpy(),
                               atol=1e-6)
