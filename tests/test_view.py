"""``wmhub view``: episode videos from the physics state or the stored frames, with their overlay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.errors import ConfigError, NotFoundError, WmhubError
from wmhub.render.episode_video import base_velocity, episode_frames, view
from wmhub.render.overlay import OverlayPanel, display_scale
from wmhub.render.video_io import VideoWriter

HAS_MENAGERIE = bool(os.environ.get("MENAGERIE_ROOT")) or (Path.home() / ".cache" / "mujoco_menagerie").exists()
SIZE = 64  # scene pixels (enlarged ×3 for display): small and fast
SCENE = SIZE * display_scale(SIZE)
STEPS = 12  # actions per episode of the datasets here: 13 frames per video


@pytest.fixture(scope="module")
def reacher(tmp_path_factory) -> Path:
    """8 episodes of 12 steps, 4 per shard (read-only)."""
    from support.datasets import make_small

    return make_small(tmp_path_factory.mktemp("view") / "reacher", episodes=8, episode_length=STEPS)


def _decode(path: Path) -> np.ndarray:
    return np.stack(list(iio.imiter(path)))


def _changes_with_step(frames: np.ndarray) -> None:
    """The panel (under the scene) differs between rows: the step counter at least."""
    panels = frames[:, SCENE:]
    assert panels.shape[1] > 0
    assert not np.array_equal(panels[0], panels[10])
    assert not np.array_equal(panels[10], panels[11])


def test_reacher_mp4_and_gif_decode_back_with_overlay(reacher, tmp_path):
    mp4 = view(reacher, [2, 5], out=tmp_path / "clip.mp4", size=SIZE, show_progress=False)
    assert [v.episode for v in mp4.videos] == [2, 5]
    assert mp4.paths == [tmp_path / "clip-episode-2.mp4", tmp_path / "clip-episode-5.mp4"]
    for video in mp4.videos:
        frames = _decode(video.path)
        assert frames.shape == (STEPS + 1, video.height, video.width, 3)  # one frame per row
        assert video.width == SCENE and video.height > SCENE
        _changes_with_step(frames)
    gif = view(reacher, [2], out=tmp_path / "ep2.gif", size=SIZE, show_progress=False)
    frames = _decode(gif.paths[0])
    assert frames.shape[0] == STEPS + 1 and frames.shape[2] == SCENE
    _changes_with_step(frames)
    again = view(reacher, [2], out=tmp_path / "again.gif", size=SIZE, show_progress=False)
    assert again.paths[0].read_bytes() == gif.paths[0].read_bytes()  # same rows, same bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.gif", "clip-episode-2.mp4",
                                                          "clip-episode-5.mp4", "ep2.gif"]


def test_stored_frames_and_physics_state_give_the_same_picture(reacher, tmp_path):
    """Same picture = every pixel of every video frame equal (scene and panel), when the stored frames were
    rendered at the same size by the same MuJoCo renderer and GL backend, as here."""
    import shutil

    from wmhub.encoding.frames import save_frames
    from wmhub.render.episode_rows import read_episodes, select_episodes
    from wmhub.render.scene import SceneRenderer

    size = 24
    small_copy = tmp_path / "copy"
    shutil.copytree(reacher, small_copy)
    save_frames(small_copy, size, workers=0, show_progress=False)
    stored = select_episodes(small_copy, [7], from_frames=True)
    assert (stored.frames_config, stored.frame_size) == ("frames-24", size)
    episode = next(read_episodes(stored, ["qpos", "qvel", "target_pos"]))
    panel = OverlayPanel(size, 2)
    renderer = SceneRenderer("reacher", size)
    try:
        from_state = np.stack(list(episode_frames(episode, "reacher", panel, renderer)))
    finally:
        renderer.close()
    from_frames = np.stack(list(episode_frames(episode, "reacher", panel, None)))
    assert from_state.shape == (STEPS + 1, *from_frames.shape[1:])
    assert np.array_equal(from_state, from_frames)
    # end to end: the two GIFs are the same file
    a = view(small_copy, [7], out=tmp_path / "state.gif", size=size, show_progress=False)
    b = view(small_copy, [7], out=tmp_path / "frames.gif", from_frames=True, show_progress=False)
    assert b.size == size and b.from_frames
    assert a.paths[0].read_bytes() == b.paths[0].read_bytes()
    with pytest.raises(ConfigError, match="frames-24"):
        view(small_copy, [7], out=tmp_path / "x.gif", size=32, from_frames=True, show_progress=False)


@pytest.mark.skipif(not HAS_MENAGERIE, reason="no Menagerie Spot model (set MENAGERIE_ROOT)")
def test_spot_video_follows_the_body_and_shows_command_and_velocity(tmp_path):
    from wmhub.generation import generate
    from wmhub.render.episode_rows import read_episodes, select_episodes

    data = tmp_path / "spot"
    generate("spot", data, 2, options={"episode_length": 24, "policy": "trot", "seed": 3, "obs_noise": False},
             episodes_per_shard=1, show_progress=False)
    result = view(data, [1], out=tmp_path / "spot.mp4", size=SIZE, show_progress=False)
    assert result.env == "spot"
    frames = _decode(result.paths[0])
    assert frames.shape[0] == 25 and frames.shape[2] == SCENE
    _changes_with_step(frames)
    assert not np.array_equal(frames[0, :SCENE], frames[20, :SCENE])  # the robot moves in the picture
    # the measured velocity drawn is what the velocimeter and gyro at the imu site read in the shown state
    import mujoco

    from wmhub.envs.spot_model import build_spot_model

    model, info = build_spot_model()
    sim = mujoco.MjData(model)
    episode = next(read_episodes(select_episodes(data, [1]), ["qpos", "qvel"]))
    measured = base_velocity(episode.columns["qpos"], episode.columns["qvel"])
    for t in (0, 7, 24):
        sim.qpos[:], sim.qvel[:] = episode.columns["qpos"][t], episode.columns["qvel"][t]
        mujoco.mj_forward(model, sim)
        sensors = sim.sensordata
        np.testing.assert_allclose(measured[t, :2], sensors[info.sensor["local_linvel"]][:2], atol=1e-9)
        np.testing.assert_allclose(measured[t, 2], sensors[info.sensor["gyro"]][2], atol=1e-9)
    assert np.abs(measured[5:, 0]).max() > 0.01  # it walks


def test_only_the_shard_of_the_episode_is_downloaded(tmp_path):
    from wmhub.hub.verbs import publish

    from support.datasets import make_small
    from support.hub_server import HubServer, patch_endpoint

    src = make_small(tmp_path / "src", episodes=8, episode_length=STEPS)
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        os.environ["HF_TOKEN"] = server.token
        try:
            publish(src, "hf://datasets/wm-lab/reacher", tag="v1")
            server.request_log.clear()
            result = view("hf://datasets/wm-lab/reacher@v1", [5], out=tmp_path / "ep5.gif", size=SIZE,
                          show_progress=False)
            gets = [path.split("/resolve/", 1)[1].split("/", 1)[1] for method, path in server.request_log
                    if method == "GET" and "/resolve/" in path and path.endswith(".parquet")]
        finally:
            del os.environ["HF_TOKEN"]
    assert [g for g in gets if g.startswith("data/steps/")] == ["data/steps/episodes-00000004-00000008.parquet"]
    local = view(src, [5], out=tmp_path / "local.gif", size=SIZE, show_progress=False)
    assert result.paths[0].read_bytes() == local.paths[0].read_bytes()


def test_clear_errors(reacher, tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["view", str(reacher), "-e", "12", "--out", str(tmp_path / "x.mp4")])
    assert out.exit_code == 2 and "episode 12 out of range" in out.output and "holds episodes 0-7" in out.output
    out = runner.invoke(main, ["view", str(reacher), "-e", "1", "--out", str(tmp_path / "x.avi")])
    assert out.exit_code == 2 and "FILE.mp4" in out.output
    out = runner.invoke(main, ["view", str(reacher), "-e", "1", "--from-frames"])
    assert out.exit_code == 2 and "stores no frames" in out.output and "--save-frames" in out.output
    with pytest.raises(NotFoundError, match="no wmhub dataset"):
        view(tmp_path, [0], show_progress=False)
    assert list(tmp_path.iterdir()) == []  # nothing written on refusal
    help_text = runner.invoke(main, ["view", "--help"]).output
    assert "Example:" in help_text and "wmhub view" in help_text.split("Example:", 1)[1]


def test_no_gl_backend_names_what_to_set(reacher, tmp_path):
    env = {**os.environ, "MUJOCO_GL": "disable"}  # rendering switched off: no GL context can be made
    done = subprocess.run([sys.executable, "-m", "wmhub.cli", "view", str(reacher), "-e", "0", "--quiet",
                           "--out", str(tmp_path / "x.mp4")], env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "MUJOCO_GL=egl" in done.stderr and "MUJOCO_GL=osmesa" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.mp4").exists()


def test_spot_without_menagerie_names_menagerie_root(tmp_path, monkeypatch):
    from wmhub.render.scene import SceneRenderer

    monkeypatch.setenv("MENAGERIE_ROOT", str(tmp_path))  # an empty copy
    with pytest.raises(WmhubError, match="MENAGERIE_ROOT"):
        SceneRenderer("spot", SIZE)


def test_a_failed_video_leaves_no_file(tmp_path):
    target = tmp_path / "v.mp4"
    with pytest.raises(ConfigError, match="frame 1"):
        with VideoWriter(target, 50) as writer:
            writer.add(np.zeros((8, 8, 3), np.uint8))
            writer.add(np.zeros((8, 10, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_eval_writes_planning_videos_of_the_first_episodes(tmp_path, one_torch_thread):
    """~15 s (40 s on a busy machine): trains the tiny recipe (2 epochs), plans 2 goal-success episodes."""
    import json

    from wmhub.runs.evaluate import evaluate
    from wmhub.training import load_recipe, train

    recipe = load_recipe("tiny_reacher_dynamics_state", [f"dataset.source={tmp_path / 'tiny-reacher'}",
                                                         "training.epochs=2"])
    run = train(recipe, tmp_path / "run", show_progress=False).run_dir
    results = evaluate(run, ["goal-success"], overrides={"episodes": 2})
    goal = results.suites["goal-success"]
    assert goal["videos"] == ["goal-success-episode-0.gif", "goal-success-episode-1.gif"]
    saved = json.loads((run / "eval" / "eval_results.json").read_text())
    assert saved["suites"]["goal-success"]["videos"] == goal["videos"]
    assert [m["path"] for m in saved["media"]] == [*(f"eval/{v}" for v in goal["videos"]),
                                                   "eval/goal-success-fingertip-paths.png"]  # the card embeds these
    from wmhub.runs.card import render_model_card

    assert "(eval/goal-success-episode-1.gif)" in render_model_card(run, "org/tiny").content
    frames = _decode(run / "eval" / goal["videos"][0])
    assert frames.shape[0] == goal["budget"] + 1  # the start state, then one frame per action
    assert frames.shape[2] == 2 * 128  # simulator | goal
    simulator, target = frames[:, :128, :128], frames[:, :128, 128:]
    assert not np.array_equal(simulator[0], simulator[-1])  # the arm moves
    assert all(np.array_equal(target[0], t) for t in target)  # the goal does not (one palette: exact pixels)
    assert not np.array_equal(frames[1, 128:], frames[2, 128:])  # the cost plot and step advance
