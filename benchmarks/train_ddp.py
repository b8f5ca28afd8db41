"""Benchmark: data-parallel training on CPU, 2 gloo ranks vs 1 process on the same total cores.

    python benchmarks/train_ddp.py                                     # tiny recipe, 2 cores
    python benchmarks/train_ddp.py --recipe reacher_dynamics_mlp_100k_state --steps 600
    python benchmarks/train_ddp.py --set model.hidden_dim=512          # the 100k recipes' model on the tiny data
    python benchmarks/train_ddp.py --ray                               # also the ranks through --executor ray

Both runs train the same recipe with the same global batch (``training.batch_size``) for ``--steps``
optimizer steps through ``wmhub train``: one process with ``--cores`` torch threads, then
``torchrun --nproc_per_node RANKS`` with ``cores / ranks`` threads per rank, and, for the per-rank
rate, one process with ``cores / ranks`` threads; with ``--ray``, the same ranks through
``wmhub train --executor ray`` (Ray Train on a local Ray instance). From the runs'
``metrics.jsonl`` (the training windows after the first, which holds the warm-up) it reports each
run's samples/s, their ratio, and the share of rank 0's step time spent in the gradient all-reduce.
The dataset is obtained as the recipe says (generated when absent) by the first run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(recipe: str, overrides: list[str], steps: int, out: Path, ranks: int, threads: int,
        executor: str = "torchrun", timeout: float | None = None, cwd: Path | None = None) -> dict[str, float]:
    """Train ``steps`` steps as ``ranks`` processes of ``threads`` threads each; returns the measured rates.

    ``executor`` torchrun launches the ranks with ``torchrun --nproc_per_node``; ray with ``wmhub train
    --executor ray --ray-workers`` on a local Ray instance (one CPU each, so one thread per rank).

    Raises:
        RuntimeError: the training command failed or ran past ``timeout`` seconds.
    """
    sets = [f"training.max_steps={steps}", f"training.log_every={max(1, steps // 16)}",
            f"training.eval_every={steps}", f"training.checkpoint_every={10 * steps}", *overrides]
    args = ["-m", "wmhub.cli", "train", recipe, *[x for s in sets for x in ("--set", s)], "--out", str(out), "--quiet"]
    if ranks > 1 and executor == "ray":
        args += ["--executor", "ray", "--ray-workers", str(ranks)]
    elif ranks > 1:
        args = ["-m", "torch.distributed.run", "--nproc_per_node", str(ranks), "--master_addr", "127.0.0.1",
                "--master_port", str(_port()), *args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    try:
        done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout,
                              cwd=cwd)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(args)} ran past {timeout:.0f} s") from None
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"][1:]  # the first window holds the warm-up
    return {"samples_per_s": statistics.mean(r["samples_per_s"] for r in train),
            "allreduce_share": statistics.mean(r.get("allreduce_share", 0.0) for r in train),
            "data_wait_share": statistics.mean(r["data_wait_share"] for r in train)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="tiny_reacher_dynamics_state")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2, help="total cores: torch threads of the single process")
    parser.add_argument("--ray", action="store_true", help="also train the ranks through --executor ray")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = parser.parse_args()
    if a.cores % a.ranks:
        raise SystemExit(f"--cores {a.cores} must be a multiple of --ranks {a.ranks}")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            one = run(a.recipe, a.overrides, a.steps, Path(tmp) / "one", 1, a.cores)
            many = run(a.recipe, a.overrides, a.steps, Path(tmp) / "many", a.ranks, a.cores // a.ranks)
            single = run(a.recipe, a.overrides, a.steps, Path(tmp) / "single", 1, a.cores // a.ranks)
            ray = (run(a.recipe, a.overrides, a.steps, Path(tmp) / "ray", a.ranks, a.cores // a.ranks, "ray")
                   if a.ray else None)
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from None
    result = {"recipe": a.recipe, "overrides": a.overrides, "steps": a.steps, "cores": a.cores, "ranks": a.ranks,
              "one_process": one, "ranks_run": many, "one_rank_alone": single,
              "samples_per_s_ratio": many["samples_per_s"] / one["samples_per_s"],
              "scaling_efficiency": many["samples_per_s"] / (a.ranks * single["samples_per_s"])}
    print(f"{a.recipe} {' '.join(a.overrides)}: 1 process × {a.cores} threads {one['samples_per_s']:,.0f} samples/s; "
          f"{a.ranks} gloo ranks × {a.cores // a.ranks} thread(s) {many['samples_per_s']:,.0f} samples/s "
          f"(ratio {result['samples_per_s_ratio']:.2f}); all-reduce {100 * many['allreduce_share']:.1f}% of rank 0's "
          f"step time; 1 process × {a.cores // a.ranks} thread(s) {single['samples_per_s']:,.0f} samples/s "
          f"(scaling efficiency {result['scaling_efficiency']:.2f})")
    if ray is not None:
        result.update(ray_run=ray, ray_over_torchrun=ray["samples_per_s"] / many["samples_per_s"])
        print(f"--executor ray, {a.ranks} workers: {ray['samples_per_s']:,.0f} samples/s (ratio to 1 process "
              f"{ray['samples_per_s'] / one['samples_per_s']:.2f}, to torchrun {result['ray_over_torchrun']:.2f}); "
              f"all-reduce {100 * ray['allreduce_share']:.1f}% of rank 0's step time")
    if a.json is not None:
        a.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
