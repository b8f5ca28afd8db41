"""Benchmark: the full reacher ε-greedy dataset (5,000 × 200 = 1M transitions), state only.

Reports wall time, transitions/s, bytes per transition, and the ratio of the
generation rate per worker to a bare ``env.step`` loop replaying the same
actions, measured in the same run (the limit for a Python dm_control loop).
Also reports the bare ``mujoco.mj_step`` rate for context.

    python benchmarks/generate_reacher.py                 # full size, 2 workers
    python benchmarks/generate_reacher.py --episodes 500  # quick check
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

os.environ.setdefault("MUJOCO_GL", "egl")

from wmhub.data import open_dataset  # noqa: E402
from wmhub.envs.reacher import make_env  # noqa: E402
from wmhub.generation import generate  # noqa: E402


def bare_env_step_rate(dataset_dir: Path, episodes: int) -> float:
    """Transitions/s of a plain reset + env.step loop over the dataset's own actions."""
    ds = open_dataset(dataset_dir)
    seeds = ds.table("episodes").column("seed").to_numpy()[:episodes]
    actions = [ep["action"][:-1].astype(np.float64) for _, ep in zip(range(episodes), ds.iter_episodes())]
    env = make_env()
    steps = 0
    start = time.perf_counter()
    for seed, episode_actions in zip(seeds, actions):
        env.task.random.seed(int(seed))
        env.reset()
        for action in episode_actions:
            env.step(action)
        steps += len(episode_actions)
    return steps / (time.perf_counter() - start)


def bare_mj_step_rate(steps: int = 200_000) -> float:
    """Physics steps/s of mujoco.mj_step on the reacher model (no Python env layer)."""
    import mujoco

    physics = make_env().physics
    model, data = physics.model.ptr, physics.data.ptr
    start = time.perf_counter()
    for _ in range(steps):
        mujoco.mj_step(model, data)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=5000)
    parser.add_argument("--episode-length", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--episodes-per-shard", type=int, default=500)
    parser.add_argument("--baseline-episodes", type=int, default=250, help="episodes replayed by the bare loop")
    parser.add_argument("--out", type=Path, default=None, help="keep the dataset here (default: temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="wmhub-bench-"))
    out = args.out or workdir / "reacher"
    try:
        start = time.perf_counter()
        generate("reacher", out, args.episodes,
                 options={"policy": "p-controller", "epsilon": 0.3, "seed": 0, "episode_length": args.episode_length},
                 episodes_per_shard=args.episodes_per_shard, workers=args.workers, show_progress=True)
        wall = time.perf_counter() - start
        manifest = open_dataset(out).manifest
        transitions = args.episodes * args.episode_length
        num_bytes = sum(s.num_bytes for s in manifest.shards)
        env_rate = bare_env_step_rate(out, min(args.baseline_episodes, args.episodes))
        mj_rate = bare_mj_step_rate()
        rate = transitions / wall
        result = {
            "episodes": args.episodes, "transitions": transitions, "workers": args.workers,
            "wall_s": round(wall, 2), "transitions_per_s": round(rate),
            "bytes_per_transition": round(num_bytes / transitions, 2), "total_mb": round(num_bytes / 1e6, 2),
            "bare_env_step_per_s": round(env_rate), "bare_mj_step_per_s": round(mj_rate),
            "ratio_per_worker_vs_bare_env_step": round(rate / args.workers / env_rate, 3),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        }
    finally:
        if args.out is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result, indent=2))
    print(f"\n| {result['episodes']:,} × {args.episode_length} | {args.workers} | {result['wall_s']} s | "
          f"{result['transitions_per_s']:,} | {result['bytes_per_transition']} | {result['bare_env_step_per_s']:,} | "
          f"{result['ratio_per_worker_vs_bare_env_step']} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
