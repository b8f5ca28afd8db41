"""The large recipes' training keys: ``training.grad_accum_steps`` (micro-batches per step, equal to one pass up to
float reduction order) and ``training.precision: bf16`` (autocast), validated and recorded in summary.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from safetensors.torch import load_file

from wmhub.errors import ConfigError
from wmhub.training import load_recipe, train
from wmhub.training.distributed import Launch, check_batch

from support.datasets import make_small

RECIPE = "tiny_reacher_dynamics_state"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """40 steps of the tiny recipe on small data: one pass per step, 4 micro-batches, and bf16 autocast."""
    root = tmp_path_factory.mktemp("accum")
    data = make_small(root / "small", episode_length=60)
    base = [f"dataset.source={data}", "dataset.generate=null", "training.max_steps=40", "training.eval_every=20",
            "training.batch_size=64"]
    for name, extra in (("k1", []), ("k4", ["training.grad_accum_steps=4"]), ("bf16", ["training.precision=bf16"])):
        train(load_recipe(RECIPE, base + extra), root / name, show_progress=False)
    return root


def _weights(run: Path):
    return load_file(run / "model" / "model.safetensors")


def test_accumulation_equals_one_pass(runs):
    a, b = _weights(runs / "k1"), _weights(runs / "k4")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5  # measured 1.2e-7
    s1, s4 = (json.loads((runs / r / "summary.json").read_text()) for r in ("k1", "k4"))
    assert (s1["grad_accum_steps"], s4["grad_accum_steps"]) == (1, 4)
    assert s1["precision"] == s4["precision"] == "fp32" and s1["world_size"] == 1
    assert s4["val_loss"] == pytest.approx(s1["val_loss"], rel=1e-5)


def test_bf16_trains_close_to_fp32(runs):
    s32, s16 = (json.loads((runs / r / "summary.json").read_text()) for r in ("k1", "bf16"))
    assert s16["precision"] == "bf16" and math.isfinite(s16["val_loss"])
    assert s16["val_loss"] < s16["val_baseline_loss"]  # it learned
    assert s16["val_loss"] == pytest.approx(s32["val_loss"], rel=0.1)  # measured 0.3% apart
    a, b = _weights(runs / "k1"), _weights(runs / "bf16")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) > 0  # autocast did change the arithmetic


def test_keys_are_validated():
    with pytest.raises(ConfigError, match=r"batch_size=256 does not divide into grad_accum_steps=3 micro-batches; "
                                          r"set training.batch_size=255 or 258"):
        load_recipe(RECIPE, ["training.grad_accum_steps=3"])
    with pytest.raises(ConfigError, match="training.precision: Input should be 'fp32' or 'bf16'"):
        load_recipe(RECIPE, ["training.precision=fp16"])
    with pytest.raises(ConfigError, match="training.grad_accum_steps"):
        load_recipe(RECIPE, ["training.grad_accum_steps=0"])
    with pytest.raises(ConfigError, match="actor_critic recipe trains in fp32"):
        load_recipe("reacher_dreamer_1m_state", ["training.precision=bf16"])
    defaults = load_recipe(RECIPE).training
    assert (defaults.precision, defaults.grad_accum_steps) == ("fp32", 1)


def test_world_size_times_micro_batches_must_divide_the_batch():
    check_batch(256, Launch(0, 2, 0), "r", grad_accum_steps=4)
    with pytest.raises(ConfigError, match=r"batch_size=100 \(the global batch\) does not divide by the world "
                                          r"size 4 .* × training.grad_accum_steps 2 = 8; set --set "
                                          r"training.batch_size=96 or 104"):
        check_batch(100, Launch(0, 4, 0), "r", grad_accum_steps=2)
