"""End-to-end JEPA world models: SIGReg, the encoders, training on state and on frames, evaluation, planning."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data.reader import open_dataset
from wmhub.errors import WmhubError
from wmhub.eval.collapse import collapse_stats
from wmhub.eval.planning import run_reacher_return, run_seed_protocol
from wmhub.models.jepa import JEPAWorldModel
from wmhub.models.registry import load_model
from wmhub.runs.card import render_model_card
from wmhub.runs.evaluate import evaluate
from wmhub.training import load_recipe, parse_recipe, train
from wmhub.training.objectives import Objective
from wmhub.training.sigreg import collapsed_value, sigreg

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_sigreg_separates_gaussian_from_collapsed():
    g = torch.Generator().manual_seed(0)
    gaussian = float(sigreg(torch.randn(2048, 32, generator=g), generator=torch.Generator().manual_seed(1)))
    squeezed = float(sigreg(0.2 * torch.randn(2048, 32, generator=g), generator=torch.Generator().manual_seed(1)))
    low_rank = torch.randn(2048, 2, generator=g) @ torch.randn(2, 32, generator=g) / 32 ** 0.5
    collapsed = float(sigreg(torch.zeros(2048, 32), generator=torch.Generator().manual_seed(1)))
    assert gaussian < 0.005
    assert squeezed > 0.1 and float(sigreg(low_rank)) > 0.1
    assert collapsed == pytest.approx(collapsed_value(), rel=1e-4) and collapsed > 0.3


def _train_synthetic(weight: float, steps: int = 150) -> torch.Tensor:
    """A JEPA on a random linear system; returns held-out embeddings."""
    g = torch.Generator().manual_seed(0)
    a_mat = torch.linalg.qr(torch.randn(8, 8, generator=g))[0] * 0.95
    b_mat = torch.randn(2, 8, generator=g) * 0.3

    def windows(n: int) -> dict[str, torch.Tensor]:
        x, acts = [torch.randn(n, 8, generator=g)], torch.randn(n, 5, 2, generator=g)
        for t in range(5):
            x.append(x[-1] @ a_mat + acts[:, t] @ b_mat)
        return {"latents": torch.stack(x, 1), "actions": acts}

    torch.manual_seed(0)
    model = JEPAWorldModel(8, 2, embed_dim=8, encoder_width=32, width=32, depth=1, heads=2, context=4)
    objective = Objective("jepa", "mse", layer_norm=False, sigreg_weight=weight, sigreg_slices=32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = objective(model, windows(128))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.encode_all(windows(512)["latents"].reshape(-1, 8))


def test_sigreg_prevents_the_collapse_that_prediction_alone_finds():
    free = collapse_stats(_train_synthetic(0.0))
    regular = collapse_stats(_train_synthetic(10.0))
    assert free["per_dim_std_mean"] < 0.1 * regular["per_dim_std_mean"]
    assert not regular["collapsed"] and regular["effective_rank"] > 4 and regular["spread_share"] > 0.9
    # prediction alone shrinks the embedding around a point at full rank: the spread share is what flags it
    assert free["collapsed"] and free["effective_rank"] > 4 and free["spread_share"] < 0.05


def test_collapse_stats_flags_latents_clustered_around_a_point():
    g = torch.Generator().manual_seed(0)
    healthy = collapse_stats(torch.randn(2000, 32, generator=g))
    shrinking = collapse_stats(3.0 + 0.05 * torch.randn(2000, 32, generator=g))  # full rank, std far above 1e-4
    assert not healthy["collapsed"] and healthy["spread_share"] == pytest.approx(1.0, abs=0.01)
    assert shrinking["effective_rank"] > 30 and shrinking["per_dim_std_mean"] > 0.01
    assert shrinking["collapsed"] and shrinking["spread_share"] < 0.01
    assert collapse_stats(torch.zeros(10, 4))["collapsed"]


def test_within_episode_share_flags_a_static_latent():
    from wmhub.eval.collapse import within_episode_share

    episodes = torch.arange(20).repeat_interleave(10)
    static = torch.randn(20, 4)[episodes]
    moving = static + torch.randn(200, 4)
    assert within_episode_share(static, episodes) < 1e-9
    assert 0.2 < within_episode_share(moving, episodes) < 0.8


def test_grouped_batches_let_sigreg_penalise_a_static_embedding():
    """The fix for the pixel model's static shortcut: with i.i.d. windows a batch of an embedding that is
    constant over each episode looks Gaussian to SIGReg; with 16 windows per episode it looks collapsed."""
    from wmhub.training.data import grouped_permutation

    episodes = torch.arange(200).repeat_interleave(50)
    static = torch.randn(200, 16, generator=torch.Generator().manual_seed(0))[episodes]

    def mean_sigreg(order):
        values = [sigreg(static[order[i:i + 64]], 64, torch.Generator().manual_seed(i)) for i in range(0, 3200, 64)]
        return float(torch.stack(values).mean())

    generator = torch.Generator().manual_seed(0)
    independent = mean_sigreg(torch.randperm(len(episodes), generator=generator))
    grouped = mean_sigreg(grouped_permutation(episodes, 16, generator))
    assert independent < 0.05 and grouped > 0.15 and grouped > 5 * independent


def test_distance_profile_tells_a_smooth_embedding_from_a_rough_one():
    import numpy as np

    from wmhub.eval.probe import distance_profile

    rng = np.random.default_rng(0)
    episodes = np.repeat(np.arange(20), 100)
    qpos = rng.uniform(-np.pi, np.pi, (2000, 2))
    angles = np.concatenate([np.sin(qpos), np.cos(qpos)], axis=1)
    frequencies = rng.normal(size=(4, 32))
    smooth = distance_profile(angles, qpos, episodes, wrap=True)
    rough = distance_profile(np.sin(angles @ frequencies * 10), qpos, episodes, wrap=True)  # short length scale
    unrelated = distance_profile(rng.normal(size=(2000, 8)), qpos, episodes, wrap=True)
    assert smooth["spearman"] > 0.9 and rough["spearman"] < 0.5 and abs(unrelated["spearman"]) < 0.05
    medians = smooth["embedding_distance_median"]
    assert medians == sorted(medians) and len(smooth["joint_distance_bins"]) == len(medians) + 1


def test_encoders_shapes_save_load(tmp_path):
    for kind, dim in (("mlp", 6), ("cnn", 16 * 16 * 3), ("keypoints", 16 * 16 * 3)):
        model = JEPAWorldModel(dim, 2, encoder=kind, embed_dim=12, encoder_width=8, width=16, depth=1, heads=2,
                               context=3, keypoints=5, latent={"config": "x", "features": ["f"]}).eval()
        obs = torch.randint(0, 255, (4, 3, dim)).to(torch.float32 if kind == "mlp" else torch.uint8)
        assert model.encode(obs).shape == (4, 3, 12)
        assert model(obs, torch.randn(4, 3, 2)).shape == (4, 3, 12)
        model.save_pretrained(tmp_path / kind)
        loaded = load_model(tmp_path / kind)
        assert isinstance(loaded, JEPAWorldModel)
        torch.testing.assert_close(loaded.encode(obs), model.encode(obs))
        assert loaded.keypoints == 5
    blocks = JEPAWorldModel(6, 4, embed_dim=8, encoder_width=8, width=16, depth=1, heads=2, frame_skip=2)
    blocks.save_pretrained(tmp_path / "blocks")
    loaded = load_model(tmp_path / "blocks")
    assert loaded.frame_skip == loaded.predictor.frame_skip == 2 and loaded.action_dim == 4
    with pytest.raises(Exception, match="divide action_dim"):
        JEPAWorldModel(6, 3, frame_skip=2)
    with pytest.raises(Exception, match="square RGB"):
        JEPAWorldModel(100, 2, encoder="cnn")
    with pytest.raises(Exception, match="multiple of 4"):
        JEPAWorldModel(6 * 6 * 3, 2, encoder="keypoints")
    with pytest.raises(Exception, match="keypoints >= 1"):
        JEPAWorldModel(16 * 16 * 3, 2, encoder="keypoints", keypoints=0)
    with pytest.raises(Exception, match="'keypoints'"):
        JEPAWorldModel(6, 2, encoder="vit")


def test_per_episode_sigreg_counts_a_static_part_as_collapse():
    """``sigreg_scope: episode``: each episode's windows must look Gaussian by themselves, so an embedding that
    is fixed within an episode (plus moving dims) scores like a collapsed one, whatever the batch holds."""
    from wmhub.training.sigreg import sigreg_per_group

    g = torch.Generator().manual_seed(0)
    episodes = torch.arange(4).repeat_interleave(16)
    moving = torch.randn(64, 16, generator=g)
    static = torch.randn(4, 16, generator=g)[episodes]

    def both(z: torch.Tensor) -> tuple[float, float]:
        return (float(sigreg(z, 64, torch.Generator().manual_seed(1))),
                float(sigreg_per_group(z, episodes, 64, torch.Generator().manual_seed(1))))

    torch.testing.assert_close(sigreg_per_group(moving, torch.zeros(64, dtype=torch.long), 64,
                                                torch.Generator().manual_seed(1)),
                               sigreg(moving, 64, torch.Generator().manual_seed(1)))  # one group: plain SIGReg
    (batch_moving, episode_moving), (_batch_static, episode_static) = both(moving), both(static)
    half = torch.cat([moving[:, :8], static[:, 8:]], 1)  # half the dims fixed within each episode
    batch_half, episode_half = both(half)
    assert episode_moving < 0.1 and episode_static > collapsed_value()
    assert episode_half > 3 * episode_moving and episode_half - episode_moving > 2 * (batch_half - batch_moving)
    from wmhub.training.objectives import EVAL_SIGREG_SEED

    model = JEPAWorldModel(6, 2, embed_dim=8, encoder_width=16, width=16, depth=1, heads=2, context=2).eval()
    batch = {"latents": torch.randn(64, 3, 6, generator=g), "actions": torch.randn(64, 2, 2, generator=g),
             "episode_index": episodes}
    e0 = model.encode(batch["latents"])[:, 0]
    seeded = torch.Generator().manual_seed
    for scope, expected in (("episode", sigreg_per_group(e0, episodes, 16, seeded(EVAL_SIGREG_SEED))),
                            ("batch", sigreg(e0, 16, seeded(EVAL_SIGREG_SEED)))):
        objective = Objective("jepa", "mse", layer_norm=False, sigreg_weight=1.0, sigreg_slices=16, sigreg_scope=scope)
        torch.testing.assert_close(objective.jepa_terms(model, batch)["sigreg"], expected)
    with pytest.raises(Exception, match="windows_per_episode >= 2"):
        parse_recipe(load_recipe("tiny_reacher_jepa_state").to_yaml(), "r.yaml", ["training.sigreg_scope=episode",
                                                                                 "training.windows_per_episode=1"])


def test_keypoints_are_the_expected_image_coordinates_of_each_map():
    """x runs along a row (image column), y down the image; a sharp peak gives its own cell's coordinates."""
    from wmhub.models.jepa import KeypointEncoder

    encoder = KeypointEncoder(size=16, width=4, keypoints=2, embed_dim=3)  # 4x4 maps, cells at -1, -1/3, 1/3, 1
    maps = torch.zeros(1, 2, 4, 4)
    maps[0, 0, 0, 3] = 50.0  # top-right
    maps[0, 1, 2, 1] = 50.0  # third row, second column

    class FixedMaps(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return maps.expand(len(x), -1, -1, -1)

    encoder.net = FixedMaps()
    points = encoder.points(torch.zeros(1, 16 * 16 * 3))
    torch.testing.assert_close(points[0], torch.tensor([[1.0, -1.0], [-1 / 3, 1 / 3]]), atol=1e-4, rtol=0)
    maps.zero_()  # a uniform map: its points sit at the centre
    torch.testing.assert_close(encoder.points(torch.zeros(1, 16 * 16 * 3)), torch.zeros(1, 2, 2), atol=1e-6, rtol=0)


def test_recipe_rejects_sigreg_outside_jepa():
    from wmhub.errors import WmhubError

    text = load_recipe("tiny_reacher_world_model_state").to_yaml()
    with pytest.raises(WmhubError, match="sigreg_weight"):
        parse_recipe(text, "r.yaml", ["training.sigreg_weight=1.0"])
    jepa = load_recipe("tiny_reacher_jepa_state")
    assert jepa.objective == "jepa" and jepa.sigreg_weight == 10.0 and not jepa.target_layer_norm


@pytest.fixture(scope="module")
def pixel_dataset(tmp_path_factory):
    from tests.conftest import make_small

    root = make_small(tmp_path_factory.mktemp("pixels") / "reacher")
    result = CliRunner().invoke(main, ["encode", str(root), "--save-frames", "--frame-size", "16", "--quiet"])
    assert result.exit_code == 0, result.output
    return root


PIXEL_RECIPE = """
name: tiny_pixels
dataset: {{source: "{root}", config: frames-16}}
model: {{kind: jepa_world_model, encoder: {encoder}, embed_dim: 16, encoder_width: 8, width: 32, depth: 1, heads: 2,
         context: 3}}
training: {{epochs: 2, batch_size: 32, lr: 2.0e-3, warmup_steps: 5, horizon: 2, val_fraction: 0.25,
            log_every: 5, checkpoint_every: 1000}}
eval:
  latent: {{horizons: [1, 5], stride: 5}}
  probe: {{angles: sincos}}
  goal-success:
    episodes: 2
    goal_offset: 5
    budget: 3
    planner: {{kind: cem, samples: 16, elites: 4, iterations: 1, horizon: 3}}
"""


@pytest.mark.parametrize("encoder", ["cnn", "keypoints"])
def test_pixel_world_model_trains_evaluates_and_plans(pixel_dataset, tmp_path, encoder):
    data = open_dataset(pixel_dataset).load_tensors("frames-16")
    steps = open_dataset(pixel_dataset).load_tensors("steps")
    assert data.latents.dtype == torch.uint8 and data.latents.shape == (len(steps.latents), 16 * 16 * 3)
    torch.testing.assert_close(data.actions, steps.actions, equal_nan=True)

    per_episode = ["training.sigreg_scope=episode", "training.windows_per_episode=4"] if encoder == "keypoints" else []
    recipe = parse_recipe(PIXEL_RECIPE.format(root=pixel_dataset, encoder=encoder), "pixels.yaml", per_episode)
    result = train(recipe, tmp_path / "run", show_progress=False)
    summary = result.summary
    assert summary.model_class == "JEPAWorldModel" and summary.objective == "jepa"
    assert summary.val_sigreg > 0 and summary.val_prediction_loss > 0
    assert summary.latent["config"] == "frames-16"

    results = evaluate(result.run_dir, device="cpu", show_progress=False)
    latent = results.suites["latent"]
    assert latent["space"] == "embedding" and latent["collapse"]["dims"] == 16
    probe = results.suites["probe"]["r2"]
    assert set(probe) == {"embedding"} and set(probe["embedding"]) == {"qpos", "qvel"}
    assert len(probe["embedding"]["qpos"]["per_dim"]) == 4  # sin and cos of two joints
    assert -1 <= results.suites["probe"]["distance_profile"]["spearman"] <= 1
    goal = results.suites["goal-success"]
    assert goal["model"]["class"] == "JEPAWorldModel" and goal["cost_features"] == ["embedding"]
    assert goal["actions_planned"] == 2 * 3
    if encoder == "cnn":  # the search-gap diagnostic reads these starts and scores three plans for each
        episodes = [str(e["episode_index"]) for e in goal["per_episode"]]
        out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "planner_search_gap.py"), str(result.run_dir),
                              "--episodes", *episodes], capture_output=True, text=True, timeout=120, check=True)
        rows = re.findall(r"recorded (\S+)  best constant (\S+)  CEM (\S+)", out.stdout)
        assert len(rows) == len(episodes) and all(math.isfinite(float(v)) for row in rows for v in row), out.stdout
        model = load_model(result.run_dir / "model")  # the other suites' costs need the simulator's state
        for suite in (lambda: run_reacher_return(model, episodes=1, episode_length=1),
                      lambda: run_seed_protocol(model, pixel_dataset, [0], episodes=1, steps=1)):
            with pytest.raises(WmhubError, match="plans in the goal-success suite only"):
                suite()

    card = str(render_model_card(result.run_dir, "org/tiny-pixels"))
    assert "end-to-end JEPA" in card and "effective rank" in card and "Linear probe" in card
    assert "Embedding distance vs joint distance" in card
    assert ("spatial soft-argmax" in card) == (encoder == "keypoints")
    assert ("each episode's windows" in card) == bool(per_episode)


def test_state_jepa_recipe_beats_copy_last_without_collapse(tmp_path, monkeypatch):
    """The shipped tiny recipe end to end: training, the latent suite in embedding space, the probe."""
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe("tiny_reacher_jepa_state", ["training.epochs=2"])
    result = train(recipe, tmp_path / "run", show_progress=False)
    assert result.summary.val_loss < result.summary.val_baseline_loss
    results = evaluate(result.run_dir, suites=["latent", "probe"], device="cpu", show_progress=False)
    latent = results.suites["latent"]
    assert not latent["collapse"]["collapsed"]
    assert latent["collapse"]["within_episode_variance_share"] > 0.05  # the embedding moves inside episodes
    for horizon in ("5", "10", "30"):
        entry = latent["horizons"][horizon]
        assert entry["cosine"]["mean"] > entry["copy_last_cosine"]["mean"]
    r2 = results.suites["probe"]["r2"]
    assert r2["observation"]["qvel"]["mean"] > 0.99  # the probe itself works: state holds qvel exactly
    assert r2["embedding"]["qpos"]["mean"] > 0.3
    saved = json.loads((result.run_dir / "eval" / "eval_results.json").read_text())
    assert saved["suites"]["probe"]["space"] == "embedding"
