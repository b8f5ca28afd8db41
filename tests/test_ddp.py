"""Data-parallel training under torchrun (2 gloo ranks on CPU): equal to one process, resumable after a
SIGKILL of the whole job, and clear errors (a batch the world does not divide, a rank that dies)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from wmhub.errors import ConfigError
from wmhub.training import load_recipe, train
from wmhub.training.distributed import Launch, check_batch, detect_launch
from wmhub.training.metrics_log import read_metrics

RECIPE = "tiny_reacher_dynamics_state"
# 150 steps are 4 epochs of 38 steps, each ending with a batch of 80 rows; the kill test stops the job at
# step 10, well before the end
STEPS = ["--set", "training.max_steps=150", "--set", "training.eval_every=50", "--set", "training.checkpoint_every=10"]
# measured: 2.1e-7 after 150 steps, losses within 1.7e-7 relative (float reduction order only)
WEIGHT_TOLERANCE = 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    return {**env, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "WMHUB_DIST_TIMEOUT_S": "60"}


def _one(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wmhub.cli", "train", *args, "--quiet"], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _torchrun(args: list[str], cwd: Path) -> subprocess.Popen:
    """``torchrun --nproc_per_node 2 -m wmhub.cli train ARGS``."""
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
                             "-m", "wmhub.cli", "train", *args, "--quiet"], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(process: subprocess.Popen) -> None:
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err[-3000:]


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model" / "model.safetensors")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """The tiny recipe for 40 steps as one process and as 2 gloo ranks (same seed, same global batch)."""
    root = tmp_path_factory.mktemp("ddp")
    data = ["--set", f"dataset.source={root / 'tiny-reacher'}"]
    _wait(_one([RECIPE, *data, *STEPS, "--out", str(root / "one")], root))  # also generates the data
    _wait(_torchrun([RECIPE, *data, *STEPS, "--out", str(root / "two")], root))
    return root


def test_two_ranks_equal_one_process(runs):
    one, two = runs / "one", runs / "two"
    assert (one / "split.json").read_bytes() == (two / "split.json").read_bytes()
    a, b = _weights(one), _weights(two)
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < WEIGHT_TOLERANCE, worst
    ra, rb = read_metrics(one), read_metrics(two)
    assert [(r["split"], r["step"]) for r in ra] == [(r["split"], r["step"]) for r in rb]
    for x, y in zip(ra, rb, strict=True):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-5), (x, y)
        if x["split"] == "val":
            assert x["best"] == y["best"]
    assert all(r["world_size"] == 2 and 0 <= r["allreduce_share"] < 1 for r in rb if r["split"] == "train")
    sa, sb = (json.loads((r / "summary.json").read_text()) for r in (one, two))
    for key in ("steps", "planned_steps", "steps_per_epoch", "best_step", "stopped_early", "num_parameters",
                "val_samples"):
        assert sa[key] == sb[key], key
    assert {**sa["dataset"], "obtained": "local"} == sb["dataset"]  # the first run generated the data
    assert sb["val_loss"] == pytest.approx(sa["val_loss"], rel=1e-5)
    assert sb["val_baseline_loss"] == pytest.approx(sa["val_baseline_loss"], rel=1e-6)
    # rank 0 alone wrote the run: one checkpoint per step, one metrics record per step
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["step-00000130", "step-00000140"]


def test_resume_after_killing_the_job_equals_uninterrupted(runs):
    """SIGKILL of torchrun and both ranks after the first checkpoint; --resume gives the uninterrupted 2-rank
    run's weights, bit for bit."""
    run = runs / "killed"
    args = [RECIPE, "--set", f"dataset.source={runs / 'tiny-reacher'}", *STEPS, "--out", str(run)]
    job = _torchrun(args, runs)
    deadline = time.time() + 120
    while not ((run / "checkpoints").is_dir() and any(p.name.startswith("step-")
                                                      for p in (run / "checkpoints").iterdir())):
        assert job.poll() is None, job.communicate()[1][-3000:]
        assert time.time() < deadline
        time.sleep(0.005)
    # torchrun starts each rank in a session of its own: kill the ranks and the launcher, as a scheduler would
    for pid in [*_children(job.pid), job.pid]:
        os.kill(pid, signal.SIGKILL)
    job.communicate()
    assert not (run / "summary.json").exists()
    _wait(_torchrun([*args, "--resume"], runs))
    assert (run / "model" / "model.safetensors").read_bytes() == (runs / "two" / "model" /
                                                                    "model.safetensors").read_bytes()
    assert [(r["split"], r["step"], r["loss"]) for r in read_metrics(run)] == [
        (r["split"], r["step"], r["loss"]) for r in read_metrics(runs / "two")]


def test_a_dying_rank_stops_the_other_with_one_line(runs, tmp_path):
    """Two ranks started by hand (as torchrun does): rank 1 is killed after the first checkpoint; rank 0
    stops with one line naming the failed all-reduce, no traceback and no hang."""
    port = str(_free_port())
    args = [RECIPE, "--set", f"dataset.source={runs / 'tiny-reacher'}", "--set", "training.max_steps=100000",
            "--set", "training.epochs=1000", "--set", "training.checkpoint_every=5", "--out", str(tmp_path / "r")]
    ranks = [subprocess.Popen([sys.executable, "-m", "wmhub.cli", "train", *args, "--quiet"], cwd=tmp_path,
                              env={**_env(), "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2",
                                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    try:
        checkpoints, deadline = tmp_path / "r" / "checkpoints", time.time() + 120
        while not (checkpoints.is_dir() and any(checkpoints.iterdir())):
            assert ranks[0].poll() is None, ranks[0].communicate()[1][-3000:]
            assert time.time() < deadline
            time.sleep(0.01)
        ranks[1].kill()
        ranks[1].communicate()
        _, err = ranks[0].communicate(timeout=120)
    finally:
        for p in ranks:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert ranks[0].returncode != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err[-3000:]
    assert lines[-1].startswith("error: rank 0/2: the gradient all-reduce failed"), err[-3000:]
    assert "--resume" in lines[-1], err[-3000:]


def test_rank_0_setup_error_is_one_line_on_every_rank(runs):
    """An error rank 0 finds before training (here: --out holds a run) is printed by every rank."""
    job = _torchrun([RECIPE, "--set", f"dataset.source={runs / 'tiny-reacher'}", "--out", str(runs / "two")], runs)
    _, err = job.communicate(timeout=180)
    assert job.returncode != 0
    assert err.count("already holds a run; add --resume") == 2, err[-3000:]
    assert "error: rank 0 stopped: " in err, err[-3000:]


def test_batch_the_world_does_not_divide_is_refused(monkeypatch, tmp_path):
    recipe = load_recipe(RECIPE, ["training.batch_size=255", f"dataset.source={tmp_path / 'none'}"])
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    with pytest.raises(ConfigError, match=r"batch_size=255 \(the global batch\) does not divide by the world size "
                                          r"2 .*training.batch_size=254 or 256"):
        train(recipe, tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()


def test_imagination_is_refused_under_torchrun(monkeypatch, tmp_path):
    recipe = load_recipe("reacher_dreamer_1m_state")
    for key, value in {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match="imagination .* does not train data-parallel yet; run it as one process"):
        train(recipe, tmp_path / "run", show_progress=False)


def test_detect_launch():
    assert detect_launch({}) is None
    assert detect_launch({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "h"}) is None
    assert detect_launch({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "h"}) == Launch(3, 4, 1)
    with pytest.raises(ConfigError, match="outside WORLD_SIZE=2"):
        detect_launch({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "h"})
    check_batch(256, Launch(0, 4, 0), "r")
    with pytest.raises(ConfigError, match="batch_size=6 .* world size 4"):
        check_batch(6, Launch(0, 4, 0), "r")
