"""Benchmark: incremental publish and verified download.

    python benchmarks/hub_publish.py --episodes 4000 --append 1000          # local hub directory
    python benchmarks/hub_publish.py --episodes 4000 --append 1000 --server # test Hub server on 127.0.0.1

1. Generate E episodes, publish; grow by A episodes, publish again and report
   bytes uploaded by the second publish ÷ bytes of its new shards (target
   ≤ 1.05). Local: bytes written (shards + manifest + card). Server: request
   body bytes the server received (uploads, LFS, commit payload).
2. Download the whole dataset into a new directory (every SHA-256 verified)
   and report its throughput ÷ ``sha256sum`` throughput over the same files in
   the same run (target ≥ 0.8). Repeated ``--repeats`` times, each into a new
   directory with an empty wmhub cache and followed by its own ``sha256sum``;
   medians are reported, and the ratio is the median of the per-repeat ratios.
   Also measured in the same run: writing the same bytes to new files on the
   same filesystem (what any download into a directory costs at least), a
   second download served by the wmhub cache, and (server) plain GETs and
   ``hf_hub_download`` alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")

from wmhub.data import open_dataset  # noqa: E402
from wmhub.generation import generate  # noqa: E402
from wmhub.hub.verbs import download, publish  # noqa: E402


def sha256sum_rate(paths: list[Path]) -> float:
    """Bytes/s of coreutils sha256sum over ``paths`` (files already in the page cache)."""
    total = sum(p.stat().st_size for p in paths)
    start = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, paths)], check=True, capture_output=True)
    return total / (time.perf_counter() - start)


def write_rate(paths: list[Path], dest: Path) -> float:
    """Bytes/s of writing the bytes of ``paths`` (read beforehand) into new files under ``dest``."""
    blobs = [p.read_bytes() for p in paths]
    dest.mkdir(parents=True)
    start = time.perf_counter()
    for i, blob in enumerate(blobs):
        with open(dest / f"f{i}", "wb") as handle:
            for offset in range(0, len(blob), 1 << 20):
                handle.write(blob[offset:offset + (1 << 20)])
    return sum(map(len, blobs)) / (time.perf_counter() - start)


def mbps(rate: float | None) -> float | None:
    return round(rate / 1e6, 1) if rate else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=4000)
    parser.add_argument("--append", type=int, default=1000)
    parser.add_argument("--server", action="store_true", help="publish to the test Hub server instead of a directory")
    parser.add_argument("--repeats", type=int, default=3, help="downloads measured (each with its sha256sum)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wmhub-hub-bench-") as tmp:
        tmp = Path(tmp)
        src = tmp / "src"
        options = {"policy": "p-controller", "epsilon": 0.3, "seed": 0}
        generate("reacher", src, args.episodes, options=options, workers=2, show_progress=False)
        with contextlib.ExitStack() as stack:
            if args.server:
                sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test server
                from support.hub_server import HubServer, patch_endpoint

                server = stack.enter_context(HubServer(tmp / "server"))
                stack.enter_context(patch_endpoint(server.url, hf_home=tmp / "hf-home"))
                os.environ["HF_TOKEN"] = server.token
                dest = "hf://datasets/bench/reacher"
            else:
                server = None
                dest = str(tmp / "hub")
            publish(src, dest)
            generate("reacher", src, args.episodes + args.append, options=options, workers=2, show_progress=False)
            before = server.bytes_uploaded if server else 0
            second = publish(src, dest)
            uploaded = (server.bytes_uploaded - before) if server else second.bytes_uploaded + second.bytes_metadata
            ratio = uploaded / second.bytes_uploaded

            download_rates, hash_rates, ratios, write_rates = [], [], [], []
            for repeat in range(args.repeats):
                os.environ["WMHUB_CACHE"] = str(tmp / f"cache-{repeat}")  # empty: every shard over HTTP
                out = tmp / f"out-{repeat}"
                start = time.perf_counter()
                result = download(dest, out, show_progress=False)
                elapsed = time.perf_counter() - start
                shards = [out / s.path for s in open_dataset(out).manifest.shards]
                total = sum(p.stat().st_size for p in shards)
                assert result.bytes_fetched == total and len(result.fetched) == len(shards)
                download_rates.append(total / elapsed)
                hash_rates.append(sha256sum_rate(shards))
                ratios.append(download_rates[-1] / hash_rates[-1])
                write_rates.append(write_rate(shards, tmp / f"write-{repeat}"))
            start = time.perf_counter()  # a second download of the same files into another directory
            again = download(dest, tmp / "again", show_progress=False)
            cached_rate = total / (time.perf_counter() - start)
            served = "wmhub cache" if again.from_cache else "source directory"
            http_rate = client_rate = None
            if server:  # the transport's own limit: plain GETs of the same files from the same server
                import urllib.request

                start = time.perf_counter()
                for shard in open_dataset(out).manifest.shards:
                    url = f"{server.url}/datasets/bench/reacher/resolve/main/{shard.path}"
                    with urllib.request.urlopen(url) as response:
                        while response.read(1 << 20):
                            pass
                http_rate = total / (time.perf_counter() - start)
                from huggingface_hub import hf_hub_download  # the client alone, into a fresh cache

                start = time.perf_counter()
                for shard in open_dataset(out).manifest.shards:
                    hf_hub_download("bench/reacher", shard.path, repo_type="dataset", cache_dir=tmp / "fresh-cache")
                client_rate = total / (time.perf_counter() - start)
        download_rate = statistics.median(download_rates)
        report = {
            "destination": "test Hub server" if args.server else "local hub directory",
            "new_shard_bytes": second.bytes_uploaded, "bytes_uploaded": uploaded,
            "upload_ratio": round(ratio, 4),
            "download_bytes": total, "download_files": len(shards), "repeats": args.repeats,
            "download_verify_MBps": mbps(download_rate),
            "sha256sum_MBps": mbps(statistics.median(hash_rates)),
            "download_ratio_vs_sha256sum": round(statistics.median(ratios), 3),
            "per_repeat": [{"download_verify_MBps": mbps(d), "sha256sum_MBps": mbps(h), "ratio": round(r, 3)}
                           for d, h, r in zip(download_rates, hash_rates, ratios)],
            "write_new_files_MBps": mbps(statistics.median(write_rates)),
            f"second_download_from_{served.replace(' ', '_')}_MBps": mbps(cached_rate),
            "second_download_bytes_transferred": again.bytes_transferred,
            "plain_http_get_MBps": mbps(http_rate),
            "hf_hub_download_only_MBps": mbps(client_rate),
            "download_ratio_vs_client_only": round(download_rate / client_rate, 3) if client_rate else None,
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
