"""Where things live inside a wmhub dataset directory (see docs/format.md)."""

from __future__ import annotations

import re
from pathlib import Path

from wmhub.fileio import PARTIAL_SUFFIX

DATA_DIR = "data"
CARD_NAME = "README.md"
JOB_NAME = ".wmhub-job.json"
LOCK_NAME = ".wmhub.lock"
STEPS_CONFIG = "steps"
EPISODES_CONFIG = "episodes"
_SHARD_RE = re.compile(r"^episodes-(\d{8})-(\d{8})\.(parquet|tar)$")
TMP_MARKER = ".tmp-"
PARTIAL_DOWNLOAD_SUFFIX = PARTIAL_SUFFIX  # wmhub.fileio.partial_name: a download to resume


def shard_path(config: str, episode_start: int, episode_end: int, extension: str = "parquet") -> str:
    """Relative path of the shard of ``config`` holding episodes [start, end).

    Names carry the episode range with fixed width, so appended shards sort
    after existing ones and nothing is ever renamed.
    """
    return f"{DATA_DIR}/{config}/episodes-{episode_start:08d}-{episode_end:08d}.{extension}"


def parse_shard_name(name: str) -> tuple[int, int] | None:
    """(start, end) from a shard file name, or None if it is not one."""
    match = _SHARD_RE.match(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def is_temporary(name: str) -> bool:
    """True for the temporary files of an unfinished atomic write, and for partial downloads."""
    return name.startswith(".") and (TMP_MARKER in name or is_partial_download(name))


def is_partial_download(name: str) -> bool:
    """True for the file an interrupted ``wmhub download`` keeps to resume inside a shard."""
    return name.startswith(".") and name.endswith(PARTIAL_DOWNLOAD_SUFFIX)


def stale_temporaries(root: Path) -> list[Path]:
    """Half-written files a killed job left in the dataset's top folder or under ``data/``."""
    root = Path(root)
    found = [p for p in root.glob(".*") if p.is_file() and is_temporary(p.name)]
    if (root / DATA_DIR).is_dir():
        found += [p for p in (root / DATA_DIR).rglob(".*") if p.is_file() and is_temporary(p.name)]
    return sorted(found)


def remove_stale_temporaries(root: Path, keep_partial_downloads: bool = False) -> None:
    """Delete the half-written files of a killed job (their writer is gone; callers hold the
    dataset lock).

    ``keep_partial_downloads=True`` (``wmhub download``) keeps ``.<shard>.wmhub-partial`` files,
    whose bytes are a prefix of the shard being downloaded, so that the download resumes inside
    the shard; every other job deletes them with the rest.
    """
    for path in stale_temporaries(root):
        if keep_partial_downloads and is_partial_download(path.name):
            continue
        path.unlink(missing_ok=True)
