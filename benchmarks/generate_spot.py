"""Benchmark: Spot joystick generation (trot, default options) against a bare ``mj_step`` loop.

Reports wall time, control steps/s (total and per worker), bytes per stored step, and the ratio of the
per-worker generation rate to a bare ``mujoco.mj_step`` loop over the same number of physics substeps on
the same model, measured in the same run (the limit of a single MuJoCo process). Also reports the
episodes' fall rate and tracking errors, and the projected time for 50 hours (9M control steps).

    MENAGERIE_ROOT=../shared/menagerie python benchmarks/generate_spot.py                 # 20 episodes
    MENAGERIE_ROOT=../shared/menagerie python benchmarks/generate_spot.py --hours 0.5 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from wmhub.envs.spot_model import N_SUBSTEPS, build_spot_model
from wmhub.generation import generate

FIFTY_HOURS_STEPS = 50 * 3600 / 0.02


def bare_mj_step_rate(control_steps: int = 20_000) -> float:
    """Control steps/s of a plain ``mj_step`` loop (5 substeps per control step) on the Spot model,
    holding the home pose (no Python environment layer, one MjData)."""
    import mujoco

    model, info = build_spot_model()
    data = mujoco.MjData(model)
    data.qpos[:] = info.home_qpos
    data.ctrl[:] = info.default_pose
    mujoco.mj_forward(model, data)
    start = time.perf_counter()
    for _ in range(control_steps * N_SUBSTEPS):
        mujoco.mj_step(model, data)
    return control_steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--episodes", type=int, default=None, help="episodes to generate (default 20)")
    size.add_argument("--hours", type=float, default=None, help="hours of data (20 s episodes, rounded up)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--episodes-per-shard", type=int, default=None,
                        help="lockstep batch size (default: episodes / workers, at most 100)")
    parser.add_argument("--policy", default="trot")
    parser.add_argument("--epsilon", type=float, default=0.0)
    parser.add_argument("--out", default=None, help="keep the dataset here (default: a temporary directory)")
    args = parser.parse_args()
    episodes = args.episodes or (int(np.ceil(args.hours * 3600 / 20)) if args.hours else 20)
    per_shard = args.episodes_per_shard or max(1, min(100, -(-episodes // args.workers)))

    tmp = Path(tempfile.mkdtemp(prefix="wmhub-spot-bench-"))
    out = Path(args.out) if args.out else tmp / "spot"
    try:
        bare = bare_mj_step_rate()
        start = time.perf_counter()
        options = {"policy": args.policy, "epsilon": args.epsilon}
        if args.policy.startswith("mlp:"):
            from wmhub.envs.spot import policy_sha256

            options["policy_sha256"] = policy_sha256(args.policy.removeprefix("mlp:"))
        result = generate("spot", out, episodes, options=options,
                          episodes_per_shard=per_shard, workers=args.workers, show_progress=False)
        wall = time.perf_counter() - start
        manifest = result.manifest
        steps_rows = sum(s.num_rows for s in manifest.shards_of("steps"))
        transitions = steps_rows - episodes
        num_bytes = sum(s.num_bytes for s in manifest.shards)
        from wmhub.data.summary import episode_table

        table = episode_table(out, manifest)
        col = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
        rate = transitions / wall
        per_worker = rate / min(args.workers, -(-episodes // per_shard))
        report = {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "episodes": episodes, "episodes_per_shard": per_shard, "workers": args.workers,
            "policy": args.policy, "epsilon": args.epsilon,
            "control_steps": int(transitions), "simulated_hours": transitions * 0.02 / 3600,
            "wall_s": round(wall, 2), "control_steps_per_s": round(rate, 1),
            "control_steps_per_s_per_worker": round(per_worker, 1),
            "bare_mj_step_control_steps_per_s": round(bare, 1),
            "ratio_per_worker_to_bare": round(per_worker / bare, 3),
            "bytes_per_step": round(num_bytes / steps_rows, 1),
            "projected_50h_minutes": round(FIFTY_HOURS_STEPS / rate / 60, 1),
            "fall_rate": float(col["fell"].mean()),
            "lin_vel_error_mps": float(col["lin_vel_error"].mean()),
            "forward_speed_error_mps": float(col["forward_speed_error"].mean()),
            "yaw_rate_error_radps": float(col["yaw_rate_error"].mean()),
            "mean_episode_length": float(col["length"].mean()),
        }
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
