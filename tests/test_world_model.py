"""The transformer world model: shapes, causality, learning, save/load, the tiny recipe, collapse checks."""

from __future__ import annotations

import json
import os

import pytest
import torch

from wmhub.data.reader import open_dataset
from wmhub.errors import WmhubError
from wmhub.eval.collapse import collapse_stats
from wmhub.eval.latent import latent_suite
from wmhub.models import WorldModel, WorldModelRollout, world_model_parameters
from wmhub.models.registry import load_model
from wmhub.runs.card import render_model_card
from wmhub.training import load_recipe, parse_recipe, train
from wmhub.training.objectives import Objective, world_model_terms

RECIPE = "tiny_reacher_world_model_state"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _scrambled(model: WorldModel, seed: int = 0) -> WorldModel:
    """A model whose zero-initialised gates and head are random too (else it is exactly copy-last)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model.eval()


@pytest.mark.parametrize("conditioning", ["adaln", "add"])
def test_shapes(conditioning):
    model = _scrambled(WorldModel(6, 2, width=32, depth=2, heads=4, context=4, conditioning=conditioning))
    z, a = torch.randn(5, 4, 6), torch.randn(5, 4, 2)
    assert model.predict_normalized(z, a).shape == (5, 4, 6)
    assert model(z, a).shape == (5, 4, 6)                      # a sequence: next latent at every position
    assert model(z[:, 0], a[:, 0]).shape == (5, 6)             # one latent: DynamicsModel's f(z, a)
    assert model.step_normalized(torch.randn(3, 5, 6), torch.randn(3, 5, 2)).shape == (3, 5, 6)
    future = torch.randn(5, 9, 2)
    assert model.rollout(z[:, -1], future).shape == (5, 9, 6)
    assert model.rollout(z, future, context_actions=a[:, :3]).shape == (5, 9, 6)
    assert model.rollout(z[:, -2:], future, context_actions=a[:, :1]).shape == (5, 9, 6)
    plan, disagreement = WorldModelRollout(model).rollout(torch.randn(6), torch.rand(7, 3, 2) * 2 - 1)
    assert plan.shape == (7, 3, 6) and disagreement is None
    with pytest.raises(WmhubError, match="at most 4 latents"):
        model.predict_normalized(torch.randn(2, 5, 6), torch.randn(2, 5, 2))
    with pytest.raises(WmhubError, match="needs 3 context actions"):
        model.rollout(z, future, context_actions=a[:, :2])
    with pytest.raises(WmhubError, match="divisible by heads"):
        WorldModel(6, 2, width=30, heads=4)


def test_untrained_model_is_copy_last_and_counts_are_exact():
    model = WorldModel(6, 2, width=32, depth=2, heads=4, context=3)
    z, a = torch.randn(8, 3, 6), torch.randn(8, 3, 2)
    assert torch.equal(model.predict_normalized(z, a), z)      # zero-initialised head (and adaLN gates)
    batch = {"latents": torch.randn(8, 5, 6), "actions": torch.randn(8, 4, 2)}
    for layer_norm in (True, False):
        objective = Objective("world_model", "l1", layer_norm=layer_norm)
        assert torch.allclose(objective(model, batch), objective.baseline(model, batch))
    for conditioning in ("adaln", "add"):
        built = WorldModel(81, 12, width=48, depth=3, heads=6, context=5, mlp_ratio=2.5, conditioning=conditioning)
        assert built.num_parameters == world_model_parameters(81, 12, 48, 3, 5, 2.5, conditioning)


@pytest.mark.parametrize("conditioning", ["adaln", "add"])
def test_causal_over_time(conditioning):
    """The prediction at position t is bitwise unchanged when later latents or actions change."""
    model = _scrambled(WorldModel(6, 2, width=32, depth=3, heads=4, context=6, conditioning=conditioning))
    z, a = torch.randn(4, 6, 6), torch.randn(4, 6, 2)
    with torch.no_grad():
        before = model.predict_normalized(z, a)
        for t in range(5):
            z2, a2 = z.clone(), a.clone()
            z2[:, t + 1:] += torch.randn_like(z2[:, t + 1:])
            a2[:, t + 1:] = -a2[:, t + 1:] + 0.5
            after = model.predict_normalized(z2, a2)
            assert torch.equal(after[:, :t + 1], before[:, :t + 1]), t
            assert not torch.equal(after[:, t + 1:], before[:, t + 1:])
        a3 = a.clone()
        a3[:, 2] += 1.0  # the action at t conditions the prediction at t
        assert not torch.equal(model.predict_normalized(z, a3)[:, 2], before[:, 2])


def _linear_system(n: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Trajectories of z' = A z + B a (a stable rotation-and-decay A, uniform random actions)."""
    g = torch.Generator().manual_seed(1234)  # the same system for every seed
    angle = torch.tensor([0.3, 0.7])
    blocks = [0.97 * torch.tensor([[c, -s], [s, c]]) for c, s in zip(angle.cos(), angle.sin())]
    A, B = torch.block_diag(*blocks), torch.randn(4, 2, generator=g) * 0.5
    g = torch.Generator().manual_seed(seed)
    z = [torch.randn(n, 4, generator=g)]
    actions = torch.rand(n, length - 1, 2, generator=g) * 2 - 1
    for t in range(length - 1):
        z.append(z[-1] @ A.T + actions[:, t] @ B.T)
    return torch.stack(z, dim=1), actions


def test_learns_linear_dynamics_and_beats_copy_last_at_horizon_10():
    torch.manual_seed(0)
    model = WorldModel(4, 2, width=32, depth=1, heads=4, context=4)
    latents, actions = _linear_system(4096, 4 + 3, seed=0)            # windows of k + H latents, H = 3
    model.set_normalization(latents.flatten(0, 1).mean(0), latents.flatten(0, 1).std(0))
    objective = Objective("world_model", "l1", layer_norm=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=1e-4)
    model.train()
    for _step in range(150):
        idx = torch.randint(0, 4096, (64,))
        loss = objective(model, {"latents": latents[idx], "actions": actions[idx]})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    z, a = _linear_system(256, 4 + 10, seed=1)
    with torch.no_grad():
        pred = model.rollout(z[:, :4], a[:, 3:], context_actions=a[:, :3])
        forced, rolled = world_model_terms(model, model.normalize(z[:, :6]), a[:, :5])
    assert forced.shape == (256, 4, 4) and rolled.shape == (256, 2, 4)
    model_error = (pred[:, 9] - z[:, 13]).norm(dim=-1).mean()
    copy_error = (z[:, 3] - z[:, 13]).norm(dim=-1).mean()
    assert model_error < 0.2 * copy_error, (float(model_error), float(copy_error))


@pytest.mark.parametrize("conditioning", ["adaln", "add"])
def test_from_pretrained_round_trip_is_bit_identical(tmp_path, conditioning):
    model = _scrambled(WorldModel(6, 2, width=32, depth=2, heads=4, context=4, conditioning=conditioning,
                                  latent={"config": "steps", "features": ["a", "b"]}))
    model.set_normalization(torch.randn(6), torch.rand(6) + 0.5)
    z, a, future = torch.randn(8, 4, 6), torch.randn(8, 4, 2), torch.randn(8, 6, 2)
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model_class"] == "WorldModel" and config["conditioning"] == conditioning
    for loaded in (load_model(tmp_path / "m"), WorldModel.from_pretrained(str(tmp_path / "m"))):
        assert type(loaded) is WorldModel and loaded.context == 4 and loaded.latent == model.latent
        assert torch.equal(loaded(z, a), model(z, a))
        assert torch.equal(loaded.rollout(z, future, a[:, :3]), model.rollout(z, future, a[:, :3]))
    weights = tmp_path / "m" / "model.safetensors"
    import safetensors.torch

    state = safetensors.torch.load_file(weights)
    state.pop("head.bias")
    safetensors.torch.save_file(state, weights)
    with pytest.raises(WmhubError, match="do not match"):
        load_model(tmp_path / "m")


def test_tiny_recipe_trains_and_beats_copy_last_in_the_latent_suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("wm")
    recipe = load_recipe(RECIPE, [f"dataset.source={root / 'tiny-reacher'}"])
    assert recipe.objective == "world_model" and recipe.window == 4 + 2 - 1
    result = train(recipe, root / "run", show_progress=False)
    s = result.summary
    assert s.model_class == "WorldModel" and s.baseline == "copy-last" and s.horizon == 2
    assert s.val_loss < 0.5 * s.val_baseline_loss, s
    model = load_model(result.model_dir)
    assert isinstance(model, WorldModel) and model.num_parameters == s.num_parameters
    dataset = open_dataset(root / "tiny-reacher")
    val = json.loads((root / "run" / "split.json").read_text())["val_episodes"]
    suite = latent_suite(model, dataset, val, horizons=[1, 10, 30], stride=10)
    assert suite["min_start"] == 3 and suite["context"] == 4
    for k, e in suite["horizons"].items():
        assert e["relative_l2"]["mean"] < 0.5 * e["copy_last_relative_l2"]["mean"], (k, e)
        assert e["cosine"]["mean"] > e["copy_last_cosine"]["mean"], (k, e)
    # the same start states as a plain model's suite with min_start=3 (copy-last identical)
    same = latent_suite(model, dataset, val, horizons=[1, 10, 30], stride=10, min_start=3)
    assert same["horizons"] == suite["horizons"]
    card = str(render_model_card(root / "run", "wmhub/tiny-world-model"))
    assert f"{model.num_parameters:,} parameters" in card and "`adaln`" in card and "48 × 2 × 4" in card


def test_collapse_detection():
    g = torch.Generator().manual_seed(0)
    healthy = collapse_stats(torch.randn(2000, 64, generator=g))
    assert not healthy["collapsed"] and healthy["effective_rank"] > 55 and healthy["per_dim_std_min"] > 0.9
    constant = collapse_stats(torch.full((500, 64), 3.7))
    assert constant["collapsed"] and constant["per_dim_std_mean"] == 0.0 and constant["effective_rank"] == 0.0
    rank_one = torch.randn(500, 1, generator=g) * torch.randn(1, 64, generator=g) + 5.0
    stats = collapse_stats(rank_one)
    assert stats["collapsed"] and stats["effective_rank"] < 1.1 and stats["per_dim_std_mean"] > 0.1
    assert not collapse_stats(torch.randn(1000, 6, generator=g))["collapsed"]
    with pytest.raises(WmhubError, match=r"\[N, D\]"):
        collapse_stats(torch.randn(4, 3, 2))


def test_recipe_errors_name_the_key():
    recipe = load_recipe(RECIPE)
    assert recipe.model.conditioning == "adaln" and recipe.loss == "l1" and recipe.target_layer_norm is False
    cases = {"model.widht=64": "unknown key 'model.widht'",
             "model.width=30": "model.width (30) must be divisible by model.heads (4)",
             "model.conditioning=film": "model.conditioning",
             "model.context=0": "model.context",
             "training.loss=huber": "training.loss 'huber' does not fit a world_model model"}
    for override, message in cases.items():
        with pytest.raises(WmhubError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_recipe(RECIPE, [override])
    with pytest.raises(WmhubError, match="training.target_layer_norm"):
        load_recipe("tiny_reacher_dynamics_state", ["training.target_layer_norm=true"])
    with pytest.raises(WmhubError, match=r"eval.latent.horizons \[1, 5\] count environment steps"):
        load_recipe("reacher_world_model_pixels_fs5", ["eval.latent.horizons=[1, 5]"])
    with pytest.raises(WmhubError, match="multiple of 2"):  # the default horizons 1, 5, 10, 30
        load_recipe(RECIPE, ["model.frame_skip=2"])
    assert load_recipe("reacher_world_model_pixels_fs5").frame_skip == 5
    for size, expected in (("10m", 10e6), ("100m", 100e6), ("300m", 300e6)):
        spot = load_recipe(f"spot_world_model_{size}")
        m = spot.model
        count = world_model_parameters(81, 12, m.width, m.depth, m.context, m.mlp_ratio, m.conditioning)
        assert 0.9 * expected < count < 1.1 * expected, (size, count)
    assert parse_recipe(load_recipe(RECIPE).to_yaml()).model == recipe.model


def test_size_benchmark_cuts_the_data_and_equalises_compute():
    """benchmarks/world_model_sizes.py: the 50-hour command cut to N episodes; steps inversely to parameters."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "world_model_sizes.py"
    spec = importlib.util.spec_from_file_location("world_model_sizes", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    command = load_recipe("spot_world_model_10m").dataset.commands()[0]
    cut = bench.subset_command(command, 200, 16)
    assert "--episodes 9000" in command and "--episodes 200 " in cut and "--workers 16" in cut
    assert cut.replace("--episodes 200 ", "--episodes 9000 ").replace("--workers 16", "--workers 2") == command
    with pytest.raises(SystemExit, match="no `--episodes N`"):
        bench.subset_command("wmhub generate spot OUT --seed 0", 200, 2)
    m = load_recipe("spot_world_model_10m").model
    built = WorldModel(81, 12, width=m.width, depth=m.depth, heads=m.heads, context=m.context,
                       mlp_ratio=m.mlp_ratio, conditioning=m.conditioning)
    assert bench.parameters("spot_world_model_10m") == built.num_parameters
    names = ["spot_world_model_10m", "spot_world_model_100m"]
    plan = bench.plan_steps(names, 6.4e11, 64)
    for name, steps in plan.items():  # each sees the budget, within one step's worth
        assert 0 <= steps * 64 * bench.parameters(name) - 6.4e11 < 64 * bench.parameters(name)
    assert plan[names[0]] > 9 * plan[names[1]]
    counts, rates = {"a": 1_000, "b": 10_000}, {"a": 500.0, "b": 100.0}
    budget = bench.fit_budget(rates, counts, 60.0)  # a: B/1e3/500 s, b: B/1e4/100 s, 60 s in all
    assert budget / 1_000 / 500 + budget / 10_000 / 100 == pytest.approx(60.0)
    with pytest.raises(ValueError, match="positive"):
        bench.fit_budget({"a": 0.0}, counts, 60.0)


@pytest.mark.slow
def test_size_benchmark_fits_its_budget_from_pilot_runs_and_resumes(tmp_path):
    """The whole benchmark on two tiny Spot recipes: pilots, fitted budget, training, latent suite, resume."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    files = []
    for name, width in (("tiny_spot_a", 16), ("tiny_spot_b", 32)):
        recipe = load_recipe("spot_world_model_10m", [f"model.width={width}", "model.depth=1", "model.heads=2"])
        path = tmp_path / f"{name}.yaml"
        path.write_text(recipe.to_yaml().replace("name: spot_world_model_10m", f"name: {name}"))
        files.append(str(path))
    command = [sys.executable, str(repo / "benchmarks" / "world_model_sizes.py"), "--recipes", *files,
               "--fit-seconds", "4", "--pilot-steps", "6", "--episodes", "6", "--batch-size", "16",
               "--val-fraction", "0.34", "--stride", "50", "--device", "cpu", "--out", str(tmp_path / "out"),
               "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    rates = result["pilot_samples_per_s"]
    assert set(rates) == {"tiny_spot_a", "tiny_spot_b"} and all(r > 0 for r in rates.values())
    counts = {r["recipe"]: r["parameters"] for r in result["runs"]}
    assert counts["tiny_spot_b"] > 2 * counts["tiny_spot_a"]
    # the budget is the one that, at the pilots' rates, trains for 4 s in all; each run sees it
    assert sum(result["budget_parameter_windows"] / (counts[n] * rates[n]) for n in rates) == pytest.approx(4.0)
    for run in result["runs"]:
        assert 0 <= run["parameter_windows"] - result["budget_parameter_windows"] < 16 * run["parameters"]
        assert set(run["cosine"]) == {"1", "5", "10", "30"}
    assert (tmp_path / "data" / "spot-6").is_dir()
    assert (tmp_path / "out" / "pilot" / "tiny_spot_a" / "summary.json").is_file()
    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "results.json").read_text()) == result  # reused, not retrained


# ------------------------------------------------------------------ frame skip (action blocks)
def test_frame_skip_windows_are_action_blocks_inside_one_episode(small_dataset):
    from wmhub.data.windows import WindowDataset
    from wmhub.training.data import SampleSpec, count_samples

    dataset = open_dataset(small_dataset)
    data = dataset.load_tensors("steps")
    windows = WindowDataset(data, horizon=2, frame_skip=3)
    batch = windows.batch(torch.arange(len(windows)))
    rows = windows.rows
    for j in range(3):  # every third latent
        assert torch.equal(batch["latents"][:, j], data.latents[rows + 3 * j])
    for j in range(2):  # the block's three actions in time order, rewards summed over the block
        block = torch.cat([data.actions[rows + 3 * j + i] for i in range(3)], dim=-1)
        assert torch.equal(batch["actions"][:, j], block)
        torch.testing.assert_close(batch["rewards"][:, j], sum(data.rewards[rows + 3 * j + i] for i in range(3)))
    assert torch.isfinite(batch["rewards"]).all()  # never the action-less last row
    assert torch.equal(data.episode_index[rows + 6], data.episode_index[rows])  # never across episodes
    lengths = torch.bincount(data.episode_index)
    assert len(windows) == int((lengths[lengths > 0] - 6).clamp_min(0).sum())
    spec = SampleSpec("steps", dataset.config_info("steps").latent_features, "world_model", 2, frame_skip=3)
    episodes = sorted(int(e) for e in torch.unique(data.episode_index))
    assert count_samples(dataset, spec, [0, 1, 2], episodes) == len(windows)
    with pytest.raises(WmhubError, match="frame_skip"):
        WindowDataset(data, horizon=2, frame_skip=0)


def test_env_steps_execute_a_block_in_order_up_to_the_limit():
    import numpy as np

    from wmhub.eval.planning import env_steps

    class Recorder:
        def __init__(self) -> None:
            self.actions: list[list[float]] = []

        def step(self, action):
            self.actions.append(list(action))
            return len(self.actions)

    env = Recorder()
    steps = list(env_steps(env, np.arange(6.0), 3, 10))
    assert [t for _, t in steps] == [1, 2, 3] and [list(a) for a, _ in steps] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert env.actions == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert [t for _, t in env_steps(env, np.arange(6.0), 3, 2)] == [4, 5]


FRAME_SKIP_RECIPE = """
name: tiny_frame_skip
dataset: {{source: "{root}"}}
model: {{kind: world_model, width: 16, depth: 1, heads: 2, context: 3, frame_skip: 2}}
training: {{epochs: 2, batch_size: 32, warmup_steps: 2, horizon: 2, loss: l1, target_layer_norm: false,
            val_fraction: 0.25, log_every: 5}}
"""


def test_a_frame_skip_model_trains_evaluates_and_plans_in_action_blocks(small_dataset, tmp_path):
    from wmhub.eval.planners import CEMConfig
    from wmhub.eval.planning import run_goal_success

    recipe = parse_recipe(FRAME_SKIP_RECIPE.format(root=small_dataset), "frame_skip.yaml")
    assert recipe.frame_skip == 2
    result = train(recipe, tmp_path / "run", show_progress=False)
    assert result.summary.frame_skip == 2 and result.summary.action_dim == 4
    model = load_model(result.model_dir)
    assert isinstance(model, WorldModel) and model.frame_skip == 2 and model.action_dim == 4
    dataset = open_dataset(small_dataset)
    val = json.loads((tmp_path / "run" / "split.json").read_text())["val_episodes"]

    # horizons are environment steps: the copy-last baseline equals a one-step model's at the same starts
    suite = latent_suite(model, dataset, val, horizons=[2, 6], stride=2)
    assert suite["frame_skip"] == 2 and suite["min_start"] == 4 and suite["curve"]["horizon"] == [2, 4, 6]
    plain = WorldModel(6, 2, width=16, depth=1, heads=2, context=1, latent=model.latent)
    reference = latent_suite(plain, dataset, val, horizons=[2, 6], stride=2, min_start=4)
    for h in ("2", "6"):
        assert suite["horizons"][h]["copy_last_cosine"] == reference["horizons"][h]["copy_last_cosine"]
    with pytest.raises(WmhubError, match="multiple of 2"):
        latent_suite(model, dataset, val, horizons=[1, 2])
    with pytest.raises(WmhubError, match="blocks of 2 actions"):
        model.check_compatible(6, 4)

    # planning executes each planned block's two actions; the budget counts environment steps
    goal = run_goal_success(model, small_dataset, val, episodes=2, goal_offset=4, budget=5,
                            planner=CEMConfig(samples=16, elites=4, iterations=1, horizon=2))
    assert goal["frame_skip"] == 2 and goal["plans"] == 2 * 3 and goal["actions_planned"] == 2 * 3 * 2
    assert all(e["steps_to_success"] is None or 1 <= e["steps_to_success"] <= 5 for e in goal["per_episode"])
    assert goal["wall_time_per_action_s"] == pytest.approx(goal["wall_time_per_plan_s"] / 2)
    every = run_goal_success(model, small_dataset, val, episodes=2, goal_offset=4, budget=5, replan_every=1,
                             planner=CEMConfig(samples=16, elites=4, iterations=1, horizon=2))
    assert every["replan_every"] == 1 and every["plans"] == 2 * 5
    assert every["wall_time_per_action_s"] == pytest.approx(every["wall_time_per_plan_s"])
    with pytest.raises(WmhubError, match="replan_every must be between 1 and 2"):
        run_goal_success(model, small_dataset, val, episodes=1, replan_every=3)
    from wmhub.runs.card import metrics_table
    from wmhub.runs.results import EvalResults, Validation

    validation = Validation(loss_name="l1", episodes=3, loss=0.1, baseline_loss=0.2, baseline="copy-last", samples=30)
    table = metrics_table(EvalResults(recipe="tiny", model_class="WorldModel", num_parameters=1, device="cpu",
                                      validation=validation, suites={"latent": suite, "goal-success": goal}))
    assert "blocks of 2 environment steps; horizons count environment steps" in table
    assert "action blocks of 2 environment steps" in table


def test_a_frame_skip_rollout_reads_its_history_every_k_environment_steps():
    torch.manual_seed(0)
    model = _scrambled(WorldModel(3, 4, width=16, depth=1, heads=2, context=3, frame_skip=2))
    rollout = WorldModelRollout(model, "cpu")
    zs, acts = torch.randn(8, 3), torch.rand(8, 2) * 2 - 1
    rollout.observe(zs[0])
    for t in range(1, 8):  # environment steps: z_t reached by the 2-d action a_t
        rollout.observe(zs[t], acts[t])
    plans = torch.rand(5, 2, 4) * 2 - 1
    got, _ = rollout.rollout(zs[7], plans)
    context = zs[[3, 5, 7]].expand(5, 3, 3)              # 2 and 4 environment steps back
    between = torch.stack([torch.cat([acts[4], acts[5]]), torch.cat([acts[6], acts[7]])]).expand(5, 2, 4)
    torch.testing.assert_close(got, model.rollout(context, plans, context_actions=between))
    rollout.observe(zs[0])  # a new episode: a context of one
    torch.testing.assert_close(rollout.rollout(zs[0], plans)[0], model.rollout(zs[0].expand(5, 3), plans))
