"""Two places a dataset can be published to or downloaded from, behind one interface.

:class:`LocalHubStore` is a directory laid out exactly like the repo (so
``datasets.load_dataset(path)`` works on it); versions are tags stored as
manifest snapshots in ``.wmhub-tags/<tag>/``, which stay valid because shards
are never rewritten or deleted. :class:`HfHubStore` talks to the Hugging Face
Hub, or any Hub-compatible server at ``HF_ENDPOINT``, through ``huggingface_hub``
(token from the standard chain: ``HF_TOKEN``, ``hf auth login``); it downloads shards
with wmhub's own transport (:mod:`wmhub.storage.transfer`) and cache
(:mod:`wmhub.storage.cache`).

Both stores hash a file while they write it (``fetch`` returns the digest), and with
``expected_sha256`` a file appears under its final name only once its bytes match.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from wmhub.data.layout import CARD_NAME
from wmhub.data.locking import dataset_lock
from wmhub.data.manifest import MANIFEST_NAME, Manifest
from wmhub.errors import WmhubError
from wmhub.fileio import (
    atomic_write_bytes,
    fsync_dir,
    hashing_copy,
    partial_name,
    resolve_inside,
    sha256_file,
    tmp_name,
)
from wmhub.storage.cache import BlobCache
from wmhub.storage.location import HubRepo
from wmhub.storage.transfer import download_to_file, fetch_small, with_retries

__all__ = ["ChecksumMismatch", "Fetched", "HfHubStore", "LocalHubStore", "RemoteFile", "Store", "open_store",
           "read_manifest", "with_retries"]

TAGS_DIR = ".wmhub-tags"
T = TypeVar("T")


@dataclass
class RemoteFile:
    """What a store knows about one file without downloading it."""

    path: str
    size: int
    sha256: str | None  # None when the store only has a git blob id (small non-LFS files)


@dataclass(frozen=True)
class Fetched:
    """What one :meth:`Store.fetch` did."""

    sha256: str             # hex SHA-256 of the bytes now at ``dest``, computed while they were written
    size: int               # their size
    bytes_transferred: int  # bytes moved to get them (network or copy); 0 when served from the cache
    from_cache: bool = False


class ChecksumMismatch(WmhubError):
    """A fetched file's SHA-256 is not the expected one; ``dest`` was left untouched."""

    def __init__(self, path: str, where: str, expected: str, actual: str) -> None:
        super().__init__(f"{path} from {where}: SHA-256 {actual[:12]}…, expected {expected[:12]}…")
        self.path, self.expected, self.actual = path, expected, actual


class Store(Protocol):
    """A place datasets are published to and downloaded from."""

    def describe(self) -> str:
        """Human-readable name for messages."""

    def resolve(self, revision: str | None) -> str:
        """The immutable revision (commit id, or tag / 'latest' for a local hub) to read from."""

    def read_text(self, path: str, revision: str) -> str | None:
        """A small file's text, or None when it does not exist."""

    def fetch(self, path: str, revision: str, dest: Path, *, expected_sha256: str | None = None,
              expected_size: int | None = None, force: bool = False) -> Fetched:
        """Copy ``path`` at ``revision`` to ``dest``, hashing while writing; resumes and caches where the store can.

        With ``expected_sha256``, ``dest`` is replaced only by bytes with that digest; otherwise
        :class:`ChecksumMismatch` is raised and ``dest`` is left as it was. ``force`` bypasses
        caches and partial files (the server's bytes, from the first one).
        """

    def file_info(self, paths: list[str], revision: str) -> dict[str, RemoteFile]:
        """Size (and SHA-256 where known) of the paths that exist."""

    def commit(self, files: dict[str, Path], texts: dict[str, str], message: str, private: bool) -> str:
        """Add ``files`` (repo path -> local file) and ``texts`` in one commit; returns the new revision."""

    def tags(self) -> dict[str, str]:
        """Existing tags -> the id of the revision they mark (see ``revision_id``)."""

    def revision_id(self, revision: str) -> str:
        """A stable id of a revision's content, comparable with the values of ``tags()``."""

    def create_tag(self, tag: str, revision: str) -> None:
        """Mark ``revision`` with ``tag`` (never moves an existing tag)."""


def read_manifest(store: Store, revision: str) -> Manifest | None:
    """The manifest at ``revision``, or None if the destination holds no dataset yet."""
    text = store.read_text(MANIFEST_NAME, revision)
    if text is None:
        return None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WmhubError(f"{store.describe()}: {MANIFEST_NAME} is not valid JSON ({exc})") from exc
    return Manifest.from_json_obj(raw, source=f"{store.describe()}/{MANIFEST_NAME}")


# ------------------------------------------------------------------ local hub
class LocalHubStore:
    """A directory used as a hub (same layout as the Hub repo)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def _base(self, revision: str) -> Path:
        return self.root if revision == "latest" else self.root / TAGS_DIR / revision

    def resolve(self, revision: str | None) -> str:
        if revision in (None, "latest", "main"):
            return "latest"
        if not (self.root / TAGS_DIR / revision / MANIFEST_NAME).is_file():
            known = ", ".join(sorted(self.tags())) or "none"
            raise WmhubError(f"{self.root} has no version {revision!r} (tags: {known})")
        return revision

    def read_text(self, path: str, revision: str) -> str | None:
        # manifest and card are versioned; shards are shared by all versions
        base = self._base(revision) if path in (MANIFEST_NAME, CARD_NAME) else self.root
        full = resolve_inside(base, path)
        return full.read_text(encoding="utf-8") if full.is_file() else None

    def fetch(self, path: str, revision: str, dest: Path, *, expected_sha256: str | None = None,
              expected_size: int | None = None, force: bool = False) -> Fetched:
        source = resolve_inside(self.root, path)
        if not source.is_file():
            raise WmhubError(f"{self.root}: {path} is listed in the manifest but missing")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_name(dest)
        try:
            digest, size = hashing_copy(source, tmp)
            if expected_sha256 is not None and digest != expected_sha256:
                raise ChecksumMismatch(path, str(self.root), expected_sha256, digest)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return Fetched(digest, size, size)

    def file_info(self, paths: list[str], revision: str) -> dict[str, RemoteFile]:
        out = {}
        for path in paths:
            full = resolve_inside(self.root, path)
            if full.is_file():
                out[path] = RemoteFile(path, full.stat().st_size, None)
        return out

    def commit(self, files: dict[str, Path], texts: dict[str, str], message: str, private: bool) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        with dataset_lock(self.root):
            for path, source in files.items():
                dest = resolve_inside(self.root, path)
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = tmp_name(dest)
                shutil.copyfile(source, tmp)
                with open(tmp, "rb+") as handle:
                    os.fsync(handle.fileno())
                os.replace(tmp, dest)
                fsync_dir(dest.parent)
            # the manifest goes last: readers never see it list a missing shard
            for path in sorted(texts, key=lambda p: p == MANIFEST_NAME):
                atomic_write_bytes(resolve_inside(self.root, path), texts[path].encode("utf-8"))
        return "latest"

    def tags(self) -> dict[str, str]:
        base = self.root / TAGS_DIR
        if not base.is_dir():
            return {}
        return {p.name: sha256_file(p / MANIFEST_NAME) for p in sorted(base.iterdir())}

    def revision_id(self, revision: str) -> str:
        return sha256_file(self._base(revision) / MANIFEST_NAME)

    def create_tag(self, tag: str, revision: str) -> None:
        with dataset_lock(self.root):
            target = self.root / TAGS_DIR / tag
            if target.exists():
                raise WmhubError(f"tag {tag!r} already exists in {self.root}; tags are never moved")
            for name in (CARD_NAME, MANIFEST_NAME):
                atomic_write_bytes(target / name, (self._base(revision) / name).read_bytes())


# ------------------------------------------------------------------------ Hub
def _explain_http_error(exc: Exception, repo: HubRepo, writing: bool) -> WmhubError:
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, RevisionNotFoundError):
        return WmhubError(f"{repo}: revision {repo.revision!r} not found")
    if isinstance(exc, RepositoryNotFoundError):
        hint = " (or you lack access: log in with `hf auth login` or set HF_TOKEN)"
        return WmhubError(f"{repo}: repository not found{hint}")
    if isinstance(exc, HfHubHTTPError) and exc.response is not None and exc.response.status_code in (401, 403):
        action = "write to" if writing else "read"
        return WmhubError(f"not allowed to {action} {repo} (HTTP {exc.response.status_code}): log in with "
                          "`hf auth login` or set HF_TOKEN to a token with write access")
    return WmhubError(f"{repo}: {type(exc).__name__}: {str(exc).splitlines()[0]}")


class HfHubStore:
    """A dataset or model repository on the Hub (endpoint from ``HF_ENDPOINT``)."""

    def __init__(self, repo: HubRepo) -> None:
        from huggingface_hub import HfApi

        self.repo = repo
        self.api = HfApi()

    def describe(self) -> str:
        return str(self.repo)

    def _call(self, action: Callable[[], T], what: str, writing: bool = False) -> T:
        from huggingface_hub.errors import HfHubHTTPError

        try:
            return with_retries(action, what)
        except HfHubHTTPError as exc:
            raise _explain_http_error(exc, self.repo, writing) from exc

    def resolve(self, revision: str | None) -> str:
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            info = with_retries(lambda: self.api.repo_info(self.repo.repo_id, repo_type=self.repo.repo_type,
                                                           revision=revision), f"reading {self.repo}")
        except RepositoryNotFoundError:
            if revision is None:
                return ""
            raise
        except Exception as exc:  # noqa: BLE001 - translated to a user message
            from huggingface_hub.errors import HfHubHTTPError

            if isinstance(exc, HfHubHTTPError):
                raise _explain_http_error(exc, HubRepo(self.repo.repo_type, self.repo.repo_id, revision),
                                          False) from exc
            raise
        return info.sha

    def _url(self, path: str, revision: str) -> str:
        from huggingface_hub import constants, hf_hub_url

        return hf_hub_url(self.repo.repo_id, path, repo_type=self.repo.repo_type, revision=revision,
                          endpoint=constants.ENDPOINT)

    def read_text(self, path: str, revision: str) -> str | None:
        from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

        if not revision:
            return None
        try:
            data = fetch_small(self._url(path, revision), what=f"{path} from {self.repo}")
        except EntryNotFoundError:
            return None
        except HfHubHTTPError as exc:
            raise _explain_http_error(exc, self.repo, False) from exc
        return data.decode("utf-8")

    def fetch(self, path: str, revision: str, dest: Path, *, expected_sha256: str | None = None,
              expected_size: int | None = None, force: bool = False) -> Fetched:
        """Shards come through :mod:`wmhub.storage.transfer` (one streamed GET, hashed while written, resumed
        from ``.<name>.wmhub-partial``) and the content-addressed :mod:`wmhub.storage.cache`.

        ``revision`` must be a resolved commit, so every file comes from the same version.
        """
        from huggingface_hub.errors import HfHubHTTPError

        cache = BlobCache.default() if expected_sha256 is not None else None
        if cache is not None and not force and cache.place(expected_sha256, dest, expected_size):
            size = dest.stat().st_size
            return Fetched(expected_sha256, size, 0, from_cache=True)
        url = self._url(path, revision)
        partial = partial_name(dest)
        try:
            received = download_to_file(url, partial, what=f"{path} from {self.repo}", expected_size=expected_size,
                                        restart=force)
        except HfHubHTTPError as exc:
            raise _explain_http_error(exc, self.repo, False) from exc
        if expected_sha256 is not None and received.sha256 != expected_sha256:
            partial.unlink(missing_ok=True)  # never resume from bytes that did not add up
            raise ChecksumMismatch(path, str(self.repo), expected_sha256, received.sha256)
        # no fsync: a shard in OUT is trusted only after its SHA-256 is checked again on the next run
        os.replace(partial, dest)
        if cache is not None:
            cache.add(expected_sha256, dest)
        return Fetched(received.sha256, received.size, received.bytes_received)

    def file_info(self, paths: list[str], revision: str) -> dict[str, RemoteFile]:
        out: dict[str, RemoteFile] = {}
        for start in range(0, len(paths), 500):
            chunk = paths[start:start + 500]
            entries = self._call(lambda: self.api.get_paths_info(self.repo.repo_id, chunk, revision=revision,
                                                                 repo_type=self.repo.repo_type),
                                 "listing files")
            for entry in entries:
                lfs = getattr(entry, "lfs", None)
                size = getattr(entry, "size", None)
                if size is not None:
                    out[entry.path] = RemoteFile(entry.path, int(size), lfs.sha256 if lfs else None)
        return out

    def commit(self, files: dict[str, Path], texts: dict[str, str], message: str, private: bool) -> str:
        from huggingface_hub import CommitOperationAdd

        self._call(lambda: self.api.create_repo(self.repo.repo_id, repo_type=self.repo.repo_type, private=private,
                                                exist_ok=True), f"creating {self.repo}", writing=True)
        operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(src)) for p, src in files.items()]
        operations += [CommitOperationAdd(path_in_repo=p, path_or_fileobj=t.encode("utf-8")) for p, t in texts.items()]
        info = self._call(lambda: self.api.create_commit(self.repo.repo_id, operations, commit_message=message,
                                                         repo_type=self.repo.repo_type), f"committing to {self.repo}",
                          writing=True)
        return info.oid

    def tags(self) -> dict[str, str]:
        refs = self._call(lambda: self.api.list_repo_refs(self.repo.repo_id, repo_type=self.repo.repo_type),
                          "listing tags")
        return {ref.name: ref.target_commit for ref in refs.tags}

    def revision_id(self, revision: str) -> str:
        return revision

    def create_tag(self, tag: str, revision: str) -> None:
        self._call(lambda: self.api.create_tag(self.repo.repo_id, tag=tag, revision=revision,
                                               repo_type=self.repo.repo_type), f"tagging {tag}", writing=True)


def open_store(location) -> Store:
    """The store for a parsed location (:func:`wmhub.storage.location.parse_location`)."""
    return HfHubStore(location) if isinstance(location, HubRepo) else LocalHubStore(location)
