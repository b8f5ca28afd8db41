"""Stored frames in exports: LeRobot video (H.264 MP4, timestamps where LeRobot seeks) and Minari
``frames`` observations (lossless), from one dataset whose frames are rendered once for the module."""

from __future__ import annotations

import json
import shutil

import datasets
import numpy as np
import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data.reader import open_dataset

from support.lerobot_read import load_rows as _load

minari = pytest.importorskip("minari")


@pytest.fixture(scope="module")
def framed(small_dataset, tmp_path_factory):
    """A copy of the small dataset with a frames-24 config (rendering dominates: done once)."""
    root = tmp_path_factory.mktemp("framed") / "reacher"
    shutil.copytree(small_dataset, root)
    result = CliRunner().invoke(main, ["encode", str(root), "--save-frames", "--frame-size", "24",
                                       "--workers", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.slow
def test_lerobot_export_frames_as_video(framed, tmp_path):
    """--frames: one H.264 MP4 per data file whose frame timestamps are where LeRobot looks for them
    (episode ``from_timestamp`` + ``timestamp``, within its default tolerance of 1e-4 s) and whose frames
    are the stored ones (lossy: compared on average, and against the neighbouring frame)."""
    import re
    import subprocess

    import imageio.v2 as imageio
    import imageio_ffmpeg

    from wmhub.data.frame_shards import iter_frame_episodes

    small_copy = framed
    out = tmp_path / "lerobot"
    result = CliRunner().invoke(main, ["export", str(small_copy), str(out), "--format", "lerobot", "--repo-id",
                                       "wm-lab/reacher-video", "--frames", "frames-24", "--quiet"])
    assert result.exit_code == 0, result.output
    info = json.loads((out / "meta" / "info.json").read_text())
    key = "observation.images.frames_24"
    assert info["features"][key]["dtype"] == "video" and info["features"][key]["shape"] == [24, 24, 3]
    assert info["features"][key]["info"]["video.codec"] == "h264" and info["video_path"].startswith("videos/")
    meta = datasets.Dataset.from_parquet(str(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet"))
    stats = json.loads((out / "meta" / "stats.json").read_text())
    assert len(stats[key]["mean"]) == 3 and stats[key]["count"] == [360 * 24 * 24]
    data = _load(out).with_format("numpy")[:]
    ds = open_dataset(small_copy)
    for shard_position in (0, 2):
        ep = meta[4 * shard_position + 1]  # the second episode of the shard
        video = out / info["video_path"].format(video_key=key, chunk_index=ep[f"videos/{key}/chunk_index"],
                                                file_index=ep[f"videos/{key}/file_index"])
        log = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(video), "-vf", "showinfo",
                              "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
        pts = np.array([float(t) for t in re.findall(r"pts_time:([0-9.]+)", log)])
        assert len(pts) == 4 * 30
        rows = np.flatnonzero(data["episode_index"] == ep["episode_index"])
        wanted = ep[f"videos/{key}/from_timestamp"] + data["timestamp"][rows]
        nearest = np.abs(pts[None, :] - wanted[:, None]).min(axis=1)
        assert (nearest < 1e-4).all()
        decoded = np.stack([frame for frame in imageio.get_reader(str(video), "ffmpeg")])  # (its len is inf)
        stored = np.concatenate([f[:-1] for _, f in iter_frame_episodes(small_copy / ds.manifest.shards_of(
            "frames-24")[shard_position].path)])
        error = np.abs(decoded.astype(int) - stored.astype(int)).mean()
        shifted = np.abs(decoded[1:].astype(int) - stored[:-1].astype(int)).mean()
        assert error < 8 and error < shifted


@pytest.mark.slow
def test_minari_export_frames_are_the_stored_frames(framed, tmp_path, monkeypatch):
    from wmhub.data.frame_shards import iter_frame_episodes

    small_copy = framed
    minari_root = tmp_path / "minari-root"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(minari_root))
    result = CliRunner().invoke(main, ["export", str(small_copy), str(minari_root), "--format", "minari",
                                       "--dataset-id", "wmhub/reacher-frames-v0", "--frames", "frames-24",
                                       "--no-embeddings", "--quiet"])
    assert result.exit_code == 0, result.output
    ds = minari.load_dataset("wmhub/reacher-frames-v0")
    assert ds.observation_space["frames"].shape == (24, 24, 3)
    stored = dict(iter_frame_episodes(small_copy / open_dataset(small_copy).manifest.shards_of("frames-24")[1].path))
    episode = next(iter(ds.iterate_episodes([5])))
    np.testing.assert_array_equal(episode.observations["frames"], stored[5])  # lossless: no JPEG
