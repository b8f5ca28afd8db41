"""``wmhub download``: fetch the manifest, then only the requested shards, verified.

Every shard's SHA-256 is checked against the manifest; a corrupt file is
fetched once more (bypassing caches), then the download fails naming it.
Shards already in OUT with the right checksum are kept, and Hub downloads go
through the ``huggingface_hub`` cache, so an interrupted download resumes and
a second identical download transfers nothing. The revision is resolved to a
commit first, so every file comes from the same version even if the repo
moves during the download.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from toolkit.data.layout import CARD_NAME, remove_stale_temporaries
from toolkit.data.locking import dataset_lock
from toolkit.data.manifest import Manifest, ShardInfo
from toolkit.errors import WmhubError
from toolkit.fileio import atomic_write_text, resolve_inside, sha256_file
from toolkit.hub.location import HubRepo, parse_location
from toolkit.hub.stores import open_store, read_manifest
from toolkit.progress import Progress


@dataclass
class DownloadResult:
    """What a download did."""

    source: str
    revision: str
    fetched: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    bytes_fetched: int = 0


def parse_ranges(spec: str, what: str) -> list[tuple[int, int]]:
    """``"0-9,12"`` → ``[(0, 10), (12, 13)]`` (inclusive ranges, as users write them)."""
    ranges = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
            else:
                a = b = int(part)
        except ValueError as exc:
            raise WmhubError(f"--{what} {spec!r}: expected numbers and ranges like 0-9,12") from exc
        if a < 0 or b < a:
            raise WmhubError(f"--{what} {spec!r}: range {part!r} is empty or negative")
        ranges.append((a, b + 1))
    return ranges


def select_shards(manifest: Manifest, configs: list[str] | None, shards: str | None,
                  episodes: str | None) -> list[ShardInfo]:
    """The shards a download asks for (all by default)."""
    names = configs or [c.name for c in manifest.configs]
    for name in names:
        manifest.config(name)  # clear error for unknown configs
    shard_ranges = parse_ranges(shards, "shards") if shards else None
    episode_ranges = parse_ranges(episodes, "episodes") if episodes else None
    chosen = []
    for name in names:
        for index, shard in enumerate(manifest.shards_of(name)):
            if shard_ranges and not any(a <= index < b for a, b in shard_ranges):
                continue
            if episode_ranges and not any(shard.episode_start < b and a < shard.episode_end
                                          for a, b in episode_ranges):
                continue
            chosen.append(shard)
    if not chosen:
        raise WmhubError("the selection (--config/--shards/--episodes) matches no shard")
    return chosen


def download(src: str, out: str | Path, *, revision: str | None = None, configs: list[str] | None = None,
             shards: str | None = None, episodes: str | None = None, show_progress: bool = True) -> DownloadResult:
    """Download (part of) the dataset at ``src`` into the directory ``out``."""
    location = parse_location(src, revision)
    store = open_store(location)
    wanted = location.revision if isinstance(location, HubRepo) else revision
    resolved = store.resolve(wanted)
    if not resolved:
        raise WmhubError(f"{store.describe()}: repository not found (or you lack access: log in with "
                         "`hf auth login` or set HF_TOKEN)")
    manifest = read_manifest(store, resolved)
    if manifest is None:
        raise WmhubError(f"{store.describe()} holds no wmhub dataset (no manifest.json at {wanted or 'main'})")
    selected = select_shards(manifest, configs, shards, episodes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = DownloadResult(source=store.describe(), revision=resolved)
    with dataset_lock(out):
        remove_stale_temporaries(out)  # left by an interrupted download
        existing = Manifest.read(out) if (out / "manifest.json").exists() else None
        if existing is not None and not existing.same_dataset_as(manifest):
            raise WmhubError(f"{out} holds another dataset; download into a new directory")
        progress = Progress(sum(s.num_bytes for s in selected), "B", "bytes", "download", enabled=show_progress)
        try:
            for shard in selected:
                dest = resolve_inside(out, shard.path)
                if dest.is_file() and dest.stat().st_size == shard.num_bytes and sha256_file(dest) == shard.sha256:
                    result.cached.append(shard.path)
                else:
                    _fetch_verified(store, shard, resolved, dest)
                    result.fetched.append(shard.path)
                    result.bytes_fetched += shard.num_bytes
                progress.update(shard.num_bytes, shard.num_bytes)
        finally:
            progress.close()
        complete = len(selected) == len(manifest.shards)
        subset = None if complete else {"source": store.describe(), "revision": resolved,
                                         "configs": configs, "shards": shards, "episodes": episodes}
        local = manifest.model_copy(update={"shards": selected, "subset": subset})
        card = store.read_text(CARD_NAME, resolved)
        if card is not None:
            atomic_write_text(out / CARD_NAME, card)
        local.write(out)
    return result


def _fetch_verified(store, shard: ShardInfo, revision: str, dest: Path) -> None:
    for attempt in (1, 2):
        store.fetch(shard.path, revision, dest, force=attempt == 2)
        digest = sha256_file(dest)
        if digest == shard.sha256:
            return
    dest.unlink(missing_ok=True)
    raise WmhubError(f"{shard.path} from {store.describe()} is corrupt: SHA-256 {digest[:12]}… after a second "
                     f"download, manifest says {shard.sha256[:12]}…; report it to the dataset's maintainers")
