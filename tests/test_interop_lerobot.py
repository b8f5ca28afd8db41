"""``wmhub export --format lerobot``: a LeRobotDataset v3.0 directory, opened with LeRobot 0.4.4 itself.

``LeRobotDataset(repo_id, root=OUT, episodes=[...], delta_timestamps={...})`` runs in LeRobot's own
environment (``.venv-lerobot``, see support/lerobot_read.py); what it returns (metadata, the frames
it selected, ``ds[i]`` items with their padding flags) is compared with the source dataset read
through wmhub.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data.reader import open_dataset

from support.datasets import tree_bytes
from support.lerobot_read import Loaded, Request, load

REACHER_TASK = "Move the finger of the two-link arm into the target."
SPOT_TASK = "Walk at the commanded forward, lateral and yaw velocity."
DELTAS = {"action": [0.0, 0.02, 0.04], "observation.state": [-0.02, 0.0]}


def _export(dataset: Path, out: Path, repo_id: str) -> None:
    result = CliRunner().invoke(main, ["export", str(dataset), str(out), "--format", "lerobot",
                                       "--repo-id", repo_id, "--quiet"])
    assert result.exit_code == 0, result.output


def test_lerobot_export_opens_in_lerobot(small_copy, tmp_path):
    from wmhub.encoding import encode_dataset

    encode_dataset(small_copy, "state", show_progress=False)
    out = tmp_path / "lerobot"
    _export(small_copy, out, "wm-lab/reacher-small")
    picked = [2, 7]
    # ds[0], ds[29]: episode 2's first and last frame; ds[30], ds[59]: episode 7's
    requests = [Request("wm-lab/reacher-small", root=out, episodes=picked, delta_timestamps=DELTAS,
                        items=[0, 29, 30, 59], rows=True),
                Request("wm-lab/reacher-small", root=out, items=[359])]
    some, every = load(requests)
    assert isinstance(some, Loaded) and isinstance(every, Loaded), (some, every)

    # metadata as LeRobotDatasetMetadata loaded it
    assert some.info["codebase_version"] == "v3.0" and some.fps == 50
    assert some.info["total_episodes"] == 12 and some.info["total_frames"] == 360
    assert set(some.info["features"]) == {"observation.state", "observation.embedding.state", "action", "next.reward",
                                          "next.done", "timestamp", "frame_index", "episode_index", "index",
                                          "task_index"}
    assert some.info["features"]["observation.state"]["shape"] == [6]
    assert some.tasks == {REACHER_TASK: 0}
    assert some.stats["action"]["count"] == [360] and len(some.stats["observation.state"]["mean"]) == 6
    assert (every.length, every.num_episodes, every.num_frames) == (360, 12, 360)
    assert (some.length, some.num_episodes, some.num_frames) == (60, 2, 60)

    source = list(open_dataset(small_copy).iter_episodes())
    episode_table = open_dataset(small_copy).table("episodes").to_pydict()
    embeddings = open_dataset(small_copy).load_tensors("embeddings-state").latents.numpy()
    states = [np.concatenate([e["position"], e["to_target"], e["velocity"]], axis=1) for e in source]
    data = some.rows.with_format("numpy")[:]
    assert sorted(set(data["episode_index"].tolist())) == picked
    for e in picked:
        ep = some.episodes[e]
        assert ep["episode_index"] == e and ep["length"] == 30 and ep["tasks"] == [REACHER_TASK]
        assert ep["wmhub/seed"] == episode_table["seed"][e] and ep["wmhub/return"] == episode_table["return"][e]
        assert ep["wmhub/success"] == episode_table["success"][e]
        assert (ep["data/chunk_index"], ep["data/file_index"]) == (0, e // 4)  # one file per wmhub shard
        rows = {k: v[data["episode_index"] == e] for k, v in data.items()}
        np.testing.assert_array_equal(np.stack(rows["observation.state"]), states[e][:-1])
        np.testing.assert_array_equal(np.stack(rows["action"]), source[e]["action"][:-1])
        np.testing.assert_array_equal(rows["next.reward"], source[e]["reward"][:-1])
        np.testing.assert_array_equal(np.stack(rows["observation.embedding.state"]),
                                      embeddings[31 * e:31 * e + 30])
        assert rows["next.done"].tolist() == [False] * 29 + [True]
        np.testing.assert_array_equal(rows["frame_index"], np.arange(30))
        np.testing.assert_allclose(rows["timestamp"], np.arange(30) / 50, rtol=0, atol=1e-6)
        assert rows["index"].tolist() == list(range(ep["dataset_from_index"], ep["dataset_to_index"]))

    # ds[i] with delta_timestamps: LeRobot's query indices, clamped to the episode and flagged as padding
    for i, e, t in [(0, 2, 0), (29, 2, 29), (30, 7, 0), (59, 7, 29)]:
        item = some.items[i]
        assert (item["episode_index"], item["frame_index"], item["task"]) == (e, t, REACHER_TASK)
        actions = [source[e]["action"][min(t + k, 29)] for k in range(3)]
        np.testing.assert_array_equal(np.asarray(item["action"], np.float32), np.stack(actions))
        assert item["action_is_pad"] == [t + k > 29 for k in range(3)]
        np.testing.assert_array_equal(np.asarray(item["observation.state"], np.float32),
                                      states[e][[max(t - 1, 0), t]])
        assert item["observation.state_is_pad"] == [t == 0, False]
        np.testing.assert_array_equal(np.asarray(item["observation.embedding.state"], np.float32),
                                      embeddings[31 * e + t])
        assert item["next.done"] == (t == 29) and item["next.reward"] == float(np.float32(source[e]["reward"][t]))
    last = every.items[359]  # without delta_timestamps: one frame, no padding flags
    assert (last["index"], last["episode_index"], last["frame_index"]) == (359, 11, 29)
    np.testing.assert_array_equal(np.asarray(last["action"], np.float32), source[11]["action"][29])
    assert "action_is_pad" not in last

    # deterministic: the same dataset exports to the same bytes
    _export(small_copy, tmp_path / "again", "wm-lab/reacher-small")
    assert tree_bytes(tmp_path / "again") == tree_bytes(out)


@pytest.mark.skipif(not os.environ.get("MENAGERIE_ROOT") and
                    not (Path.home() / ".cache" / "mujoco_menagerie").exists(),
                    reason="no Menagerie Spot model (set MENAGERIE_ROOT)")
def test_spot_export_opens_in_lerobot(tmp_path):
    """Spot: 81 + 167 observation features, 12 actions and its own task, two 10-step episodes."""
    from wmhub.generation import generate

    spot = tmp_path / "spot"
    generate("spot", spot, 2, options={"episode_length": 10, "policy": "trot", "seed": 3},
             episodes_per_shard=1, show_progress=False)
    _export(spot, tmp_path / "lerobot", "wm-lab/spot-small")
    (loaded,) = load([Request("wm-lab/spot-small", root=tmp_path / "lerobot", episodes=[1], items=list(range(10)),
                              delta_timestamps={"action": [0.0, 0.02]})])
    assert isinstance(loaded, Loaded), loaded
    assert loaded.fps == 50 and loaded.tasks == {SPOT_TASK: 0} and (loaded.length, loaded.num_episodes) == (10, 1)
    assert loaded.info["features"]["observation.privileged_state"]["shape"] == [167]
    source = list(open_dataset(spot).iter_episodes())[1]
    for t, item in loaded.items.items():
        assert (item["episode_index"], item["frame_index"], item["index"], item["task"]) == (1, t, 10 + t, SPOT_TASK)
        for key, column in [("observation.state", "state"), ("observation.privileged_state", "privileged_state")]:
            np.testing.assert_array_equal(np.asarray(item[key], np.float32), source[column][t])
        np.testing.assert_array_equal(np.asarray(item["action"], np.float32), source["action"][[t, min(t + 1, 9)]])
        assert item["action_is_pad"] == [False, t == 9]
        assert item["next.reward"] == float(np.float32(source["reward"][t])) and item["next.done"] == (t == 9)
    assert [ep["wmhub/fell"] for ep in loaded.episodes] == open_dataset(spot).table("episodes").to_pydict()["fell"]


def test_lerobot_export_needs_a_repo_id(small_dataset, tmp_path):
    result = CliRunner().invoke(main, ["export", str(small_dataset), str(tmp_path / "x"), "--format", "lerobot"])
    assert result.exit_code == 2 and "--repo-id" in result.output and not (tmp_path / "x").exists()
    result = CliRunner().invoke(main, ["export", str(small_dataset), str(tmp_path / "x"), "--format", "lerobot",
                                       "--repo-id", "no-slash"])
    assert result.exit_code == 2 and "org>/<name" in result.output

