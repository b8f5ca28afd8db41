"""Benchmark: Spot joystick generation (trot, default options) against a bare ``mj_step`` loop.

One run measures, on the same model:

* ``bare``: a plain ``mujoco.mj_step`` loop (5 substeps per control step, one ``MjData``) holding the
  home pose, the limit of a single MuJoCo process (the reference of the per-worker ratio);
* ``bare_replay``: the same loop replaying the actions of the ``stepping`` episodes (the physics work
  of the data itself: a trotting robot costs more per step than a standing one);
* ``stepping``: one lockstep batch of episodes stepped by ``SpotRunner.run_episodes`` in this process
  (physics, controller, observations, noise, reward, recording; no shard writing);
* generation with 1 worker, then with 2 (``wmhub.generate``, shard writing included): control steps/s
  per worker, the ratio of each to ``bare`` and to ``bare_replay``, and the 1 → 2 worker scaling; both
  runs must write the same bytes.

Each rate is given per wall second and per CPU second (this process and its worker processes): on a
machine shared with other jobs the CPU-second ratios are the steadier figures. A worker writes one
shard on its writer thread while it steps the next (``wmhub.jobs.overlap``), so a worker with a spare
core uses more than one CPU second per wall second (``cpu_s_per_wall_s``); the last shard of each
worker is written with nothing left to step. ``main_thread_cpu_s_1_worker`` is the CPU time of the
thread that steps (the 1-worker job runs in this process): with a core free for the writer thread,
the worker's wall time tends to it (``main_thread_cpu_ratio_to_bare_1_worker``). The default 400
episodes make 4 shards: 4 on one worker, 2 on each of two.

Also reports bytes per stored step, the projected time for 50 hours (9M control steps) at the 2-worker
rate, the episodes' fall rate and tracking errors, and the load average before and after (other
processes on the machine lower the wall-clock rates, and leave no free core for the second worker).

    MENAGERIE_ROOT=../shared/menagerie python benchmarks/generate_spot.py            # 400 episodes, 100 per shard
    MENAGERIE_ROOT=../shared/menagerie python benchmarks/generate_spot.py --episodes 40 --episodes-per-shard 20
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from wmhub.envs.spot_model import N_SUBSTEPS, build_spot_model
from wmhub.generation import generate

FIFTY_HOURS_STEPS = 50 * 3600 / 0.02


def _cpu_s() -> float:
    """CPU seconds used so far by this process and its finished children (the generation workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bare_mj_step_rate(control_steps: int = 20_000) -> tuple[float, float]:
    """Control steps per wall second and per CPU second of a plain ``mj_step`` loop (5 substeps per
    control step) on the Spot model, holding the home pose (no Python environment layer, one MjData)."""
    import mujoco

    model, info = build_spot_model()
    data = mujoco.MjData(model)
    data.qpos[:] = info.home_qpos
    data.ctrl[:] = info.default_pose
    mujoco.mj_forward(model, data)
    start, cpu = time.perf_counter(), _cpu_s()
    for _ in range(control_steps * N_SUBSTEPS):
        mujoco.mj_step(model, data)
    return control_steps / (time.perf_counter() - start), control_steps / (_cpu_s() - cpu)


def bare_replay_rate(actions: list[np.ndarray]) -> tuple[float, float]:
    """Control steps per wall second and per CPU second of the same plain loop replaying episodes' stored
    actions from ``home`` (one MjData)."""
    import mujoco

    from wmhub.envs.spot_env import ACTION_SCALE

    model, info = build_spot_model()
    data = mujoco.MjData(model)
    targets = [np.clip(info.default_pose + ACTION_SCALE * a.astype(np.float64), info.ctrl_low, info.ctrl_high)
               for a in actions]
    steps = sum(len(t) for t in targets)
    start, cpu = time.perf_counter(), _cpu_s()
    for episode in targets:
        mujoco.mj_resetData(model, data)
        data.qpos[:] = info.home_qpos
        mujoco.mj_forward(model, data)
        for target in episode:
            data.ctrl[:] = target
            for _ in range(N_SUBSTEPS):
                mujoco.mj_step(model, data)
    return steps / (time.perf_counter() - start), steps / (_cpu_s() - cpu)


def stepping_rate(options: dict, episodes: int) -> tuple[float, float, list[np.ndarray]]:
    """Control steps per wall second and per CPU second of one lockstep batch of ``episodes`` stepped in
    this process (no shard writing); also returns the episodes' actions."""
    from wmhub.envs.spot import SpotConfig, SpotRunner

    runner = SpotRunner(SpotConfig(**options))
    start, cpu = time.perf_counter(), _cpu_s()
    result = runner.run_episodes(list(range(episodes)))
    wall, cpu = time.perf_counter() - start, _cpu_s() - cpu
    steps = sum(ep.episode["length"] for ep in result)
    return steps / wall, steps / cpu, [ep.steps["action"][:-1] for ep in result]


def _tree_sha256(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((root / "data").rglob("*.parquet")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=400, help="episodes to generate (default 400)")
    parser.add_argument("--episodes-per-shard", type=int, default=None,
                        help="lockstep batch size (default: episodes / 2, at most 100 as `wmhub generate spot`)")
    parser.add_argument("--policy", default="trot")
    parser.add_argument("--epsilon", type=float, default=0.0)
    parser.add_argument("--out", default=None, help="keep the 2-worker dataset here (default: a temporary directory)")
    args = parser.parse_args()
    episodes = args.episodes
    per_shard = args.episodes_per_shard or max(1, min(100, -(-episodes // 2)))
    options = {"policy": args.policy, "epsilon": args.epsilon}
    if args.policy.startswith("mlp:"):
        from wmhub.envs.spot import policy_sha256

        options["policy_sha256"] = policy_sha256(args.policy.removeprefix("mlp:"))

    tmp = Path(tempfile.mkdtemp(prefix="wmhub-spot-bench-"))
    load_before = os.getloadavg()
    try:
        bare, bare_cpu = bare_mj_step_rate()
        stepping, stepping_cpu, actions = stepping_rate(options, per_shard)
        replay, replay_cpu = bare_replay_rate(actions)
        runs = {}
        for workers in (1, 2):
            out = Path(args.out) if args.out and workers == 2 else tmp / f"spot-{workers}"
            start, cpu, main = time.perf_counter(), _cpu_s(), time.thread_time()
            result = generate("spot", out, episodes, options=options, episodes_per_shard=per_shard,
                              workers=workers, show_progress=False)
            runs[workers] = (out, result.manifest, time.perf_counter() - start, _cpu_s() - cpu,
                             time.thread_time() - main)
        out, manifest, wall2, _ = runs[2]
        steps_rows = sum(s.num_rows for s in manifest.shards_of("steps"))
        transitions = steps_rows - episodes
        num_bytes = sum(s.num_bytes for s in manifest.shards)
        from wmhub.data.summary import episode_table

        table = episode_table(out, manifest)
        col = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
        shards = -(-episodes // per_shard)
        rate = {w: transitions / runs[w][2] for w in (1, 2)}
        per_worker = {w: rate[w] / min(w, shards) for w in (1, 2)}
        report = {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "episodes": episodes, "episodes_per_shard": per_shard, "policy": args.policy, "epsilon": args.epsilon,
            "control_steps": int(transitions), "simulated_hours": round(transitions * 0.02 / 3600, 3),
            "bare_mj_step_control_steps_per_s": round(bare, 1),
            "bare_replay_control_steps_per_s": round(replay, 1),
            "stepping_control_steps_per_s": round(stepping, 1),
            "stepping_ratio_to_bare": round(stepping / bare, 3),
            "stepping_ratio_to_bare_replay": round(stepping / replay, 3),
            "bare_replay_ratio_to_bare": round(replay / bare, 3),
            "bare_replay_control_steps_per_cpu_s": round(replay_cpu, 1),
            "bare_mj_step_control_steps_per_cpu_s": round(bare_cpu, 1),
            "stepping_control_steps_per_cpu_s": round(stepping_cpu, 1),
            "stepping_cpu_ratio_to_bare": round(stepping_cpu / bare_cpu, 3),
            "generation_control_steps_per_cpu_s_1_worker": round(transitions / runs[1][3], 1),
            "generation_control_steps_per_cpu_s_2_workers": round(transitions / runs[2][3], 1),
            "generation_cpu_ratio_to_bare_1_worker": round(transitions / runs[1][3] / bare_cpu, 3),
            "generation_cpu_ratio_to_bare_2_workers": round(transitions / runs[2][3] / bare_cpu, 3),
            "generation_cpu_ratio_to_bare_replay_1_worker": round(transitions / runs[1][3] / replay_cpu, 3),
            "cpu_s_per_wall_s_1_worker": round(runs[1][3] / runs[1][2], 2),
            "main_thread_cpu_s_1_worker": round(runs[1][4], 2), "cpu_s_1_worker": round(runs[1][3], 2),
            "main_thread_cpu_ratio_to_bare_1_worker": round(transitions / runs[1][4] / bare_cpu, 3),
            "main_thread_cpu_ratio_to_bare_replay_1_worker": round(transitions / runs[1][4] / replay_cpu, 3),
            "cpu_s_per_wall_s_2_workers": round(runs[2][3] / runs[2][2], 2),
            "wall_s_1_worker": round(runs[1][2], 2), "wall_s_2_workers": round(wall2, 2),
            "control_steps_per_s_per_worker_1_worker": round(per_worker[1], 1),
            "control_steps_per_s_per_worker_2_workers": round(per_worker[2], 1),
            "ratio_per_worker_to_bare_1_worker": round(per_worker[1] / bare, 3),
            "ratio_per_worker_to_bare_2_workers": round(per_worker[2] / bare, 3),
            "ratio_per_worker_to_bare_replay_1_worker": round(per_worker[1] / replay, 3),
            "ratio_per_worker_to_bare_replay_2_workers": round(per_worker[2] / replay, 3),
            "scaling_1_to_2_workers": round(rate[2] / rate[1], 3),
            "same_bytes_1_and_2_workers": _tree_sha256(runs[1][0]) == _tree_sha256(out),
            # the 2-worker run's processes are the only children: the peak memory of one worker
            "worker_peak_rss_mb_2_workers": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
            "bytes_per_step": round(num_bytes / steps_rows, 1),
            "projected_50h_minutes_2_workers": round(FIFTY_HOURS_STEPS / rate[2] / 60, 1),
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
