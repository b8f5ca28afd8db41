"""Export throughput (transitions/s) of ``wmhub export`` per format, against reading the dataset once.

Reads and exports the 1M-transition reacher dataset (5000 episodes × 200 steps, ``wmhub generate
reacher ... --episodes 5000``) and reports, measured in the same run on the same files:

* ``read once (pyarrow)``: every ``steps`` shard read with pyarrow and its columns turned into
  numpy arrays (the floor: no export can read less);
* ``read once (export reader)``: one pass of :class:`wmhub.interop.source.ExportSource` over every
  episode (what each exporter reads, split into episodes);
* ``triples``, ``lerobot``, ``minari``: ``wmhub.interop.export.export`` into a new directory.

Each figure is transitions divided by wall seconds (one run each, after an untimed read that warms
the file cache).

    python benchmarks/export.py                              # generates the dataset if needed
    python benchmarks/export.py --dataset data/reacher-1m    # an existing dataset
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from wmhub.data.reader import WmDataset
from wmhub.interop.export import EXPORT_FORMATS, export
from wmhub.interop.source import ExportSource

GENERATE = ["generate", "reacher", "{out}", "--episodes", "{episodes}", "--policy", "p-controller",
            "--epsilon", "0.3", "--workers", "2"]


def _read_pyarrow(root: Path) -> int:
    rows = 0
    for path in WmDataset(root).shard_paths("steps"):
        table = pq.read_table(path)
        for column in table.columns:
            chunk = column.combine_chunks()
            values = chunk.flatten() if hasattr(chunk, "flatten") else chunk
            np.asarray(values.to_numpy(zero_copy_only=False))
        rows += table.num_rows
    return rows


def _read_export_source(root: Path) -> int:
    return sum(e.num_steps for e in ExportSource(root).iter_episodes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=None, help="an existing dataset (default: generate one)")
    parser.add_argument("--episodes", type=int, default=5000, help="episodes to generate (5000: 1M transitions)")
    parser.add_argument("--formats", nargs="+", default=list(EXPORT_FORMATS), choices=EXPORT_FORMATS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wmhub-export-bench-") as scratch:
        scratch = Path(scratch)
        root = args.dataset
        if root is None:
            root = scratch / "reacher"
            command = [a.format(out=root, episodes=args.episodes) for a in GENERATE]
            subprocess.run([sys.executable, "-m", "wmhub.cli", *command], check=True)
        source = ExportSource(root)
        transitions = source.num_transitions
        print(f"dataset: {root} ({source.num_episodes} episodes, {transitions} transitions); "
              f"{platform.processor() or platform.machine()}, python {platform.python_version()}")
        print("| what | seconds | transitions/s | × read once (export reader) |")
        print("|---|---|---|---|")
        timings: dict[str, float] = {}
        _read_pyarrow(root)  # warm the file cache, so that no figure pays for the first read from disk
        for name, read in (("read once (pyarrow)", _read_pyarrow), ("read once (export reader)", _read_export_source)):
            start = time.perf_counter()
            read(root)
            timings[name] = time.perf_counter() - start
        options = {"lerobot": {"repo_id": "bench/reacher"}, "minari": {"dataset_id": "bench/reacher-v0"},
                   "triples": {}}
        for fmt in args.formats:
            out = scratch / f"out-{fmt}"
            start = time.perf_counter()
            result = export(root, out, fmt, show_progress=False, **options[fmt])
            timings[fmt] = time.perf_counter() - start
            assert result.rows == transitions, (fmt, result.rows, transitions)
            shutil.rmtree(out)
        base = timings["read once (export reader)"]
        for name, seconds in timings.items():
            print(f"| {name} | {seconds:.2f} | {transitions / seconds:,.0f} | {seconds / base:.1f} |")


if __name__ == "__main__":
    main()
