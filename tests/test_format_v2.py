"""Dataset format 2: ``steps`` batches with plain tools (no nulls; ``is_last`` masks the last row), and
format-1 datasets still read with the same values, grow in format 1, publish and verify.

docs/format.md describes both formats.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from wmhub.data.manifest import FORMAT_VERSION, Manifest
from wmhub.data.reader import open_dataset
from wmhub.data.verify import verify_dataset
from wmhub.envs.registry import get_spec
from wmhub.errors import ConfigError, DatasetMismatchError
from wmhub.generation import generate
from wmhub.hub.verbs import publish
from wmhub.runs.reproduce import trained_format_version
from wmhub.training.dataset_source import regenerating_format, run_generate_step
from wmhub.training.recipe import GenerateStep
from wmhub.training.summary import RunSummary

from support.datasets import SMALL, SMALL_OPTIONS, tree_bytes

N, T = SMALL["episodes"], SMALL_OPTIONS["episode_length"]
TERMINAL = ("action", "reward", "is_random_action")
FIXTURE = Path(__file__).parent / "fixtures" / "pushed_before_schema"


def _small(out, episodes: int = N, format_version: int | None = None):
    generate("reacher", out, episodes, options=SMALL_OPTIONS, episodes_per_shard=SMALL["episodes_per_shard"],
             show_progress=False, format_version=format_version)
    return out


@pytest.fixture(scope="module")
def v1_dataset(tmp_path_factory):
    """The small dataset written in format 1 (Arrow nulls on each episode's last row)."""
    return _small(tmp_path_factory.mktemp("v1") / "reacher", format_version=1)


def _terminal_nulls(root) -> int:
    return sum(pq.read_table(p, columns=list(TERMINAL)).column(name).null_count
               for p in sorted((root / "data" / "steps").glob("*.parquet")) for name in TERMINAL)


def test_new_datasets_are_format_2_without_nulls(small_dataset):
    assert FORMAT_VERSION == 2 and Manifest.read(small_dataset).format_version == 2
    assert _terminal_nulls(small_dataset) == 0


def test_dataloader_over_load_dataset_with_torch_format(small_dataset):
    steps = datasets.load_dataset(str(small_dataset), split="train").with_format("torch")
    rows, last = 0, 0
    for batch in DataLoader(steps, batch_size=64):
        size = len(batch["episode_index"])
        assert batch["action"].shape == (size, 2) and batch["action"].dtype == torch.float32
        assert batch["reward"].shape == (size,) and batch["reward"].dtype == torch.float32
        assert batch["position"].shape == (size, 2) and batch["is_last"].dtype == torch.bool
        assert batch["is_random_action"].dtype == torch.bool
        assert torch.isfinite(batch["action"]).all() and torch.isfinite(batch["reward"]).all()
        # the mask: the last row of each episode holds the fill values
        mask = batch["is_last"]
        assert (batch["action"][mask] == 0).all() and (batch["reward"][mask] == 0).all()
        assert not batch["is_random_action"][mask].any()
        rows, last = rows + size, last + int(mask.sum())
    assert rows == N * (T + 1) and last == N


def test_dataloader_over_streaming_load_dataset(small_dataset):
    steps = datasets.load_dataset(str(small_dataset), split="train", streaming=True).with_format("torch")
    rows = 0
    for batch in DataLoader(steps, batch_size=64):
        size = len(batch["episode_index"])
        assert batch["action"].shape == (size, 2) and batch["reward"].shape == (size,)
        assert isinstance(batch["is_random_action"], torch.Tensor)
        rows += size
    assert rows == N * (T + 1)


def test_numpy_format_gives_numeric_dtypes(small_dataset):
    steps = datasets.load_dataset(str(small_dataset), split="train").with_format("numpy")[:]
    assert steps["action"].dtype == np.float32 and steps["action"].shape == (N * (T + 1), 2)
    assert steps["reward"].dtype == np.float32 and steps["is_random_action"].dtype == np.bool_
    assert steps["is_last"].dtype == np.bool_
    # transitions are the rows with is_last false, and (o_t, a_t, o_t+1) is rows t and t + 1
    acting = ~steps["is_last"]
    assert acting.sum() == N * T


def test_format_1_reads_with_the_same_values(small_dataset, v1_dataset):
    old, new = open_dataset(v1_dataset), open_dataset(small_dataset)
    assert old.manifest.format_version == 1 and _terminal_nulls(v1_dataset) == 3 * N  # 3 columns × N last rows
    for a, b in zip(old.iter_episodes(), new.iter_episodes(), strict=True):
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].dtype == b[name].dtype, name
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    x, y = old.load_tensors(extra_columns=["is_random_action"]), new.load_tensors(extra_columns=["is_random_action"])
    for name in ("latents", "actions", "rewards", "episode_index", "episode_starts"):
        assert torch.equal(getattr(x, name), getattr(y, name)), name
    assert torch.equal(x.columns["is_random_action"], y.columns["is_random_action"])
    # the statistics count real transitions only, in both formats
    assert old.manifest.stats("steps") == new.manifest.stats("steps")
    assert new.manifest.stats("steps")["action"].count == N * T
    # only the steps shards differ; the episodes shards are the same bytes
    for config, same in (("episodes", True), ("steps", False)):
        pairs = zip(old.manifest.shards_of(config), new.manifest.shards_of(config), strict=True)
        assert all((a.sha256 == b.sha256) == same for a, b in pairs), config


def test_windows_and_training_samples_are_the_same(small_dataset, v1_dataset):
    a, b = open_dataset(v1_dataset).windows(horizon=3), open_dataset(small_dataset).windows(horizon=3)
    everything = torch.arange(len(a))
    for name, values in a.batch(everything).items():
        assert torch.equal(values, b.batch(everything)[name]), name


def test_verify_passes_for_both_formats_and_sees_a_mislabelled_one(small_dataset, v1_dataset, tmp_path):
    assert verify_dataset(small_dataset) == [] and verify_dataset(v1_dataset) == []
    copy = tmp_path / "mislabelled"
    shutil.copytree(v1_dataset, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 2
    (copy / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_dataset(copy)
    assert {p.path for p in problems} == {s.path for s in Manifest.read(copy).shards_of("steps")}
    assert all("holds nulls in action" in p.message and "format_version 2" in p.message for p in problems)


def test_growing_a_format_1_dataset_keeps_format_1(v1_dataset, tmp_path):
    grown = tmp_path / "grown"
    _small(grown, episodes=8, format_version=1)
    _small(grown, episodes=N)  # no format asked: the dataset's own
    assert Manifest.read(grown).format_version == 1
    assert tree_bytes(grown) == tree_bytes(v1_dataset)  # the same bytes as generating 12 at once in format 1
    with pytest.raises(ConfigError, match="format_version 1 data, asked for 2"):
        _small(grown, episodes=16, format_version=2)
    assert tree_bytes(grown) == tree_bytes(v1_dataset)


def test_resuming_a_job_started_before_format_2_writes_format_1(v1_dataset, tmp_path):
    """A job file that names no format_version was written before format 2: its shards are format 1."""
    out = tmp_path / "interrupted"
    shutil.copytree(v1_dataset, out)
    manifest = Manifest.read(out)
    (out / "manifest.json").unlink()
    for shard in manifest.shards:
        if shard.episode_start >= 4:
            (out / shard.path).unlink()
    config = get_spec("reacher").config_cls.model_validate(SMALL_OPTIONS).model_dump(mode="json")
    job = {"kind": "generate", "env": "reacher", "config": config, "episodes": N,
           "episodes_per_shard": SMALL["episodes_per_shard"], "episode_start": 0,
           "shards": {s.path: s.sha256 for s in manifest.shards if s.episode_start < 4}}
    (out / ".wmhub-job.json").write_text(json.dumps(job))
    generate("reacher", out, N, options=SMALL_OPTIONS, episodes_per_shard=SMALL["episodes_per_shard"],
             resume=True, show_progress=False)
    assert tree_bytes(out) == tree_bytes(v1_dataset)


def test_publish_appends_format_1_and_refuses_to_mix(v1_dataset, small_dataset, tmp_path):
    src, hub = tmp_path / "src", tmp_path / "hub"
    _small(src, episodes=8, format_version=1)
    publish(src, str(hub))
    _small(src, episodes=N)
    second = publish(src, str(hub))
    assert len(second.uploaded) == 2 and Manifest.read(hub).format_version == 1
    for shard in Manifest.read(hub).shards:
        assert (hub / shard.path).read_bytes() == (v1_dataset / shard.path).read_bytes()
    with pytest.raises(DatasetMismatchError, match="a dataset keeps its format"):
        publish(small_dataset, str(hub))  # the same generator in format 2: other bytes, never mixed in
    assert Manifest.read(hub).format_version == 1


def test_reproduce_regenerates_the_format_a_run_was_trained_on(v1_dataset, tmp_path):
    summary = RunSummary.read(FIXTURE / "summary.json")
    assert trained_format_version(summary) == 1  # summaries written before format 2 record none
    recorded = summary.model_copy(update={"dataset": summary.dataset.model_copy(update={"format_version": 2})})
    assert trained_format_version(recorded) == 2
    step = GenerateStep(env="reacher", episodes=N, episodes_per_shard=SMALL["episodes_per_shard"], **SMALL_OPTIONS)
    with regenerating_format(1):
        run_generate_step(step, tmp_path / "again", show_progress=False)
    again = Manifest.read(tmp_path / "again")
    assert again.format_version == 1
    assert [s.sha256 for s in again.shards] == [s.sha256 for s in Manifest.read(v1_dataset).shards]
    run_generate_step(step, tmp_path / "new", show_progress=False)
    assert Manifest.read(tmp_path / "new").format_version == FORMAT_VERSION
    with pytest.raises(ConfigError, match="format_version 7"):
        with regenerating_format(7):
            pass


def test_encoding_a_format_1_dataset_keeps_its_format(v1_dataset, tmp_path):
    from wmhub.encoding import encode_dataset

    copy = tmp_path / "encoded"
    shutil.copytree(v1_dataset, copy)
    encode_dataset(copy, "state", show_progress=False)
    assert Manifest.read(copy).format_version == 1 and verify_dataset(copy) == []
    data = open_dataset(copy).load_tensors("embeddings-state")
    assert torch.equal(data.actions, open_dataset(v1_dataset).load_tensors().actions)
