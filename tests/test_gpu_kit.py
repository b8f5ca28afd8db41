"""The GPU run's rehearsal: ``benchmarks/gpu_session/gpu_run.py --rehearse`` end to end on the CPU.

Every part runs for real at tiny sizes (a 32-d V-JEPA 2 at 32 px through ``encode_dataset``, reacher
rendering in worker processes, the world-model size benchmark on two tiny Spot recipes, the DDP scaling
part on 2 gloo ranks); the test checks
that ``results.json`` holds every figure with its type, that no MFU is reported without a known peak,
and the FLOP and budget arithmetic the GPU run relies on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_session" / "gpu_run.py"


def _gpu_run():
    spec = importlib.util.spec_from_file_location("gpu_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_run"] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_peaks_flops_and_budget_arithmetic():
    from transformers import VJEPA2Config

    gpu_run = _gpu_run()
    assert gpu_run.bf16_peak_flops("NVIDIA H200") == 989e12
    assert gpu_run.bf16_peak_flops("NVIDIA H100 PCIe") == 756e12
    assert gpu_run.bf16_peak_flops("Some Future Accelerator") is None and gpu_run.bf16_peak_flops(None) is None
    # ViT-L at 256 px, 8 frames: 4 tubelets x 16 x 16 patches = 1024 tokens, 0.725 TFLOP per window
    flops = gpu_run.vjepa2_flops(VJEPA2Config(crop_size=256, frames_per_clip=8), 8)
    assert flops["tokens"] == 1024
    d, n = 1024, 1024
    assert flops["total"] == 24 * (24 * n * d * d + 4 * n * n * d) + 2 * n * d * 3 * 2 * 16 * 16
    assert flops["total"] / 1e12 == pytest.approx(0.7248, abs=1e-4)
    budget = gpu_run.gpu_budget(525.0, 1000.0)
    assert budget.deadline == 1000.0 + 525.0 - budget.reserve_s
    assert budget.encode_s + budget.render_s + budget.reserve_s < 525.0 - 200  # world models keep > 200 s
    # (d) only with more than one GPU; the CPU rehearsal runs it on 2 gloo ranks
    assert gpu_run.ddp_ranks(gpu_run.REHEARSAL_SIZES) == 2 and budget.ddp_s < 525.0 - 200


@pytest.mark.slow
def test_rehearsal_runs_every_part_and_reports_every_figure(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # the rehearsal's sizes are capped, so it takes ~40 s here; the larger budget only keeps a slow machine
    # from cutting the world models short (which the run records as "stopped" rather than failing)
    command = [sys.executable, str(SCRIPT), "--rehearse", "--total-seconds", "240", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["mode"] == "rehearse" and results["device_name"] is None
    for part in ("render", "encode", "world_models", "ddp"):
        assert "error" not in results[part], results[part].get("traceback")
        assert results["spent_s"][part] > 0

    encode = results["encode"]
    for key in ("encoder_build_s", "forward_windows_per_s", "network_windows_per_s", "end_to_end_seconds",
                "end_to_end_windows_per_s", "end_to_end_steady_windows_per_s", "end_to_end_over_forward"):
        assert isinstance(encode[key], float) and encode[key] > 0, key
    for key in ("tokens_per_window", "flops_per_window", "flops_per_window_attention",
                "flop_counter_flops_per_window", "end_to_end_windows"):
        assert isinstance(encode[key], int) and encode[key] > 0, key
    assert encode["tokens_per_window"] == 4 * (32 // 16) ** 2 and encode["frames_per_window"] == 8
    # the counter sees every matmul; attention only where its kernel has a FLOP formula (not CPU's)
    assert encode["flops_per_window"] - encode["flops_per_window_attention"] <= encode["flop_counter_flops_per_window"]
    assert encode["flop_counter_flops_per_window"] <= encode["flops_per_window"]
    # on a CPU there is no bf16 peak, so there is no MFU (and no GPU-hours): absent, never invented
    assert encode["peak_bf16_dense_flops"] is None and encode["gpu_hours_per_million_windows"] is None
    assert not [key for key in encode if key.startswith("mfu")]
    windows = encode["end_to_end_windows"]
    assert windows % (results["sizes"]["episode_length"] + 1) == 0
    assert encode["end_to_end_windows_per_s"] == pytest.approx(windows / encode["end_to_end_seconds"])

    render = results["render"]
    assert render["workers"] == 2 and render["frame_size"] == 32 and isinstance(render["gl_renderer"], str)
    assert render["frames"] >= results["sizes"]["episode_length"] + 1 and render["frames_per_s"] > 0

    models = results["world_models"]
    assert set(models["pilot_samples_per_s"]) == {"tiny_spot_a", "tiny_spot_b"}
    assert [run["recipe"] for run in models["runs"]] == ["tiny_spot_a", "tiny_spot_b"]
    assert 0 < models["fit_seconds"] <= 3.0 and models["table"].startswith("| recipe")

    ddp = results["ddp"]  # 2 gloo ranks vs one process on the first tiny recipe, on the world models' data
    assert ddp["ranks"] == 2 and ddp["backend"] == "gloo" and ddp["recipe"] == "tiny_spot_a"
    for key in ("one_samples_per_s", "ranks_samples_per_s", "samples_per_s_ratio", "scaling_efficiency"):
        assert isinstance(ddp[key], float) and ddp[key] > 0, key
    assert ddp["scaling_efficiency"] == pytest.approx(ddp["ranks_samples_per_s"] / (2 * ddp["one_samples_per_s"]))
    assert 0 < ddp["allreduce_share"] < 1

    table = (tmp_path / "table.md").read_text()
    assert table in done.stdout and "not reported (no known bf16 peak)" in table and "| `tiny_spot_b` |" in table
    assert "DDP: scaling efficiency on 2 gloo CPU ranks" in table
