"""Where things live inside a wmhub dataset directory (see docs/format.md)."""

from __future__ import annotations

from pathlib import Path

from wmhub.fileio import PARTIAL_SUFFIX
from wmhub.storage.files import CARD_NAME, LOCK_NAME, TMP_MARKER, is_partial_download, is_temporary

__all__ = ["CARD_NAME", "DATA_DIR", "EMBEDDINGS_PREFIX", "EPISODES_CONFIG", "FRAMES_PREFIX", "JOB_NAME",
           "LOCK_NAME", "PARTIAL_DOWNLOAD_SUFFIX",
           "STEPS_CONFIG", "TMP_MARKER", "is_partial_download", "is_temporary", "remove_stale_temporaries",
           "shard_path", "stale_temporaries"]

DATA_DIR = "data"
JOB_NAME = ".wmhub-job.json"
STEPS_CONFIG = "steps"
EPISODES_CONFIG = "episodes"
EMBEDDINGS_PREFIX = "embeddings-"  # derived configs: embeddings-<encoder name>, frames-<size>
FRAMES_PREFIX = "frames-"
PARTIAL_DOWNLOAD_SUFFIX = PARTIAL_SUFFIX  # wmhub.fileio.partial_name: a download to resume


def shard_path(config: str, episode_start: int, episode_end: int, extension: str = "parquet") -> str:
    """Relative path of the shard of ``config`` holding episodes [start, end).

    Names carry the episode range with fixed width, so appended shards sort
    after existing ones and nothing is ever renamed.
    """
    return f"{DATA_DIR}/{config}/episodes-{episode_start:08d}-{episode_end:08d}.{extension}"


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
