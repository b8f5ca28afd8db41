"""A Hugging Face Hub-compatible HTTP server for offline tests.

The server listens on 127.0.0.1 and speaks enough of the Hub protocol for the
*unmodified* ``huggingface_hub`` and ``datasets`` clients to create repos,
upload (regular files inline in the commit, large/binary files through the
Git LFS batch API), list, tag, branch, download (GET / HEAD / Range) and load
datasets.  Everything is kept on disk under ``root_dir``:

``blobs/<aa>/<sha256>``
    Content-addressed file contents, shared by all repos.
``repos/<type>s/<org>/<name>/repo.json``
    Repo settings (``private``, creation date).
``repos/<type>s/<org>/<name>/refs.json``
    Branches and tags, each pointing at a commit id.
``repos/<type>s/<org>/<name>/commits/<id>.json``
    Immutable snapshots ``{path: (sha256, size, lfs, git oid)}`` with a
    40-hex id, parents, title, message and date.

Writes need ``Authorization: Bearer <server.token>``; public repos can be read
anonymously, private ones only with the token.  Errors carry the Hub's
``X-Error-Code`` header (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``) so the clients raise their usual exceptions.

Typical pytest usage::

    @pytest.fixture
    def hub(tmp_path, monkeypatch):
        monkeypatch.delenv("HF_TOKEN", raising=False)
        with HubServer(tmp_path / "hub") as server:
            with patch_endpoint(server.url, hf_home=tmp_path / "hf_home"):
                yield server

    def test_upload(hub):
        api = HfApi(token=hub.token)
        api.create_repo("org/data", repo_type="dataset")
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import json
import logging
import mimetypes
import os
import re
import secrets
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

__all__ = [
    "Commit",
    "FileEntry",
    "HubError",
    "HubServer",
    "HubStore",
    "RepoKey",
    "git_blob_oid",
    "lfs_pointer",
    "patch_endpoint",
    "running_hub",
]

logger = logging.getLogger(__name__)

REPO_TYPES: tuple[str, ...] = ("model", "dataset")
"""Repo types served (URL plural forms: ``models``, ``datasets``)."""

URL_PREFIXES: Mapping[str, str] = {"model": "", "dataset": "datasets/"}
"""Prefix of a repo's web/resolve/git URLs, by repo type (as in the Hub)."""

LFS_SUFFIXES: tuple[str, ...] = (
    ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gguf", ".gz", ".h5", ".jpeg", ".jpg", ".joblib",
    ".lz4", ".mlmodel", ".model", ".mp3", ".mp4", ".msgpack", ".npy", ".npz", ".onnx", ".ot", ".parquet",
    ".pb", ".pickle", ".pkl", ".png", ".pt", ".pth", ".rar", ".safetensors", ".tar", ".tflite", ".tfrecord",
    ".tgz", ".wasm", ".wav", ".webm", ".xz", ".zip", ".zst",
)
"""File suffixes stored through Git LFS (they are also listed in the initial ``.gitattributes``)."""

REGULAR_MAX_SIZE = 10 * 1024 * 1024
"""Files of this size or more always go through LFS (the Hub's limit for regular git files)."""

DEFAULT_MULTIPART_CHUNK_SIZE = 16 * 1024 * 1024
"""LFS objects larger than this are uploaded in parts of this size (HF multipart protocol)."""

_COPY_CHUNK = 1024 * 1024
_COMMIT_ID = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def git_blob_oid(data: bytes) -> str:
    """Git object id of a blob: what the Hub reports (and uses as ETag) for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The Git LFS pointer file that git stores in place of an LFS object."""
    return _LFS_POINTER.format(oid=sha256, size=size).encode()


def _now_iso() -> str:
    """Current UTC time in the Hub's date format (``2024-01-31T12:00:00.000Z``)."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _default_gitattributes() -> bytes:
    """The ``.gitattributes`` of a fresh repo: every LFS suffix tracked by LFS."""
    lines = [f"*{suffix} filter=lfs diff=lfs merge=lfs -text" for suffix in LFS_SUFFIXES]
    return ("\n".join(lines) + "\n").encode()


def _atomic_write_json(path: Path, payload: Any) -> None:
    """Write JSON to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _validate_repo_path(path: str) -> str:
    """Reject paths that are absolute, empty or escape the repo."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    if parts[0] == ".git":
        raise HubError(400, f"Cannot commit inside .git: {path!r}")
    return path


def _parent_dirs(path: str) -> Iterator[str]:
    """``a/b/c.txt`` -> ``a``, ``a/b``."""
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        yield "/".join(parts[:i])


def _front_matter(readme: bytes) -> dict[str, Any] | None:
    """YAML front matter of a README as a dict (``None`` if absent or unparsable)."""
    text = readme.decode("utf-8", errors="replace")
    match = re.match(r"^---\s*\n(.*?)\n---\s*(?:\n|$)", text, flags=re.DOTALL)
    if match is None:
        return None
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml ships with datasets / huggingface_hub
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------------


class HubError(Exception):
    """An HTTP error answered to the client.

    ``code`` goes into ``X-Error-Code`` (the header ``huggingface_hub`` maps to exception classes);
    ``headers`` are extra response headers (e.g. ``X-Repo-Commit`` on ``EntryNotFound``).
    """

    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


class RepoKey(NamedTuple):
    """Identifies a repo: ``("dataset", "org/name")``."""

    repo_type: str
    repo_id: str

    @property
    def url_path(self) -> str:
        """``datasets/org/name`` or ``org/name`` (the path of the repo's web page)."""
        return URL_PREFIXES[self.repo_type] + self.repo_id


@dataclass(frozen=True)
class FileEntry:
    """A file in a commit snapshot.

    ``sha256``/``size`` are the *recorded* content hash and size (never updated by
    :meth:`HubServer.corrupt_file`); ``git_oid`` is the git blob id of the content for
    regular files and of the LFS pointer for LFS files (what the Hub lists as ``oid``).
    """

    sha256: str
    size: int
    lfs: bool
    git_oid: str

    @property
    def etag(self) -> str:
        """ETag served on ``resolve``: sha256 for LFS files, git blob id for regular files."""
        return self.sha256 if self.lfs else self.git_oid

    @property
    def pointer_size(self) -> int:
        """Size of the LFS pointer file (meaningful for LFS files only)."""
        return len(lfs_pointer(self.sha256, self.size))

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "lfs": self.lfs, "gitOid": self.git_oid}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileEntry:
        return cls(sha256=data["sha256"], size=int(data["size"]), lfs=bool(data["lfs"]), git_oid=data["gitOid"])

    @classmethod
    def regular(cls, content: bytes) -> FileEntry:
        return cls(hashlib.sha256(content).hexdigest(), len(content), False, git_blob_oid(content))

    @classmethod
    def large(cls, sha256: str, size: int) -> FileEntry:
        return cls(sha256, size, True, git_blob_oid(lfs_pointer(sha256, size)))


@dataclass(frozen=True)
class Commit:
    """An immutable snapshot of a repo."""

    id: str
    parents: tuple[str, ...]
    title: str
    message: str
    date: str
    author: str
    files: Mapping[str, FileEntry] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "parents": list(self.parents), "title": self.title, "message": self.message,
            "date": self.date, "author": self.author,
            "files": {path: entry.to_json() for path, entry in sorted(self.files.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Commit:
        return cls(
            id=data["id"], parents=tuple(data["parents"]), title=data["title"], message=data["message"],
            date=data["date"], author=data["author"],
            files={path: FileEntry.from_json(entry) for path, entry in data["files"].items()},
        )


@dataclass(frozen=True)
class _Add:
    path: str
    entry: FileEntry


@dataclass(frozen=True)
class _Delete:
    path: str
    folder: bool


def _directories(files: Mapping[str, FileEntry]) -> set[str]:
    """Every directory that contains at least one file."""
    return {parent for path in files for parent in _parent_dirs(path)}


def _tree_oid(files: Mapping[str, FileEntry], directory: str) -> str:
    """A stable 40-hex id for a directory's content (stands in for the git tree id)."""
    prefix = directory + "/" if directory else ""
    digest = hashlib.sha1(b"tree\0")
    for path in sorted(files):
        if path.startswith(prefix):
            digest.update(f"{path[len(prefix):]}\0{files[path].git_oid}\n".encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------------


class HubStore:
    """On-disk storage of blobs, repos, commits and refs.  Thread-safe."""

    def __init__(self, root: str | os.PathLike[str], *, username: str = "hub-test-user",
                 initial_gitattributes: bool = True) -> None:
        self.root = Path(root)
        self.username = username
        self.initial_gitattributes = initial_gitattributes
        self.tmp_dir = self.root / "tmp"
        for sub in ("blobs", "repos", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._commit_cache: dict[tuple[RepoKey, str], Commit] = {}

    # ---- blobs ---------------------------------------------------------------------------------

    def blob_path(self, sha256: str) -> Path:
        """Where the content with this sha256 is (or would be) stored."""
        if not _SHA256.fullmatch(sha256):
            raise HubError(400, f"Invalid sha256: {sha256!r}")
        return self.root / "blobs" / sha256[:2] / sha256

    def has_blob(self, sha256: str, size: int | None = None) -> bool:
        """Whether the blob is stored (and has ``size`` bytes, when given)."""
        path = self.blob_path(sha256)
        return path.is_file() and (size is None or path.stat().st_size == size)

    def put_blob_bytes(self, data: bytes) -> str:
        """Store ``data``; return its sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.has_blob(sha256, len(data)):
            self._install_blob(sha256, lambda out: out.write(data))
        return sha256

    def put_blob_stream(self, source: BinaryIO, expected_sha256: str, expected_size: int) -> None:
        """Store the content of ``source`` after checking its sha256 and size."""
        digest = hashlib.sha256()
        size = 0
        tmp = self.tmp_dir / f"blob-{uuid.uuid4().hex}"
        try:
            with tmp.open("wb") as out:
                while chunk := source.read(_COPY_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if digest.hexdigest() != expected_sha256 or size != expected_size:
                raise HubError(400, f"Uploaded content does not match oid {expected_sha256} and size "
                                    f"{expected_size} (got {digest.hexdigest()}, {size} bytes)")
            target = self.blob_path(expected_sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def _install_blob(self, sha256: str, write: Callable[[BinaryIO], Any]) -> None:
        target = self.blob_path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp_dir / f"blob-{uuid.uuid4().hex}"
        try:
            with tmp.open("wb") as out:
                write(out)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    # ---- repos ---------------------------------------------------------------------------------

    def _repo_dir(self, key: RepoKey) -> Path:
        org, name = key.repo_id.split("/")
        return self.root / "repos" / f"{key.repo_type}s" / org / name

    def repo_exists(self, key: RepoKey) -> bool:
        return (self._repo_dir(key) / "repo.json").is_file()

    def repo_meta(self, key: RepoKey) -> dict[str, Any]:
        """``{"private": bool, "createdAt": str}``; raises ``RepoNotFound``."""
        try:
            return json.loads((self._repo_dir(key) / "repo.json").read_text())
        except FileNotFoundError:
            raise HubError(404, f"Repository {key.repo_id} ({key.repo_type}) not found", "RepoNotFound") from None

    def create_repo(self, key: RepoKey, *, private: bool = False) -> bool:
        """Create a repo with an initial commit on ``main``; ``False`` if it already existed."""
        with self._lock:
            if self.repo_exists(key):
                return False
            repo_dir = self._repo_dir(key)
            (repo_dir / "commits").mkdir(parents=True, exist_ok=True)
            files: dict[str, FileEntry] = {}
            if self.initial_gitattributes:
                content = _default_gitattributes()
                self.put_blob_bytes(content)
                files[".gitattributes"] = FileEntry.regular(content)
            first = self._write_commit(key, (), "initial commit", "", files)
            _atomic_write_json(repo_dir / "refs.json", {"branches": {"main": first.id}, "tags": {}})
            _atomic_write_json(repo_dir / "repo.json", {"private": private, "createdAt": first.date})
            return True

    def delete_repo(self, key: RepoKey) -> None:
        with self._lock:
            self.repo_meta(key)
            shutil.rmtree(self._repo_dir(key))
            self._commit_cache = {k: v for k, v in self._commit_cache.items() if k[0] != key}

    def set_private(self, key: RepoKey, private: bool) -> None:
        with self._lock:
            meta = self.repo_meta(key)
            meta["private"] = private
            _atomic_write_json(self._repo_dir(key) / "repo.json", meta)

    # ---- refs & commits ------------------------------------------------------------------------

    def refs(self, key: RepoKey) -> dict[str, dict[str, str]]:
        """``{"branches": {name: commit}, "tags": {name: commit}}``."""
        self.repo_meta(key)
        with self._lock:
            return json.loads((self._repo_dir(key) / "refs.json").read_text())

    def _write_refs(self, key: RepoKey, refs: Mapping[str, Mapping[str, str]]) -> None:
        _atomic_write_json(self._repo_dir(key) / "refs.json", refs)

    def get_commit(self, key: RepoKey, commit_id: str) -> Commit:
        cached = self._commit_cache.get((key, commit_id))
        if cached is not None:
            return cached
        path = self._repo_dir(key) / "commits" / f"{commit_id}.json"
        try:
            commit = Commit.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise HubError(404, f"Invalid rev id: {commit_id}", "RevisionNotFound") from None
        self._commit_cache[(key, commit_id)] = commit
        return commit

    def resolve(self, key: RepoKey, revision: str) -> Commit:
        """Branch, tag, ``refs/heads/..``, ``refs/tags/..``, full or abbreviated commit id -> commit."""
        refs = self.refs(key)
        name = revision
        if name.startswith("refs/heads/") and name[len("refs/heads/"):] in refs["branches"]:
            return self.get_commit(key, refs["branches"][name[len("refs/heads/"):]])
        if name.startswith("refs/tags/") and name[len("refs/tags/"):] in refs["tags"]:
            return self.get_commit(key, refs["tags"][name[len("refs/tags/"):]])
        if name in refs["branches"]:
            return self.get_commit(key, refs["branches"][name])
        if name in refs["tags"]:
            return self.get_commit(key, refs["tags"][name])
        if re.fullmatch(r"[0-9a-f]{7,40}", name):
            commits_dir = self._repo_dir(key) / "commits"
            matches = [p.stem for p in commits_dir.glob(f"{name}*.json")]
            if len(matches) == 1:
                return self.get_commit(key, matches[0])
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def history(self, key: RepoKey, commit: Commit) -> Iterator[Commit]:
        """``commit`` and its first-parent ancestors, newest first."""
        current: Commit | None = commit
        while current is not None:
            yield current
            current = self.get_commit(key, current.parents[0]) if current.parents else None

    def _write_commit(self, key: RepoKey, parents: tuple[str, ...], title: str, message: str,
                      files: Mapping[str, FileEntry]) -> Commit:
        date = _now_iso()
        seed = json.dumps([key, parents, title, message, date, uuid.uuid4().hex,
                           sorted((p, e.git_oid) for p, e in files.items())])
        commit = Commit(id=hashlib.sha1(seed.encode()).hexdigest(), parents=parents, title=title,
                        message=message, date=date, author=self.username, files=dict(files))
        _atomic_write_json(self._repo_dir(key) / "commits" / f"{commit.id}.json", commit.to_json())
        self._commit_cache[(key, commit.id)] = commit
        return commit

    def commit(self, key: RepoKey, branch: str, operations: list[_Add | _Delete], *, title: str,
               message: str = "", parent_commit: str | None = None) -> Commit:
        """Apply ``operations`` on top of ``branch`` and move the branch to the new commit."""
        with self._lock:
            refs = self.refs(key)
            if branch not in refs["branches"]:
                raise HubError(404, f"Invalid rev id: {branch} (commits must target a branch)", "RevisionNotFound")
            head = self.get_commit(key, refs["branches"][branch])
            if parent_commit is not None and not head.id.startswith(parent_commit.lower()):
                raise HubError(412, f"A commit has happened since {parent_commit}: the head of {branch} is "
                                    f"{head.id}. Please refresh and try again.")
            files = dict(head.files)
            for op in operations:
                if isinstance(op, _Add):
                    files[op.path] = op.entry
                elif op.folder:
                    prefix = op.path.rstrip("/") + "/"
                    doomed = [p for p in files if p.startswith(prefix)]
                    if not doomed:
                        raise HubError(404, f"A folder with this name doesn't exist: {op.path}", "EntryNotFound")
                    for path in doomed:
                        del files[path]
                else:
                    if op.path not in files:
                        raise HubError(404, f"A file with this name doesn't exist: {op.path}", "EntryNotFound")
                    del files[op.path]
            new = self._write_commit(key, (head.id,), title, message, files)
            refs["branches"][branch] = new.id
            self._write_refs(key, refs)
            return new

    def create_tag(self, key: RepoKey, tag: str, revision: str) -> Commit:
        with self._lock:
            refs = self.refs(key)
            target = self.resolve(key, revision)
            if tag in refs["tags"]:
                raise HubError(409, f"Tag {tag} already exists")
            if not _NAME.fullmatch(tag):
                raise HubError(400, f"Invalid tag name: {tag!r}")
            refs["tags"][tag] = target.id
            self._write_refs(key, refs)
            return target

    def delete_tag(self, key: RepoKey, tag: str) -> None:
        with self._lock:
            refs = self.refs(key)
            if tag not in refs["tags"]:
                raise HubError(404, f"Invalid rev id: {tag}", "RevisionNotFound")
            del refs["tags"][tag]
            self._write_refs(key, refs)

    def create_branch(self, key: RepoKey, branch: str, starting_point: str | None) -> Commit:
        with self._lock:
            refs = self.refs(key)
            if branch.startswith("refs/") or not _NAME.fullmatch(branch.replace("/", "-")):
                raise HubError(400, f"Invalid reference for a branch: {branch}")
            if branch in refs["branches"]:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            target = self.resolve(key, starting_point or "main")
            refs["branches"][branch] = target.id
            self._write_refs(key, refs)
            return target

    def delete_branch(self, key: RepoKey, branch: str) -> None:
        with self._lock:
            refs = self.refs(key)
            if branch not in refs["branches"]:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if branch == "main":
                raise HubError(403, "Cannot delete the default branch")
            del refs["branches"][branch]
            self._write_refs(key, refs)


# --------------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------------


@dataclass
class _Body:
    """A request body, spooled to disk when large."""

    file: BinaryIO
    size: int
    sha256: str

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def json(self) -> Any:
        if self.size == 0:
            return {}
        try:
            return json.loads(self.read())
        except (ValueError, UnicodeDecodeError) as exc:
            raise HubError(400, f"Request body is not valid JSON: {exc}") from None


@dataclass
class _UploadTicket:
    """An LFS upload the batch endpoint handed out (the ticket id is the upload URL's secret)."""

    id: str
    key: RepoKey
    oid: str
    size: int
    chunk_size: int | None
    parts: dict[int, Path] = field(default_factory=dict)


class _ConcatReader(io.RawIOBase):
    """Reads several files one after the other (the parts of a multipart LFS upload)."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self._paths = list(paths)
        self._current: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            if self._current is None:
                if not self._paths:
                    return 0
                self._current = self._paths.pop(0).open("rb")
            count = self._current.readinto(buffer)  # type: ignore[attr-defined]
            if count:
                return count
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()


_API_REPO = r"/api/(?P<type>models|datasets)/(?P<org>[^/]+)/(?P<name>[^/]+)"
_WEB_REPO = r"/(?:(?P<dprefix>datasets)/)?(?P<org>[^/]+)/(?P<name>[^/]+)"
_REV = r"(?P<rev>refs/(?:pr|convert)/[^/]+|[^/]+)"

_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern + r"/?"), handler)
    for method, pattern, handler in [
        ("GET", r"/api/whoami-v2", "whoami"),
        ("POST", r"/api/repos/create", "create_repo"),
        ("DELETE", r"/api/repos/delete", "delete_repo"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("GET", _API_REPO, "repo_info"),
        ("GET", _API_REPO + r"/revision/" + _REV, "repo_info"),
        ("GET", _API_REPO + r"/refs", "refs"),
        ("GET", _API_REPO + r"/tree/" + _REV + r"(?:/(?P<path>.*))?", "tree"),
        ("POST", _API_REPO + r"/paths-info/" + _REV, "paths_info"),
        ("GET", _API_REPO + r"/commits/" + _REV, "commits"),
        ("POST", _API_REPO + r"/preupload/" + _REV, "preupload"),
        ("POST", _API_REPO + r"/commit/" + _REV, "commit"),
        ("POST", _API_REPO + r"/tag/" + _REV, "create_tag"),
        ("DELETE", _API_REPO + r"/tag/(?P<tag>[^/]+)", "delete_tag"),
        ("POST", _API_REPO + r"/branch/(?P<branch>[^/]+)", "create_branch"),
        ("DELETE", _API_REPO + r"/branch/(?P<branch>[^/]+)", "delete_branch"),
        ("PUT", _API_REPO + r"/settings", "settings"),
        ("POST", r"/(?:(?P<dprefix>datasets)/)?(?P<org>[^/]+)/(?P<name>[^/]+?)\.git/info/lfs/objects/batch",
         "lfs_batch"),
        ("POST", r"/(?:(?P<dprefix>datasets)/)?(?P<org>[^/]+)/(?P<name>[^/]+?)\.git/info/lfs/objects/verify",
         "lfs_verify"),
        ("PUT", r"/lfs-upload/(?P<ticket>[0-9a-f]+)", "lfs_put"),
        ("PUT", r"/lfs-upload/(?P<ticket>[0-9a-f]+)/part/(?P<part>[0-9]+)", "lfs_put_part"),
        ("POST", r"/lfs-upload/(?P<ticket>[0-9a-f]+)", "lfs_complete"),
        ("GET", r"/lfs-objects/(?P<oid>[0-9a-f]{64})", "lfs_object"),
        ("GET", _WEB_REPO + r"/resolve/" + _REV + r"/(?P<path>.+)", "resolve"),
        ("HEAD", _WEB_REPO + r"/resolve/" + _REV + r"/(?P<path>.+)", "resolve"),
    ]
]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: HubServer


class _Handler(BaseHTTPRequestHandler):
    """Parses requests, routes them to ``_r_<name>`` methods and renders errors."""

    protocol_version = "HTTP/1.1"
    server_version = "ToolkitHubServer/1.0"
    # TCP_NODELAY, as production servers (nginx, CDNs) use: with Nagle's algorithm a response body
    # written after its headers waits for the client's delayed ACK, ~40 ms per keep-alive request
    disable_nagle_algorithm = True
    timeout = 120  # drop idle keep-alive connections eventually
    server: _HTTPServer

    # ---- plumbing ------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    @property
    def hub(self) -> HubServer:
        return self.server.hub

    @property
    def store(self) -> HubStore:
        return self.server.hub.store

    def _dispatch(self, method: str) -> None:
        self._method = method
        split = urlsplit(self.path)
        self._raw_path = split.path
        self._query = parse_qs(split.query, keep_blank_values=True)
        self.hub._log_request(method, self.path)
        self._body: _Body | None = None
        body: _Body | None = None
        try:
            body = self._body = self._read_body()
            fault = self.hub._take_fault(method, self._raw_path, "status")
            if fault is not None:
                raise HubError(fault.status, f"injected failure for {method} {self._raw_path}")
            for route_method, pattern, name in _ROUTES:
                if route_method != method:
                    continue
                match = pattern.fullmatch(self._raw_path)
                if match is not None:
                    getattr(self, f"_r_{name}")(match)
                    return
            raise HubError(404, f"No route for {method} {self._raw_path}")
        except HubError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # pragma: no cover - surfaced to the client as a 500
            logger.exception("hub server error on %s %s", method, self.path)
            self.close_connection = True  # the request body may not have been consumed
            self._send_error(HubError(500, f"Internal server error: {type(exc).__name__}: {exc}"))
        finally:
            if body is not None:
                body.file.close()

    def _read_body(self) -> _Body | None:
        """Read the whole request body (Content-Length or chunked) into a spooled file."""
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = int(self.headers.get("Content-Length") or 0)
        if not chunked and length == 0:
            return None
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, dir=self.store.tmp_dir)
        digest = hashlib.sha256()
        size = 0
        for chunk in self._iter_chunked() if chunked else self._iter_sized(length):
            spool.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        spool.seek(0)
        return _Body(file=spool, size=size, sha256=digest.hexdigest())  # type: ignore[arg-type]

    def _iter_sized(self, length: int) -> Iterator[bytes]:
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, _COPY_CHUNK))
            if not chunk:
                raise ConnectionResetError("client closed the connection mid-body")
            remaining -= len(chunk)
            yield chunk

    def _iter_chunked(self) -> Iterator[bytes]:
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionResetError("client closed the connection mid-body")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # skip trailers
                return
            yield from self._iter_sized(size)
            self.rfile.readline(65537)  # CRLF after each chunk

    def _send(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self._method != "HEAD" and body:
            self.wfile.write(body)

    def _send_json(self, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _send_error(self, exc: HubError) -> None:
        safe_message = exc.message.replace("\n", " ").encode("latin-1", "replace").decode("latin-1")
        headers = {"X-Error-Message": safe_message, **exc.headers}
        if exc.code:
            headers["X-Error-Code"] = exc.code
        body = b"" if self._method == "HEAD" else json.dumps({"error": exc.message}).encode()
        try:
            self._send(exc.status, body, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # ---- request helpers -----------------------------------------------------------------------

    def _param(self, name: str, default: str | None = None) -> str | None:
        values = self._query.get(name)
        return values[-1] if values else default

    def _flag(self, name: str) -> bool:
        return (self._param(name) or "").lower() in ("1", "true", "yes", "on")

    def _authenticated(self) -> bool:
        """``True`` with the server's token, ``False`` without a token; 401 with a wrong one."""
        header = self.headers.get("Authorization")
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), self.hub.token):
            return True
        raise HubError(401, "Invalid credentials in Authorization header")

    def _require_write(self) -> None:
        if not self._authenticated():
            raise HubError(401, "You must be authenticated (Authorization: Bearer <token>) to write")

    def _repo(self, match: re.Match[str], *, write: bool = False) -> RepoKey:
        """The repo named by the URL, checked to exist and to be visible to the caller."""
        groups = match.groupdict()
        if "type" in groups:
            repo_type = groups["type"][:-1]
        else:
            repo_type = "dataset" if groups.get("dprefix") else "model"
        key = RepoKey(repo_type, f"{unquote(groups['org'])}/{unquote(groups['name'])}")
        if write:
            self._require_write()
        authenticated = self._authenticated()
        meta = self.store.repo_meta(key)
        if meta["private"] and not authenticated:
            raise HubError(404, f"Repository {key.repo_id} ({repo_type}) not found", "RepoNotFound")
        return key

    def _body_json(self) -> Any:
        return self._body.json() if self._body is not None else {}

    def _link(self, path: str) -> str:
        return f"{self.hub.url}/{path}"

    # ---- listing helpers -----------------------------------------------------------------------

    def _entry_json(self, key: RepoKey, commit: Commit, path: str, expand: bool) -> dict[str, Any]:
        files = commit.files
        if path in files:
            entry = files[path]
            data: dict[str, Any] = {"type": "file", "oid": entry.git_oid, "size": entry.size, "path": path}
            if entry.lfs:
                data["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
        else:
            data = {"type": "directory", "oid": _tree_oid(files, path), "size": 0, "path": path}
        if expand:
            last = self._last_commit(key, commit, path)
            data["lastCommit"] = {"id": last.id, "title": last.title, "date": last.date}
        return data

    def _last_commit(self, key: RepoKey, commit: Commit, path: str) -> Commit:
        """The oldest commit, following first parents, since which ``path`` has not changed."""
        def signature(snapshot: Commit) -> str | None:
            entry = snapshot.files.get(path)
            if entry is not None:
                return entry.git_oid
            if path in _directories(snapshot.files):
                return _tree_oid(snapshot.files, path)
            return None

        wanted = signature(commit)
        last = commit
        for ancestor in self.store.history(key, commit):
            if signature(ancestor) != wanted:
                break
            last = ancestor
        return last

    # ---- routes: account & repos ---------------------------------------------------------------

    def _r_whoami(self, match: re.Match[str]) -> None:
        if not self._authenticated():
            raise HubError(401, "Invalid user token.")
        self._send_json({
            "type": "user", "id": "0" * 24, "name": self.hub.username, "fullname": self.hub.username,
            "email": f"{self.hub.username}@localhost", "emailVerified": True, "isPro": False,
            "orgs": [], "auth": {"type": "access_token",
                                 "accessToken": {"displayName": "test", "role": "write"}},
        })

    def _r_create_repo(self, match: re.Match[str]) -> None:
        self._require_write()
        payload = self._body_json()
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Unsupported repo type: {repo_type!r}")
        name = payload.get("name") or ""
        organization = payload.get("organization") or self.hub.username
        if not (_NAME.fullmatch(name) and _NAME.fullmatch(organization)):
            raise HubError(400, f"Invalid repo name: {organization}/{name}")
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        key = RepoKey(repo_type, f"{organization}/{name}")
        url = self._link(key.url_path)
        if not self.store.create_repo(key, private=private):
            self._send_json({"error": f"You already created this {repo_type} repo", "url": url}, 409,
                            {"X-Error-Message": f"You already created this {repo_type} repo"})
            return
        self._send_json({"url": url, "name": key.repo_id, "id": key.repo_id})

    def _r_delete_repo(self, match: re.Match[str]) -> None:
        self._require_write()
        payload = self._body_json()
        key = RepoKey(payload.get("type") or "model",
                      f"{payload.get('organization') or self.hub.username}/{payload.get('name')}")
        self.store.delete_repo(key)
        self._send_json({})

    def _r_settings(self, match: re.Match[str]) -> None:
        key = self._repo(match, write=True)
        payload = self._body_json()
        if "private" in payload:
            self.store.set_private(key, bool(payload["private"]))
        if "visibility" in payload:
            self.store.set_private(key, payload["visibility"] == "private")
        self._send_json({})

    def _r_validate_yaml(self, match: re.Match[str]) -> None:
        """Accept any README whose front matter (if any) is parsable YAML."""
        content = str(self._body_json().get("content") or "")
        block = re.match(r"^---\s*\n(.*?)\n---\s*(?:\n|$)", content, flags=re.DOTALL)
        if block is not None:
            try:
                import yaml
            except ImportError:  # pragma: no cover - pyyaml ships with the clients
                yaml = None  # type: ignore[assignment]
            if yaml is not None:
                try:
                    yaml.safe_load(block.group(1))
                except yaml.YAMLError as exc:
                    self._send_json({"errors": [{"message": f"Invalid YAML: {exc}"}], "warnings": []}, 400)
                    return
        self._send_json({"errors": [], "warnings": []})

    def _r_repo_info(self, match: re.Match[str]) -> None:
        key = self._repo(match)
        revision = unquote(match.group("rev")) if match.groupdict().get("rev") else "main"
        commit = self.store.resolve(key, revision)
        meta = self.store.repo_meta(key)
        siblings = []
        for path, entry in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path, "size": entry.size, "blobId": entry.git_oid}
            if entry.lfs:
                sibling["lfs"] = {"sha256": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
            siblings.append(sibling)
        org = key.repo_id.split("/")[0]
        info: dict[str, Any] = {
            "_id": hashlib.sha1(key.url_path.encode()).hexdigest()[:24],
            "id": key.repo_id, "author": org, "sha": commit.id, "lastModified": commit.date,
            "createdAt": meta["createdAt"], "private": meta["private"], "gated": False, "disabled": False,
            "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
            "usedStorage": sum(entry.size for entry in commit.files.values()),
        }
        if key.repo_type == "model":
            info["modelId"] = key.repo_id
        readme = commit.files.get("README.md")
        if readme is not None:
            with contextlib.suppress(OSError):
                card = _front_matter(self.store.blob_path(readme.sha256).read_bytes())
                if card is not None:
                    info["cardData"] = card
        self._send_json(info)

    def _r_refs(self, match: re.Match[str]) -> None:
        key = self._repo(match)
        refs = self.store.refs(key)
        self._send_json({
            "branches": [{"name": name, "ref": f"refs/heads/{name}", "targetCommit": target}
                         for name, target in sorted(refs["branches"].items())],
            "tags": [{"name": name, "ref": f"refs/tags/{name}", "targetCommit": target}
                     for name, target in sorted(refs["tags"].items())],
            "converts": [],
            "pullRequests": [],
        })

    # ---- routes: listing -----------------------------------------------------------------------

    def _r_tree(self, match: re.Match[str]) -> None:
        key = self._repo(match)
        commit = self.store.resolve(key, unquote(match.group("rev")))
        directory = unquote(match.group("path") or "").strip("/")
        recursive = self._flag("recursive")
        expand = self._flag("expand")
        files = commit.files
        dirs = _directories(files)
        if directory and directory not in dirs:
            raise HubError(404, f"Path {directory!r} does not exist (or is not a directory) at {commit.id}",
                           "EntryNotFound", {"X-Repo-Commit": commit.id})
        prefix = directory + "/" if directory else ""
        if recursive:
            paths = sorted([d for d in dirs if d.startswith(prefix)] + [p for p in files if p.startswith(prefix)])
        else:
            children = {p for p in files if p.startswith(prefix) and "/" not in p[len(prefix):]}
            subdirs = {d for d in dirs if d.startswith(prefix) and "/" not in d[len(prefix):]}
            paths = sorted(subdirs) + sorted(children)

        page_size = int(self._param("limit") or (self.hub.tree_page_size if not expand else 50))
        start = int(self._param("cursor") or 0)
        page = paths[start:start + page_size]
        headers: dict[str, str] = {"X-Repo-Commit": commit.id}
        if start + page_size < len(paths):
            query = {k: v[-1] for k, v in self._query.items()}
            query["cursor"] = str(start + page_size)
            headers["Link"] = f'<{self.hub.url}{self._raw_path}?{urlencode(query)}>; rel="next"'
        self._send_json([self._entry_json(key, commit, path, expand) for path in page], headers=headers)

    def _r_paths_info(self, match: re.Match[str]) -> None:
        key = self._repo(match)
        commit = self.store.resolve(key, unquote(match.group("rev")))
        body = self._body.read() if self._body is not None else b""
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            payload = json.loads(body or b"{}")
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(body.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = (form.get("expand", ["false"])[-1]).lower() in ("1", "true")
        if isinstance(paths, str):
            paths = [paths]
        dirs = _directories(commit.files)
        found = []
        for raw in paths:
            path = raw.strip("/")
            if path in commit.files or path in dirs:
                found.append(self._entry_json(key, commit, path, expand))
        self._send_json(found, headers={"X-Repo-Commit": commit.id})

    def _r_commits(self, match: re.Match[str]) -> None:
        key = self._repo(match)
        commit = self.store.resolve(key, unquote(match.group("rev")))
        items = [
            {"id": c.id, "title": c.title, "message": c.message, "date": c.date,
             "authors": [{"user": c.author}], "parents": list(c.parents)}
            for c in self.store.history(key, commit)
        ]
        self._send_json(items)

    # ---- routes: writing -----------------------------------------------------------------------

    def _upload_mode(self, path: str, size: int, sample: bytes) -> str:
        """"lfs" for large files, binary suffixes and samples that are not UTF-8 text; else "regular"."""
        if size >= REGULAR_MAX_SIZE or path.lower().endswith(LFS_SUFFIXES) or b"\0" in sample:
            return "lfs"
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 4:  # not just a multi-byte char cut by the 512-byte sample
                return "lfs"
        return "regular"

    def _r_preupload(self, match: re.Match[str]) -> None:
        key = self._repo(match, write=True)
        commit = self.store.resolve(key, unquote(match.group("rev")))
        answers = []
        for item in self._body_json().get("files", []):
            path = _validate_repo_path(str(item.get("path", "")))
            sample = base64.b64decode(item.get("sample") or "")
            mode = self._upload_mode(path, int(item.get("size") or 0), sample)
            existing = commit.files.get(path)
            answers.append({
                "path": path, "uploadMode": mode, "shouldIgnore": False,
                "oid": None if existing is None else (existing.sha256 if existing.lfs else existing.git_oid),
            })
        self._send_json({"files": answers, "commitOid": commit.id})

    def _r_commit(self, match: re.Match[str]) -> None:
        key = self._repo(match, write=True)
        if self._flag("create_pr"):
            raise HubError(400, "create_pr is not supported by this test server")
        branch = unquote(match.group("rev"))
        body = self._body
        if body is None:
            raise HubError(400, "Empty commit payload")
        self.hub._record_upload(body.size, lfs=False)
        header: dict[str, Any] | None = None
        operations: list[_Add | _Delete] = []
        for line_no, raw in enumerate(body.read().splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
                kind, value = item["key"], item["value"]
            except (ValueError, KeyError, TypeError):
                raise HubError(400, f"Malformed commit payload at line {line_no}") from None
            if kind == "header":
                header = value
            elif kind == "file":
                path = _validate_repo_path(value["path"])
                try:
                    content = (base64.b64decode(value["content"], validate=True)
                               if value.get("encoding") == "base64" else str(value["content"]).encode())
                except (binascii.Error, ValueError):
                    raise HubError(400, f"Invalid base64 content for {path}") from None
                self.store.put_blob_bytes(content)
                operations.append(_Add(path, FileEntry.regular(content)))
            elif kind == "lfsFile":
                path = _validate_repo_path(value["path"])
                oid = str(value.get("oid", "")).lower()
                if value.get("algo", "sha256") != "sha256" or not _SHA256.fullmatch(oid):
                    raise HubError(400, f"Invalid LFS oid for {path}: {oid!r}")
                blob = self.store.blob_path(oid)
                if not blob.is_file():
                    raise HubError(400, f"LFS object {oid} for {path} was never uploaded")
                size = int(value["size"]) if value.get("size") is not None else blob.stat().st_size
                if size != blob.stat().st_size:
                    raise HubError(400, f"LFS object {oid} has {blob.stat().st_size} bytes, not {size}")
                operations.append(_Add(path, FileEntry.large(oid, size)))
            elif kind in ("deletedFile", "deletedFolder"):
                operations.append(_Delete(_validate_repo_path(value["path"].rstrip("/")),
                                          folder=kind == "deletedFolder"))
            else:
                raise HubError(400, f"Unsupported commit operation: {kind!r}")
        if header is None:
            raise HubError(400, "Commit payload has no header")
        commit = self.store.commit(
            key, branch, operations, title=str(header.get("summary") or "commit"),
            message=str(header.get("description") or ""), parent_commit=header.get("parentCommit"),
        )
        self._send_json({
            "success": True, "commitOid": commit.id, "commitUrl": self._link(f"{key.url_path}/commit/{commit.id}"),
            "hookOutput": "", "pullRequestUrl": None,
        })

    def _r_create_tag(self, match: re.Match[str]) -> None:
        key = self._repo(match, write=True)
        payload = self._body_json()
        tag = str(payload.get("tag") or "")
        target = self.store.create_tag(key, tag, unquote(match.group("rev")))
        self._send_json({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": target.id})

    def _r_delete_tag(self, match: re.Match[str]) -> None:
        key = self._repo(match, write=True)
        self.store.delete_tag(key, unquote(match.group("tag")))
        self._send_json({})

    def _r_create_branch(self, match: re.Match[str]) -> None:
        key = self._repo(match, write=True)
        branch = unquote(match.group("branch"))
        target = self.store.create_branch(key, branch, self._body_json().get("startingPoint"))
        self._send_json({"name": branch, "ref": f"refs/heads/{branch}", "targetCommit": target.id})

    def _r_delete_branch(self, match: re.Match[str]) -> None:
        key = self._repo(match, write=True)
        self.store.delete_branch(key, unquote(match.group("branch")))
        self._send_json({})

    # ---- routes: Git LFS -----------------------------------------------------------------------

    def _r_lfs_batch(self, match: re.Match[str]) -> None:
        key = self._repo(match, write=True)
        payload = self._body_json()
        if payload.get("operation") != "upload":
            raise HubError(400, "Only the 'upload' LFS batch operation is supported")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = str(obj.get("oid", "")).lower(), obj.get("size")
            if not _SHA256.fullmatch(oid) or not isinstance(size, int) or size < 0:
                objects.append({"oid": str(obj.get("oid")), "size": int(size or 0),
                                "error": {"code": 422, "message": "Invalid oid or size"}})
                continue
            if self.store.has_blob(oid, size):
                objects.append({"oid": oid, "size": size})  # already present: no actions
                continue
            ticket = self.hub._new_ticket(key, oid, size)
            upload_url = self._link(f"lfs-upload/{ticket.id}")
            upload: dict[str, Any] = {"href": upload_url}
            if ticket.chunk_size is not None:
                chunk = ticket.chunk_size
                count = -(-size // chunk)
                upload["header"] = {"chunk_size": str(chunk),
                                    **{str(n): f"{upload_url}/part/{n}" for n in range(1, count + 1)}}
            objects.append({
                "oid": oid, "size": size, "authenticated": True,
                "actions": {
                    "upload": upload,
                    "verify": {"href": self._link(f"{key.url_path}.git/info/lfs/objects/verify")},
                },
            })
        self._send_json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                        headers={"Content-Type": "application/vnd.git-lfs+json"})

    def _ticket(self, match: re.Match[str]) -> _UploadTicket:
        ticket = self.hub._tickets.get(match.group("ticket"))
        if ticket is None:
            raise HubError(404, "Unknown or expired upload URL")
        return ticket

    def _r_lfs_put(self, match: re.Match[str]) -> None:
        ticket = self._ticket(match)
        body = self._body or _Body(io.BytesIO(), 0, hashlib.sha256().hexdigest())  # type: ignore[arg-type]
        self.hub._record_upload(body.size, lfs=True)
        if body.size != ticket.size or body.sha256 != ticket.oid:
            raise HubError(400, f"Uploaded content does not match oid {ticket.oid} / size {ticket.size}")
        body.file.seek(0)
        self.store.put_blob_stream(body.file, ticket.oid, ticket.size)
        self.hub._tickets.pop(match.group("ticket"), None)
        self._send(200, b"", {"ETag": f'"{ticket.oid}"'})

    def _r_lfs_put_part(self, match: re.Match[str]) -> None:
        ticket = self._ticket(match)
        number = int(match.group("part"))
        body = self._body
        data = body.read() if body is not None else b""
        self.hub._record_upload(len(data), lfs=True)
        part_path = self.store.tmp_dir / f"part-{match.group('ticket')}-{number}"
        part_path.write_bytes(data)
        ticket.parts[number] = part_path
        self._send(200, b"", {"ETag": f'"{hashlib.md5(data).hexdigest()}"'})

    def _r_lfs_complete(self, match: re.Match[str]) -> None:
        ticket = self._ticket(match)
        payload = self._body_json()
        numbers = [int(part["partNumber"]) for part in payload.get("parts", [])]
        if payload.get("oid") != ticket.oid or numbers != list(range(1, len(numbers) + 1)) \
                or any(n not in ticket.parts for n in numbers):
            raise HubError(400, "Multipart completion does not match the uploaded parts")
        try:
            with _ConcatReader([ticket.parts[n] for n in numbers]) as parts:
                self.store.put_blob_stream(parts, ticket.oid, ticket.size)
        finally:
            for path in ticket.parts.values():
                path.unlink(missing_ok=True)
            self.hub._tickets.pop(match.group("ticket"), None)
        self._send_json({})

    def _r_lfs_verify(self, match: re.Match[str]) -> None:
        self._repo(match, write=True)
        payload = self._body_json()
        oid, size = str(payload.get("oid", "")), payload.get("size")
        if not _SHA256.fullmatch(oid) or not self.store.has_blob(oid, size if isinstance(size, int) else None):
            raise HubError(404, f"LFS object {oid} not found")
        self._send_json({})

    # ---- routes: downloads ---------------------------------------------------------------------

    def _r_resolve(self, match: re.Match[str]) -> None:
        key = self._repo(match)
        commit = self.store.resolve(key, unquote(match.group("rev")))
        path = unquote(match.group("path"))
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path} at {commit.id}", "EntryNotFound",
                           {"X-Repo-Commit": commit.id})
        blob = self.store.blob_path(entry.sha256)
        headers = {
            "X-Repo-Commit": commit.id,
            "ETag": f'"{entry.etag}"',
            "Accept-Ranges": "bytes",
            "Cache-Control": "no-cache",
        }
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.sha256}"'
            headers["X-Linked-Size"] = str(entry.size)
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if entry.lfs and self.hub.lfs_redirect_host:  # as the Hub: LFS content lives on a CDN host
            port = self.server.server_address[1]
            location = f"http://{self.hub.lfs_redirect_host}:{port}/lfs-objects/{entry.sha256}"
            self._send(302, b"", {**headers, "Location": location})
            return
        self._serve_blob(blob, path, headers, content_type)

    def _r_lfs_object(self, match: re.Match[str]) -> None:
        """The CDN stand-in an LFS redirect points to (no auth: a signed URL on the real Hub)."""
        oid = match.group("oid")
        if not self.store.has_blob(oid):
            raise HubError(404, f"no object {oid}")
        with self.hub._counter_lock:
            self.hub.cdn_log.append((oid, "Authorization" in self.headers))
        self._serve_blob(self.store.blob_path(oid), f"lfs-objects/{oid}",
                         {"ETag": f'"{oid}"', "Accept-Ranges": "bytes"}, "application/octet-stream")

    def _serve_blob(self, blob: Path, path: str, headers: dict[str, str], content_type: str) -> None:
        """Send a stored file: whole, or the requested byte range (unless ``honour_range`` is off)."""
        total = blob.stat().st_size
        start, end, status = 0, total - 1, 200
        range_header = self.headers.get("Range") if self.hub.honour_range else None
        if range_header:
            parsed = self._parse_range(range_header, total)
            if parsed is None:
                raise HubError(416, f"Range not satisfiable: {range_header}", None,
                               {**headers, "Content-Range": f"bytes */{total}"})
            (start, end), status = parsed, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
            with self.hub._counter_lock:
                self.hub.range_log.append((path, range_header))
        length = max(0, end - start + 1)
        cut = self.hub._take_fault(self._method, self._raw_path, "cut_after") if self._method == "GET" else None

        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self._method == "HEAD" or length == 0:
            return
        with blob.open("rb") as source:
            source.seek(start)
            remaining = length
            if cut is not None:  # an injected network failure: part of the body, then a dropped connection
                self.wfile.write(source.read(min(cut.cut_after, length)))
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            while remaining > 0:
                chunk = source.read(min(remaining, _COPY_CHUNK))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    @staticmethod
    def _parse_range(header: str, total: int) -> tuple[int, int] | None:
        """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> inclusive (start, end); ``None`` if unsatisfiable."""
        match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
        if match is None or (not match.group(1) and not match.group(2)):
            return None
        if not match.group(1):  # suffix range: the last n bytes
            suffix = int(match.group(2))
            if suffix == 0 or total == 0:
                return None
            return max(0, total - suffix), total - 1
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else total - 1
        if start >= total or end < start:
            return None
        return start, min(end, total - 1)


# --------------------------------------------------------------------------------------------------
# Public server object
# --------------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """A failure the server injects into the next ``times`` matching requests (see :meth:`HubServer.inject_fault`)."""

    method: str
    path_contains: str
    status: int | None = None      # answer with this HTTP status instead of routing the request
    cut_after: int | None = None   # downloads: send the headers and this many body bytes, then drop the connection
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and self.path_contains in path


class HubServer:
    """A Hub-compatible server on 127.0.0.1 backed by ``root_dir``.

    Args:
        root_dir: where blobs, repos, commits and refs are stored (created if needed; reusing a
            directory keeps its repos across server instances).
        host: interface to bind (loopback by default).
        port: TCP port; ``0`` picks a free one.
        token: the only accepted bearer token (random ``hf_...`` string by default).
        username: owner reported by ``whoami`` and used for repos created without organization.
        initial_gitattributes: new repos start with a commit holding a ``.gitattributes`` (as on the Hub);
            with ``False`` the initial commit is empty.
        multipart_chunk_size: LFS objects larger than this are uploaded with the multipart protocol.
        tree_page_size: entries per page of the ``tree`` listing (paginated with ``Link`` headers).
        lfs_redirect_host: when set (e.g. ``"localhost"``, another origin than ``127.0.0.1`` for an
            HTTP client), ``/resolve/`` answers for LFS files are 302 redirects to
            ``http://<host>:<port>/lfs-objects/<sha256>``, as the Hub redirects to its CDN.

    Attributes:
        bytes_uploaded: request-body bytes received by uploads (commit payloads + LFS content).
        lfs_bytes_uploaded: the LFS-content part of ``bytes_uploaded``.
        request_log: ``(method, path)`` of every request, in arrival order.
        range_log: ``(path, Range header)`` of every ranged download request.
        cdn_log: ``(sha256, whether an Authorization header came with it)`` of every request to
            ``/lfs-objects/`` (see ``lfs_redirect_host``).
        honour_range: set to ``False`` to answer ranged downloads with the whole file and 200, as
            some CDNs do.
        faults: failures still to inject (:meth:`inject_fault`).
    """

    def __init__(self, root_dir: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, username: str = "hub-test-user", initial_gitattributes: bool = True,
                 multipart_chunk_size: int = DEFAULT_MULTIPART_CHUNK_SIZE, tree_page_size: int = 1000,
                 lfs_redirect_host: str | None = None) -> None:
        self.root_dir = Path(root_dir)
        self.host = host
        self.port = port
        self.token = token or f"hf_test_{secrets.token_hex(16)}"
        self.username = username
        self.multipart_chunk_size = multipart_chunk_size
        self.tree_page_size = tree_page_size
        self.store = HubStore(self.root_dir, username=username, initial_gitattributes=initial_gitattributes)
        self.request_log: list[tuple[str, str]] = []
        self.range_log: list[tuple[str, str]] = []
        self.cdn_log: list[tuple[str, bool]] = []
        self.honour_range = True
        self.lfs_redirect_host = lfs_redirect_host
        self.faults: list[Fault] = []
        self._tickets: dict[str, _UploadTicket] = {}
        self._counter_lock = threading.Lock()
        self._bytes_uploaded = 0
        self._lfs_bytes_uploaded = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        """Start serving in a background thread; return the base URL (``http://127.0.0.1:PORT``)."""
        if self._httpd is not None:
            return self.url
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.hub = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"hub-server-{self.port}", daemon=True)
        self._thread.start()
        return self._url

    def stop(self) -> None:
        """Stop serving (idempotent).  Stored data stays in ``root_dir``."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> HubServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the running server (what ``HF_ENDPOINT`` should be)."""
        if self._url is None:
            raise RuntimeError("HubServer is not started")
        return self._url

    endpoint = url

    @property
    def auth_headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` for raw HTTP requests."""
        return {"Authorization": f"Bearer {self.token}"}

    # ---- counters ------------------------------------------------------------------------------

    @property
    def bytes_uploaded(self) -> int:
        with self._counter_lock:
            return self._bytes_uploaded

    @property
    def lfs_bytes_uploaded(self) -> int:
        with self._counter_lock:
            return self._lfs_bytes_uploaded

    def reset_counters(self) -> None:
        """Zero the upload counters and clear the request, range and CDN logs."""
        with self._counter_lock:
            self._bytes_uploaded = 0
            self._lfs_bytes_uploaded = 0
            self.request_log.clear()
            self.range_log.clear()
            self.cdn_log.clear()

    def _record_upload(self, size: int, *, lfs: bool) -> None:
        with self._counter_lock:
            self._bytes_uploaded += size
            if lfs:
                self._lfs_bytes_uploaded += size

    def inject_fault(self, method: str, path_contains: str, *, status: int | None = None,
                     cut_after: int | None = None, times: int = 1) -> Fault:
        """Make the next ``times`` ``method`` requests whose path contains ``path_contains`` fail.

        ``status`` answers them with that HTTP status (e.g. 503, to exercise client retries);
        ``cut_after`` (downloads) announces the full ``Content-Length`` but drops the connection
        after that many body bytes, as a network failure mid-transfer would.
        """
        if (status is None) == (cut_after is None):
            raise ValueError("give exactly one of status= or cut_after=")
        fault = Fault(method, path_contains, status, cut_after, times)
        with self._counter_lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, method: str, path: str, kind: str) -> Fault | None:
        """The first pending fault of ``kind`` ("status" or "cut_after") matching the request, consumed once."""
        with self._counter_lock:
            for fault in self.faults:
                if getattr(fault, kind) is not None and fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def _log_request(self, method: str, path: str) -> None:
        with self._counter_lock:
            self.request_log.append((method, path))

    def _new_ticket(self, key: RepoKey, oid: str, size: int) -> _UploadTicket:
        chunk = self.multipart_chunk_size if size > self.multipart_chunk_size else None
        ticket = _UploadTicket(id=secrets.token_hex(16), key=key, oid=oid, size=size, chunk_size=chunk)
        with self._counter_lock:
            self._tickets[ticket.id] = ticket
        return ticket

    # ---- server-side helpers for tests ---------------------------------------------------------

    def create_repo(self, repo_type: str, repo_id: str, *, private: bool = False) -> bool:
        """Create a repo directly in the store (no HTTP); ``False`` if it existed."""
        if repo_type not in REPO_TYPES or repo_id.count("/") != 1:
            raise ValueError(f"Expected repo_type in {REPO_TYPES} and repo_id 'org/name', got {repo_type}, {repo_id}")
        return self.store.create_repo(RepoKey(repo_type, repo_id), private=private)

    def file_entry(self, repo_type: str, repo_id: str, path: str, revision: str = "main") -> FileEntry:
        """The recorded entry of ``path`` at ``revision``; ``KeyError`` if absent."""
        commit = self.store.resolve(RepoKey(repo_type, repo_id), revision)
        return commit.files[path]

    def corrupt_file(self, repo_type: str, repo_id: str, path: str, revision: str = "main",
                     offset: int | None = None) -> Path:
        """Flip one byte (``offset``, default the middle) of the blob stored for ``path``.

        The recorded sha256, size and ETag are left untouched, so the server keeps advertising the
        original checksum while serving the damaged bytes.  Blobs are content-addressed and shared:
        every repo/path holding the same content sees the corruption.  Returns the blob's path.
        """
        entry = self.file_entry(repo_type, repo_id, path, revision)
        blob = self.store.blob_path(entry.sha256)
        size = blob.stat().st_size
        if size == 0:
            raise ValueError(f"{path} is empty: nothing to corrupt")
        position = size // 2 if offset is None else offset
        if not 0 <= position < size:
            raise ValueError(f"offset {position} outside of {path} ({size} bytes)")
        with blob.open("r+b") as handle:
            handle.seek(position)
            original = handle.read(1)
            handle.seek(position)
            handle.write(bytes([original[0] ^ 0xFF]))
        return blob


# --------------------------------------------------------------------------------------------------
# Client patching
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def patch_endpoint(base_url: str, *, hf_home: str | os.PathLike[str] | None = None,
                   disable_xet: bool = True) -> Iterator[str]:
    """Point the already-imported ``huggingface_hub`` and ``datasets`` at ``base_url``; restore on exit.

    ``HF_ENDPOINT`` and friends are read when those packages are imported, so setting the
    environment variable is not enough.  This patches ``huggingface_hub.constants`` (``ENDPOINT``,
    ``HUGGINGFACE_CO_URL_TEMPLATE``, ``HF_URL_HOSTS``, ``HF_HUB_OFFLINE``, ``HF_HUB_DISABLE_XET``),
    the default ``HfApi`` behind the module-level functions, the Hub origins trusted for redirects,
    ``datasets.config`` (``HF_ENDPOINT``, ``HUB_DATASETS_URL``, offline flags; the dataset-viewer
    parquet export and download counting are turned off since they call other hosts), the
    matching environment variables, and clears ``HfFileSystem`` instances and the shared HTTP
    session.  With ``hf_home`` all caches and the token file move under that directory too, so a
    test neither reads nor writes the user's ``~/.cache/huggingface``.

    Yields the endpoint (``base_url`` without trailing slash).
    """
    base = base_url.rstrip("/")
    parsed = urlsplit(base)
    saved_attrs: list[tuple[object, str, object]] = []

    def patch(obj: object, name: str, value: object) -> None:
        if hasattr(obj, name):
            saved_attrs.append((obj, name, getattr(obj, name)))
            setattr(obj, name, value)

    env: dict[str, str] = {"HF_ENDPOINT": base, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
                           "HF_UPDATE_DOWNLOAD_COUNTS": "0", "HF_HUB_DISABLE_TELEMETRY": "1"}
    if disable_xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    home = Path(hf_home) if hf_home is not None else None
    if home is not None:
        env["HF_HOME"] = str(home)
    saved_env = {name: os.environ.get(name) for name in env}

    def clear_client_state() -> None:
        with contextlib.suppress(ImportError):
            from huggingface_hub import HfFileSystem

            HfFileSystem.clear_instance_cache()
        with contextlib.suppress(ImportError):
            from huggingface_hub.utils import close_session

            close_session()

    try:
        os.environ.update(env)
        try:
            import huggingface_hub.constants as hf_constants
            import huggingface_hub.hf_api as hf_api
            import huggingface_hub.utils._http as hf_http
        except ImportError:  # pragma: no cover - the toolkit depends on huggingface_hub
            hf_constants = hf_api = hf_http = None  # type: ignore[assignment]
        if hf_constants is not None:
            patch(hf_constants, "ENDPOINT", base)
            patch(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", base + "/{repo_id}/resolve/{revision}/{filename}")
            patch(hf_constants, "HF_URL_HOSTS", frozenset(hf_constants.HF_URL_HOSTS | {parsed.hostname or ""}))
            patch(hf_constants, "HF_HUB_OFFLINE", False)
            patch(hf_constants, "HF_HUB_DISABLE_TELEMETRY", True)
            if disable_xet:
                patch(hf_constants, "HF_HUB_DISABLE_XET", True)
            if home is not None:
                hub_cache = str(home / "hub")
                for name, value in {
                    "HF_HOME": str(home), "HF_HUB_CACHE": hub_cache, "HUGGINGFACE_HUB_CACHE": hub_cache,
                    "default_cache_path": hub_cache, "HF_ASSETS_CACHE": str(home / "assets"),
                    "HUGGINGFACE_ASSETS_CACHE": str(home / "assets"), "HF_TOKEN_PATH": str(home / "token"),
                    "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"), "HF_XET_CACHE": str(home / "xet"),
                }.items():
                    patch(hf_constants, name, value)
            patch(hf_api.api, "endpoint", base)
            origin = (parsed.scheme, (parsed.hostname or "").lower(), parsed.port or 80)
            patch(hf_http, "_HUB_ORIGINS", frozenset(getattr(hf_http, "_HUB_ORIGINS", frozenset()) | {origin}))
        try:
            import datasets.config as ds_config
        except ImportError:
            ds_config = None  # type: ignore[assignment]
        if ds_config is not None:
            patch(ds_config, "HF_ENDPOINT", base)
            patch(ds_config, "HUB_DATASETS_URL", base + "/datasets/{repo_id}/resolve/{revision}/{path}")
            patch(ds_config, "HF_HUB_OFFLINE", False)
            patch(ds_config, "HF_DATASETS_OFFLINE", False)
            patch(ds_config, "USE_PARQUET_EXPORT", False)
            patch(ds_config, "HF_UPDATE_DOWNLOAD_COUNTS", False)
            if home is not None:
                datasets_cache = home / "datasets"
                for name, value in {
                    "HF_CACHE_HOME": str(home), "HF_DATASETS_CACHE": datasets_cache,
                    "HF_MODULES_CACHE": home / "modules",
                    "DOWNLOADED_DATASETS_PATH": datasets_cache / "downloads",
                    "EXTRACTED_DATASETS_PATH": datasets_cache / "downloads" / "extracted",
                }.items():
                    patch(ds_config, name, value)
        clear_client_state()
        yield base
    finally:
        for obj, name, value in reversed(saved_attrs):
            setattr(obj, name, value)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        clear_client_state()


@contextlib.contextmanager
def running_hub(root_dir: str | os.PathLike[str], *, hf_home: str | os.PathLike[str] | None = None,
                **server_kwargs: Any) -> Iterator[HubServer]:
    """Start a :class:`HubServer` on ``root_dir`` and :func:`patch_endpoint` the clients to it."""
    with HubServer(root_dir, **server_kwargs) as server, patch_endpoint(server.url, hf_home=hf_home):
        yield server
