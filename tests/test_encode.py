"""Encoders: a tiny random V-JEPA 2 saved and loaded by path, windows, alignment, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from wmhub.data import open_dataset
from wmhub.data.verify import verify_dataset
from wmhub.encoding import encode_dataset
from wmhub.encoding.windows import window_indices
from wmhub.errors import WmhubError

from support.datasets import tree_bytes
from support.encoders import TINY_VJEPA2_FRAME as FRAME
from support.encoders import save_tiny_vjepa2


@pytest.fixture(scope="session")
def tiny_vjepa2(tmp_path_factory) -> Path:
    """A tiny random V-JEPA 2, saved with save_pretrained so loading uses the real from_pretrained path."""
    return save_tiny_vjepa2(tmp_path_factory.mktemp("models") / "vjepa2-tiny")


@pytest.fixture(scope="session")
def encoded(small_dataset, tiny_vjepa2, tmp_path_factory) -> Path:
    import shutil

    dest = tmp_path_factory.mktemp("enc") / "reacher"
    shutil.copytree(small_dataset, dest)
    encode_dataset(dest, f"vjepa2:{tiny_vjepa2}", device="cpu", batch_size=7, show_progress=False)
    return dest


def test_window_indices_pad_with_first_frame():
    steps = np.array([0, 1, 2, 3, 0, 1])  # two episodes: rows 0-3 and 4-5
    idx = window_indices(steps, 3)
    assert idx.tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3], [4, 4, 4], [4, 4, 5]]


def test_embeddings_config_is_aligned_and_loadable(encoded, tiny_vjepa2):
    from datasets import load_dataset

    manifest = json.loads((encoded / "manifest.json").read_text())
    name = "embeddings-vjepa2-tiny"
    config = next(c for c in manifest["configs"] if c["name"] == name)
    identity = config["extra"]["identity"]
    assert identity["window"] == 8 and identity["embedding_dim"] == 32 and identity["dtype"] == "float16"
    assert set(identity["weights_sha256"]) == {"model.safetensors"}
    steps = [s for s in manifest["shards"] if s["config"] == "steps"]
    emb = [s for s in manifest["shards"] if s["config"] == name]
    assert [(s["episode_start"], s["episode_end"], s["num_rows"]) for s in emb] == \
        [(s["episode_start"], s["episode_end"], s["num_rows"]) for s in steps]
    ds = load_dataset(str(encoded), name, split="train")
    plain = load_dataset(str(encoded), split="train")
    assert ds.num_rows == plain.num_rows
    assert ds["episode_index"] == plain["episode_index"] and ds["step_index"] == plain["step_index"]
    assert len(ds[0]["embedding"]) == 32
    assert verify_dataset(encoded) == []
    assert name in (encoded / "README.md").read_text()


def test_embedding_equals_direct_forward_and_fp16_roundtrip(encoded, tiny_vjepa2):
    from transformers import VJEPA2Model

    from wmhub.render.reacher_frames import ReacherFrameRenderer

    episode = next(open_dataset(encoded).iter_episodes())
    stored = next(open_dataset(encoded).iter_episodes("embeddings-vjepa2-tiny"))["embedding"].astype(np.float32)
    renderer = ReacherFrameRenderer(size=FRAME)
    frames = renderer.render(episode["qpos"], episode["qvel"], episode["target_pos"])
    renderer.close()
    model = VJEPA2Model.from_pretrained(tiny_vjepa2).eval()
    t = 3  # window = frames 0,0,0,0,0,1,2,3
    window = frames[[0, 0, 0, 0, 0, 1, 2, 3]]
    x = torch.from_numpy(window).permute(0, 3, 1, 2).float()[None] / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1)
    with torch.no_grad():
        direct = model(pixel_values_videos=(x - mean) / std, skip_predictor=True).last_hidden_state.mean(1)[0]
    direct = direct.numpy()
    cosine = float(direct @ stored[t] / np.linalg.norm(direct) / np.linalg.norm(stored[t]))
    assert cosine >= 0.999
    # consecutive steps differ (the arm moves) but windows are not all identical
    assert not np.allclose(stored[5], stored[25])


def test_vjepa2_world_model_recipe_trains_on_frozen_embeddings(encoded, tmp_path, monkeypatch):
    """reacher_world_model_vjepa2 as shipped but for the data (tiny random V-JEPA 2 embeddings) and the size:
    the frozen-encoder path end to end (layer-normalised L1 targets, then the latent suite).

    This checks the path, not learning: a random-weight ViT's features of 9 training episodes of 30 steps
    give nothing to learn beyond copy-last (measured: validation 0.2916 against 0.2912 after 30 epochs).
    Learning is tested on state latents (tests/test_world_model.py).
    """
    from wmhub.models import load_model
    from wmhub.runs.evaluate import evaluate
    from wmhub.training import load_recipe, train

    monkeypatch.chdir(tmp_path)
    recipe = load_recipe("reacher_world_model_vjepa2", [
        f"dataset.source={encoded}", "dataset.config=embeddings-vjepa2-tiny", "dataset.generate=[]",
        "model.width=32", "model.depth=1", "model.heads=2", "training.epochs=2", "training.batch_size=32",
        "training.warmup_steps=2", "training.val_fraction=0.25", "eval.latent.horizons=[1, 5, 10]",
        "eval.latent.stride=2"])
    assert recipe.target_layer_norm and recipe.loss == "l1"
    result = train(recipe, tmp_path / "run", show_progress=False)
    assert result.summary.baseline == "copy-last" and np.isfinite(result.summary.val_loss)
    model = load_model(result.model_dir)
    assert model.latent["config"] == "embeddings-vjepa2-tiny" and model.latent_dim == 32  # the ViT's width
    latent = evaluate(result.run_dir, suites=["latent"], device="cpu").suites["latent"]
    assert latent["config"] == "embeddings-vjepa2-tiny" and "collapse" not in latent  # frozen: nothing to collapse
    assert latent["context"] == 4 and set(latent["horizons"]) == {"1", "5", "10"}


def test_encode_is_deterministic_and_rerun_is_noop(encoded, small_dataset, tiny_vjepa2, tmp_path):
    import shutil

    other = tmp_path / "again"
    shutil.copytree(small_dataset, other)
    encode_dataset(other, f"vjepa2:{tiny_vjepa2}", device="cpu", batch_size=7, show_progress=False)
    assert tree_bytes(other) == tree_bytes(encoded)
    result = encode_dataset(other, f"vjepa2:{tiny_vjepa2}", device="cpu", batch_size=7, show_progress=False)
    assert result.shards_written == 0 and tree_bytes(other) == tree_bytes(encoded)


def test_encode_sigkill_then_resume(encoded, small_dataset, tiny_vjepa2, tmp_path):
    import shutil

    out = tmp_path / "killed"
    shutil.copytree(small_dataset, out)
    cmd = [sys.executable, "-m", "wmhub.cli", "encode", str(out), "--encoder", f"vjepa2:{tiny_vjepa2}",
           "--device", "cpu", "--batch-size", "7", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    target = out / "data" / "embeddings-vjepa2-tiny"
    while time.time() < deadline and not (target.exists() and any(target.glob("*.parquet"))):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if not (out / ".wmhub-job.json").exists():
        pytest.skip("the job finished before it could be killed")
    refused = subprocess.run(cmd, capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    subprocess.run(cmd + ["--resume"], check=True, capture_output=True)
    assert tree_bytes(out) == tree_bytes(encoded)


def test_state_encoder_and_growing_keeps_embeddings(small_dataset, tmp_path):
    from support.datasets import make_small

    out = make_small(tmp_path / "grow", episodes=8)
    encode_dataset(out, "state", show_progress=False)
    make_small(out, episodes=12)
    manifest = open_dataset(out).manifest
    assert "embeddings-state" in [c.name for c in manifest.configs]
    assert len(manifest.shards_of("embeddings-state")) == 2
    result = encode_dataset(out, "state", show_progress=False)
    assert result.shards_written == 1
    data = open_dataset(out).load_tensors("embeddings-state")
    reference = open_dataset(out).load_tensors()
    assert torch.equal(data.latents, reference.latents)
    assert verify_dataset(out) == []


def test_missing_weights_error_names_the_fix(small_copy):
    with pytest.raises(WmhubError, match="pass --encoder vjepa2:DIR"):
        encode_dataset(small_copy, "vjepa2:/nonexistent/vjepa2-model", device="cpu", show_progress=False)
    with pytest.raises(WmhubError, match="unknown encoder"):
        encode_dataset(small_copy, "clip", show_progress=False)
    assert not (small_copy / ".wmhub-job.json").exists()


def test_random_baseline_is_reproducible():
    from wmhub.encoders import parse_encoder_spec

    first = parse_encoder_spec("random:32", device="cpu", frame_size=FRAME)
    second = parse_encoder_spec("random:32", device="cpu", frame_size=FRAME)
    assert first.identity()["weights_sha256"] == second.identity()["weights_sha256"]
    assert first.identity()["init_seed"] == 0 and first.slug == "random-vjepa2-d32"
    windows = np.random.default_rng(0).integers(0, 255, (2, 8, FRAME, FRAME, 3), dtype=np.uint8)
    np.testing.assert_array_equal(first.encode_windows(windows), second.encode_windows(windows))
    with pytest.raises(WmhubError, match="multiple of 16"):
        parse_encoder_spec("random:30", device="cpu")


def test_render_workers_do_not_change_bytes(encoded, small_dataset, tiny_vjepa2, tmp_path):
    import shutil

    for workers in (0, 2):
        out = tmp_path / f"w{workers}"
        shutil.copytree(small_dataset, out)
        encode_dataset(out, f"vjepa2:{tiny_vjepa2}", device="cpu", batch_size=7, workers=workers,
                       show_progress=False)
        assert tree_bytes(out) == tree_bytes(encoded)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_hf_image_backbone_per_frame(small_copy, tmp_path, pooling):
    from transformers import Dinov2Config, Dinov2Model

    from wmhub.render.reacher_frames import ReacherFrameRenderer

    torch.manual_seed(0)
    path = tmp_path / "dinov2-tiny"
    Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                             image_size=FRAME, patch_size=8)).save_pretrained(path)
    result = encode_dataset(small_copy, f"hf-image:{path}", pooling=pooling, device="cpu", workers=0,
                            show_progress=False)
    assert result.config == f"embeddings-dinov2-tiny-{pooling}"
    ds = open_dataset(small_copy)
    stored = next(ds.iter_episodes(result.config))["embedding"].astype(np.float32)
    episode = next(ds.iter_episodes())
    renderer = ReacherFrameRenderer(size=FRAME)
    frame = renderer.render(episode["qpos"][4:5], episode["qvel"][4:5], episode["target_pos"][4:5])
    renderer.close()
    model = Dinov2Model.from_pretrained(path).eval()
    x = torch.from_numpy(frame).permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    x = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    with torch.no_grad():
        hidden = model(pixel_values=x).last_hidden_state[0]
    direct = (hidden[0] if pooling == "cls" else hidden[1:].mean(0)).numpy()
    cosine = float(direct @ stored[4] / np.linalg.norm(direct) / np.linalg.norm(stored[4]))
    assert cosine >= 0.999
    assert verify_dataset(small_copy) == []


def test_save_frames_webdataset(small_copy):
    import webdataset as wds
    from click.testing import CliRunner

    from wmhub.cli import main
    from wmhub.data.frame_shards import iter_frame_episodes
    from wmhub.render.reacher_frames import ReacherFrameRenderer

    result = CliRunner().invoke(main, ["encode", str(small_copy), "--save-frames", "--frame-size", "24",
                                       "--workers", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    ds = open_dataset(small_copy)
    shards = ds.manifest.shards_of("frames-24")
    assert [(s.episode_start, s.episode_end, s.num_rows) for s in shards] == \
        [(s.episode_start, s.episode_end, s.num_rows) for s in ds.manifest.shards_of("steps")]
    assert verify_dataset(small_copy) == []
    # readable by the webdataset library: one sample per episode, keys without dots
    samples = list(wds.WebDataset(str(small_copy / shards[0].path), shardshuffle=False))
    assert [s["__key__"] for s in samples] == [f"episode_{i:08d}" for i in range(4)]
    assert len([k for k in samples[0] if k.endswith(".png")]) == 31
    # frames equal a fresh render of the stored state (PNG is lossless)
    episode_index, frames = next(iter_frame_episodes(small_copy / shards[0].path))
    episode = next(ds.iter_episodes())
    renderer = ReacherFrameRenderer(size=24)
    expected = renderer.render(episode["qpos"], episode["qvel"], episode["target_pos"])
    renderer.close()
    assert episode_index == 0 and np.array_equal(frames, expected)
    # a corrupted tar is reported, and the card's YAML does not list the tar config for load_dataset
    assert "frames-24" not in (small_copy / "README.md").read_text().split("---")[1]
    path = small_copy / shards[1].path
    path.write_bytes(path.read_bytes()[:-2000])
    problems = verify_dataset(small_copy)
    assert [p.path for p in problems] == [shards[1].path]


def test_generate_with_encoder_in_one_command(tmp_path):
    from click.testing import CliRunner

    from wmhub.cli import main

    out = tmp_path / "gen"
    result = CliRunner().invoke(main, ["generate", "reacher", str(out), "--episodes", "3", "--episode-length", "10",
                                       "--encoder", "state", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "embeddings-state" in [c.name for c in open_dataset(out).manifest.configs]
    assert verify_dataset(out) == []


def test_render_backend_probe_and_clean_exit(small_dataset):
    from wmhub.render.gl_backend import backend_works

    assert backend_works("egl")
    assert not backend_works("no-such-backend")
    script = ("from wmhub.data import open_dataset\n"
              "from wmhub.render.reacher_frames import ReacherFrameRenderer\n"
              f"ep = next(open_dataset({str(small_dataset)!r}).iter_episodes())\n"
              "r = ReacherFrameRenderer(size=16)\n"
              "print(r.render(ep['qpos'][:2], ep['qvel'][:2], ep['target_pos'][:2]).shape)\n")
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "(2, 16, 16, 3)" in done.stdout
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
