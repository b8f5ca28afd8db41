"""Actor-critic trained in imagination: parameter counts, the tiny recipe trains and loads, every reward and
gradient option runs, same seed → same bytes, SIGKILL then --resume equals the uninterrupted run, clear errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from wmhub.errors import ConfigError, NotFoundError
from wmhub.models.actor_critic import ActorCritic
from wmhub.models.registry import load_model
from wmhub.training import load_recipe, train
from wmhub.training.imagination import goal_from_batches, goal_latent, lambda_returns
from wmhub.training.metrics_log import read_metrics

from support.training import full_and_resumed

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks: one thread is ~10x faster when busy

DREAMER = "tiny_reacher_dreamer_state"
DREAMERS = [DREAMER, "reacher_dreamer_1m_state", "reacher_dreamer_hybrid_1m_state",
            "reacher_dreamer_ensemble_1m_state"]


def _data_overrides(data: Path) -> list[str]:
    return [f"dataset.source={data}", "dataset.generate=null"]


@pytest.fixture(scope="module")
def frozen(small_dataset, tmp_path_factory) -> dict[str, Path]:
    """Tiny frozen runs on the small dataset: dynamics, a 2-member ensemble, a reward model (seconds)."""
    root = tmp_path_factory.mktemp("frozen")
    short = [*_data_overrides(small_dataset), "training.epochs=2", "eval={}", "training.log_every=5"]
    runs = {"dynamics": ("tiny_reacher_dynamics_state", ["model.hidden_dim=32"]),
            "ensemble": ("tiny_reacher_dynamics_state",
                         ["model={kind: ensemble, num_members: 2, member: {kind: mlp_dynamics, hidden_dim: 32}}"]),
            "reward": ("tiny_reacher_reward_state", ["model.hidden_dim=32"])}
    out = {}
    for key, (name, extra) in runs.items():
        out[key] = root / key
        train(load_recipe(name, [*short, *extra]), out[key], show_progress=False)
    return out


def _dreamer(small_dataset: Path, frozen: dict[str, Path], *extra: str):
    return load_recipe(DREAMER, [*_data_overrides(small_dataset), f"imagination.dynamics={frozen['dynamics']}",
                                 "training.max_steps=20", "training.epochs=1000", "training.eval_every=10",
                                 "imagination.val_starts=64",
                                 *extra])


def test_parameter_counts_match_the_seeds():
    model = ActorCritic(1024, 2)
    actor = sum(p.numel() for p in model.actor.parameters())
    critic = sum(p.numel() for p in model.critic.parameters())
    assert (actor, critic) == (263_940, 526_338)  # the seeds quote ≈ 265k and ≈ 530k
    assert model.actor_parameters == actor and model.num_parameters == actor + critic
    wide = ActorCritic(1024, 2, actor_hidden_dims=[256, 256], critic_hidden_dims=[256, 256])
    assert (wide.actor_parameters, wide.num_parameters - wide.actor_parameters) == (330_244, 658_946)


def test_actor_log_prob_matches_the_tanh_gaussian_density():
    torch.manual_seed(0)
    model = ActorCritic(6, 2, actor_hidden_dims=[16])
    zn = torch.randn(5, 6)
    action, log_prob = model.sample_normalized(zn)
    assert torch.allclose(model.log_prob_normalized(zn, action), log_prob, atol=1e-4)
    assert bool((action.abs() < 1).all())
    assert torch.equal(model(model.denormalize(zn)), model.act_normalized(zn))


def test_periodic_dims_read_angles_as_sine_and_cosine(tmp_path):
    torch.manual_seed(0)
    model = ActorCritic(6, 2, actor_hidden_dims=[16], critic_hidden_dims=[16], periodic_dims=[0, 1])
    model.set_normalization(torch.tensor([1.0, -2.0, 0, 0, 0, 0]), torch.tensor([3.0, 2.0, 0.1, 0.1, 1, 1]))
    assert model.actor.body[0].in_features == 8  # 4 other dims, then sin and cos of the two angles
    z = torch.randn(5, 6)
    turned = z + torch.tensor([2 * math.pi, -4 * math.pi, 0, 0, 0, 0])
    assert torch.allclose(model(z), model(turned), atol=1e-5)  # a full turn is the same state
    assert torch.allclose(model.value(z), model.value(turned), atol=1e-4)
    assert not torch.allclose(model(z), model(z + torch.tensor([1.0, 0, 0, 0, 0, 0])))
    model.save_pretrained(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert torch.equal(again(z), model(z)) and again.inputs(model.normalize(z)).shape == (5, 8)
    with pytest.raises(ValueError, match="must index the latent"):
        ActorCritic(6, 2, periodic_dims=[6])


def test_lambda_returns_and_goal():
    rewards, values = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 10.0, 20.0]])
    # λ = 1: discounted rewards plus the bootstrapped last value; λ = 0: one-step TD targets
    assert torch.allclose(lambda_returns(rewards, values, 0.5, 1.0), torch.tensor([[1 + 0.5 * (2 + 0.5 * 20), 12.0]]))
    assert torch.allclose(lambda_returns(rewards, values, 0.5, 0.0), torch.tensor([[1 + 0.5 * 10, 12.0]]))
    latents = torch.arange(8.0).reshape(4, 2)
    goal = goal_latent(latents, torch.tensor([0.0, 1.0, 1.0, 1.0]), 2)  # ties: the earlier rows
    assert torch.equal(goal, torch.tensor([3.0, 4.0]))
    batches = [{"latents": torch.stack([latents[i:i + 1], latents[i:i + 1]], 1),
                "rewards": torch.tensor([[0.0, 1.0, 1.0, 1.0][i]])[:, None]} for i in range(4)]
    assert torch.equal(goal_from_batches(batches, 2), goal)  # streamed: the same goal, the same ties


def test_every_dreamer_recipe_loads_and_validates():
    for name in DREAMERS:
        recipe = load_recipe(name)
        assert recipe.objective == "imagination" and recipe.imagination is not None
        assert recipe.imagination.dynamics.startswith("runs/reacher_") or name == DREAMER
    assert load_recipe("reacher_dreamer_ensemble_1m_state").imagination.uncertainty_penalty > 0
    assert load_recipe("reacher_dreamer_hybrid_1m_state").imagination.reward == "hybrid"


def test_tiny_dreamer_trains_and_loads(small_dataset, frozen, tmp_path):
    result = train(_dreamer(small_dataset, frozen), tmp_path / "run", show_progress=False)
    s = result.summary
    assert s.objective == "imagination" and s.model_class == "ActorCritic" and s.steps == 20
    assert s.model_extra["imagination"]["frozen"]["dynamics"]["model_class"] == "MLPDynamics"
    assert len(s.model_extra["imagination"]["goal"]) == 6
    assert 0 <= s.model_extra["val_mean_abs_action"] <= 1
    model = load_model(result.model_dir)
    assert isinstance(model, ActorCritic) and model.num_parameters == s.num_parameters
    records = read_metrics(result.run_dir)
    train_rows = [r for r in records if r["split"] == "train"]
    assert {"actor_loss", "critic_loss", "imagined_return", "mean_abs_action", "entropy"} <= set(train_rows[0])
    assert [r["step"] for r in records if r["split"] == "val"] == [10, 20]


@pytest.mark.parametrize("options", [
    ["imagination.reward=hybrid", "imagination.reward_model={reward}"],
    ["imagination.reward=learned", "imagination.reward_model={reward}", "imagination.dynamics={ensemble}",
     "imagination.uncertainty_penalty=1.0", "imagination.bc_weight=0.5",
     "imagination.actor_gradient=likelihood_ratio"],
    ["imagination.reward=learned", "imagination.reward_model={reward}", "imagination.dynamics={ensemble}",
     "imagination.uncertainty_penalty=1.0", "imagination.ensemble_step=member"],
], ids=["hybrid", "ensemble-penalty-bc-likelihood-ratio", "ensemble-member-steps"])
def test_reward_and_gradient_options_train(small_dataset, frozen, tmp_path, options):
    chosen = [o.format(**{k: str(v) for k, v in frozen.items()}) for o in options]
    s = train(_dreamer(small_dataset, frozen, "training.max_steps=10", *chosen), tmp_path / "run",
              show_progress=False).summary
    assert s.steps == 10 and torch.isfinite(torch.tensor(s.val_loss))
    disagreement = s.model_extra["val_disagreement"]
    assert (disagreement > 0) if "ensemble" in " ".join(chosen) else disagreement == 0


def test_same_seed_same_weights(small_dataset, frozen, tmp_path):
    a = train(_dreamer(small_dataset, frozen, "training.max_steps=10"), tmp_path / "a", show_progress=False)
    b = train(_dreamer(small_dataset, frozen, "training.max_steps=10"), tmp_path / "b", show_progress=False)
    c = train(_dreamer(small_dataset, frozen, "training.max_steps=10", "training.seed=1"), tmp_path / "c",
              show_progress=False)
    weights = [(r.model_dir / "model.safetensors").read_bytes() for r in (a, b, c)]
    assert weights[0] == weights[1] != weights[2]


def test_errors_are_clear_and_leave_no_run(small_dataset, frozen, tmp_path):
    with pytest.raises(ConfigError, match="needs disagreement.*name an ensemble run"):
        train(_dreamer(small_dataset, frozen, "imagination.uncertainty_penalty=1"), tmp_path / "a",
              show_progress=False)
    with pytest.raises(NotFoundError, match="imagination.dynamics: .* neither a training run"):
        train(_dreamer(small_dataset, frozen, f"imagination.dynamics={tmp_path / 'nothing'}"), tmp_path / "b",
              show_progress=False)
    with pytest.raises(ConfigError, match="imagination.reward_model: .* holds a MLPDynamics, not a RewardModel"):
        train(_dreamer(small_dataset, frozen, "imagination.reward=learned",
                       f"imagination.reward_model={frozen['dynamics']}"), tmp_path / "c", show_progress=False)
    assert not any((tmp_path / name).exists() for name in "abc")
    with pytest.raises(ConfigError, match="imagination.reward hybrid needs imagination.reward_model"):
        _dreamer(small_dataset, frozen, "imagination.reward=hybrid")


def test_member_steps_draw_one_member_per_row(frozen):
    """``ensemble_step: member``: each training row moves with one member's prediction (several members drawn
    across rows); validation rollouts (draw off) and ``mean`` use the members' average."""
    from wmhub.training.imagination import ImaginationObjective

    ensemble = load_model(frozen["ensemble"] / "model").eval()
    spec = load_recipe(DREAMER, [f"imagination.dynamics={frozen['ensemble']}", "imagination.ensemble_step=member"]
                       ).imagination
    objective = ImaginationObjective(spec, ensemble, None, torch.zeros(6))
    zn, action = torch.randn(64, 6), torch.rand(64, 2) * 2 - 1
    with torch.no_grad():
        members = ensemble.step_normalized(zn, action)  # [K, B, D]
        torch.manual_seed(0)
        drawn, disagreement = objective._step(zn, action, draw=True)
        which = (drawn[None] == members).all(-1).float().argmax(0)
        assert torch.equal(drawn, members[which, torch.arange(64)])
        assert len(set(which.tolist())) == members.shape[0]
        assert torch.allclose(disagreement, members.std(0).mean(-1))
        assert torch.allclose(objective._step(zn, action, draw=False)[0], members.mean(0))
    with pytest.raises(ConfigError, match="ensemble_step member draws ensemble members.*set ensemble_step: mean"):
        ImaginationObjective(spec.model_copy(update={"dynamics": "single"}),
                             load_model(frozen["dynamics"] / "model"), None, torch.zeros(6))


@pytest.mark.slow
def test_resume_after_kill_equals_uninterrupted(small_dataset, frozen, tmp_path):
    """SIGKILL after the first checkpoint, then --resume: the same weights (actor, critic, slow critic, return
    scale and the sampling RNG are checkpointed) and the same curve, bit for bit."""
    overrides = []
    for assignment in [*_data_overrides(small_dataset), f"imagination.dynamics={frozen['dynamics']}",
                       "training.max_steps=60", "training.epochs=1000", "training.checkpoint_every=10",
                       "training.eval_every=20", "imagination.val_starts=64"]:
        overrides += ["--set", assignment]
    a, b = full_and_resumed([DREAMER, *overrides], tmp_path, OMP_NUM_THREADS="1")
    assert (a / "model" / "model.safetensors").read_bytes() == (b / "model" / "model.safetensors").read_bytes()

    def curve(run: Path) -> list[tuple]:
        return [(r["split"], r["step"], r["loss"]) for r in read_metrics(run)]

    assert curve(a) == curve(b)
    sa, sb = (json.loads((r / "summary.json").read_text()) for r in (a, b))
    assert sa["val_loss"] == sb["val_loss"] and sa["steps"] == sb["steps"] == 60
