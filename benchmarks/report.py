"""How long ``wmhub report`` takes on the 1M-transition reacher dataset (5000 episodes × 200 steps).

Generates the dataset into ``--data`` unless a complete one is there, then times:

* the streaming pass alone (per-feature and action histograms over every ``steps`` shard);
* the whole report without episode videos (``--thumbnails 0``): provenance, episode
  distributions, histograms, actions, plots, page;
* the whole report with the default 8 episode thumbnails and videos (rendering on the GL backend at hand:
  software rendering without a GPU is most of that time).

    python benchmarks/report.py --data data/reacher-1m
    python benchmarks/report.py --data data/reacher-1m --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import wmhub
from wmhub.data.reader import open_dataset
from wmhub.reporting.build import report
from wmhub.reporting.dataset_scan import scan_steps


def _dataset(root: Path, episodes: int, workers: int) -> None:
    if (root / "manifest.json").is_file() and open_dataset(root).num_episodes >= episodes:
        return
    wmhub.generate("reacher", root, episodes, workers=workers, show_progress=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the dataset folder (generated when absent)")
    parser.add_argument("--episodes", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="generation processes")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each measurement (median shown)")
    parser.add_argument("--thumbnails", type=int, default=8)
    args = parser.parse_args()
    _dataset(args.data, args.episodes, args.workers)
    ds = open_dataset(args.data)
    rows = ds.manifest.num_rows("steps")
    print(f"dataset: {ds.num_episodes:,} episodes, {ds.num_transitions:,} transitions, "
          f"{sum(s.num_bytes for s in ds.manifest.shards) / 1e6:.0f} MB; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, MUJOCO_GL={os.environ.get('MUJOCO_GL', '(auto)')}")

    def timed(label: str, fn) -> float:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(f"{label:<44} {median:8.2f} s" + (f"  (runs: {', '.join(f'{t:.2f}' for t in times)})"
                                                   if args.repeats > 1 else ""))
        return median

    scan = timed("streaming pass (histograms of every feature)", lambda: scan_steps(ds))
    print(f"{'':<44} {rows / scan / 1e6:8.2f} M rows/s")
    with tempfile.TemporaryDirectory(prefix="wmhub-report-bench-") as tmp:
        timed("report, no thumbnails", lambda: report(args.data, Path(tmp) / "plain", thumbnails=0,
                                                           show_progress=False))
        timed(f"report, {args.thumbnails} thumbnails + videos",
              lambda: report(args.data, Path(tmp) / "full", thumbnails=args.thumbnails, show_progress=False))
        size = sum(p.stat().st_size for p in (Path(tmp) / "full").rglob("*") if p.is_file())
        print(f"report folder with thumbnails: {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
