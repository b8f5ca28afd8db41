"""``wmhub verify``: recompute sizes, checksums, row counts and episode coverage."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from wmhub.data.layout import (
    DATA_DIR,
    EPISODES_CONFIG,
    JOB_NAME,
    LOCK_NAME,
    STEPS_CONFIG,
    is_temporary,
    stale_temporaries,
)
from wmhub.data.manifest import MANIFEST_NAME, NULL_TERMINAL_FORMAT_VERSIONS, ConfigInfo, Manifest, ShardInfo
from wmhub.data.schema import TERMINAL_MASK_COLUMN, terminal_cells_problem
from wmhub.errors import WmhubError
from wmhub.fileio import resolve_inside, sha256_file
from wmhub.storage.files import lock_holder

STALE_ADVICE = ("half-written file of an interrupted write; run again what was writing here (it removes it): "
                "`wmhub publish` to a hub, `wmhub download`, or `wmhub generate|encode ... --resume`")
"""What verify says of a temporary file a killed writer left (every command named removes it)."""


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


def check_shard(root: Path, shard: ShardInfo, config: ConfigInfo | None = None,
                format_version: int | None = None) -> str | None:
    """What is wrong with one shard under ``root`` (missing, size, SHA-256, then :func:`check_shard_content`),
    or None.

    Args:
        root: the dataset directory.
        shard: the manifest's entry.
        config: the entry's config; given, the shard's columns are checked against its features.
        format_version: the dataset's format; given with ``config``, how the last rows' ``terminal_null``
            cells are stored is checked too.

    Returns:
        One line naming the problem, or None.

    Example:
        >>> check_shard(Path("data/reacher-tiny"), manifest.shards[0], manifest.configs[0])  # doctest: +SKIP
    """
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
    return check_shard_content(path, shard, config, format_version)


def check_shard_content(path: Path, shard: ShardInfo, config: ConfigInfo | None = None,
                        format_version: int | None = None) -> str | None:
    """What is wrong with what a shard holds (its bytes are the manifest's): rows, episodes in order
    and, given its config, its columns (a parquet shard's columns are exactly the config's features)
    and, given the format too, how the last rows' ``terminal_null`` cells are stored (nulls in format 1,
    none in format 2).

    Args:
        path: the shard file.
        shard: the manifest's entry.
        config: the entry's config (None: columns are not checked).
        format_version: the dataset's format (None: the terminal cells are not checked).

    Returns:
        One line naming the problem, or None.

    Example:
        >>> check_shard_content(Path("out/data/steps/episodes-00000000-00000004.parquet"), shard)  # doctest: +SKIP
    """
    if path.suffix == ".tar":
        return _check_tar(path, shard)
    try:
        metadata = pq.read_metadata(path)
        rows = metadata.num_rows
        columns = metadata.schema.to_arrow_schema().names
    except Exception as exc:  # noqa: BLE001 - any parquet error is a bad shard
        return f"unreadable parquet ({exc})"
    if rows != shard.num_rows:
        return f"{rows} rows, manifest says {shard.num_rows}"
    if config is not None:
        features = [f.name for f in config.features]
        missing = [n for n in features if n not in columns]
        unexpected = [n for n in columns if n not in features]
        if missing or unexpected:
            return (f"columns do not match config {config.name!r} (missing {missing[:4]}, unexpected "
                    f"{unexpected[:4]}): the entry points at another table")
    names = [f.name for f in config.features] if config is not None else []
    terminal = [f.name for f in config.features if f.terminal_null] if config is not None else []
    checked = terminal + [TERMINAL_MASK_COLUMN] \
        if terminal and TERMINAL_MASK_COLUMN in names and format_version is not None else []
    try:
        table = pq.read_table(path, columns=["episode_index", *checked])
    except Exception as exc:  # noqa: BLE001 - any parquet error is a bad shard
        return f"unreadable parquet ({exc})"
    index = table.column("episode_index").to_numpy()
    expected = set(range(shard.episode_start, shard.episode_end))
    found = set(index.tolist())
    if found != expected or (len(index) > 1 and (index[1:] < index[:-1]).any()):
        return (f"holds episodes {min(found, default=None)}..{max(found, default=None)} "
                f"({len(found)} distinct), expected [{shard.episode_start}, {shard.episode_end}) in order")
    if checked:
        problem = terminal_cells_problem(table, terminal, format_version in NULL_TERMINAL_FORMAT_VERSIONS)
        if problem:
            return f"{problem} (the manifest says format_version {format_version}): the entry points at another table"
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


def check_manifest(manifest: Manifest) -> list[Problem]:
    """What is wrong with a manifest on its own: no configs, a shard of an undeclared config, one
    path listed twice, and (for a whole dataset) gaps and overlaps in episode coverage.

    Args:
        manifest: the manifest.

    Returns:
        One :class:`Problem` per thing wrong.

    Example:
        >>> check_manifest(Manifest.read("data/reacher-tiny"))  # doctest: +SKIP
        []
    """
    problems: list[Problem] = []
    declared = {c.name for c in manifest.configs}
    for name in (STEPS_CONFIG, EPISODES_CONFIG):
        if name not in declared:
            problems.append(Problem(MANIFEST_NAME, f"declares no {name!r} config (every reader needs it); restore "
                                                   "the manifest or regenerate the dataset"))
    seen: set[str] = set()
    for shard in manifest.shards:
        if shard.config not in declared:
            problems.append(Problem(shard.path, f"listed for config {shard.config!r}, which the manifest does not "
                                                "declare"))
        if shard.path in seen:
            problems.append(Problem(shard.path, "listed twice in manifest.json"))
        seen.add(shard.path)
    if manifest.subset is None:  # a partial download holds a selection of shards by design
        problems += check_coverage(manifest)
    return problems


def verify_dataset(root: str | Path) -> list[Problem]:
    """Check a local dataset directory; returns the problems found (empty when all is well)."""
    root = Path(root)
    holder = lock_holder(root)
    if holder is not None:  # a job still writing: its job file and temporaries are not an interrupted job's
        return [Problem(LOCK_NAME, f"another wmhub job is writing to {root}{f' (pid {holder})' if holder else ''}; "
                                   "verify it once that job has finished")]
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
                                STALE_ADVICE))
    configs = {c.name: c for c in manifest.configs}
    for shard in manifest.shards:
        message = check_shard(root, shard, configs.get(shard.config), manifest.format_version)
        if message:
            problems.append(Problem(shard.path, message))
    problems += check_manifest(manifest)
    listed = {s.path for s in manifest.shards}
    data_dir = root / DATA_DIR
    if data_dir.is_dir():
        for path in sorted(p for p in data_dir.rglob("*") if p.is_file() or p.is_symlink()):
            rel = path.relative_to(root).as_posix()
            if rel not in listed and not is_temporary(path.name):
                problems.append(Problem(rel, "extra file not listed in manifest.json; remove it "
                                             "(or re-run the job that made it with --resume)"))
    return problems
