"""The V-JEPA 2 twins of the Dreamer recipes: each differs from its state twin only in the latent (and so in the
frozen runs it names), and trains, as shipped but for size, on embeddings of a tiny V-JEPA 2 inside frozen
runs of the V-JEPA 2 dynamics / ensemble / reward recipes it names."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from wmhub.encoding import encode_dataset
from wmhub.errors import WmhubError
from wmhub.eval.planners import PolicyConfig
from wmhub.eval.planning import run_reacher_return
from wmhub.models.actor_critic import ActorCritic
from wmhub.models.registry import load_model
from wmhub.runs.evaluate import evaluate
from wmhub.training import load_recipe, train

from support.encoders import save_tiny_vjepa2

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks: one thread is ~10x faster when busy

TWINS = ["reacher_dreamer_1m", "reacher_dreamer_hybrid_1m", "reacher_dreamer_ensemble_1m"]
CONFIG = "embeddings-vjepa2-tiny"  # the config a V-JEPA 2 saved as ``vjepa2-tiny`` writes
SMALL_MODELS = {"reacher_dynamics_mlp_1m": ["model.hidden_dim=32"],
                "reacher_reward_1m": ["model.hidden_dim=32"],
                "reacher_ensemble_1m": ["model.num_members=2", "model.member.hidden_dim=32"]}


def _data(encoded: Path) -> list[str]:
    return [f"dataset.source={encoded}", f"dataset.config={CONFIG}", "dataset.generate=[]", "dataset.encode=[]"]


@pytest.fixture(scope="module")
def encoded(small_dataset, tmp_path_factory) -> Path:
    """The small dataset with the embeddings of a tiny random V-JEPA 2 (the real encoder path, tiny weights)."""
    root = tmp_path_factory.mktemp("vjepa2-dreamer")
    tiny = save_tiny_vjepa2(root / "vjepa2-tiny")
    dest = root / "reacher"
    shutil.copytree(small_dataset, dest)
    encode_dataset(dest, f"vjepa2:{tiny}", device="cpu", batch_size=16, show_progress=False)
    return dest


@pytest.fixture(scope="module")
def frozen_root(encoded, tmp_path_factory) -> Path:
    """The frozen V-JEPA 2 runs the twins name, trained (small, one epoch) under ``ROOT/runs/<recipe>``."""
    root = tmp_path_factory.mktemp("frozen-vjepa2")
    for name, small in SMALL_MODELS.items():
        recipe = load_recipe(name, [*_data(encoded), *small, "training.epochs=1", "training.warmup_steps=2",
                                    "training.batch_size=64", "eval={}"])
        train(recipe, root / "runs" / name, show_progress=False)
    return root


def test_twins_differ_from_their_state_recipes_only_in_the_latent():
    for twin in TWINS:
        vjepa, state = load_recipe(twin), load_recipe(f"{twin}_state")
        assert vjepa.dataset.config.startswith("embeddings-vjepa2") and state.dataset.config == "steps"
        assert vjepa.dataset.encode and vjepa.dataset.encode[0].encoder.startswith("vjepa2")
        assert vjepa.model == state.model  # the step counts and settings may be tuned per latent; the method not
        ours_spec, state_spec = vjepa.imagination, state.imagination
        assert (ours_spec.reward, ours_spec.actor_gradient) == (state_spec.reward, state_spec.actor_gradient)
        assert (ours_spec.uncertainty_penalty > 0) == (state_spec.uncertainty_penalty > 0)
        assert (ours_spec.bc_weight > 0) == (state_spec.bc_weight > 0)
        for key in ("dynamics", "reward_model"):  # frozen: the state runs' V-JEPA 2 twins, on the same embeddings
            ours, theirs = getattr(vjepa.imagination, key), getattr(state.imagination, key)
            assert (ours is None) == (theirs is None)
            if ours is not None:
                assert ours == theirs.removesuffix("_state")
                assert load_recipe(Path(ours).name).dataset.config == vjepa.dataset.config
        assert vjepa.eval == {}  # the planning suites read the state latent (see the recipes' comment)


@pytest.mark.slow  # ~20 s on two idle cores, most of it encoding the small dataset with the tiny V-JEPA 2
@pytest.mark.parametrize("twin", TWINS)
def test_twin_trains_on_vjepa2_embeddings_inside_its_frozen_runs(twin, encoded, frozen_root, tmp_path):
    shipped = load_recipe(twin)
    frozen = [f"imagination.{key}={frozen_root / value}" for key in ("dynamics", "reward_model")
              if (value := getattr(shipped.imagination, key)) is not None]
    recipe = load_recipe(twin, [*_data(encoded), *frozen, "model.actor_hidden_dims=[32]",
                                "model.critic_hidden_dims=[32]", "training.max_steps=4", "training.epochs=1000",
                                "training.warmup_steps=1", "training.eval_every=2", "training.checkpoint_every=2",
                                "imagination.val_starts=32", "imagination.goal_top_k=50"])
    s = train(recipe, tmp_path / "run", show_progress=False).summary
    assert s.objective == "imagination" and s.steps == 4 and np.isfinite(s.val_loss)
    sources = s.model_extra["imagination"]["frozen"]
    assert sources["dynamics"]["source"] == str(frozen_root / shipped.imagination.dynamics)
    assert ("reward_model" in sources) == (shipped.imagination.reward_model is not None)
    disagreement = s.model_extra["val_disagreement"]
    assert (disagreement > 0) if shipped.imagination.uncertainty_penalty > 0 else disagreement == 0
    actor = load_model(tmp_path / "run" / "model")
    assert isinstance(actor, ActorCritic) and actor.latent["config"] == CONFIG and actor.latent_dim == 32
    assert evaluate(tmp_path / "run", device="cpu").suites == {}  # nothing to run: no eval section
    with pytest.raises(WmhubError, match="planning suites need the state latent"):
        run_reacher_return(actor, planner=PolicyConfig(), episodes=1, episode_length=5, device="cpu")
