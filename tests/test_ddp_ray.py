"""``wmhub train --executor ray``: Ray Train's TorchTrainer runs the torchrun ranks' training (2 CPU workers on a
local Ray instance) and trains the one-process model; a missing Ray is one line naming the extra."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file
from test_ddp import WEIGHT_TOLERANCE, _env, _one

from wmhub.errors import ConfigError
from wmhub.training.ray_train import RayWorkers, plan_workers

from support.datasets import make_small

RECIPE = "tiny_reacher_dynamics_state"


def _args(data: Path) -> list[str]:
    return [RECIPE, "--set", f"dataset.source={data}", "--set", "dataset.generate=null", "--set",
            "training.max_steps=30", "--set", "training.batch_size=64", "--set", "training.eval_every=15",
            "--set", "training.checkpoint_every=10"]


@pytest.mark.slow
def test_ray_workers_train_the_one_process_model(tmp_path):
    """2 CPU workers through TorchTrainer vs one process: the same split, weights within the torchrun tolerance,
    rank 0 alone wrote the run."""
    data = make_small(tmp_path / "small", episode_length=60)
    one = _one([*_args(data), "--out", str(tmp_path / "one")], tmp_path)
    assert one.wait(timeout=600) == 0, one.stderr.read()[-3000:]
    ray = subprocess.run([sys.executable, "-m", "wmhub.cli", "train", *_args(data), "--out", "two", "--executor",
                          "ray", "--ray-workers", "2", "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600, env={**_env(), "RAY_ADDRESS": ""})
    assert ray.returncode == 0, ray.stderr[-3000:]
    assert "trained MLPDynamics" in ray.stdout and str(tmp_path / "two" / "model") in ray.stdout
    one, two = tmp_path / "one", tmp_path / "two"
    assert (one / "split.json").read_bytes() == (two / "split.json").read_bytes()
    a, b = load_file(one / "model" / "model.safetensors"), load_file(two / "model" / "model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < WEIGHT_TOLERANCE
    sa, sb = (json.loads((r / "summary.json").read_text()) for r in (one, two))
    assert sb["world_size"] == 2 and sa["world_size"] == 1
    assert sb["val_loss"] == pytest.approx(sa["val_loss"], rel=1e-5)
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["step-00000010", "step-00000020"]
    records = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert all(r["world_size"] == 2 for r in records if r["split"] == "train")


def test_a_missing_ray_names_the_extra(tmp_path):
    """Without Ray installed (its import made to fail), --executor ray is one line naming wmhub[ray]."""
    code = ("import sys; sys.modules['ray'] = None\n"
            "from wmhub.cli import main\n"
            f"main(['train', '{RECIPE}', '--executor', 'ray', '--out', 'r', '--quiet'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["error: --executor ray needs Ray, an optional extra: pip install 'wmhub[ray]'"], done.stderr
    assert not (tmp_path / "r").exists()


def test_ray_options_need_the_ray_executor(tmp_path):
    done = subprocess.run([sys.executable, "-m", "wmhub.cli", "train", RECIPE, "--ray-workers", "2"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "--ray-address and --ray-workers go with --executor ray" in done.stderr


def test_plan_workers():
    assert plan_workers("auto", {"CPU": 16.0, "GPU": 8.0}, None) == RayWorkers(8, True)
    assert plan_workers("auto", {"CPU": 16.0, "GPU": 8.0}, 4) == RayWorkers(4, True)
    assert plan_workers("auto", {"CPU": 4.0}, None) == RayWorkers(4, False)
    assert plan_workers("cpu", {"CPU": 16.0, "GPU": 8.0}, 2) == RayWorkers(2, False)
    with pytest.raises(ConfigError, match="cluster has no GPU"):
        plan_workers("cuda", {"CPU": 4.0}, None)
    with pytest.raises(ConfigError, match="--ray-workers must be positive"):
        plan_workers("cpu", {"CPU": 4.0}, 0)
