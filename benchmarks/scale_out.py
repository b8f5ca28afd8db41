"""Benchmark: `wmhub generate` with the local and the Ray executor, 1 and 2 workers.

The same reacher job (state only) is run four ways on this machine:

* local executor, ``workers=1`` and ``workers=2`` (spawned process pool; pool start-up included),
* Ray executor on one local Ray instance (``num_cpus=2``), with tasks reserving 2 CPUs (so one
  runs at a time: 1 worker) or 1 CPU (2 at a time: 2 workers). The instance is started before
  the clock starts, as a cluster would be, and a small warm-up job runs first so worker
  processes exist; ``ray.init`` time is reported separately.

The four configurations are interleaved in each of ``--repeats`` rounds (the machine may be
shared: interleaving spreads other load over all of them). Reported: wall seconds (best and
median) and transitions/s of the best run, the scaling efficiency from 1 to 2 workers =
rate(2) / (2 · rate(1)) per executor (target ≥ 0.8), and Ray ÷ local throughput at the same
worker count (target ≥ 0.9). Every run's manifest must equal the first one's (same shard
SHA-256s): the executors write the same bytes. The load average before and after is printed.

    python benchmarks/scale_out.py                       # 800 episodes x 200 steps, 16 shards
    python benchmarks/scale_out.py --episodes 200 --repeats 1   # quick check

``--encode`` measures `wmhub encode` instead, on one dataset generated first (state only,
``--episodes`` x ``--episode-length``, ``--episodes-per-shard``): the local executor (this process,
rendering in-process, 1 torch thread) against the Ray executor with 1 and 2 CPU actors (each
rendering in-process with 1 torch thread, ``num_cpus=1``), interleaved the same way; the encoder
(``--encoder``, default a small random V-JEPA 2 at 64² frames) is loaded once per actor, and the
actors' start-up (one model load each) is inside the clock. Reported: rows/s per configuration,
Ray ÷ local with one worker, the 1 → 2 actor scaling efficiency; every run's manifest must be the
same.

    python benchmarks/scale_out.py --encode --episodes 16 --episode-length 50 --episodes-per-shard 2
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

os.environ.setdefault("MUJOCO_GL", "egl")

from wmhub.generation import generate  # noqa: E402

OPTIONS = {"episode_length": 200, "policy": "p-controller", "epsilon": 0.3, "seed": 0}
ENCODE_OPTIONS = {"device": "cpu", "workers": 0, "encoder_threads": 1, "batch_size": 16}


def timed_job(out: Path, episodes: int, per_shard: int, **kwargs) -> tuple[float, int, str]:
    """(seconds, transitions, manifest text) of one generate call into a fresh ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = generate("reacher", out, episodes, options=OPTIONS, episodes_per_shard=per_shard,
                      show_progress=False, **kwargs)
    seconds = time.perf_counter() - start
    transitions = result.manifest.num_rows("steps") - episodes
    return seconds, transitions, (out / "manifest.json").read_text()


def timed_encode(source: Path, out: Path, encoder: str, frame_size: int, **kwargs) -> tuple[float, int, str]:
    """(seconds, rows, manifest text) of one encode of a fresh copy of ``source`` into ``out``."""
    from wmhub.encoding import encode_dataset

    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(source, out)
    start = time.perf_counter()
    result = encode_dataset(out, encoder, frame_size=frame_size, show_progress=False, **ENCODE_OPTIONS, **kwargs)
    return time.perf_counter() - start, result.rows_processed, (out / "manifest.json").read_text()


def summarize_runs(runs: dict[str, list[tuple[float, int, str]]], rate_key: str) -> dict[str, dict]:
    """Best and median seconds and the best run's rate per configuration; checks the manifests agree."""
    import statistics

    reference = next(iter(runs.values()))[0][2]
    assert all(r[2] == reference for rs in runs.values() for r in rs), "a run's manifest differs"
    rows = {}
    for label, rs in runs.items():
        best = min(r[0] for r in rs)
        rows[label] = {"seconds_best": round(best, 2), "seconds_median": round(statistics.median(r[0] for r in rs), 2),
                       rate_key.removesuffix("_per_s"): rs[0][1], rate_key: round(rs[0][1] / best, 1)}
    return rows


def encode_benchmark(args) -> dict:
    """``--encode``: local vs Ray (1 and 2 actors) encoding of the same dataset (see the docstring)."""
    import ray

    print(f"load average before: {os.getloadavg()}", flush=True)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    configs = {"local-1": {}, "ray-1": {"executor": "ray", "actors": 1}, "ray-2": {"executor": "ray", "actors": 2}}
    runs: dict[str, list[tuple[float, int, str]]] = {label: [] for label in configs}
    options = {**OPTIONS, "episode_length": args.episode_length}
    with tempfile.TemporaryDirectory(prefix="wmhub-scale-out-encode-") as tmp:
        source = Path(tmp) / "source"
        generate("reacher", source, args.episodes, options=options, episodes_per_shard=args.episodes_per_shard,
                 show_progress=False)
        for round_ in range(args.repeats):
            for label, kwargs in configs.items():
                runs[label].append(timed_encode(source, Path(tmp) / label, args.encoder, args.frame_size, **kwargs))
                print(f"round {round_ + 1} {label:<8} {runs[label][-1][0]:7.2f} s", flush=True)
    ray.shutdown()
    rows = summarize_runs(runs, "rows_per_s")
    rate = {k: v["rows_per_s"] for k, v in rows.items()}
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "job": {"episodes": args.episodes, "episode_length": args.episode_length,
                "episodes_per_shard": args.episodes_per_shard, "encoder": args.encoder, "frame_size": args.frame_size,
                **ENCODE_OPTIONS, "repeats": args.repeats},
        "runs": rows,
        "ray_over_local_1_worker": round(rate["ray-1"] / rate["local-1"], 3),
        "scaling_efficiency_ray_1_to_2": round(rate["ray-2"] / (2 * rate["ray-1"]), 3),
        "identical_manifests": True,
        "load_average_after": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=800)
    parser.add_argument("--episodes-per-shard", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the best run of each is kept")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--encode", action="store_true", help="measure `wmhub encode` instead of generate")
    parser.add_argument("--episode-length", type=int, default=50, help="--encode: steps per episode")
    parser.add_argument("--encoder", default="random:64", help="--encode: encoder spec")
    parser.add_argument("--frame-size", type=int, default=64, help="--encode: render size")
    args = parser.parse_args()
    if args.encode:
        figures = encode_benchmark(args)
        print(json.dumps(figures, indent=2))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return

    import ray

    from wmhub.jobs.ray_tasks import RayTaskExecutor as RayExecutor

    print(f"load average before: {os.getloadavg()}", flush=True)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray_init = time.perf_counter() - start
    configs = {"local-1": {"workers": 1}, "local-2": {"workers": 2},
               "ray-1": {"executor": RayExecutor(num_cpus=2)}, "ray-2": {"executor": RayExecutor(num_cpus=1)}}
    runs: dict[str, list[tuple[float, int, str]]] = {label: [] for label in configs}
    with tempfile.TemporaryDirectory(prefix="wmhub-scale-out-") as tmp:
        tmp_path = Path(tmp)
        timed_job(tmp_path / "warmup", 4, 1, executor=RayExecutor(num_cpus=1))  # start Ray's worker processes
        for round_ in range(args.repeats):
            for label, kwargs in configs.items():
                runs[label].append(timed_job(tmp_path / label, args.episodes, args.episodes_per_shard, **kwargs))
                print(f"round {round_ + 1} {label:<8} {runs[label][-1][0]:7.2f} s", flush=True)
    ray.shutdown()
    rows = summarize_runs(runs, "transitions_per_s")
    rate = {k: v["transitions_per_s"] for k, v in rows.items()}
    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "job": {"episodes": args.episodes, "episode_length": OPTIONS["episode_length"],
                "episodes_per_shard": args.episodes_per_shard, "repeats": args.repeats},
        "runs": rows,
        "scaling_efficiency_local_1_to_2": round(rate["local-2"] / (2 * rate["local-1"]), 3),
        "scaling_efficiency_ray_1_to_2": round(rate["ray-2"] / (2 * rate["ray-1"]), 3),
        "ray_over_local_1_worker": round(rate["ray-1"] / rate["local-1"], 3),
        "ray_over_local_2_workers": round(rate["ray-2"] / rate["local-2"], 3),
        "ray_init_seconds": round(ray_init, 2),
        "identical_manifests": True,
        "load_average_after": os.getloadavg(),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
