"""One `Store` protocol for every place datasets and checkpoints are published to and read from.

* :class:`LocalHubStore` — a local directory: a dataset directory, or a *local hub* laid out
  exactly like the repo (so ``datasets.load_dataset(path)`` works on it); versions are tags
  stored as snapshots of the versioned files (index and card) in ``.wmhub-tags/<tag>/``, which
  stay valid because other files are never rewritten or deleted.
* :class:`HfHubStore` — a repository on the Hugging Face Hub, or any Hub-compatible server at
  ``HF_ENDPOINT``, through ``huggingface_hub`` (token from the standard chain: ``HF_TOKEN``,
  ``hf auth login``); files are downloaded with wmhub's own transport
  (:mod:`wmhub.storage.transfer`) and cache (:mod:`wmhub.storage.cache`).
* :class:`FsspecStore` — a prefix on an fsspec filesystem (``s3://``, ``gs://``, ``memory://``);
  no revisions and no tags (object stores keep neither), no SHA-256 in listings.

Every store hashes a file while it writes it (``fetch`` returns the digest), and with
``expected_sha256`` a file appears under its final name only once its bytes match. A store knows
nothing of the dataset format: it moves files, and writes the index file (``manifest.json``)
last in a commit.

Example:
    >>> store = open_store(parse_location("hf://datasets/my-lab/reacher@v1.0"))  # doctest: +SKIP
    >>> revision = store.resolve("v1.0")                                          # doctest: +SKIP
    >>> store.read_bytes("manifest.json", revision)[:1]                            # doctest: +SKIP
    b'{'
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from wmhub.errors import (
    AlreadyExistsError,
    ChecksumMismatchError,
    ConfigError,
    NotFoundError,
    TransferError,
    UnsupportedLocationError,
    WmhubError,
)
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
from wmhub.storage.files import CARD_NAME, INDEX_NAME, LOCK_NAME, TAGS_DIR, TMP_MARKER, directory_lock
from wmhub.storage.location import FsspecURL, HubRepo, LocalDir, Location, check_ref_name
from wmhub.storage.tags import dataset_revision_candidates
from wmhub.storage.transfer import Received, download_to_file, fetch_small, with_retries

__all__ = ["ChecksumMismatch", "CommitConflict", "Fetched", "FsspecStore", "HfHubStore", "LocalHubStore",
           "RemoteFile", "Store", "ensure_tag", "open_store", "with_retries"]

T = TypeVar("T")
_CHUNK = 1 << 20


@dataclass
class RemoteFile:
    """What a store knows about one file without downloading it."""

    path: str
    size: int
    sha256: str | None  # None when the store keeps no SHA-256 (small non-LFS Hub files, object stores)


@dataclass(frozen=True)
class Fetched:
    """What one :meth:`Store.fetch` did."""

    sha256: str             # hex SHA-256 of the bytes now at ``dest``, computed while they were written
    size: int               # their size
    bytes_transferred: int  # bytes moved to get them (network or copy); 0 when served from the cache
    from_cache: bool = False


class ChecksumMismatch(ChecksumMismatchError):
    """A fetched file's SHA-256 is not the expected one; ``dest`` was left untouched."""

    def __init__(self, path: str, where: str, expected: str, actual: str) -> None:
        super().__init__(f"{path} from {where}: SHA-256 {actual[:12]}…, expected {expected[:12]}…")
        self.path, self.expected, self.actual = path, expected, actual


class CommitConflict(TransferError):
    """The destination moved since it was read (another writer committed first); nothing was committed.
    Read the destination again, re-plan, and commit again."""


class Store(Protocol):
    """A place files are published to and read from (see the module docstring)."""

    def describe(self) -> str:
        """Human-readable name for messages."""

    def resolve(self, revision: str | None) -> str:
        """The immutable revision to read from (commit id; tag or ``latest`` locally); ``""`` when the
        location holds nothing yet."""

    def read_bytes(self, path: str, revision: str) -> bytes | None:
        """A small file's bytes (index, card), or None when it does not exist."""

    def list_files(self, revision: str) -> dict[str, RemoteFile]:
        """Every file at ``revision`` (wmhub's lock and tag snapshots excepted), by path."""

    def file_info(self, paths: list[str], revision: str) -> dict[str, RemoteFile]:
        """Size (and SHA-256 where known) of those of ``paths`` that exist."""

    def fetch(self, path: str, revision: str, dest: Path, *, expected_sha256: str | None = None,
              expected_size: int | None = None, force: bool = False) -> Fetched:
        """Copy ``path`` at ``revision`` to ``dest``, hashing while writing; resumes and caches where it can.

        With ``expected_sha256``, ``dest`` is replaced only by bytes with that digest; otherwise
        :class:`ChecksumMismatch` is raised and ``dest`` is left as it was. ``force`` bypasses
        caches and partial files (the store's bytes, from the first one).
        """

    def writer(self) -> AbstractContextManager[None]:
        """Hold the destination for one writer, from reading its index to the last write: a local
        directory's OS lock (waiting for another writer to finish), nothing on the Hub (whose
        commits are compare-and-swapped, see ``commit``'s ``parent``)."""

    def commit(self, files: dict[str, Path], texts: dict[str, str], message: str, private: bool,
               parent: str | None = None) -> str:
        """Add ``files`` (path -> local file) and ``texts`` in one commit, the index last; returns the revision.

        With ``parent`` (the revision the commit was planned on, ``""`` for an empty destination),
        the commit is made only if the destination is still there; else :class:`CommitConflict`.
        """

    def tags(self) -> dict[str, str]:
        """Existing tags -> the id of the revision they mark (see ``revision_id``)."""

    def revision_id(self, revision: str) -> str:
        """A stable id of a revision's content, comparable with the values of ``tags()``."""

    def create_tag(self, tag: str, revision: str) -> None:
        """Mark ``revision`` with ``tag`` (never moves an existing tag)."""


def _verified_fetch(where: str, path: str, dest: Path, transfer: Callable[[Path, bool], Received], *,
                    expected_sha256: str | None, expected_size: int | None, force: bool) -> Fetched:
    """A remote fetch through the blob cache: served from it when it holds ``expected_sha256``, else
    transferred into ``.<name>.wmhub-partial`` by ``transfer(partial, restart)``, checked, renamed and cached."""
    cache = BlobCache.default() if expected_sha256 is not None else None
    if cache is not None and not force and cache.place(expected_sha256, dest, expected_size):
        return Fetched(expected_sha256, dest.stat().st_size, 0, from_cache=True)
    partial = partial_name(dest)
    received = transfer(partial, force)
    if expected_sha256 is not None and received.sha256 != expected_sha256:
        partial.unlink(missing_ok=True)  # never resume from bytes that did not add up
        raise ChecksumMismatch(path, where, expected_sha256, received.sha256)
    # no fsync: a file in OUT is trusted only after its SHA-256 is checked again on the next run
    os.replace(partial, dest)
    if cache is not None:
        cache.add(expected_sha256, dest)
    return Fetched(received.sha256, received.size, received.bytes_received)


# ------------------------------------------------------------------ local hub
class LocalHubStore:
    """A local directory used as a hub (same layout as the Hub repo); a plain dataset directory is one
    without tags.

    Args:
        root: the directory.
        versioned: the files snapshotted by a tag (the others are shared by every version): the card
            and index of a dataset; every file of a checkpoint, whose files are rewritten by a push.
    """

    def __init__(self, root: str | os.PathLike[str], versioned: tuple[str, ...] = (CARD_NAME, INDEX_NAME)) -> None:
        self.root = Path(root)
        self.versioned = versioned
        self._held = False

    @contextmanager
    def writer(self) -> Iterator[None]:
        """The directory's lock (waiting for another writer), held until the block ends; the
        temporaries a killed writer left are removed first."""
        if self._held:
            yield
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with directory_lock(self.root, wait=True):
            self._held = True
            try:
                self._remove_stale_temporaries()
                yield
            finally:
                self._held = False

    def _locked(self) -> AbstractContextManager[None]:
        """The lock, unless this store's ``writer`` already holds it."""
        return nullcontext() if self._held else directory_lock(self.root)

    def _remove_stale_temporaries(self) -> None:
        """Delete what a killed writer left under a temporary name (the caller holds the lock)."""
        for path in sorted(p for p in self.root.rglob(".*") if TMP_MARKER in p.name):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def describe(self) -> str:
        return str(self.root)

    def _base(self, revision: str) -> Path:
        return self.root if revision == "latest" else self.root / TAGS_DIR / revision

    def resolve(self, revision: str | None) -> str:
        if revision in (None, "latest", "main"):
            return "latest"
        check_ref_name(revision, local=True)
        if not (self.root / TAGS_DIR / revision).is_dir():
            known = ", ".join(sorted(self.tags())) or "none"
            raise NotFoundError(f"{self.root} has no version {revision!r} (tags: {known})")
        return revision

    def read_bytes(self, path: str, revision: str) -> bytes | None:
        base = self._base(revision) if path in self.versioned else self.root
        full = resolve_inside(base, path)
        return full.read_bytes() if full.is_file() else None

    def list_files(self, revision: str) -> dict[str, RemoteFile]:
        if not self.root.is_dir():
            return {}
        out = {}
        for full in sorted(self.root.rglob("*")):
            rel = full.relative_to(self.root).as_posix()
            if not full.is_file() or rel.split("/", 1)[0] == TAGS_DIR or rel == LOCK_NAME:
                continue
            base_file = self._base(revision) / rel if rel in self.versioned else full
            if base_file.is_file():
                out[rel] = RemoteFile(rel, base_file.stat().st_size, None)
        return out

    def file_info(self, paths: list[str], revision: str) -> dict[str, RemoteFile]:
        out = {}
        for path in paths:
            full = resolve_inside(self.root, path)
            if full.is_file():
                out[path] = RemoteFile(path, full.stat().st_size, None)
        return out

    def fetch(self, path: str, revision: str, dest: Path, *, expected_sha256: str | None = None,
              expected_size: int | None = None, force: bool = False) -> Fetched:
        base = self._base(revision) if path in self.versioned else self.root
        source = resolve_inside(base, path)
        if not source.is_file():
            raise NotFoundError(f"{self.root}: {path} is listed in the manifest but missing")
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

    def commit(self, files: dict[str, Path], texts: dict[str, str], message: str, private: bool,
               parent: str | None = None) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked():
            # every new file is written under a hidden temporary name first, so an interrupted
            # commit leaves the old version and temporaries (which the next writer removes); only
            # the renames below, then the index, make the new version appear
            staged: list[tuple[Path, Path]] = []
            try:
                for path, source in files.items():
                    dest = resolve_inside(self.root, path)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    tmp = tmp_name(dest)
                    staged.append((tmp, dest))
                    shutil.copyfile(source, tmp)
                    with open(tmp, "rb+") as handle:
                        os.fsync(handle.fileno())
            except BaseException:
                for tmp, _ in staged:
                    tmp.unlink(missing_ok=True)
                raise
            for tmp, dest in staged:
                os.replace(tmp, dest)
            for folder in sorted({dest.parent for _, dest in staged}):
                fsync_dir(folder)
            # the index goes last: readers never see it list a missing file
            for path in sorted(texts, key=lambda p: p == INDEX_NAME):
                atomic_write_bytes(resolve_inside(self.root, path), texts[path].encode("utf-8"))
        return "latest"

    def _content_id(self, base: Path) -> str:
        """SHA-256 over the versioned files present in ``base`` (names and contents)."""
        digest = hashlib.sha256()
        for name in sorted(self.versioned):
            path = resolve_inside(base, name)
            if path.is_file():
                digest.update(f"{name}\0{sha256_file(path)}\n".encode())
        return digest.hexdigest()

    def tags(self) -> dict[str, str]:
        base = self.root / TAGS_DIR
        if not base.is_dir():
            return {}
        return {p.name: self._content_id(p) for p in sorted(base.iterdir())
                if p.is_dir() and not p.name.startswith(".")}

    def revision_id(self, revision: str) -> str:
        return self._content_id(self._base(revision))

    def create_tag(self, tag: str, revision: str) -> None:
        check_ref_name(tag, "tag", local=True)
        if tag in ("latest", "main"):
            raise ConfigError(f"tag {tag!r} names the latest version of a local hub; choose a name like v1.0")
        with self._locked():
            target = self.root / TAGS_DIR / tag
            if target.exists():
                raise AlreadyExistsError(f"tag {tag!r} already exists in {self.root}; tags are never moved")
            staging = self.root / TAGS_DIR / f"{TMP_MARKER}{tag}"  # complete before it takes the tag's name
            shutil.rmtree(staging, ignore_errors=True)
            for name in self.versioned:
                source = resolve_inside(self._base(revision), name)
                if source.is_file():
                    atomic_write_bytes(resolve_inside(staging, name), source.read_bytes())
            staging.mkdir(parents=True, exist_ok=True)
            staging.replace(target)


# ------------------------------------------------------------------------ Hub
def _explain_http_error(exc: Exception, repo: HubRepo, writing: bool) -> WmhubError:
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, RevisionNotFoundError):
        return NotFoundError(f"{repo}: revision {repo.revision!r} not found")
    if isinstance(exc, RepositoryNotFoundError):
        hint = " (or you lack access: log in with `hf auth login` or set HF_TOKEN)"
        return NotFoundError(f"{repo}: repository not found{hint}")
    if isinstance(exc, HfHubHTTPError) and exc.response is not None and exc.response.status_code in (401, 403):
        action = "write to" if writing else "read"
        return TransferError(f"not allowed to {action} {repo} (HTTP {exc.response.status_code}): log in with "
                             "`hf auth login` or set HF_TOKEN to a token with write access")
    return TransferError(f"{repo}: {type(exc).__name__}: {str(exc).splitlines()[0]}")


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
        from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

        if revision is not None and self.repo.repo_type == "dataset":
            first, *fallback = dataset_revision_candidates(revision)  # data-v1.0, then an old plain v1.0
            if fallback:
                try:
                    return with_retries(lambda: self.api.repo_info(self.repo.repo_id, repo_type="dataset",
                                                                   revision=first), f"reading {self.repo}").sha
                except RevisionNotFoundError:
                    pass
                except HfHubHTTPError as exc:
                    raise _explain_http_error(exc, HubRepo(self.repo.repo_type, self.repo.repo_id, revision),
                                              False) from exc
        try:
            info = with_retries(lambda: self.api.repo_info(self.repo.repo_id, repo_type=self.repo.repo_type,
                                                           revision=revision), f"reading {self.repo}")
        except RepositoryNotFoundError as exc:
            if revision is None:
                return ""
            raise _explain_http_error(exc, HubRepo(self.repo.repo_type, self.repo.repo_id, revision),
                                      False) from exc
        except HfHubHTTPError as exc:
            raise _explain_http_error(exc, HubRepo(self.repo.repo_type, self.repo.repo_id, revision),
                                      False) from exc
        return info.sha

    def _url(self, path: str, revision: str) -> str:
        from huggingface_hub import constants, hf_hub_url

        return hf_hub_url(self.repo.repo_id, path, repo_type=self.repo.repo_type, revision=revision,
                          endpoint=constants.ENDPOINT)

    def read_bytes(self, path: str, revision: str) -> bytes | None:
        from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

        if not revision:
            return None
        try:
            return fetch_small(self._url(path, revision), what=f"{path} from {self.repo}")
        except EntryNotFoundError:
            return None
        except HfHubHTTPError as exc:
            raise _explain_http_error(exc, self.repo, False) from exc

    @staticmethod
    def _entry(entry: Any) -> RemoteFile | None:
        size = getattr(entry, "size", None)
        if size is None:  # a folder
            return None
        lfs = getattr(entry, "lfs", None)
        return RemoteFile(entry.path, int(size), lfs.sha256 if lfs else None)

    def list_files(self, revision: str) -> dict[str, RemoteFile]:
        if not revision:
            return {}
        entries = self._call(lambda: list(self.api.list_repo_tree(self.repo.repo_id, revision=revision,
                                                                  repo_type=self.repo.repo_type, recursive=True)),
                             "listing files")
        return {f.path: f for f in map(self._entry, entries) if f is not None}

    def fetch(self, path: str, revision: str, dest: Path, *, expected_sha256: str | None = None,
              expected_size: int | None = None, force: bool = False) -> Fetched:
        """Files come through :mod:`wmhub.storage.transfer` (one streamed GET, hashed while written, resumed
        from ``.<name>.wmhub-partial``) and the content-addressed :mod:`wmhub.storage.cache`.

        ``revision`` must be a resolved commit, so every file comes from the same version.
        """
        from huggingface_hub.errors import HfHubHTTPError

        def transfer(partial: Path, restart: bool) -> Received:
            try:
                return download_to_file(self._url(path, revision), partial, what=f"{path} from {self.repo}",
                                        expected_size=expected_size, restart=restart)
            except HfHubHTTPError as exc:
                raise _explain_http_error(exc, self.repo, False) from exc

        return _verified_fetch(str(self.repo), path, dest, transfer, expected_sha256=expected_sha256,
                               expected_size=expected_size, force=force)

    def file_info(self, paths: list[str], revision: str) -> dict[str, RemoteFile]:
        out: dict[str, RemoteFile] = {}
        for start in range(0, len(paths), 500):
            chunk = paths[start:start + 500]
            entries = self._call(lambda chunk=chunk: self.api.get_paths_info(
                self.repo.repo_id, chunk, revision=revision, repo_type=self.repo.repo_type), "listing files")
            out.update({f.path: f for f in map(self._entry, entries) if f is not None})
        return out

    def writer(self) -> AbstractContextManager[None]:
        return nullcontext()  # commits are compare-and-swapped on ``parent``

    def commit(self, files: dict[str, Path], texts: dict[str, str], message: str, private: bool,
               parent: str | None = None) -> str:
        """One commit; with ``parent``, made only on top of that commit (``parentCommit``), and for
        ``parent == ""`` only while the repo (created here if missing) holds no index yet."""
        from huggingface_hub import CommitOperationAdd
        from huggingface_hub.errors import HfHubHTTPError

        self._call(lambda: self.api.create_repo(self.repo.repo_id, repo_type=self.repo.repo_type, private=private,
                                                exist_ok=True), f"creating {self.repo}", writing=True)
        if parent == "":  # planned on a repo that did not exist: commit on its first commit only if still empty
            parent = self.resolve(None)
            if self.read_bytes(INDEX_NAME, parent) is not None:
                raise CommitConflict(f"{self.repo} was published to by another writer meanwhile; run the command "
                                     "again")
        operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(src)) for p, src in files.items()]
        operations += [CommitOperationAdd(path_in_repo=p, path_or_fileobj=t.encode("utf-8")) for p, t in texts.items()]
        try:
            info = with_retries(lambda: self.api.create_commit(
                self.repo.repo_id, operations, commit_message=message, repo_type=self.repo.repo_type,
                parent_commit=parent or None), f"committing to {self.repo}")
        except HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code in (409, 412):
                raise CommitConflict(f"{self.repo} moved since {parent[:12] if parent else 'it was read'} "
                                     "(another writer committed first); run the command again") from exc
            raise _explain_http_error(exc, self.repo, True) from exc
        return info.oid

    def tags(self) -> dict[str, str]:
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            refs = with_retries(lambda: self.api.list_repo_refs(self.repo.repo_id, repo_type=self.repo.repo_type),
                                "listing tags")
        except RepositoryNotFoundError:
            return {}  # a repo that does not exist yet has no tags
        return {ref.name: ref.target_commit for ref in refs.tags}

    def revision_id(self, revision: str) -> str:
        return revision

    def create_tag(self, tag: str, revision: str) -> None:
        self._call(lambda: self.api.create_tag(self.repo.repo_id, tag=tag, revision=revision,
                                               repo_type=self.repo.repo_type), f"tagging {tag}", writing=True)

    def snapshot(self, revision: str | None = None) -> Path:
        """Download the whole repo at ``revision`` into the Hugging Face cache (its conventions:
        ``$HF_HOME/hub``); returns the local snapshot directory.

        Raises:
            NotFoundError: the repo or revision does not exist (or is not readable).
        """
        from huggingface_hub import snapshot_download

        return Path(self._call(lambda: snapshot_download(self.repo.repo_id, repo_type=self.repo.repo_type,
                                                         revision=revision), f"downloading {self.repo}"))


# --------------------------------------------------------------------- fsspec
class FsspecStore:
    """A directory on an fsspec filesystem (one version: no revisions, no tags).

    Args:
        url: ``s3://bucket/prefix`` (the backend package must be installed).
        storage_options: fsspec options (``endpoint_url``, ``key``, ...).
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        from wmhub.storage.fsspec_dir import RemoteDir

        self.dir = RemoteDir(url, storage_options)
        self.dir.refresh()
        self._held = False

    def describe(self) -> str:
        return self.dir.url

    def resolve(self, revision: str | None) -> str:
        if revision not in (None, "latest", "main"):
            raise UnsupportedLocationError(f"{self.dir.url}: an fsspec URL has no revisions (asked for {revision!r})")
        return "latest"

    def read_bytes(self, path: str, revision: str) -> bytes | None:
        try:
            return self.dir.read_bytes(path)
        except FileNotFoundError:
            return None

    def list_files(self, revision: str) -> dict[str, RemoteFile]:
        return {rel: RemoteFile(rel, size, None) for rel, size in self.dir.sizes().items() if rel != LOCK_NAME}

    def file_info(self, paths: list[str], revision: str) -> dict[str, RemoteFile]:
        listing = self.list_files(revision)
        return {p: listing[p] for p in paths if p in listing}

    def fetch(self, path: str, revision: str, dest: Path, *, expected_sha256: str | None = None,
              expected_size: int | None = None, force: bool = False) -> Fetched:
        key = self.dir.key(path)

        def transfer(partial: Path, restart: bool) -> Received:
            partial.parent.mkdir(parents=True, exist_ok=True)
            hasher, size = hashlib.sha256(), 0
            try:
                with self.dir.fs.open(key, "rb") as source, open(partial, "wb") as out:
                    while chunk := source.read(_CHUNK):
                        out.write(chunk)
                        hasher.update(chunk)
                        size += len(chunk)
            except FileNotFoundError as exc:
                partial.unlink(missing_ok=True)
                raise NotFoundError(f"{self.dir.url}: {path} is listed in the manifest but missing") from exc
            return Received(hasher.hexdigest(), size, size, 0)

        dest.parent.mkdir(parents=True, exist_ok=True)
        return _verified_fetch(self.dir.url, path, dest, transfer, expected_sha256=expected_sha256,
                               expected_size=expected_size, force=force)

    @contextmanager
    def writer(self) -> Iterator[None]:
        """The prefix's lease (another writer holding it is an error at once), held until the block ends."""
        from wmhub.storage.fsspec_dir import remote_lease

        if self._held:
            yield
            return
        with remote_lease(self.dir):
            self._held = True
            try:
                yield
            finally:
                self._held = False

    def commit(self, files: dict[str, Path], texts: dict[str, str], message: str, private: bool,
               parent: str | None = None) -> str:
        with self.writer():
            for path, source in files.items():
                self.dir.put_file(source, path)
            for path in sorted(texts, key=lambda p: p == INDEX_NAME):
                self.dir.write_bytes(path, texts[path].encode("utf-8"))
        self.dir.refresh()
        return "latest"

    def tags(self) -> dict[str, str]:
        raise UnsupportedLocationError(f"{self.dir.url}: an fsspec URL keeps no tags; publish without --tag, or to "
                                       "hf://datasets/<org>/<name> or a local hub directory")

    def revision_id(self, revision: str) -> str:
        return "latest"

    def create_tag(self, tag: str, revision: str) -> None:
        self.tags()


def ensure_tag(store: Store, tag: str, revision: str) -> None:
    """Mark ``revision`` of ``store`` with ``tag``; a no-op when the tag already marks it.

    Args:
        store: any store that keeps tags.
        tag: the tag (``v1.0``).
        revision: the revision committed (what ``store.commit`` returned).

    Raises:
        AlreadyExistsError: the tag marks another version (tags are never moved).
        UnsupportedLocationError: the store keeps no tags (an fsspec URL).

    Example:
        >>> ensure_tag(store, "v1.0", store.commit(files, texts, "push", private=False))  # doctest: +SKIP
    """
    existing = store.tags()
    if tag not in existing:
        store.create_tag(tag, revision)
    elif existing[tag] != store.revision_id(revision):
        raise AlreadyExistsError(f"tag {tag!r} already marks another version of {store.describe()} "
                                 f"({existing[tag][:12]}); tags are never moved: choose a new tag")


def open_store(location: Location | Path, storage_options: dict[str, Any] | None = None, *,
               versioned: tuple[str, ...] | None = None) -> Store:
    """The store for a parsed location (:func:`wmhub.storage.location.parse_location`).

    Args:
        location: a :class:`LocalDir`, :class:`HubRepo` or :class:`FsspecURL` (a plain Path is a local directory).
        storage_options: fsspec options for an :class:`FsspecURL`.
        versioned: for a local directory, the files a tag snapshots (default: card and index).

    Returns:
        The :class:`Store` that reads and writes it.

    Example:
        >>> open_store(parse_location("/shared/hub/reacher")).describe()  # doctest: +SKIP
        '/shared/hub/reacher'
    """
    if isinstance(location, HubRepo):
        return HfHubStore(location)
    if isinstance(location, FsspecURL):
        return FsspecStore(location.url, storage_options)
    root = location.path if isinstance(location, LocalDir) else Path(location)
    return LocalHubStore(root) if versioned is None else LocalHubStore(root, versioned)
