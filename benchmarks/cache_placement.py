"""What copying (not hard-linking) cached shards into a download costs, in seconds and bytes.

wmhub keeps verified shards in a content-addressed cache and places them into each download as a
reflink where the filesystem supports it, else as a copy; it used to hard-link them, which let an
in-place edit of one download change every other copy (docs/reliability.md). This benchmark
publishes a dataset to the Hub-compatible test server on 127.0.0.1 (tests/support/hub_server.py),
downloads it twice through one cache (the first download fills the cache, the second is served by
it), and compares the cached download with two limits measured in the same run on the same bytes:

* ``sha256``: hashing every shard once, which any verified placement must do;
* ``hard link + sha256``: what the former placement did (``os.link`` from the cache, then hash).

It reports the bytes on disk of the two downloads and the cache, counted by inode, against the
hard-link layout (one stored copy for all three).

    python benchmarks/cache_placement.py                       # the 1M-transition reacher dataset
    python benchmarks/cache_placement.py --episodes 500        # a quicker look
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import wmhub


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _disk_bytes(*roots: Path) -> int:
    """Bytes allocated on disk under ``roots``, each inode counted once."""
    seen, total = set(), 0
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                st = path.stat()
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=None, help="an existing dataset (default: generate one)")
    parser.add_argument("--episodes", type=int, default=5000, help="episodes to generate (5000: 1M transitions)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wmhub-cache-bench-") as tmp:
        tmp = Path(tmp)
        os.environ["WMHUB_CACHE"] = str(tmp / "cache")
        source = args.dataset
        if source is None:
            source = tmp / "reacher"
            wmhub.generate("reacher", source, args.episodes, options={"policy": "p-controller", "epsilon": 0.3},
                           workers=args.workers, show_progress=False)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test server
        from support.hub_server import HubServer, patch_endpoint

        with contextlib.ExitStack() as stack:
            server = stack.enter_context(HubServer(tmp / "server"))
            stack.enter_context(patch_endpoint(server.url, hf_home=tmp / "hf-home"))
            os.environ["HF_TOKEN"] = server.token
            repo = "hf://datasets/bench/reacher"
            wmhub.publish(source, repo)
            started = time.perf_counter()
            first = wmhub.download(repo, tmp / "a", show_progress=False)
            t_first = time.perf_counter() - started
            started = time.perf_counter()
            second = wmhub.download(repo, tmp / "b", show_progress=False)
            t_cached = time.perf_counter() - started

        blobs = [p for p in (tmp / "cache").rglob("*") if p.is_file() and not p.name.startswith(".")]
        shard_bytes = sum(p.stat().st_size for p in blobs)
        started = time.perf_counter()
        for blob in blobs:
            _sha256(blob)
        t_hash = time.perf_counter() - started
        links = tmp / "links"
        links.mkdir()
        started = time.perf_counter()
        for i, blob in enumerate(blobs):
            os.link(blob, links / f"{i}.parquet")
            _sha256(links / f"{i}.parquet")
        t_link = time.perf_counter() - started

        copies = _disk_bytes(tmp / "a" / "data", tmp / "b" / "data", tmp / "cache")
        linked = _disk_bytes(tmp / "cache", links)
        print(f"dataset: {len(blobs)} shards, {shard_bytes / 1e6:.1f} MB; first download {len(first.fetched)} "
              f"shards, second {len(second.from_cache)} from the cache")
        print("| step | seconds | ratio to sha256 |")
        print("|---|---|---|")
        print(f"| sha256 of every shard (limit) | {t_hash:.2f} | 1.00 |")
        print(f"| hard link + sha256 (former placement) | {t_link:.2f} | {t_link / t_hash:.2f} |")
        print(f"| download served by the cache (copy or reflink, hashed) | {t_cached:.2f} | {t_cached / t_hash:.2f} |")
        print(f"| first download (fetch, hash, add to the cache) | {t_first:.2f} | {t_first / t_hash:.2f} |")
        print(f"bytes on disk, two downloads + cache: {copies / 1e6:.1f} MB (copies) against "
              f"{linked / 1e6:.1f} MB (hard links)")


if __name__ == "__main__":
    main()
