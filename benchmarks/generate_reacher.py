"""Benchmark: the reacher ε-greedy dataset (5,000 × 200 = 1M transitions), state only, with both engines.

In one run, against a bare ``mujoco.mj_step`` loop on the same model (measured before and after, the mean
is the reference):

* each engine's rollouts alone (the runner in this process, no shard writing, simulator built
  beforehand) ÷ bare ``mj_step``: what the engine itself costs;
* the ``mujoco`` engine (the default): the full dataset on 1 and on 2 workers: wall time, transitions/s,
  the rate per worker ÷ bare ``mj_step`` end to end (target ≥ 0.3; includes starting the workers and
  writing the shards) and the 1 → 2 worker scaling;
* the ``dm_control`` engine (the reference): a smaller dataset (``--reference-episodes``) on 1 and 2
  workers, the same figures, and a bare dm_control ``env.step`` loop replaying the same actions;
* that the two engines' shards of the shared episodes have the same SHA-256;
* the load average before and after (the figures are only comparable on an otherwise idle machine).

Each generation run also reports its CPU seconds (this process and its worker processes) and the rate
per CPU second ÷ bare ``mj_step`` per CPU second: on a machine shared with other jobs the steadier
figure. A worker writes one shard on its writer thread while it rolls out the next
(``wmhub.jobs.overlap``), so with a spare core a worker uses more than one CPU second per wall second;
``main_thread_cpu_s_1_worker`` is the CPU time of the thread that rolls out (the 1-worker job runs in
this process), the time a worker tends to when a core is free for its writer thread.

    python benchmarks/generate_reacher.py                            # full size
    python benchmarks/generate_reacher.py --episodes 500 --reference-episodes 100 --episodes-per-shard 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from wmhub.data import open_dataset  # noqa: E402
from wmhub.envs.reacher import ReacherConfig, ReacherEngineRunner, engine_selected, make_env  # noqa: E402
from wmhub.envs.reacher_engine import BATCH, load_model  # noqa: E402
from wmhub.generation import generate  # noqa: E402


def _cpu_s() -> float:
    """CPU seconds used so far by this process and its finished children (the generation workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bare_env_step_rate(dataset_dir: Path, episodes: int) -> float:
    """Transitions/s of a plain dm_control reset + env.step loop over the dataset's own actions."""
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


def bare_mj_step_rate(steps: int = 300_000) -> tuple[float, float]:
    """Physics steps per wall second and per CPU second of ``mujoco.mj_step`` on the reacher model (one
    control step is one physics step)."""
    import mujoco

    model = load_model()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    start, cpu = time.perf_counter(), _cpu_s()
    for _ in range(steps):
        mujoco.mj_step(model, data)
    return steps / (time.perf_counter() - start), steps / (_cpu_s() - cpu)


def rollout_rate(engine: str, episodes: int, length: int) -> float:
    """Transitions/s of one engine's runner alone (episodes rolled out in memory, nothing written)."""
    runner = ReacherEngineRunner(ReacherConfig(episode_length=length, policy="p-controller", epsilon=0.3, seed=0))
    with engine_selected(engine):
        runner.run_episodes(range(episodes, episodes + BATCH))  # builds the simulator and a batch's MjData
        start = time.perf_counter()
        runner.run_episodes(range(episodes))
        return episodes * length / (time.perf_counter() - start)


def shard_digests(root: Path) -> dict[str, str]:
    return {s.path: s.sha256 for s in open_dataset(root).manifest.shards}


def timed_generate(engine: str, out: Path, episodes: int, length: int, per_shard: int,
                   workers: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (this process and its workers) and this thread's CPU seconds of one
    generation job (fresh OUT)."""
    with engine_selected(engine):
        start, cpu, main = time.perf_counter(), _cpu_s(), time.thread_time()
        generate("reacher", out, episodes,
                 options={"policy": "p-controller", "epsilon": 0.3, "seed": 0, "episode_length": length},
                 episodes_per_shard=per_shard, workers=workers, show_progress=False)
        return time.perf_counter() - start, _cpu_s() - cpu, time.thread_time() - main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=5000, help="episodes of the mujoco engine's dataset")
    parser.add_argument("--reference-episodes", type=int, default=500, help="episodes of the dm_control engine's")
    parser.add_argument("--episode-length", type=int, default=200)
    parser.add_argument("--episodes-per-shard", type=int, default=500)
    parser.add_argument("--baseline-episodes", type=int, default=250, help="episodes replayed by the env.step loop")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args()
    if args.reference_episodes % args.episodes_per_shard and args.reference_episodes < args.episodes:
        parser.error("--reference-episodes must be a multiple of --episodes-per-shard (its shards are compared)")

    workdir = Path(tempfile.mkdtemp(prefix="wmhub-bench-"))
    load_before = os.getloadavg()
    try:
        mj_before, mj_cpu_before = bare_mj_step_rate()
        alone = {"mujoco": rollout_rate("mujoco", max(args.episodes // 5, 1), args.episode_length),
                 "dm_control": rollout_rate("dm_control", max(args.reference_episodes // 5, 1), args.episode_length)}
        runs = {}
        for engine, episodes in (("mujoco", args.episodes), ("dm_control", args.reference_episodes)):
            transitions = episodes * args.episode_length
            for workers in (1, 2):
                out = workdir / f"{engine}-{workers}"
                wall, cpu, main = timed_generate(engine, out, episodes, args.episode_length,
                                                 args.episodes_per_shard, workers)
                runs[(engine, workers)] = {"episodes": episodes, "transitions": transitions, "wall_s": wall,
                                           "rate": transitions / wall, "cpu_s": cpu, "main_cpu_s": main}
        mj_after, mj_cpu_after = bare_mj_step_rate()
        env_rate = bare_env_step_rate(workdir / "dm_control-1", min(args.baseline_episodes, args.reference_episodes))
        fast, reference = shard_digests(workdir / "mujoco-2"), shard_digests(workdir / "dm_control-2")
        shared = sorted(set(fast) & set(reference))
        identical = bool(shared) and all(fast[p] == reference[p] for p in shared)
        num_bytes = sum(s.num_bytes for s in open_dataset(workdir / "mujoco-2").manifest.shards)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load_after = os.getloadavg()

    bare = (mj_before + mj_after) / 2
    bare_cpu = (mj_cpu_before + mj_cpu_after) / 2
    engines = {}
    for engine in ("mujoco", "dm_control"):
        one, two = runs[(engine, 1)], runs[(engine, 2)]
        engines[engine] = {
            "episodes": one["episodes"], "transitions": one["transitions"],
            "rollouts_alone_per_s": round(alone[engine]),
            "rollouts_alone_ratio_vs_bare_mj_step": round(alone[engine] / bare, 3),
            "wall_s_1_worker": round(one["wall_s"], 2), "wall_s_2_workers": round(two["wall_s"], 2),
            "per_s_1_worker": round(one["rate"]), "per_s_2_workers": round(two["rate"]),
            "ratio_per_worker_vs_bare_mj_step_1": round(one["rate"] / bare, 3),
            "ratio_per_worker_vs_bare_mj_step_2": round(two["rate"] / 2 / bare, 3),
            "scaling_1_to_2": round(two["rate"] / one["rate"], 2),
            "cpu_s_1_worker": round(one["cpu_s"], 2), "cpu_s_2_workers": round(two["cpu_s"], 2),
            "cpu_s_per_wall_s_1_worker": round(one["cpu_s"] / one["wall_s"], 2),
            "main_thread_cpu_s_1_worker": round(one["main_cpu_s"], 2),
            "main_thread_cpu_ratio_vs_bare_mj_step_1": round(one["transitions"] / one["main_cpu_s"] / bare_cpu, 3),
            "per_cpu_s_ratio_vs_bare_mj_step_1": round(one["transitions"] / one["cpu_s"] / bare_cpu, 3),
            "per_cpu_s_ratio_vs_bare_mj_step_2": round(two["transitions"] / two["cpu_s"] / bare_cpu, 3),
        }
    result = {
        "episode_length": args.episode_length, "episodes_per_shard": args.episodes_per_shard,
        "bare_mj_step_per_s": round(bare), "bare_mj_step_before_after": [round(mj_before), round(mj_after)],
        "bare_mj_step_per_cpu_s": round(bare_cpu),
        "bare_dm_control_env_step_per_s": round(env_rate),
        "engines": engines,
        "speedup_mujoco_vs_dm_control_1_worker": round(runs[("mujoco", 1)]["rate"] / runs[("dm_control", 1)]["rate"],
                                                       1),
        "shards_compared": len(shared), "shards_identical": identical,
        "bytes_per_transition": round(num_bytes / runs[("mujoco", 2)]["transitions"], 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    print("\n| engine | rollouts alone ÷ bare mj_step | transitions | wall 1 worker | wall 2 workers "
          "| per s (2 workers) | per worker ÷ bare mj_step (1 / 2 workers) | 1 → 2 scaling |")
    print("|---|---|---|---|---|---|---|---|")
    for engine, row in engines.items():
        print(f"| {engine} | {row['rollouts_alone_ratio_vs_bare_mj_step']} | {row['transitions']:,} | "
              f"{row['wall_s_1_worker']} s | {row['wall_s_2_workers']} s | "
              f"{row['per_s_2_workers']:,} | {row['ratio_per_worker_vs_bare_mj_step_1']} / "
              f"{row['ratio_per_worker_vs_bare_mj_step_2']} | {row['scaling_1_to_2']}× |")
    print(f"\nbare mj_step {result['bare_mj_step_per_s']:,}/s; bare dm_control env.step {round(env_rate):,}/s; "
          f"shards identical: {identical} ({len(shared)} compared); load average before {result['load_average_before']}"
          f", after {result['load_average_after']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
