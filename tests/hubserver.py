"""A small Hugging Face Hub-compatible HTTP server for offline tests (127.0.0.1 only).

The real ``huggingface_hub`` and ``datasets`` clients talk to it unmodified:
repo creation, YAML validation, repo info (also at a revision), refs, tree,
paths-info, preupload, Git LFS batch → PUT → verify, the ndjson commit
endpoint, tags and branches, and ``resolve`` with GET, HEAD and Range.
Errors carry ``X-Error-Code`` like the Hub's, so the client raises
``RepositoryNotFoundError`` / ``RevisionNotFoundError`` / ``EntryNotFoundError``.

Storage: content-addressed blobs (SHA-256) on disk; commits are immutable
snapshots ``{path: FileEntry}``; branches and tags point at commits. Writes
need ``Authorization: Bearer <token>``; private repos are invisible without it.

Test helpers: :meth:`HubServer.corrupt_file` flips a byte of a stored blob
without touching its recorded checksum; :attr:`HubServer.bytes_uploaded`
counts request-body bytes of write requests; :func:`patch_endpoint` points the
already-imported clients at the server.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

REGULAR_SUFFIXES = (".md", ".json", ".txt", ".yaml", ".yml", ".gitattributes")
REGULAR_MAX = 10 * 1024 * 1024
DATE = "2026-01-01T00:00:00.000Z"


def git_blob_oid(data: bytes) -> str:
    """The git object id of a blob (what the Hub reports for non-LFS files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class FileEntry:
    """A file in a commit."""

    sha256: str
    size: int
    oid: str   # git blob id (regular) or sha256 (LFS)
    lfs: bool


@dataclass
class Repo:
    """One repository: commits, branches, tags."""

    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, dict[str, FileEntry]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """An error answer: status, X-Error-Code and message."""

    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra or {}


class HubServer:
    """The server; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(self, root: str | os.PathLike[str], token: str = "hf_wmhub_test_token_0123456789") -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.repos: dict[tuple[str, str], Repo] = {}
        self.bytes_uploaded = 0
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------ lifecycle
    def start(self) -> str:
        """Start serving on a free port of 127.0.0.1; returns the base URL."""
        server = self

        class Handler(_Handler):
            hub = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "HubServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -------------------------------------------------------------- storage
    def put_blob(self, data: bytes) -> str:
        """Store bytes; returns their SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.blobs / digest
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return digest

    def blob(self, sha256: str) -> bytes:
        return (self.blobs / sha256).read_bytes()

    def repo(self, repo_type: str, repo_id: str, authorized: bool) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not authorized):
            raise HttpError(404 if repo is None else 401, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def resolve(self, repo: Repo, revision: str) -> str:
        revision = unquote(revision)
        if revision in repo.branches:
            return repo.branches[revision]
        if revision in repo.tags:
            return repo.tags[revision]
        if revision in repo.commits:
            return revision
        raise HttpError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def corrupt_file(self, repo_type: str, repo_id: str, path: str, revision: str = "main") -> None:
        """Flip one byte of the stored blob of ``path`` (its recorded checksum stays)."""
        with self.lock:
            repo = self.repos[(repo_type, repo_id)]
            entry = repo.commits[self.resolve(repo, revision)][path]
            blob = self.blobs / entry.sha256
            data = bytearray(blob.read_bytes())
            data[len(data) // 2] ^= 0xFF
            blob.write_bytes(bytes(data))


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    # ------------------------------------------------------------- plumbing
    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        return header == f"Bearer {self.hub.token}"

    def _require_write(self) -> None:
        if not self._authorized():
            raise HttpError(401, "Invalid credentials in Authorization header")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            data = b"".join(chunks)
        else:
            data = self.rfile.read(length) if length else b""
        if self.command in ("POST", "PUT"):
            with self.hub.lock:
                self.hub.bytes_uploaded += len(data)
        return data

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)) if self.command != "HEAD" or status >= 400
                         else (headers or {}).get("Content-Length", str(len(body))))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            for method, pattern, handler in ROUTES:
                if method == self.command or (method == "GET" and self.command == "HEAD"):
                    match = re.fullmatch(pattern, url.path)
                    if match:
                        handler(self, query, **match.groupdict())
                        return
            raise HttpError(404, f"no route for {self.command} {url.path}")
        except HttpError as exc:
            headers = {"X-Error-Code": exc.code} if exc.code else {}
            headers["X-Error-Message"] = exc.message
            body = b"" if self.command == "HEAD" else json.dumps({"error": exc.message, **exc.extra}).encode()
            self.send_response(exc.status)
            self.send_header("Content-Type", "application/json")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = _dispatch

    # --------------------------------------------------------------- routes
    def create_repo(self, query) -> None:
        body = json.loads(self._body() or b"{}")
        self._require_write()
        repo_type = body.get("type") or "model"
        name, org = body["name"], body.get("organization")
        repo_id = f"{org}/{name}" if org else name
        if "/" not in repo_id:
            raise HttpError(400, "repo ids must be namespaced: <org>/<name>")
        prefix = "datasets/" if repo_type == "dataset" else ""
        with self.hub.lock:
            if (repo_type, repo_id) in self.hub.repos:
                raise HttpError(409, "You already created this repo", extra={"url": f"{self.hub.url}/{prefix}{repo_id}"})
            repo = Repo(repo_type, repo_id, bool(body.get("private")))
            initial = hashlib.sha1(f"init {repo_type} {repo_id}".encode()).hexdigest()
            repo.commits[initial] = {}
            repo.branches["main"] = initial
            self.hub.repos[(repo_type, repo_id)] = repo
        self._json({"url": f"{self.hub.url}/{prefix}{repo_id}", "name": repo_id})

    def validate_yaml(self, query) -> None:
        self._body()
        self._json({"errors": [], "warnings": []})

    def repo_info(self, query, rtype: str, repo_id: str, revision: str = "main") -> None:
        repo = self.hub.repo(rtype, repo_id, self._authorized())
        commit = self.hub.resolve(repo, revision or "main")
        files = repo.commits[commit]
        siblings = [{"rfilename": p, "size": e.size,
                     **({"lfs": {"size": e.size, "sha256": e.sha256, "pointerSize": 134}} if e.lfs else {})}
                    for p, e in sorted(files.items())]
        self._json({"_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id,
                    "author": repo_id.split("/")[0], "sha": commit, "private": repo.private, "disabled": False,
                    "gated": False, "downloads": 0, "likes": 0, "tags": [], "createdAt": DATE,
                    "lastModified": DATE, "siblings": siblings})

    def refs(self, query, rtype: str, repo_id: str) -> None:
        repo = self.hub.repo(rtype, repo_id, self._authorized())
        self._json({"branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": c}
                                 for n, c in repo.branches.items()],
                    "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": c} for n, c in repo.tags.items()],
                    "converts": []})

    @staticmethod
    def _entry_json(path: str, entry: FileEntry) -> dict:
        out = {"type": "file", "oid": entry.oid if not entry.lfs else git_blob_oid(b"lfs:" + entry.sha256.encode()),
               "size": entry.size, "path": path}
        if entry.lfs:
            out["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": 134}
        return out

    def tree(self, query, rtype: str, repo_id: str, revision: str, path: str = "") -> None:
        repo = self.hub.repo(rtype, repo_id, self._authorized())
        files = repo.commits[self.hub.resolve(repo, revision)]
        path = unquote(path or "").strip("/")
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = f"{path}/" if path else ""
        if path and not any(p.startswith(prefix) for p in files):
            raise HttpError(404, f"{path} does not exist", "EntryNotFound")
        entries: dict[str, dict] = {}
        for file_path, entry in sorted(files.items()):
            if not file_path.startswith(prefix):
                continue
            rest = file_path[len(prefix):].split("/")
            for depth in range(1, len(rest)):
                if recursive or depth == 1:
                    folder = prefix + "/".join(rest[:depth])
                    entries.setdefault(folder, {"type": "directory", "oid": "0" * 40, "size": 0, "path": folder})
            if recursive or len(rest) == 1:
                entries[file_path] = self._entry_json(file_path, entry)
        self._json([entries[k] for k in sorted(entries)])

    def paths_info(self, query, rtype: str, repo_id: str, revision: str) -> None:
        raw = self._body()
        form = parse_qs(raw.decode()) if raw and not raw.startswith(b"{") else {}
        paths = form.get("paths", []) if form else json.loads(raw or b"{}").get("paths", [])
        repo = self.hub.repo(rtype, repo_id, self._authorized())
        files = repo.commits[self.hub.resolve(repo, revision)]
        out = []
        for path in paths:
            if path in files:
                out.append(self._entry_json(path, files[path]))
            elif any(p.startswith(path.rstrip("/") + "/") for p in files):
                out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": path})
        self._json(out)

    def preupload(self, query, rtype: str, repo_id: str, revision: str) -> None:
        body = json.loads(self._body())
        self._require_write()
        repo = self.hub.repo(rtype, repo_id, True)
        self.hub.resolve(repo, revision)
        out = []
        for item in body["files"]:
            regular = item["path"].endswith(REGULAR_SUFFIXES) and item["size"] < REGULAR_MAX
            out.append({"path": item["path"], "uploadMode": "regular" if regular else "lfs", "shouldIgnore": False})
        self._json({"files": out, "commitOid": repo.branches.get(unquote(revision))})

    def lfs_batch(self, query, prefix: str | None, repo_id: str) -> None:
        body = json.loads(self._body())
        self._require_write()
        rtype = "dataset" if prefix else "model"
        self.hub.repo(rtype, repo_id, True)
        objects = []
        for obj in body["objects"]:
            oid, size = obj["oid"], obj["size"]
            item = {"oid": oid, "size": size, "authenticated": True}
            if not (self.hub.blobs / oid).exists():
                item["actions"] = {"upload": {"href": f"{self.hub.url}/lfs-upload/{oid}"},
                                   "verify": {"href": f"{self.hub.url}/lfs-verify/{oid}"}}
            objects.append(item)
        self._json({"transfer": "basic", "objects": objects}, headers={"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_upload(self, query, oid: str) -> None:
        data = self._body()
        if hashlib.sha256(data).hexdigest() != oid:
            raise HttpError(400, "uploaded content does not match its oid")
        self.hub.put_blob(data)
        self._json({})

    def lfs_verify(self, query, oid: str) -> None:
        body = json.loads(self._body() or b"{}")
        path = self.hub.blobs / oid
        if not path.exists() or path.stat().st_size != body.get("size", path.stat().st_size):
            raise HttpError(404, f"object {oid} not uploaded")
        self._json({})

    def commit(self, query, rtype: str, repo_id: str, revision: str) -> None:
        raw = self._body()
        self._require_write()
        lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        with self.hub.lock:
            repo = self.hub.repo(rtype, repo_id, True)
            branch = unquote(revision)
            if branch not in repo.branches:
                raise HttpError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            parent = repo.branches[branch]
            files = dict(repo.commits[parent])
            message = ""
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "header":
                    message = value.get("summary", "")
                    expected = value.get("parentCommit")
                    if expected and expected != parent:
                        raise HttpError(412, "parent commit is not the head of the branch")
                elif key == "file":
                    data = base64.b64decode(value["content"])
                    files[value["path"]] = FileEntry(self.hub.put_blob(data), len(data), git_blob_oid(data), False)
                elif key == "lfsFile":
                    blob = self.hub.blobs / value["oid"]
                    if not blob.exists():
                        raise HttpError(422, f"LFS object {value['oid']} was not uploaded")
                    files[value["path"]] = FileEntry(value["oid"], blob.stat().st_size, value["oid"], True)
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    files = {p: e for p, e in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
                else:
                    raise HttpError(400, f"unsupported commit operation {key!r}")
            payload = json.dumps({"parent": parent, "message": message,
                                  "files": {p: e.sha256 for p, e in sorted(files.items())}}).encode()
            commit_id = hashlib.sha1(payload).hexdigest()
            repo.commits[commit_id] = files
            repo.branches[branch] = commit_id
        prefix = "datasets/" if rtype == "dataset" else ""
        self._json({"commitUrl": f"{self.hub.url}/{prefix}{repo_id}/commit/{commit_id}", "commitOid": commit_id,
                    "success": True})

    def create_tag(self, query, rtype: str, repo_id: str, revision: str) -> None:
        body = json.loads(self._body() or b"{}")
        self._require_write()
        with self.hub.lock:
            repo = self.hub.repo(rtype, repo_id, True)
            commit = self.hub.resolve(repo, revision)
            if body["tag"] in repo.tags:
                raise HttpError(409, f"Tag {body['tag']} already exists")
            repo.tags[body["tag"]] = commit
        self._json({})

    def create_branch(self, query, rtype: str, repo_id: str, branch: str) -> None:
        body = json.loads(self._body() or b"{}")
        self._require_write()
        with self.hub.lock:
            repo = self.hub.repo(rtype, repo_id, True)
            name = unquote(branch)
            if name in repo.branches:
                raise HttpError(409, f"Branch {name} already exists")
            repo.branches[name] = self.hub.resolve(repo, body.get("startingPoint") or "main")
        self._json({})

    def resolve_file(self, query, prefix: str | None, repo_id: str, revision: str, path: str) -> None:
        rtype = "dataset" if prefix else "model"
        repo = self.hub.repo(rtype, repo_id, self._authorized())
        commit = self.hub.resolve(repo, revision)
        path = unquote(path)
        entry = repo.commits[commit].get(path)
        if entry is None:
            raise HttpError(404, f"{path} does not exist at {revision}", "EntryNotFound")
        data = self.hub.blob(entry.sha256)
        headers = {"X-Repo-Commit": commit, "ETag": f'"{entry.oid}"', "Accept-Ranges": "bytes"}
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
        status = 200
        ranged = self.headers.get("Range")
        if ranged and self.command == "GET":
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", ranged.strip())
            if not match:
                raise HttpError(416, "bad Range header")
            start = int(match.group(1) or 0)
            end = int(match.group(2)) if match.group(2) else len(data) - 1
            if start >= len(data) and len(data):
                raise HttpError(416, "range not satisfiable")
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data = data[start:end + 1]
            status = 206
        headers["Content-Length"] = str(len(data))
        self._send(status, data, headers, content_type="application/octet-stream")

    def whoami(self, query) -> None:
        if not self._authorized():
            raise HttpError(401, "Invalid credentials")
        self._json({"type": "user", "name": "wmhub-test", "orgs": [], "auth": {"type": "access_token"}})


_RT = r"(?P<rtype>model|dataset)s"
_ID = r"(?P<repo_id>[^/]+/[^/]+)"
ROUTES = [
    ("POST", r"/api/repos/create", _Handler.create_repo),
    ("POST", r"/api/validate-yaml", _Handler.validate_yaml),
    ("GET", r"/api/whoami-v2", _Handler.whoami),
    ("GET", rf"/api/{_RT}/{_ID}/refs", _Handler.refs),
    ("GET", rf"/api/{_RT}/{_ID}/tree/(?P<revision>[^/]+)(?:/(?P<path>.*))?", _Handler.tree),
    ("POST", rf"/api/{_RT}/{_ID}/paths-info/(?P<revision>[^/]+)", _Handler.paths_info),
    ("POST", rf"/api/{_RT}/{_ID}/preupload/(?P<revision>[^/]+)", _Handler.preupload),
    ("POST", rf"/api/{_RT}/{_ID}/commit/(?P<revision>[^/]+)", _Handler.commit),
    ("POST", rf"/api/{_RT}/{_ID}/tag/(?P<revision>[^/]+)", _Handler.create_tag),
    ("POST", rf"/api/{_RT}/{_ID}/branch/(?P<branch>[^/]+)", _Handler.create_branch),
    ("GET", rf"/api/{_RT}/{_ID}/revision/(?P<revision>[^/]+)", _Handler.repo_info),
    ("GET", rf"/api/{_RT}/{_ID}", _Handler.repo_info),
    ("POST", rf"/(?P<prefix>datasets/)?{_ID}\.git/info/lfs/objects/batch", _Handler.lfs_batch),
    ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", _Handler.lfs_upload),
    ("POST", r"/lfs-verify/(?P<oid>[0-9a-f]{64})", _Handler.lfs_verify),
    ("GET", rf"/(?P<prefix>datasets/)?{_ID}/resolve/(?P<revision>[^/]+)/(?P<path>.+)", _Handler.resolve_file),
]


@contextlib.contextmanager
def patch_endpoint(url: str, token: str, cache_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Point the already-imported ``huggingface_hub`` and ``datasets`` at ``url``.

    Both read ``HF_ENDPOINT`` (and offline mode) at import time, so their module
    constants are patched and restored; the token goes through ``HF_TOKEN`` and
    the caches into ``cache_dir``.
    """
    from huggingface_hub import HfFileSystem, constants

    saved_env = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_XET",
                                                "HF_HUB_CACHE", "HF_DATASETS_CACHE")}
    patches: list[tuple[object, str, object]] = []

    def patch(module, name, value) -> None:
        if hasattr(module, name):
            patches.append((module, name, getattr(module, name)))
            setattr(module, name, value)

    cache = Path(cache_dir)
    os.environ.update({"HF_ENDPOINT": url, "HF_TOKEN": token, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1",
                       "HF_HUB_CACHE": str(cache / "hub"), "HF_DATASETS_CACHE": str(cache / "datasets")})
    patch(constants, "ENDPOINT", url)
    patch(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    patch(constants, "HF_HUB_OFFLINE", False)
    patch(constants, "HF_HUB_DISABLE_XET", True)
    patch(constants, "HF_HUB_CACHE", str(cache / "hub"))
    try:
        import datasets.config as dconfig

        patch(dconfig, "HF_ENDPOINT", url)
        patch(dconfig, "HF_HUB_OFFLINE", False)
        patch(dconfig, "HF_DATASETS_CACHE", cache / "datasets")
        patch(dconfig, "HUB_DATASETS_URL", url + "/datasets/{repo_id}/resolve/{revision}/{path}")
        patch(dconfig, "HUB_DATASETS_HFFS_URL", "hf://datasets/{repo_id}@{revision}/{path}")
    except ImportError:  # datasets is optional for the hub tests
        pass
    HfFileSystem.clear_instance_cache()
    try:
        yield
    finally:
        for module, name, value in reversed(patches):
            setattr(module, name, value)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        HfFileSystem.clear_instance_cache()
