"""Data-parallel training on the stream path: each rank reads only the rows of its share of every global batch,
the shares together are the one-process batches, and the memory estimate counts the ranks on the node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_ddp import WEIGHT_TOLERANCE, _one, _torchrun, _wait

from wmhub.data.reader import WmDataset
from wmhub.training import load_recipe
from wmhub.training.data import SampleSpec, StreamedWindows, count_samples, estimate_bytes, shards_for, split_episodes
from wmhub.training.distributed import Launch, ranks_on_node

from support.datasets import make_small

RECIPE = "tiny_reacher_dynamics_state"


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return make_small(tmp_path_factory.mktemp("stream") / "small", episode_length=60)


def _stream(root: Path, batch_size: int, per_chunk: int, objective: str = "dynamics", horizon: int = 2):
    dataset = WmDataset(root)
    spec = SampleSpec("steps", ["obs"] if "obs" in {f.name for f in dataset.features("steps")} else
                      dataset.config_info("steps").latent_features, objective, horizon)
    shards = shards_for(dataset, "steps", None)
    split = split_episodes(sorted(range(dataset.manifest.num_episodes)), 0.2, 0)
    total = count_samples(dataset, spec, shards, split.train)
    return StreamedWindows(dataset, spec, shards, split.train, batch_size, 3, per_chunk), total


@pytest.mark.parametrize("world,per_chunk,batch,skip", [(2, 1, 64, 0), (3, 2, 48, 2), (2, 1, 500, 0)])
def test_rank_shares_are_the_one_process_batches(small, world, per_chunk, batch, skip):
    """Every rank's shares, put side by side, are the batches one process reads, value for value (the carry
    between chunks, the epoch's short last batch, a resume at batch ``skip``)."""
    stream, total = _stream(small, batch, per_chunk)
    stream.start(1, skip)
    whole = list(stream)
    shares = [list(stream.rank_batches(1, skip, r, world, total)) for r in range(world)]
    assert all(len(s) == len(whole) for s in shares)
    for k, batch_k in enumerate(whole):
        n = batch_k["latents"].shape[0]
        assert all(s[k][1] == n for s in shares)
        assert sum(s[k][0] for s in shares) == n
        for key, value in batch_k.items():
            parts = [s[k][2][key][:s[k][0]] for s in shares]
            assert torch.equal(torch.cat(parts), value), (k, key)


def test_bc_shares_keep_only_expert_windows(small):
    stream, total = _stream(small, 40, 1, objective="bc", horizon=1)
    stream.start(0)
    whole = torch.cat([b["latents"] for b in stream])
    mine = torch.cat([s["latents"][:rows] for r in range(2) for rows, _, s in stream.rank_batches(0, 0, r, 2, total)])
    assert len(whole) == total == len(mine)
    assert torch.equal(torch.sort(whole.reshape(len(whole), -1), dim=0).values,
                       torch.sort(mine.reshape(len(mine), -1), dim=0).values)


def test_memory_estimate_counts_the_ranks_on_the_node(small, monkeypatch):
    """8 ranks on a node would hold 8 copies in memory: the estimate that picks memory or stream is per node."""
    from wmhub.training.trainer import _Data, _setup  # the trainer's data choice, as train() makes it

    recipe = load_recipe(RECIPE, [f"dataset.source={small}", "dataset.generate=null"])
    setup = _setup(recipe, small / "unused", False, False, create=False)
    need = estimate_bytes(setup.dataset, setup.spec, setup.shards)
    budget = 3 * need / 2**30  # one process, or 2 ranks, fit; 8 ranks on the node do not
    recipe = load_recipe(RECIPE, [f"dataset.source={small}", "dataset.generate=null",
                                  f"training.memory_budget_gb={budget}"])
    paths = {n: _Data(setup.dataset, setup.spec, setup.shards, setup.split, recipe, torch.device("cpu"), n).path
             for n in (1, 2, 8)}
    assert paths == {1: "memory", 2: "memory", 8: "stream"}
    assert ranks_on_node(Launch(0, 16, 0), {"LOCAL_WORLD_SIZE": "8"}) == 8
    assert ranks_on_node(Launch(0, 16, 0), {}) == 16


@pytest.mark.slow
def test_two_ranks_on_the_stream_path_equal_one_process(small, tmp_path):
    """2 gloo ranks forced to the stream path (one shard per chunk) train the one-process model."""
    args = [RECIPE, "--set", f"dataset.source={small}", "--set", "dataset.generate=null", "--set",
            "training.data_path=stream", "--set", "training.memory_budget_gb=0.00002", "--set",
            "training.max_steps=30", "--set", "training.batch_size=64", "--set", "training.eval_every=15", "--set",
            "training.checkpoint_every=10"]
    _wait(_one([*args, "--out", str(tmp_path / "one")], tmp_path))
    _wait(_torchrun([*args, "--out", str(tmp_path / "two")], tmp_path))
    a, b = (load_file(tmp_path / r / "model" / "model.safetensors") for r in ("one", "two"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < WEIGHT_TOLERANCE
    sa, sb = (json.loads((tmp_path / r / "summary.json").read_text()) for r in ("one", "two"))
    assert sa["data_path"] == sb["data_path"] == "stream" and sb["world_size"] == 2
    assert sb["val_loss"] == pytest.approx(sa["val_loss"], rel=1e-5)
