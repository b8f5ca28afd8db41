"""Planners (CEM, MPPI) and the planning suites in the real reacher simulator."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("MUJOCO_GL", "egl")

from wmhub.envs.reacher import PLANNING as REACHER  # noqa: E402
from wmhub.errors import WmhubError  # noqa: E402
from wmhub.eval.planners import CEMConfig, DynamicsRollout, MPPIConfig, Rollout, make_planner, planning_flops_per_action  # noqa: E402
from wmhub.eval.planning import (  # noqa: E402
    STATE_FEATURES,
    run_goal_success,
    run_reacher_return,
    run_seed_protocol,
)
from wmhub.models import Ensemble, MLPDynamics, RewardModel  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
STATE_LATENT = {"config": "steps", "features": list(STATE_FEATURES), "encoder": {"encoder": "state"}}
TINY_CEM = CEMConfig(samples=32, elites=4, iterations=2, horizon=3)


# --------------------------------------------------------------------------- test models
class ActionEcho:
    """A RolloutModel whose latent after each action is the action itself (D = A)."""

    latent = STATE_LATENT

    def __init__(self, dim: int = 2) -> None:
        self.device = torch.device("cpu")
        self.latent_dim = self.action_dim = dim

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, None]:
        return actions.clone(), None

    def flops_per_step(self) -> None:
        return None


class SimulatorRollout:
    """The true reacher dynamics as a RolloutModel: replays action sequences in a private MuJoCo copy.

    The state latent determines the whole state: qpos = position, qvel =
    velocity, and the target = finger position (forward kinematics) + to_target.
    Steps follow dm_control's order (``mj_step2`` then ``mj_step1``).
    """

    latent = STATE_LATENT

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        import mujoco

        from wmhub.envs.reacher import make_env

        self._mj = mujoco
        env = make_env(0)
        env.reset()  # sets the easy target size
        self.m = env.physics.model.ptr
        self.d = mujoco.MjData(self.m)
        self.target = mujoco.mj_name2id(self.m, mujoco.mjtObj.mjOBJ_GEOM, "target")
        self.finger = mujoco.mj_name2id(self.m, mujoco.mjtObj.mjOBJ_GEOM, "finger")
        self.device = torch.device("cpu")
        self.latent_dim, self.action_dim = 6, 2
        self.mean, self.std = mean.float(), std.float()

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.std

    def flops_per_step(self) -> None:
        return None

    def _latent(self) -> np.ndarray:
        d = self.d
        to_target = d.geom_xpos[self.target, :2] - d.geom_xpos[self.finger, :2]
        return np.concatenate([d.qpos, to_target, d.qvel])

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, None]:
        mj, m, d = self._mj, self.m, self.d
        z = z0.double().cpu().numpy()
        acts = actions.double().cpu().numpy()
        d.qpos[:], d.qvel[:] = z[0:2], 0.0
        mj.mj_kinematics(m, d)
        m.geom_pos[self.target, :2] = d.geom_xpos[self.finger, :2] + z[2:4]
        out = np.empty((acts.shape[0], acts.shape[1], 6))
        for n in range(acts.shape[0]):
            mj.mj_resetData(m, d)
            d.qpos[:], d.qvel[:] = z[0:2], z[4:6]
            mj.mj_forward(m, d)
            for h in range(acts.shape[1]):
                d.ctrl[:] = acts[n, h]
                mj.mj_step2(m, d)
                mj.mj_step1(m, d)
                out[n, h] = self._latent()
        return torch.from_numpy(out).float(), None


# --------------------------------------------------------------------------- fixtures
@dataclass
class PlanningRun:
    """A run's model, dataset root and validation episodes."""

    model: Any
    dataset_root: Path
    val_episodes: list[int]


def load_run(run_dir: Path) -> PlanningRun:
    from wmhub.runs.run import Run

    run = Run.open(run_dir, finished=True)
    return PlanningRun(run.load_model(), run.dataset_root(), run.split.val_episodes)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny state-latent dynamics run (60 generated episodes, ~10 s)."""
    from wmhub.training import load_recipe, train

    tmp = tmp_path_factory.mktemp("planning")
    recipe = load_recipe("tiny_reacher_dynamics_state", [f"dataset.source={tmp / 'tiny-reacher'}", "training.epochs=2"])
    return train(recipe, tmp / "run", show_progress=False).run_dir


# --------------------------------------------------------------------------- planners
def quadratic_cost(target: torch.Tensor):
    def cost(rollout: Rollout) -> torch.Tensor:
        return ((rollout.latents - target) ** 2).sum(dim=(-1, -2))
    return cost


@pytest.mark.parametrize("config", [CEMConfig(samples=200, elites=20, iterations=6, horizon=4),
                                    MPPIConfig(samples=200, iterations=6, horizon=4, temperature=0.05)])
def test_planners_find_the_optimum_of_a_quadratic(config):
    target = torch.tensor([0.3, -0.6])
    planner = make_planner(config, action_dim=2, seed=0)
    step = planner.plan(ActionEcho(), torch.zeros(2), quadratic_cost(target))
    assert np.abs(step.action - target.numpy()).max() < 0.05
    assert step.model_evaluations == config.samples * config.horizon * config.iterations
    assert step.wall_time_s > 0 and planner.wall_times == [step.wall_time_s]
    # an optimum outside the box is clipped to it
    step = planner.plan(ActionEcho(), torch.zeros(2), quadratic_cost(torch.tensor([3.0, -3.0])))
    assert np.allclose(step.action, [1.0, -1.0], atol=0.05) and np.abs(step.action).max() <= 1.0


@pytest.mark.parametrize("config", [TINY_CEM, MPPIConfig(samples=32, iterations=2, horizon=3)])
def test_planners_are_deterministic_per_seed(config):
    model = DynamicsRollout(MLPDynamics(6, 2, hidden_dim=16, num_layers=1, latent=STATE_LATENT))

    def actions(seed: int) -> np.ndarray:
        planner = make_planner(config, 2, seed=seed)
        cost = quadratic_cost(torch.zeros(6))
        return np.stack([planner.plan(model, torch.full((6,), 0.5 * k), cost).action for k in range(3)])

    assert np.array_equal(actions(1), actions(1))
    assert not np.array_equal(actions(1), actions(2))


def test_warm_start_shifts_the_previous_mean():
    planner = make_planner(CEMConfig(samples=8, elites=2, iterations=1, horizon=3), 2, seed=0)
    assert torch.equal(planner._initial_mean(1), torch.zeros(3, 2))
    planner._mean = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    assert torch.equal(planner._initial_mean(1), torch.tensor([[2.0, 2.0], [3.0, 3.0], [3.0, 3.0]]))
    planner.reset()
    assert torch.equal(planner._initial_mean(1), torch.zeros(3, 2))


def test_warm_start_of_action_blocks_skips_the_executed_environment_steps():
    # blocks of 2 one-dimensional actions: [[0, 1], [2, 3], [4, 5]] is the action sequence 0 … 5
    planner = make_planner(CEMConfig(samples=8, elites=2, iterations=1, horizon=3), 2, seed=0, frame_skip=2)
    planner._mean = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(planner._initial_mean(2), torch.tensor([[2.0, 3.0], [4.0, 5.0], [5.0, 5.0]]))  # a block
    assert torch.equal(planner._initial_mean(1), torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 5.0]]))  # inside one
    with pytest.raises(WmhubError, match="divide the action dim"):
        make_planner(CEMConfig(), 3, frame_skip=2)


class Integrator:
    """A RolloutModel of a 1-d integrator: z' = z + 0.1·a (a far goal needs a held action)."""

    latent = STATE_LATENT

    def __init__(self) -> None:
        self.device = torch.device("cpu")
        self.latent_dim = self.action_dim = 1

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, None]:
        return z0 + 0.1 * actions.cumsum(1), None

    def flops_per_step(self) -> None:
        return None


def test_colored_noise_has_unit_variance_and_correlates_with_beta():
    from wmhub.eval.colored_noise import colored_noise

    lag1 = {}
    for steps in (24, 25):
        for beta in (1e-9, 1.0, 2.0):
            x = colored_noise(20000, steps, 2, beta, torch.Generator().manual_seed(0))
            assert x.shape == (20000, steps, 2)
            assert x.std(0).sub(1.0).abs().max() < 0.04  # every step and dimension N(0, 1)
            lag1[beta] = float((x[:, 1:] * x[:, :-1]).mean())
        assert abs(lag1[1e-9]) < 0.02 and 0.45 < lag1[1.0] < 0.6 and lag1[2.0] > 0.8
    # beta 0 draws the same white noise as before the option existed (old results stay reproducible)
    assert torch.equal(colored_noise(4, 6, 2, 0.0, torch.Generator().manual_seed(3)),
                       torch.randn(4, 6, 2, generator=torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="beta"):
        colored_noise(1, 2, 1, -1.0, torch.Generator())


def test_colored_noise_finds_a_far_goal_that_white_noise_misses():
    # goal 2 lies 20 full-speed steps away: only a sequence that holds a ≈ 1 gets there
    def cost(rollout: Rollout) -> torch.Tensor:
        return (rollout.latents[..., 0] - 2.0).abs().mean(-1)

    best = {}
    for beta in (0.0, 2.0):
        config = CEMConfig(samples=64, elites=8, iterations=2, horizon=20, init_std=1.0, noise_beta=beta)
        best[beta] = make_planner(config, 1, seed=0).plan(Integrator(), torch.zeros(1), cost).cost
    assert best[2.0] < best[0.0] - 0.1, best  # optimum: 0.95 (a = 1 throughout)
    with pytest.raises(ValueError):
        CEMConfig(noise_beta=-1.0)


def test_kept_elites_are_never_lost_and_follow_the_warm_start_shift():
    seen: list[torch.Tensor] = []

    def cost(rollout: Rollout) -> torch.Tensor:
        seen.append(rollout.actions.clone())
        return ((rollout.latents - torch.tensor([0.3, -0.6])) ** 2).sum(dim=(-1, -2))

    def best_per_iteration(keep: int, seed: int) -> list[float]:
        seen.clear()
        config = CEMConfig(samples=6, elites=3, iterations=6, horizon=3, init_std=1.0, keep_elites=keep)
        make_planner(config, 2, seed=seed).plan(ActionEcho(), torch.zeros(2), cost)
        return [float(cost_of.min()) for cost_of in
                (((a - torch.tensor([0.3, -0.6])) ** 2).sum(dim=(-1, -2)) for a in seen)]

    for seed in range(5):  # with kept elites the best cost of an iteration never rises
        best = best_per_iteration(1, seed)
        assert all(later <= earlier for earlier, later in zip(best, best[1:])), best
    assert any(any(later > earlier for earlier, later in zip(best, best[1:]))  # without, it can
               for best in (best_per_iteration(0, seed) for seed in range(5)))

    config = CEMConfig(samples=8, elites=4, iterations=2, horizon=3, keep_elites=2)
    planner = make_planner(config, 2, seed=0, frame_skip=2)  # blocks of 2 one-dimensional actions
    seen.clear()
    first = planner.plan(ActionEcho(), torch.zeros(2), cost)
    kept = planner._kept.clone()
    assert kept.shape == (2, 3, 2) and first.model_evaluations == (8 + 8 + 2) * 3
    seen.clear()
    second = planner.plan(ActionEcho(), torch.zeros(2), cost, executed=1)
    assert torch.equal(seen[0][-2:], planner._shift(kept, 1)) and second.model_evaluations == 2 * (8 + 2) * 3
    assert torch.equal(planner._shift(torch.arange(6.0).reshape(1, 3, 2), 1)[0],
                       torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 5.0]]))
    planner.reset()
    assert planner._kept is None
    with pytest.raises(ValueError, match="keep_elites"):
        CEMConfig(elites=4, keep_elites=5)


def test_config_validation():
    with pytest.raises(ValueError):
        CEMConfig(samples=10, elites=20)
    with pytest.raises(ValueError):
        CEMConfig(init_std=0.1, min_std=0.5)
    with pytest.raises(ValueError):
        MPPIConfig(temperature=0.0)


def test_ensemble_rollout_is_one_batched_call_per_step_with_disagreement_penalty():
    torch.manual_seed(0)
    ens = Ensemble(6, 2, member={"kind": "mlp_dynamics", "hidden_dim": 16, "num_layers": 1}, num_members=3,
                   latent=STATE_LATENT)
    batches: list[int] = []
    for member in ens.members:
        member.head.register_forward_hook(lambda mod, args, out: batches.append(out.shape[0]))
    model = DynamicsRollout(ens)
    config = CEMConfig(samples=16, elites=4, iterations=2, horizon=5, disagreement_weight=1.0)
    seen: list[Rollout] = []

    def cost(rollout: Rollout) -> torch.Tensor:
        seen.append(rollout)
        return torch.zeros(rollout.latents.shape[0])

    make_planner(config, 2, seed=0).plan(model, torch.zeros(6), cost)
    assert batches == [16] * (3 * 5 * 2)  # every member once per horizon step and iteration, all samples
    r = seen[0]
    assert r.latents.shape == (16, 5, 6) and r.actions.shape == (16, 5, 2) and r.disagreement.shape == (16, 5)
    assert bool((r.disagreement > 0).all())
    # the mean prediction equals the ensemble's own open-loop rollout
    assert torch.allclose(r.latents, ens.rollout(torch.zeros(16, 6), r.actions), atol=1e-5)
    assert planning_flops_per_action(config, model.flops_per_step()) == 2 * ens.num_parameters * 16 * 5 * 2


def test_single_model_rollout_matches_the_models_rollout():
    torch.manual_seed(0)
    net = MLPDynamics(6, 2, hidden_dim=16, num_layers=1, latent=STATE_LATENT)
    net.set_normalization(torch.arange(6.0), torch.linspace(0.5, 2.0, 6))
    z0, actions = torch.randn(6), torch.rand(8, 4, 2) * 2 - 1
    latents, disagreement = DynamicsRollout(net).rollout(z0, actions)
    assert disagreement is None
    assert torch.allclose(latents, net.rollout(z0.expand(8, 6), actions), atol=1e-5)


# --------------------------------------------------------------------------- simulator helpers
def test_state_latent_and_angle_wrapping(tiny_run):
    from wmhub.envs.reacher import make_env

    run = load_run(tiny_run)
    from wmhub.eval.planning import _load_episodes

    ep = run.val_episodes[0]
    rec = _load_episodes(run.dataset_root, [ep])[ep]
    env = make_env(0)
    for t in (0, 40):
        z = REACHER.set_state(env, rec["qpos"][t], rec["qvel"][t], rec["target_pos"][t])
        np.testing.assert_array_equal(z, rec["latent"][t])
    assert REACHER.observation_latent(env.task.get_observation(env.physics)).dtype == np.float32
    np.testing.assert_allclose(REACHER.wrapped_angle_error(np.array([2 * math.pi + 0.01, -0.02]), np.zeros(2)),
                               [0.01, -0.02], atol=1e-12)
    np.testing.assert_allclose(REACHER.wrapped_angle_error(np.array([-math.pi + 0.01]), np.array([math.pi - 0.01])),
                               [0.02], atol=1e-12)


def test_planning_with_the_true_simulator_reaches_the_goal(tiny_run):
    """Verifies the planner, the state setting and the success check (not the learned model)."""
    run = load_run(tiny_run)
    sim = SimulatorRollout(run.model.latent_mean, run.model.latent_std)
    config = CEMConfig(samples=48, elites=6, iterations=3, horizon=6)
    # a configuration goal: the full latent's velocity terms would also ask to match the goal's velocity
    result = run_goal_success(sim, run.dataset_root, run.val_episodes, episodes=3, planner=config, seed=0,
                              cost_features=["position", "to_target"])
    assert result["episodes"] == 3 and result["cost_features"] == ["position", "to_target"]
    assert result["success_rate"]["mean"] == 1.0, result["per_episode"]
    assert result["final_success_rate"]["mean"] == 1.0, result["per_episode"]
    assert result["flop_bound_time_per_action_s"] is None  # no neural model to count


# --------------------------------------------------------------------------- suites on a tiny model
def _finite(x: Any) -> bool:
    return x is None or (isinstance(x, (int, float)) and math.isfinite(x))


def test_suites_run_end_to_end_on_a_tiny_model(tiny_run):
    run = load_run(tiny_run)
    common = dict(planner=TINY_CEM, seed=0, device="cpu")
    goal = run_goal_success(run.model, run.dataset_root, run.val_episodes, episodes=2, budget=4, **common)
    reward_model = RewardModel(6, 2, hidden_dim=16, num_layers=1, latent=STATE_LATENT)
    ret = run_reacher_return(run.model, reward_model=reward_model, episodes=2, episode_length=5, **common)
    surrogate = run_reacher_return(run.model, episodes=2, episode_length=5, **common)
    seed_run = run_seed_protocol(run.model, run.dataset_root, run.val_episodes, episodes=2, steps=4, **common)
    timing = ("wall_time_per_action_s", "flop_bound_time_per_action_s", "time_to_flop_bound_ratio",
              "model_flops_per_action", "matmul_flops_per_s")
    for result, keys in ((goal, ("success_rate", "final_success_rate", "final_joint_error_rad")),
                         (ret, ("return", "reached_rate")), (surrogate, ("return",)),
                         (seed_run, ("reward_sum", "initial_distance", "final_distance", "min_distance",
                                     "improvement"))):
        assert result["episodes"] == 2 and result["planner"]["samples"] == 32
        for key in keys:
            assert _finite(result[key]["mean"]) and result[key]["mean"] is not None, (result["suite"], key)
            assert _finite(result[key]["se"]) and result[key]["se"] is not None, (result["suite"], key)
        for key in timing:
            assert result[key] is not None and math.isfinite(result[key]) and result[key] > 0, (result["suite"], key)
        json.dumps(result, allow_nan=False)
    assert goal["cost_features"] == ["position", "to_target"]
    bins = goal["success_by_start_error"]  # every episode in exactly one bin, successes counted where they started
    assert sum(b["episodes"] for b in bins) == 2
    assert sum(b["successes"] for b in bins) == sum(e["success"] for e in goal["per_episode"])
    for e in goal["per_episode"]:
        (home,) = [b for b in bins if b["start_error_rad"][0] <= e["start_joint_error_rad"]
                   < (b["start_error_rad"][1] or math.inf)]
        assert home["episodes"] >= 1
    assert goal["actions_planned"] == 2 * 4 and ret["actions_planned"] == 2 * 5 and seed_run["actions_planned"] == 8
    assert ret["reward_source"] == "reward_model" and surrogate["reward_source"] == "state_surrogate"
    assert ret["model_flops_per_action"] > surrogate["model_flops_per_action"]  # the reward model is counted
    assert 0.0 <= ret["return"]["mean"] <= 5.0
    # same seed, same numbers
    again = run_goal_success(run.model, run.dataset_root, run.val_episodes, episodes=2, budget=4, **common)
    assert [e["final_joint_error_rad"] for e in again["per_episode"]] == \
        [e["final_joint_error_rad"] for e in goal["per_episode"]]


def test_non_state_latent_is_a_clear_error(tiny_run):
    run = load_run(tiny_run)
    latent = {"config": "vjepa2", "features": ["embedding"], "encoder": {"encoder": "vjepa2"}}
    model = MLPDynamics(6, 2, hidden_dim=16, num_layers=1, latent=latent)
    with pytest.raises(WmhubError, match="planning suites need the state latent; this model's latent is"):
        run_goal_success(model, run.dataset_root, run.val_episodes, episodes=1, budget=1, planner=TINY_CEM)
    with pytest.raises(WmhubError, match="this model's latent is"):
        run_reacher_return(model, episodes=1, episode_length=1, planner=TINY_CEM)
    from wmhub.runs.evaluate import evaluate

    with pytest.raises(WmhubError, match="unknown suite"):
        evaluate(tiny_run, ["nope"])


def test_benchmark_script_smoke(tiny_run):
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "planning.py"), "--run", str(tiny_run), "--episodes", "1",
         "--suite", "goal-success", "--samples", "16", "--elites", "2", "--iterations", "1", "--horizon", "2",
         "--budget", "2", "--device", "cpu"],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=True)
    assert "| goal-success | run | cpu |" in out.stdout
    start = out.stdout.index("{")
    result = json.loads(out.stdout[start:out.stdout.rindex("}") + 1])
    assert result["suites"]["goal-success"]["episodes"] == 1


# --------------------------------------------------------------------------- eval runner, CLI and card
def test_wmhub_eval_runs_planning_suites_and_the_card_reports_them(tiny_run):
    from click.testing import CliRunner
    from huggingface_hub import ModelCard

    from wmhub.cli import main
    from wmhub.runs.card import render_model_card

    result = CliRunner().invoke(main, ["eval", str(tiny_run), "--suite", "latent", "--quiet"])
    assert result.exit_code == 0, result.output
    # the recipe's goal-success options (10 episodes) with the --episodes override; latent results are kept
    result = CliRunner().invoke(main, ["eval", str(tiny_run), "--suite", "goal-success", "--episodes", "2",
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    assert "goal-success: success_rate" in result.output
    saved = json.loads((tiny_run / "eval" / "eval_results.json").read_text())
    assert set(saved["suites"]) == {"latent", "goal-success"}
    goal = saved["suites"]["goal-success"]
    assert goal["episodes"] == 2 and goal["budget"] == 30 and goal["planner"]["samples"] == 100
    card = ModelCard(str(render_model_card(tiny_run, "org/tiny")))
    assert "Planning suite `goal-success` in the real simulator (2 episodes" in card.text
    assert "LeWorldModel 86%" in card.text
    counts = [f"{b['successes']}/{b['episodes']}" for b in goal["success_by_start_error"]]
    assert (f"Successes by the start's joint error: 0–0.3 rad: {counts[0]}, 0.3–0.6 rad: {counts[1]}, "
            f"0.6–1.2 rad: {counts[2]}, ≥ 1.2 rad: {counts[3]}.") in card.text
    names = [r.metric_name for r in ModelCard.load(_save(card, tiny_run)).data.eval_results]
    assert "goal-success success_rate" in names and "cosine@1" in names


def _save(card, run_dir: Path) -> Path:
    path = run_dir / "card-test.md"
    card.save(path)
    return path


def test_planning_options_are_checked_with_clear_errors(tiny_run):
    from wmhub.eval.planning_suites import run_planning_suite

    run = load_run(tiny_run)
    cpu = torch.device("cpu")
    with pytest.raises(WmhubError, match=r"eval.goal-success: unknown option\(s\) \['budgett'\]"):
        run_planning_suite("goal-success", {"budgett": 3}, run.model, run.dataset_root, run.val_episodes, cpu, False)
    with pytest.raises(WmhubError, match="eval.seed-protocol.planner"):
        run_planning_suite("seed-protocol", {"planner": {"kind": "cem", "samples": 4, "elites": 9}}, run.model,
                           run.dataset_root, run.val_episodes, cpu, False)
    # the chosen planner's field
    with pytest.raises(WmhubError, match=r"greater than or equal to 0 \(at mppi.noise_beta\)"):
        run_planning_suite("goal-success", {"planner": {"kind": "mppi", "noise_beta": -1}}, run.model,
                           run.dataset_root, run.val_episodes, cpu, False)
    with pytest.raises(WmhubError, match=r"keep_elites \(5\) must not exceed elites \(4\) \(at cem\)"):  # kind: cem
        run_planning_suite("goal-success", {"planner": {"elites": 4, "keep_elites": 5}}, run.model,
                           run.dataset_root, run.val_episodes, cpu, False)
    with pytest.raises(WmhubError, match="neither a training run nor a model directory"):
        run_planning_suite("reacher-easy-return", {"reward_model": str(tiny_run / "nowhere")}, run.model,
                           run.dataset_root, run.val_episodes, cpu, False)
    with pytest.raises(WmhubError, match="holds a MLPDynamics, not a RewardModel"):
        run_planning_suite("reacher-easy-return", {"reward_model": str(tiny_run)}, run.model,
                           run.dataset_root, run.val_episodes, cpu, False)


def test_a_world_model_plans_with_its_own_predictions_as_history():
    from wmhub.eval.planners import as_rollout_model
    from wmhub.models.world_model import WorldModel, WorldModelRollout

    torch.manual_seed(0)
    wm = WorldModel(6, 2, width=16, depth=1, heads=2, context=3, latent=STATE_LATENT)
    model = as_rollout_model(wm, "cpu")
    assert isinstance(model, WorldModelRollout)
    z0, actions = torch.randn(6), torch.rand(5, 4, 2) * 2 - 1
    latents, _ = model.rollout(z0, actions)
    assert torch.allclose(latents, wm.rollout(z0.expand(5, 6), actions), atol=1e-6)
    step = make_planner(TINY_CEM, 2, seed=0).plan(model, z0, quadratic_cost(torch.zeros(6)))
    assert step.action.shape == (2,) and np.abs(step.action).max() <= 1.0


def test_success_by_start_error_bins_episodes_by_their_start():
    from wmhub.eval.planning import success_by_start_error

    episodes = [{"start_joint_error_rad": err, "success": ok}
                for err, ok in ((0.05, True), (0.29, False), (0.3, True), (0.9, True), (1.5, False), (2.9, False))]
    bins = success_by_start_error(episodes)
    assert [b["start_error_rad"] for b in bins] == [[0.0, 0.3], [0.3, 0.6], [0.6, 1.2], [1.2, None]]
    assert [(b["successes"], b["episodes"]) for b in bins] == [(1, 2), (1, 1), (1, 1), (0, 2)]
