"""``wmhub verify``: recompute sizes, checksums, row counts and episode coverage."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from wmhub.data.layout import DATA_DIR, EPISODES_CONFIG, JOB_NAME, STEPS_CONFIG, is_temporary, stale_temporaries
from wmhub.data.manifest import MANIFEST_NAME, Manifest, ShardInfo
from wmhub.errors import WmhubError
from wmhub.fileio import resolve_inside, sha256_file


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: the file concerned and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _check_tar(path: Path, shard: ShardInfo) -> str | None:
    from wmhub.data.frame_shards import tar_contents

    try:
        counts = tar_contents(path)
    except (OSError, ValueError, EOFError) as exc:
        return f"unreadable tar ({exc})"
    rows = sum(counts.values())
    if rows != shard.num_rows:
        return f"{rows} frames, manifest says {shard.num_rows}"
    if list(counts) != list(range(shard.episode_start, shard.episode_end)):
        return (f"holds samples for {len(counts)} episodes, expected [{shard.episode_start}, {shard.episode_end}) "
                "in order")
    return None


def check_shard(root: Path, shard: ShardInfo) -> str | None:
    """What is wrong with one shard under ``root`` (missing, size, SHA-256, unreadable), or None."""
    try:
        path = resolve_inside(root, shard.path)
    except WmhubError:
        return "manifest path is outside the dataset directory (refused)"
    if not path.is_file():
        return "missing (listed in manifest.json); re-download or regenerate it"
    size = path.stat().st_size
    if size != shard.num_bytes:
        return f"size {size} bytes, manifest says {shard.num_bytes} (truncated or replaced)"
    digest = sha256_file(path)
    if digest != shard.sha256:
        return f"SHA-256 {digest[:12]}… does not match the manifest's {shard.sha256[:12]}… (corrupted)"
    if path.suffix == ".tar":
        return _check_tar(path, shard)
    try:
        metadata = pq.read_metadata(path)
        rows = metadata.num_rows
        index = pq.read_table(path, columns=["episode_index"]).column("episode_index").to_numpy()
    except Exception as exc:  # noqa: BLE001 - any parquet error is a bad shard
        return f"unreadable parquet ({exc})"
    if rows != shard.num_rows:
        return f"{rows} rows, manifest says {shard.num_rows}"
    expected = set(range(shard.episode_start, shard.episode_end))
    found = set(index.tolist())
    if found != expected or (len(index) > 1 and (index[1:] < index[:-1]).any()):
        return (f"holds episodes {min(found, default=None)}..{max(found, default=None)} "
                f"({len(found)} distinct), expected [{shard.episode_start}, {shard.episode_end}) in order")
    return None


def check_coverage(manifest: Manifest) -> list[Problem]:
    """Gaps and overlaps in the episode ranges of each config's shards."""
    problems = []
    for cfg in manifest.configs:
        expected_start = 0
        for shard in manifest.shards_of(cfg.name):
            if shard.episode_start != expected_start:
                kind = "gap" if shard.episode_start > expected_start else "overlap"
                problems.append(Problem(shard.path, f"episode {kind}: starts at {shard.episode_start}, "
                                                    f"previous shard of {cfg.name!r} ends at {expected_start}"))
            expected_start = max(expected_start, shard.episode_end)
        if cfg.name in (STEPS_CONFIG, EPISODES_CONFIG) and expected_start != manifest.num_episodes:
            problems.append(Problem(MANIFEST_NAME, f"config {cfg.name!r} covers {expected_start} episodes, "
                                                   f"manifest says {manifest.num_episodes}"))
    return problems


def verify_dataset(root: str | Path) -> list[Problem]:
    """Check a local dataset directory; returns the problems found (empty when all is well)."""
    root = Path(root)
    try:
        manifest = Manifest.read(root)
    except WmhubError as exc:
        return [Problem(MANIFEST_NAME, str(exc))]
    problems: list[Problem] = []
    if (root / JOB_NAME).exists():
        try:
            kind = json.loads((root / JOB_NAME).read_text(encoding="utf-8")).get("kind", "generate")
        except (OSError, ValueError):
            kind = "unknown"
        problems.append(Problem(JOB_NAME, f"an interrupted {kind} job is present; re-run `wmhub {kind} ... --resume`"))
    for path in stale_temporaries(root):
        problems.append(Problem(path.relative_to(root).as_posix(),
                                "half-written file of an interrupted job; re-run the job with --resume"))
    for shard in manifest.shards:
        message = check_shard(root, shard)
        if message:
            problems.append(Problem(shard.path, message))
    if manifest.subset is None:  # a partial download holds a selection of shards by design
        problems += check_coverage(manifest)
    listed = {s.path for s in manifest.shards}
    data_dir = root / DATA_DIR
    if data_dir.is_dir():
        for path in sorted(p for p in data_dir.rglob("*") if p.is_file() or p.is_symlink()):
            rel = path.relative_to(root).as_posix()
            if rel not in listed and not is_temporary(path.name):
                problems.append(Problem(rel, "extra file not listed in manifest.json; remove it "
                                             "(or re-run the job that made it with --resume)"))
    return problems
