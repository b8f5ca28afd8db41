"""What the shards hold: plain `datasets` loading, replay, stats, windows, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from wmhub.data import open_dataset
from wmhub.data.stats import FeatureStats
from wmhub.envs.reacher import ReacherConfig, ReacherRunner

from support.datasets import SMALL, SMALL_OPTIONS

T = SMALL_OPTIONS["episode_length"]
N = SMALL["episodes"]


def test_load_dataset_matches_manifest(small_dataset):
    from datasets import load_dataset

    manifest = json.loads((small_dataset / "manifest.json").read_text())
    steps = load_dataset(str(small_dataset), split="train")
    episodes = load_dataset(str(small_dataset), "episodes", split="train")
    for name, ds in (("steps", steps), ("episodes", episodes)):
        config = next(c for c in manifest["configs"] if c["name"] == name)
        assert ds.column_names == [f["name"] for f in config["features"]]
        assert ds.num_rows == sum(s["num_rows"] for s in manifest["shards"] if s["config"] == name)
    assert steps.num_rows == N * (T + 1) and episodes.num_rows == N
    streamed = load_dataset(str(small_dataset), split="train", streaming=True)
    rows = list(streamed)
    assert len(rows) == steps.num_rows and rows[T]["is_last"]
    assert rows[T]["action"] == [0.0, 0.0] and rows[T]["reward"] == 0.0  # format 2: zero-filled, not null
    assert steps[0]["position"] == pytest.approx(rows[0]["position"])


def test_replaying_actions_reproduces_observations(small_dataset):
    ds = open_dataset(small_dataset)
    episodes_table = ds.table("episodes").to_pydict()
    runner = ReacherRunner(ReacherConfig(**SMALL_OPTIONS))
    for episode, seed in zip(list(ds.iter_episodes())[:4], episodes_table["seed"][:4]):
        timestep = runner.reset(seed)
        assert np.array_equal(runner.physics.data.qpos, episode["qpos"][0])
        for t in range(T):
            timestep = runner.env.step(episode["action"][t].astype(np.float64))
            assert timestep.reward == episode["reward"][t]
        assert np.array_equal(timestep.observation["position"].astype(np.float32), episode["position"][T])
        assert np.array_equal(timestep.observation["to_target"].astype(np.float32), episode["to_target"][T])
        assert np.array_equal(runner.physics.data.qvel, episode["qvel"][T])


def test_regenerating_one_episode_alone_matches(small_dataset):
    ds = open_dataset(small_dataset)
    stored = list(ds.iter_episodes())[9]
    fresh = ReacherRunner(ReacherConfig(**SMALL_OPTIONS)).run(9)
    for name, values in fresh.steps.items():
        if name in ("action", "reward", "is_random_action"):  # the last row has none: stored as zero / False
            values, expected = values[:-1], stored[name][:-1]
            assert not stored[name][-1].any(), name
        else:
            expected = stored[name]
        np.testing.assert_array_equal(values, expected, err_msg=name)


def test_episode_layout_and_flags(small_dataset):
    ds = open_dataset(small_dataset)
    episodes = list(ds.iter_episodes())
    assert len(episodes) == N
    for index, ep in enumerate(episodes):
        assert (ep["episode_index"] == index).all()
        assert ep["step_index"].tolist() == list(range(T + 1))
        assert ep["is_last"].tolist() == [False] * T + [True]
        # format 2: the last row's action, reward and flag hold the fill value; is_last masks them
        assert (ep["action"][T] == 0).all() and ep["reward"][T] == 0 and not ep["is_random_action"][T]
        assert not np.isnan(ep["action"]).any()
        assert np.abs(ep["action"][:T]).max() <= 1.0
    frac_random = np.mean(np.concatenate([ep["is_random_action"][:T] for ep in episodes]))
    assert 0.2 < frac_random < 0.4  # ε = 0.3
    table = ds.table("episodes").to_pydict()
    for ep, ret, success in zip(episodes, table["return"], table["success"]):
        assert ret == pytest.approx(float(ep["reward"][:T].astype(np.float64).sum()))
        assert success == bool(ep["reward"][T - 1] >= 1)


def test_manifest_stats_are_exact(small_dataset):
    ds = open_dataset(small_dataset)
    stats = ds.manifest.stats("steps")
    table = ds.table("steps")
    data = ds.load_tensors(extra_columns=["position", "velocity", "is_last"])
    direct = FeatureStats.from_array(data.columns["position"].numpy())
    assert stats["position"].count == N * (T + 1)
    np.testing.assert_allclose(stats["position"].sum, direct.sum, rtol=1e-12)
    np.testing.assert_array_equal(stats["position"].min, direct.min)
    actions = data.actions.numpy()
    assert stats["action"].count == N * T  # the last row of each episode has no action: not counted
    acting = ~data.columns["is_last"].numpy()
    np.testing.assert_allclose(stats["action"].mean, actions[acting].mean(axis=0), rtol=1e-6)
    assert table.num_rows == N * (T + 1)


def test_windows_never_cross_episodes(small_dataset):
    windows = open_dataset(small_dataset).windows(horizon=5, stride=1)
    assert len(windows) == N * (T - 5 + 1)
    item = windows[0]
    assert item["latents"].shape == (6, 6) and item["actions"].shape == (5, 2) and item["rewards"].shape == (5,)
    batch = windows.batch(torch.arange(len(windows)))
    assert not torch.isnan(batch["actions"]).any() and not torch.isnan(batch["rewards"]).any()
    rows = windows.rows[:, None] + torch.arange(6)
    assert (windows.data.episode_index[rows] == batch["episode_index"][:, None]).all()
    # latent = concat(position, to_target, velocity) of the right step
    ep = list(open_dataset(small_dataset).iter_episodes())[1]
    second_episode = batch["episode_index"] == 1
    first = batch["latents"][second_episode][3]
    expected = np.concatenate([ep["position"][3:9], ep["to_target"][3:9], ep["velocity"][3:9]], axis=1)
    np.testing.assert_array_equal(first.numpy(), expected)


def test_export_triples(small_dataset, tmp_path):
    from click.testing import CliRunner
    from datasets import load_dataset

    from wmhub.cli import main

    result = CliRunner().invoke(main, ["export", str(small_dataset), str(tmp_path / "tri"), "--format", "triples"])
    assert result.exit_code == 0, result.output
    triples = load_dataset(str(tmp_path / "tri"), split="train").with_format("numpy")
    assert triples.num_rows == N * T
    data = open_dataset(small_dataset).load_tensors(extra_columns=["is_last"])
    z = data.latents.numpy()
    keep = ~data.columns["is_last"].numpy()
    np.testing.assert_array_equal(np.stack(triples["z_t"]), z[keep])
    np.testing.assert_array_equal(np.stack(triples["z_t1"]), z[np.flatnonzero(keep) + 1])
    np.testing.assert_array_equal(np.stack(triples["a_t"]), data.actions.numpy()[keep])


def test_shards_holding_and_select_episodes(small_dataset):
    """The suites load only the shards holding their episodes, then those episodes' rows: the same windows."""
    from wmhub.data.windows import WindowDataset
    from wmhub.training.data import restrict

    ds = open_dataset(small_dataset)
    infos = ds.manifest.shards_of("steps")
    pick = [1, 9]
    assert len(infos) == 3 and ds.shards_holding("steps", pick) == [0, 2]
    assert ds.shards_holding("steps", [4, 5]) == [1] and ds.shards_holding("steps", []) == []
    assert ds.shards_holding("steps", range(N)) == [0, 1, 2]
    full = ds.load_tensors(extra_columns=["qpos"])
    part = ds.load_tensors(extra_columns=["qpos"], shards=ds.shards_holding("steps", pick)).select_episodes(pick)
    keep = torch.isin(full.episode_index, torch.tensor(pick))
    assert part.episode_index.unique().tolist() == pick
    assert part.episode_starts.tolist() == [0, T + 1, 2 * (T + 1)]
    for name in ("latents", "actions", "rewards", "episode_index"):
        assert torch.allclose(getattr(part, name), getattr(full, name)[keep], rtol=0, atol=0, equal_nan=True), name
    assert torch.equal(part.columns["qpos"], full.columns["qpos"][keep])
    a = WindowDataset(part, horizon=5, stride=3)
    b = restrict(WindowDataset(full, horizon=5, stride=3), pick)
    assert len(a) == len(b) > 0
    wa, wb = a.batch(torch.arange(len(a))), b.batch(torch.arange(len(b)))
    assert all(torch.equal(wa[k], wb[k]) for k in wb)
    assert len(full.select_episodes([]).episode_index) == 0


def test_load_rows_keeps_only_the_selected_rows(small_dataset):
    """The probe's loader: any sorted rows, across shard boundaries, equal the whole load indexed by them."""
    from wmhub.errors import WmhubError

    ds = open_dataset(small_dataset)
    full = ds.load_tensors(extra_columns=["qpos", "qvel"])
    rows_per_shard = [s.num_rows for s in ds.manifest.shards_of("steps")]
    rows = np.array([0, 5, rows_per_shard[0] - 1, rows_per_shard[0], len(full.latents) - 1])
    got = ds.load_rows("steps", rows, extra_columns=["qpos", "qvel"])
    for name in ("latents", "actions", "rewards", "episode_index"):
        assert torch.allclose(getattr(got, name), getattr(full, name)[rows], rtol=0, atol=0, equal_nan=True), name
    assert all(torch.equal(got.columns[n], full.columns[n][rows]) for n in ("qpos", "qvel"))
    assert got.episode_starts.tolist() == [0, 2, 3, 4, 5]  # episode 0 twice, then three others
    # positions count over the given shards only (as load_tensors with shards=...)
    tail = ds.load_tensors(shards=[2])
    assert torch.equal(ds.load_rows("steps", np.array([1, 3]), shards=[2]).latents, tail.latents[[1, 3]])
    with pytest.raises(WmhubError, match="sorted, unique"):
        ds.load_rows("steps", np.array([3, 1]))
    with pytest.raises(WmhubError, match="past the"):
        ds.load_rows("steps", np.array([len(full.latents)]))


def test_latent_suite_names_episodes_missing_from_the_dataset(small_dataset):
    from wmhub.errors import WmhubError
    from wmhub.eval.latent import latent_suite
    from wmhub.models import MLPDynamics

    with pytest.raises(WmhubError, match="are not in .*config 'steps'"):
        latent_suite(MLPDynamics(6, 2, hidden_dim=8), open_dataset(small_dataset), [N + 5], horizons=[1])


def test_column_numpy_on_sliced_tables():
    import pyarrow as pa

    from wmhub.data.schema import Feature, column_numpy

    values = np.arange(12, dtype=np.float32).reshape(4, 3)
    table = pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), 3)})
    feature = Feature("x", "float32", (3,))
    np.testing.assert_array_equal(column_numpy(table.slice(0, 2), feature), values[:2])
    np.testing.assert_array_equal(column_numpy(table.slice(1, 2), feature), values[1:3])
