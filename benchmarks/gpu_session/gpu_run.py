"""The GPU run in one call: V-JEPA 2 encoding, hardware-EGL rendering, world-model sizes, DDP scaling, one budget.

    python benchmarks/gpu_session/gpu_run.py --out OUT --total-seconds 525 --started-at EPOCH   # the GPU call
    python benchmarks/gpu_session/gpu_run.py --rehearse --out OUT                            # CPU, tiny, < 60 s

Four parts, run as (b), (a), (c), (d) (the render rate sizes the encode's dataset), each with its own
wall-clock budget; a part that spends its budget stops where it is and keeps what it measured, and a part
that fails records its error and the next one runs:

(a) **encode**: ``wmhub encode`` (:func:`wmhub.encoding.encode_dataset`) with ``random:1024``, a V-JEPA 2
    ViT-L of random weights built from transformers' ``VJEPA2Config`` (the real architecture and FLOPs,
    no download), at 256 px, 8 frames, bf16, on re-rendered reacher frames. Measured: the encoder's
    construction time; its forward-only rate (``encode_windows`` on pre-rendered windows in host
    memory, as ``benchmarks/encode.py`` measures it) and the network's alone (on a batch already on
    the device); the end-to-end rate of ``encode_dataset`` (render workers ahead of the encoder, the
    embeddings written), as timed by the job (which includes building the encoder) and steady (that
    construction time taken off); model FLOPs per window, counted analytically (:func:`vjepa2_flops`) and
    checked against ``torch.utils.flop_counter.FlopCounterMode`` on one forward; MFU against the
    device's dense bf16 peak (:data:`BF16_DENSE_PEAK_TFLOPS`; an unknown device, or a CPU, gets
    none, so no MFU is reported); end-to-end ÷ forward-only; GPU-hours per million windows.
(b) **render**: reacher frames at 256 px re-rendered from stored states by ``render workers = cores``
    processes (:func:`wmhub.render.frame_pool.render_episodes`), frames/s after each worker's first
    episode (process start and GL context creation excluded), and the GL renderer's name.
(c) **world models**: ``benchmarks/world_model_sizes.py --fit-seconds`` on the 10M / 100M / 300M Spot
    recipes, in a subprocess whose time limit is what is left of the call, with the fitted training
    time a fixed share of it (:data:`WORLD_MODEL_FIT_SHARE`).
(d) **DDP scaling**, only when more than one GPU is visible (the rehearsal: 2 gloo ranks on the CPU):
    ``spot_world_model_100m`` for ``ddp_steps`` steps on one GPU, then on every visible GPU through
    ``torchrun`` with the same batch per GPU, on (c)'s data: samples/s of each, their ratio, the scaling
    efficiency and rank 0's all-reduce share. Part (c) leaves it ``Budget.ddp_s`` when it will run.

The budget arithmetic is :class:`Budget`: the call's limit, less what was spent before this script
started (``--started-at``: installing the kit), less a reserve for writing the results, is shared out
as ``encode_s`` + ``render_s`` + what remains for the world models. Output: ``OUT/results.json``
(every figure, the budgets planned and spent) and ``OUT/table.md`` (also printed).

``--rehearse`` runs the same code on the CPU at tiny sizes (a 32-d V-JEPA 2 at 32 px, short episodes, two
tiny Spot recipes, the first one's DDP scaling on 2 gloo ranks), so everything but the GPU is checked before
the GPU call.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from wmhub.data import open_dataset  # noqa: E402
from wmhub.encoders import parse_encoder_spec  # noqa: E402
from wmhub.encoders.base import frames_to_tensor  # noqa: E402
from wmhub.encoding import encode_dataset  # noqa: E402
from wmhub.encoding.windows import window_indices  # noqa: E402
from wmhub.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from wmhub.generation import generate  # noqa: E402
from wmhub.render.frame_pool import render_episodes  # noqa: E402
from wmhub.render.reacher_frames import ReacherFrameRenderer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, in TFLOP/s, matched in order
# against torch.cuda.get_device_name(); a device not listed gets no MFU.
BF16_DENSE_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("A100", 312.0))
WORLD_MODEL_FIT_SHARE = 0.4  # of the world models' time: the rest is data generation, pilots, loading, eval
WORLD_MODEL_RECIPES = ["spot_world_model_10m", "spot_world_model_100m", "spot_world_model_300m"]


@dataclass(frozen=True)
class Sizes:
    """What the run is made of (:data:`GPU_SIZES` for the GPU call, :data:`REHEARSAL_SIZES` for the CPU)."""

    device: str
    dtype: str
    encoder_dim: int  # hidden size of the random V-JEPA 2 (1024: ViT-L)
    frame_size: int  # render and encoder input size, pixels
    batch_size: int  # windows per forward pass
    episode_length: int  # reacher actions per episode (episode_length + 1 frames)
    max_encode_episodes: int  # cap on the end-to-end encode's dataset
    render_workers: int  # 0: all cores
    world_model_episodes: int  # first episodes of the 50-hour Spot data
    world_model_batch: int
    world_model_pilot_steps: int
    world_model_max_fit_s: float  # cap on the fitted training time (the rehearsal's is small)
    world_model_recipes: tuple[str, ...] = tuple(WORLD_MODEL_RECIPES)
    ddp_steps: int = 60  # (d): optimizer steps of each scaling run


GPU_SIZES = Sizes(device="cuda", dtype="bf16", encoder_dim=1024, frame_size=256, batch_size=64, episode_length=200,
                  max_encode_episodes=2000, render_workers=0, world_model_episodes=1000, world_model_batch=512,
                  world_model_pilot_steps=40, world_model_max_fit_s=math.inf)
REHEARSAL_SIZES = Sizes(device="cpu", dtype="bf16", encoder_dim=32, frame_size=32, batch_size=8, episode_length=15,
                        max_encode_episodes=3, render_workers=2, world_model_episodes=6, world_model_batch=16,
                        world_model_pilot_steps=4, world_model_max_fit_s=3.0, ddp_steps=8)


@dataclass(frozen=True)
class Budget:
    """The call's wall-clock budget, shared out between the parts.

    ``deadline = started_at + total_s - reserve_s``: the encode part gets ``encode_s`` (of which
    ``forward_s`` for the forward-only timings, the rest for data and the end-to-end encode), the render
    part ``render_s``, and the world models whatever is left before the deadline when they start.
    """

    total_s: float  # the call's limit
    started_at: float  # epoch seconds when the call began (the kit's install counts)
    encode_s: float
    forward_s: float
    render_s: float
    reserve_s: float  # writing results.json and the table after the last part
    ddp_s: float = 0.0  # (d) the DDP scaling runs, kept from the world models' share when they will run

    @property
    def deadline(self) -> float:
        """Epoch seconds by which the last part must have stopped."""
        return self.started_at + self.total_s - self.reserve_s

    def left(self) -> float:
        """Seconds left before :attr:`deadline`."""
        return self.deadline - time.time()

    def part_deadline(self, seconds: float) -> float:
        """The end of a part that starts now and may take ``seconds`` (never past :attr:`deadline`)."""
        return min(time.time() + seconds, self.deadline)


def gpu_budget(total_s: float, started_at: float) -> Budget:  # 525 s: the world models get ~525 - install - 210
    """The GPU call's shares: 150 s encoding (30 s of forward timings), 45 s rendering, 15 s reserve."""
    return Budget(total_s=total_s, started_at=started_at, encode_s=150.0, forward_s=30.0, render_s=45.0,
                  reserve_s=15.0, ddp_s=150.0)


def rehearsal_budget(total_s: float, started_at: float) -> Budget:
    """The CPU rehearsal's shares (of 55 s by default; the world models get what is left)."""
    return Budget(total_s=total_s, started_at=started_at, encode_s=18.0, forward_s=2.0, render_s=5.0, reserve_s=2.0,
                  ddp_s=25.0)


def bf16_peak_flops(device_name: str | None) -> float | None:
    """The dense bf16 peak (FLOP/s) of a device by name, or None when unknown (a CPU, an unlisted GPU)."""
    if not device_name:
        return None
    for key, tflops in BF16_DENSE_PEAK_TFLOPS:
        if key in device_name:
            return tflops * 1e12
    return None


def vjepa2_flops(config: Any, frames: int) -> dict[str, int]:
    """Forward FLOPs of one window through V-JEPA 2's encoder (``skip_predictor=True``), counted analytically.

    Multiply-adds count 2. With ``N = frames / tubelet · (crop / patch)²`` tokens of width ``d``, per
    layer: Q, K, V and output projections ``8 N d²``, the MLP ``4 r N d²`` (ratio r), attention scores
    and their product with V ``4 N² d``; the tubelet embedding ``2 N d · 3 · tubelet · patch²``.
    Norms, softmax, activations and the mean pooling are left out (under 1% at ViT-L).
    """
    d = int(config.hidden_size)
    tokens = (frames // int(config.tubelet_size)) * (int(config.crop_size) // int(config.patch_size)) ** 2
    ratio = float(config.mlp_ratio)
    layers = int(config.num_hidden_layers)
    projections = layers * (8 * tokens * d * d + int(4 * ratio * tokens * d * d))
    attention = layers * 4 * tokens * tokens * d
    embed = 2 * tokens * d * int(config.in_chans) * int(config.tubelet_size) * int(config.patch_size) ** 2
    return {"tokens": tokens, "matmul": projections + embed, "attention": attention,
            "total": projections + embed + attention}


def counted_flops(model: torch.nn.Module, x: torch.Tensor, compute: torch.dtype) -> int:
    """FLOPs of one forward as ``FlopCounterMode`` counts them (attention only where its kernel is registered)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), torch.autocast(x.device.type, dtype=compute, enabled=compute != torch.float32):
        with FlopCounterMode(display=False) as counter:
            model(pixel_values_videos=x, skip_predictor=True)
    return int(counter.get_total_flops())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed_rate(step, items_per_call: int, until: float, device: torch.device, min_calls: int = 3) -> dict:
    """Call ``step()`` (after two warm-up calls) until ``until`` (at least ``min_calls`` times): items/s."""
    for _ in range(2):
        step()
    _sync(device)
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.time() < until:
        step()
        calls += 1
    _sync(device)
    seconds = time.perf_counter() - start
    return {"items_per_s": calls * items_per_call / seconds, "calls": calls, "seconds": seconds}


def reacher_dataset(root: Path, episodes: int, episode_length: int, workers: int) -> Path:
    """A reacher dataset of ``episodes`` episodes in one shard (one encoder construction per encode)."""
    generate("reacher", root, episodes, options={"episode_length": episode_length}, episodes_per_shard=episodes,
             workers=min(workers, episodes), show_progress=False)
    return root


def run_encode(sizes: Sizes, budget: Budget, scratch: Path, cores: int, render_fps: float | None) -> dict:
    """Part (a): the V-JEPA 2 ViT-L-sized encode figures (see the module docstring).

    The end-to-end encode's dataset is sized so that, at the slower of the forward-only rate and
    ``render_fps`` (part (b)'s frames/s, None when it did not run), it takes half of the time left.
    """
    from transformers import VJEPA2Model  # noqa: F401 - imported before the construction is timed
    end = budget.part_deadline(budget.encode_s)
    spec = f"random:{sizes.encoder_dim}"
    compute = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[sizes.dtype]
    probe = reacher_dataset(scratch / "encode-probe", 1, sizes.episode_length, 1)
    rows = next(open_dataset(probe).iter_episodes())
    renderer = ReacherFrameRenderer(size=sizes.frame_size)
    frames = renderer.render(rows["qpos"], rows["qvel"], rows["target_pos"])
    renderer.close()

    start = time.perf_counter()
    encoder = parse_encoder_spec(spec, device=sizes.device, dtype=sizes.dtype, frame_size=sizes.frame_size)
    encoder.identity()  # the encode job records it (for random weights: the SHA-256 of every tensor)
    _sync(encoder.device)
    build_s = time.perf_counter() - start
    windows = frames[window_indices(rows["step_index"], encoder.window)]
    batch = np.resize(windows, (sizes.batch_size, *windows.shape[1:]))  # repeats the episode's windows
    device_batch = frames_to_tensor(batch, encoder.frame_size, encoder.mean, encoder.std, encoder.device)

    flops = vjepa2_flops(encoder.model.config, encoder.window)
    counted = counted_flops(encoder.model, device_batch[:1], compute)
    forward_end = min(time.time() + budget.forward_s / 2, end)
    forward = _timed_rate(lambda: encoder.encode_windows(batch), sizes.batch_size, forward_end, encoder.device)

    @torch.inference_mode()
    def network() -> None:
        with torch.autocast(encoder.device.type, dtype=compute, enabled=compute != torch.float32):
            encoder.model(pixel_values_videos=device_batch, skip_predictor=True)

    network_rate = _timed_rate(network, sizes.batch_size, min(time.time() + budget.forward_s / 2, end),
                               encoder.device)
    device_name = torch.cuda.get_device_name(encoder.device) if encoder.device.type == "cuda" else None
    memory_gb = torch.cuda.max_memory_allocated(encoder.device) / 2**30 if device_name else None

    # end to end: a dataset sized so that, at the slower of forward-only and rendering, it takes half of what is left
    left = end - time.time()
    per_episode = sizes.episode_length + 1
    expected = min(forward["items_per_s"], render_fps or math.inf)
    episodes = max(1, min(sizes.max_encode_episodes, int(0.5 * max(left - build_s, 0.0) * expected / per_episode)))
    workers = sizes.render_workers or cores
    root = reacher_dataset(scratch / "encode", episodes, sizes.episode_length, workers)
    result = encode_dataset(root, spec, device=sizes.device, dtype=sizes.dtype, batch_size=sizes.batch_size,
                            frame_size=sizes.frame_size, workers=workers, show_progress=False)
    windows_done = episodes * per_episode
    end_to_end = windows_done / result.seconds
    steady = windows_done / max(result.seconds - build_s, 1e-9)
    peak = bf16_peak_flops(device_name)
    figures: dict[str, Any] = {
        "encoder": spec, "frame_size": sizes.frame_size, "frames_per_window": int(windows.shape[1]),
        "dtype": sizes.dtype, "batch_size": sizes.batch_size, "device": str(sizes.device),
        "device_name": device_name, "render_workers": workers, "encoder_build_s": build_s,
        "tokens_per_window": flops["tokens"], "flops_per_window": flops["total"],
        "flops_per_window_attention": flops["attention"], "flop_counter_flops_per_window": counted,
        "forward_windows_per_s": forward["items_per_s"], "network_windows_per_s": network_rate["items_per_s"],
        "end_to_end_windows": windows_done, "end_to_end_seconds": result.seconds,
        "end_to_end_windows_per_s": end_to_end, "end_to_end_steady_windows_per_s": steady,
        "end_to_end_over_forward": steady / forward["items_per_s"],
        "gpu_hours_per_million_windows": 1e6 / steady / 3600 if device_name else None,
        "peak_bf16_dense_flops": peak, "peak_memory_gb": memory_gb,
    }
    if peak is not None:  # no peak, no MFU: never a guessed one
        figures["mfu_network"] = flops["total"] * network_rate["items_per_s"] / peak
        figures["mfu_forward"] = flops["total"] * forward["items_per_s"] / peak
        figures["mfu_end_to_end"] = flops["total"] * steady / peak
    return figures


def gl_renderer_name() -> str | None:
    """The GL_RENDERER string of a reacher render context (tells hardware EGL from a software one)."""
    try:
        from OpenGL import GL

        renderer = ReacherFrameRenderer(size=16)
        try:
            with renderer.physics.contexts.gl.make_current() as ctx:
                name = ctx.call(GL.glGetString, GL.GL_RENDERER)
        finally:
            renderer.close()
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception as exc:  # noqa: BLE001 - a name is a nicety; its absence is recorded, the rate still runs
        return f"unknown ({type(exc).__name__})"


def run_render(sizes: Sizes, budget: Budget, scratch: Path, cores: int) -> dict:
    """Part (b): frames/s of reacher re-rendering at the encode size across ``render workers`` processes."""
    end = budget.part_deadline(budget.render_s)
    workers = sizes.render_workers or cores
    root = reacher_dataset(scratch / "render", 2 * workers, sizes.episode_length, workers)
    dataset = open_dataset(root)
    states = [(e["qpos"], e["qvel"], e["target_pos"]) for e in dataset.iter_episodes()]
    gl_name = gl_renderer_name()
    frames = episodes = 0
    start = None
    stream = render_episodes(itertools.cycle(states), sizes.frame_size, workers)
    try:
        for i, rendered in enumerate(stream):
            if i == workers - 1:  # each worker has rendered (and built its GL context for) an episode
                start = time.perf_counter()
            elif start is not None:
                frames += len(rendered)
                episodes += 1
            if time.time() >= end and episodes >= 1:
                break
    finally:
        stream.close()  # stops the pool
    seconds = time.perf_counter() - start if start is not None else float("nan")
    return {"frame_size": sizes.frame_size, "workers": workers, "cores": cores,
            "backend": os.environ.get("MUJOCO_GL"), "gl_renderer": gl_name, "episodes": episodes,
            "frames": frames, "seconds": seconds, "frames_per_s": frames / seconds,
            "frames_per_s_per_worker": frames / seconds / workers}


def tiny_world_model_recipes(folder: Path) -> list[str]:
    """Two tiny Spot recipes (widths 16 and 32, one layer) for the rehearsal, written as files."""
    from wmhub.training import load_recipe

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, width in (("tiny_spot_a", 16), ("tiny_spot_b", 32)):
        recipe = load_recipe("spot_world_model_10m", [f"model.width={width}", "model.depth=1", "model.heads=2"])
        path = folder / f"{name}.yaml"
        path.write_text(recipe.to_yaml().replace("name: spot_world_model_10m", f"name: {name}"))
        files.append(str(path))
    return files


def run_world_models(sizes: Sizes, budget: Budget, scratch: Path, cores: int, recipes: list[str],
                     keep_s: float = 0.0) -> dict:
    """Part (c): ``world_model_sizes.py --fit-seconds`` sized to what is left (less ``keep_s`` for the parts
    after it), stopped at that deadline."""
    left = budget.left() - keep_s
    fit_seconds = round(min(WORLD_MODEL_FIT_SHARE * left, sizes.world_model_max_fit_s), 1)
    if fit_seconds < 1:
        return {"skipped": f"{left:.0f} s left, too little to train"}
    out = scratch / "world_models"
    command = [sys.executable, str(REPO / "benchmarks" / "world_model_sizes.py"), "--recipes", *recipes,
               "--fit-seconds", str(fit_seconds), "--pilot-steps", str(sizes.world_model_pilot_steps),
               "--episodes", str(sizes.world_model_episodes), "--workers", str(cores),
               "--batch-size", str(sizes.world_model_batch), "--val-fraction", "0.05" if sizes.device == "cuda"
               else "0.34", "--stride", "10" if sizes.device == "cuda" else "50", "--device", sizes.device,
               "--out", str(out), "--quiet"]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=scratch, capture_output=True, text=True, timeout=max(left, 1.0))
    except subprocess.TimeoutExpired as exc:
        pilots = sorted(p.parent.name for p in (out / "pilot").glob("*/summary.json"))
        tail = (exc.stderr or b"")[-2000:]
        return {"stopped": f"time limit of {left:.0f} s reached", "fit_seconds": fit_seconds,
                "pilots_finished": pilots, "seconds": time.perf_counter() - start,
                "stderr_tail": tail.decode(errors="replace") if isinstance(tail, bytes) else tail}
    if done.returncode != 0:
        raise RuntimeError(f"world_model_sizes.py exited {done.returncode}: {done.stderr[-2000:]}")
    result = json.loads((out / "results.json").read_text())
    table = done.stdout[done.stdout.index("| recipe"):] if "| recipe" in done.stdout else ""
    return {"fit_seconds": fit_seconds, "seconds": time.perf_counter() - start, "table": table.strip(),
            **result}


def ddp_ranks(sizes: Sizes) -> int:
    """Ranks of the DDP scaling part: every visible GPU (1 means the part is skipped), 2 gloo ranks on the CPU."""
    return torch.cuda.device_count() if sizes.device == "cuda" else 2


def run_ddp_scaling(sizes: Sizes, budget: Budget, scratch: Path, cores: int, recipe: str) -> dict:
    """Part (d): ``recipe`` for ``ddp_steps`` steps as one process on one device, then data-parallel on every
    visible GPU through ``torchrun`` (the rehearsal: 2 gloo ranks on the CPU), on part (c)'s data.

    The batch per device is fixed (``world_model_batch``; the ranks' global batch is that times the ranks), so
    the scaling efficiency is the ranks' samples/s ÷ (ranks × one device's). Rates come from the runs'
    ``metrics.jsonl`` after their first window (``benchmarks/train_ddp.py``'s ``run``).
    """
    ranks = ddp_ranks(sizes)
    if ranks < 2:
        return {"skipped": f"{ranks} GPU visible: scaling needs 2 or more"}
    left = budget.left()
    if left < budget.ddp_s / 2:
        return {"skipped": f"{left:.0f} s left, too little for two runs"}
    sys.path.insert(0, str(REPO / "benchmarks"))
    from train_ddp import run as train_run
    from world_model_sizes import subset_command

    from wmhub.training import load_recipe

    episodes, batch = sizes.world_model_episodes, sizes.world_model_batch
    command = subset_command(load_recipe(recipe).dataset.commands()[0], episodes, cores)
    overrides = [f"dataset.source={scratch / 'data' / f'spot-{episodes}'}", f"dataset.generate={json.dumps([command])}",
                 f"training.device={sizes.device}", "training.warmup_steps=1",
                 "training.val_fraction=0.05" if sizes.device == "cuda" else "training.val_fraction=0.34"]
    threads = 1 if sizes.device == "cpu" else max(1, cores // ranks)
    start = time.perf_counter()
    one = train_run(recipe, [*overrides, f"training.batch_size={batch}"], sizes.ddp_steps, scratch / "ddp-one", 1,
                    threads, timeout=max(budget.left() / 2, 1.0), cwd=scratch)
    many = train_run(recipe, [*overrides, f"training.batch_size={batch * ranks}"], sizes.ddp_steps,
                     scratch / "ddp-many", ranks, threads, timeout=max(budget.left(), 1.0), cwd=scratch)
    return {"recipe": Path(recipe).stem, "ranks": ranks, "backend": "nccl" if sizes.device == "cuda" else "gloo",
            "steps": sizes.ddp_steps, "batch_per_rank": batch, "threads_per_rank": threads,
            "one_samples_per_s": one["samples_per_s"], "ranks_samples_per_s": many["samples_per_s"],
            "samples_per_s_ratio": many["samples_per_s"] / one["samples_per_s"],
            "scaling_efficiency": many["samples_per_s"] / (ranks * one["samples_per_s"]),
            "allreduce_share": many["allreduce_share"], "seconds": time.perf_counter() - start}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}%}" if digits < 0 else f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(results: dict) -> str:
    """The Markdown table of the run's figures (one row per figure, with the issue's target)."""
    enc, ren = results.get("encode", {}), results.get("render", {})
    mfu = [("MFU, network alone", enc.get("mfu_network")), ("MFU, end to end", enc.get("mfu_end_to_end"))]
    rows = [
        ("device", results["device_name"] or "cpu (rehearsal)", ""),
        ("encode: windows/s, end to end (steady)", _fmt(enc.get("end_to_end_steady_windows_per_s")), ""),
        ("encode: windows/s, forward only", _fmt(enc.get("forward_windows_per_s")), ""),
        ("encode: windows/s, network alone", _fmt(enc.get("network_windows_per_s")), ""),
        ("encode: GFLOP per window (analytic)", _fmt(enc["flops_per_window"] / 1e9, 2)
         if "flops_per_window" in enc else "–", ""),
        *((name, f"{v:.1%}" if v is not None else "not reported (no known bf16 peak)", "≥ 40%") for name, v in mfu),
        ("encode: end to end ÷ forward only", _fmt(enc.get("end_to_end_over_forward"), 3), "≥ 0.85"),
        ("encode: GPU-hours per 1M windows", _fmt(enc.get("gpu_hours_per_million_windows"), 3), "< 1"),
        ("render: frames/s at {} px, {} workers".format(ren.get("frame_size", "–"), ren.get("workers", "–")),
         _fmt(ren.get("frames_per_s")), ""),
        ("render: GL renderer", _fmt(ren.get("gl_renderer")), ""),
    ]
    ddp = results.get("ddp", {})
    if "scaling_efficiency" in ddp:
        where = f"{ddp['ranks']} {'GPUs' if ddp['backend'] == 'nccl' else 'gloo CPU ranks'}"
        rows += [(f"DDP `{ddp['recipe']}`: samples/s, 1 device vs {where}",
                  f"{_fmt(ddp['one_samples_per_s'])} vs {_fmt(ddp['ranks_samples_per_s'])}", ""),
                 (f"DDP: scaling efficiency on {where}", _fmt(ddp["scaling_efficiency"], 2), ""),
                 ("DDP: all-reduce share of rank 0's step", f"{ddp['allreduce_share']:.1%}", "")]
    elif ddp:
        rows.append(("DDP scaling", (ddp.get("skipped") or ddp.get("error") or "failed").splitlines()[0][:120], ""))
    for part in ("encode", "render", "world_models", "ddp"):
        if "error" in results.get(part, {}):
            rows.append((f"{part}: failed", results[part]["error"].splitlines()[0][:120], ""))
    lines = ["| figure | value | target |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    wm = results.get("world_models", {})
    if wm.get("table"):
        lines += ["", wm["table"]]
    elif wm:
        lines += ["", f"world models: {wm.get('stopped') or wm.get('skipped') or wm.get('error', '')}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for results.json and table.md")
    parser.add_argument("--rehearse", action="store_true", help="CPU, tiny sizes, the whole run in under 60 s")
    parser.add_argument("--total-seconds", type=float, default=None,
                        help="the whole run's budget; default 525 (the GPU call's 540 s limit less 15 s for "
                             "copying the results), 55 with --rehearse")
    parser.add_argument("--started-at", type=float, default=None,
                        help="epoch seconds when the call began (default: now); time before this script counts")
    parser.add_argument("--cores", type=int, default=None,
                        help="render and generation workers (default: the cores this process may run on)")
    parser.add_argument("--parts", nargs="+", default=["render", "encode", "world_models", "ddp"],
                        choices=["encode", "render", "world_models", "ddp"])
    args = parser.parse_args()
    started_at = args.started_at if args.started_at is not None else time.time()
    sizes = REHEARSAL_SIZES if args.rehearse else GPU_SIZES
    budget = (rehearsal_budget(args.total_seconds or 55.0, started_at) if args.rehearse
              else gpu_budget(args.total_seconds or 525.0, started_at))
    if not args.rehearse and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: the GPU run needs one (use --rehearse for the CPU rehearsal)")
    cores = args.cores or len(os.sched_getaffinity(0))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "mode": "rehearse" if args.rehearse else "gpu", "torch": torch.__version__, "cores": cores,
        "device_name": torch.cuda.get_device_name() if sizes.device == "cuda" else None,
        "sizes": dataclasses.asdict(sizes), "budget": {**dataclasses.asdict(budget), "deadline": budget.deadline},
        "spent_s": {}}
    with tempfile.TemporaryDirectory(prefix="wmhub-gpu-run-") as tmp:
        scratch = Path(tmp)
        recipes = tiny_world_model_recipes(scratch / "recipes") if args.rehearse else list(sizes.world_model_recipes)
        parts = {"encode": lambda: run_encode(sizes, budget, scratch, cores,
                                              results.get("render", {}).get("frames_per_s")),
                 "render": lambda: run_render(sizes, budget, scratch, cores),
                 "world_models": lambda: run_world_models(sizes, budget, scratch, cores, recipes, keep_s=(
                     budget.ddp_s if "ddp" in args.parts and ddp_ranks(sizes) > 1 else 0.0)),
                 "ddp": lambda: run_ddp_scaling(sizes, budget, scratch, cores,
                                                recipes[0] if args.rehearse else "spot_world_model_100m")}
        for name in args.parts:
            start = time.perf_counter()
            print(f"[{time.time() - started_at:6.1f} s] {name}: {budget.left():.0f} s left", file=sys.stderr)
            try:
                results[name] = parts[name]()
            except Exception as exc:  # noqa: BLE001 - one part failing must not lose the others' figures
                results[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            results["spent_s"][name] = time.perf_counter() - start
            atomic_write_json(out / "results.json", _finite(results))  # what is measured so far survives a kill
    results["total_s"] = time.time() - started_at
    atomic_write_json(out / "results.json", _finite(results))
    text = table(results)
    atomic_write_text(out / "table.md", text + "\n")
    print(text)


def _finite(value: Any) -> Any:
    """``results`` with NaN / inf floats as None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    main()
