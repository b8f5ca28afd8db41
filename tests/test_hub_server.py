"""The local Hub server (tests/support/hub_server.py) against the real huggingface_hub / datasets clients."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")  # before huggingface_hub is imported

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import requests  # noqa: E402
from huggingface_hub import HfApi, hf_hub_download  # noqa: E402
from huggingface_hub.errors import (  # noqa: E402
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder  # noqa: E402

from support.hub_server import HubServer, patch_endpoint  # noqa: E402

# huggingface_hub's LFS upload passes a file object as `data=`, which httpx2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

DATASET = "test-org/tiny-dataset"
MODEL = "test-org/tiny-model"
README = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/*.parquet
---
# Tiny dataset

Two parquet shards for the hub server tests.
"""


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A running server with the clients pointed at it and a private HF_HOME."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    with HubServer(tmp_path / "hub") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf_home"):
        yield server


@pytest.fixture
def api(hub: HubServer) -> HfApi:
    return HfApi(token=hub.token)


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    """README with a ``configs:`` block and two parquet shards."""
    root = tmp_path / "dataset"
    (root / "data").mkdir(parents=True)
    (root / "README.md").write_text(README)
    pq.write_table(pa.table({"step": [0, 1, 2], "reward": [0.5, 0.25, 1.0], "episode": ["a", "a", "a"]}),
                   root / "data" / "train-00000.parquet")
    pq.write_table(pa.table({"step": [0, 1], "reward": [2.0, -1.0], "episode": ["b", "b"]}),
                   root / "data" / "train-00001.parquet")
    return root


@pytest.fixture
def dataset_repo(api: HfApi, dataset_dir: Path) -> str:
    """``DATASET`` on the server with ``dataset_dir`` uploaded; returns the commit id."""
    api.create_repo(DATASET, repo_type="dataset", exist_ok=True)
    return api.upload_folder(repo_id=DATASET, repo_type="dataset", folder_path=dataset_dir).oid


def test_dataset_repo_lifecycle(hub: HubServer, api: HfApi, dataset_dir: Path, tmp_path: Path) -> None:
    assert api.create_repo(DATASET, repo_type="dataset", exist_ok=True).endswith(f"/datasets/{DATASET}")
    assert api.create_repo(DATASET, repo_type="dataset", exist_ok=True).repo_id == DATASET
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo(DATASET, repo_type="dataset")
    assert conflict.value.response.status_code == 409

    commit = api.upload_folder(repo_id=DATASET, repo_type="dataset", folder_path=dataset_dir)
    assert len(commit.oid) == 40
    assert hub.lfs_bytes_uploaded == sum(p.stat().st_size for p in (dataset_dir / "data").iterdir())

    files = {".gitattributes", "README.md", "data/train-00000.parquet", "data/train-00001.parquet"}
    assert set(api.list_repo_files(DATASET, repo_type="dataset")) == files

    tree = {entry.path: entry for entry in api.list_repo_tree(DATASET, repo_type="dataset", recursive=True)}
    assert set(tree) == files | {"data"}
    assert isinstance(tree["data"], RepoFolder)
    shard = tree["data/train-00000.parquet"]
    assert isinstance(shard, RepoFile) and shard.lfs is not None
    assert shard.lfs.sha256 == hashlib.sha256((dataset_dir / "data/train-00000.parquet").read_bytes()).hexdigest()
    readme = tree["README.md"]
    assert isinstance(readme, RepoFile) and readme.lfs is None and readme.size == len(README.encode())
    top = [entry.path for entry in api.list_repo_tree(DATASET, repo_type="dataset")]
    assert top == ["data", ".gitattributes", "README.md"]

    infos = api.get_paths_info(DATASET, ["README.md", "data", "missing.txt"], repo_type="dataset")
    assert sorted((type(i).__name__, i.path) for i in infos) == [("RepoFile", "README.md"), ("RepoFolder", "data")]

    info = api.dataset_info(DATASET, revision=commit.oid)
    assert info.sha == commit.oid and not info.private
    assert {s.rfilename for s in info.siblings} == files
    assert info.card_data["configs"][0]["config_name"] == "default"

    api.create_tag(DATASET, tag="v1.0", repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as tag_conflict:
        api.create_tag(DATASET, tag="v1.0", repo_type="dataset")
    assert tag_conflict.value.response.status_code == 409
    refs = api.list_repo_refs(DATASET, repo_type="dataset")
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1.0", commit.oid)]
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", commit.oid)]

    path = hf_hub_download(DATASET, "data/train-00001.parquet", repo_type="dataset", revision="v1.0")
    assert Path(path).read_bytes() == (dataset_dir / "data/train-00001.parquet").read_bytes()

    notes = tmp_path / "NOTES.txt"
    notes.write_text("added after v1.0\n")
    second = api.upload_file(path_or_fileobj=notes, path_in_repo="NOTES.txt", repo_id=DATASET,
                             repo_type="dataset", parent_commit=commit.oid)
    assert second.oid != commit.oid
    assert Path(hf_hub_download(DATASET, "NOTES.txt", repo_type="dataset")).read_text() == "added after v1.0\n"
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(DATASET, "NOTES.txt", repo_type="dataset", revision="v1.0")
    assert "NOTES.txt" not in api.list_repo_files(DATASET, repo_type="dataset", revision="v1.0")
    assert [c.commit_id for c in api.list_repo_commits(DATASET, repo_type="dataset")][:2] == [second.oid, commit.oid]

    # A stale parent commit is refused (412), like on the Hub.
    with pytest.raises(HfHubHTTPError) as stale:
        api.upload_file(path_or_fileobj=b"x\n", path_in_repo="late.txt", repo_id=DATASET, repo_type="dataset",
                        parent_commit=commit.oid)
    assert stale.value.response.status_code == 412

    api.create_branch(DATASET, branch="dev", revision="v1.0", repo_type="dataset")
    assert api.dataset_info(DATASET, revision="dev").sha == commit.oid


def test_load_dataset_through_server(hub: HubServer, dataset_repo: str, dataset_dir: Path) -> None:
    import datasets

    local = datasets.load_dataset(str(dataset_dir), split="train")
    remote = datasets.load_dataset(DATASET, split="train")
    assert remote.to_list() == local.to_list()
    assert len(remote) == 5

    streamed = datasets.load_dataset(DATASET, split="train", streaming=True)
    assert list(streamed) == local.to_list()


def test_corrupted_blob_is_served_as_is(hub: HubServer, api: HfApi, dataset_repo: str, dataset_dir: Path) -> None:
    for name in ("data/train-00000.parquet", "README.md"):  # one LFS file, one regular file
        original = (dataset_dir / name).read_bytes()
        recorded = hub.file_entry("dataset", DATASET, name)
        hub.corrupt_file("dataset", DATASET, name)
        assert hub.file_entry("dataset", DATASET, name) == recorded  # checksums untouched

        downloaded = Path(hf_hub_download(DATASET, name, repo_type="dataset", force_download=True)).read_bytes()
        assert len(downloaded) == len(original)
        assert downloaded != original
        assert hashlib.sha256(downloaded).hexdigest() != recorded.sha256


def test_model_repo_and_error_mapping(hub: HubServer, api: HfApi, tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    weights = tmp_path / "model.safetensors"
    save_file({"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(4, dtype=np.float32)}, weights)

    api.create_repo(MODEL)
    commit = api.upload_file(path_or_fileobj=weights, path_in_repo="model.safetensors", repo_id=MODEL)
    path = hf_hub_download(MODEL, "model.safetensors")
    assert Path(path).read_bytes() == weights.read_bytes()
    assert np.array_equal(load_file(path)["w"], np.arange(12, dtype=np.float32).reshape(3, 4))
    info = api.model_info(MODEL, files_metadata=True)
    assert info.sha == commit.oid
    sibling = next(s for s in info.siblings if s.rfilename == "model.safetensors")
    assert sibling.lfs is not None and sibling.lfs.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()

    with pytest.raises(EntryNotFoundError):
        hf_hub_download(MODEL, "missing.bin")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("test-org/no-such-model", "model.safetensors")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("test-org/no-such-model")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(MODEL, "model.safetensors", revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(MODEL, revision="no-such-branch")


def test_range_requests(hub: HubServer, api: HfApi) -> None:
    data = bytes(range(256)) * 8
    api.create_repo(MODEL)
    api.upload_file(path_or_fileobj=data, path_in_repo="blob.bin", repo_id=MODEL)
    url = f"{hub.url}/{MODEL}/resolve/main/blob.bin"
    sha = hashlib.sha256(data).hexdigest()

    head = requests.head(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert head.status_code == 206
    assert head.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert head.headers["Content-Length"] == "100"
    assert head.headers["X-Linked-Etag"].strip('"') == sha
    assert head.headers["X-Linked-Size"] == str(len(data))
    assert len(head.headers["X-Repo-Commit"]) == 40

    part = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206 and part.content == data[100:200]
    tail = requests.get(url, headers={"Range": "bytes=-10"}, timeout=10)
    assert tail.status_code == 206 and tail.content == data[-10:]
    rest = requests.get(url, headers={"Range": f"bytes={len(data) - 5}-"}, timeout=10)
    assert rest.status_code == 206 and rest.content == data[-5:]
    assert requests.get(url, headers={"Range": f"bytes={len(data)}-"}, timeout=10).status_code == 416
    full = requests.get(url, timeout=10)
    assert full.status_code == 200 and full.content == data

    missing = requests.head(f"{hub.url}/{MODEL}/resolve/main/nope.bin", timeout=10)
    assert missing.status_code == 404 and missing.headers["X-Error-Code"] == "EntryNotFound"
    assert missing.content == b""


def test_writes_need_the_token(hub: HubServer, api: HfApi) -> None:
    anonymous = HfApi(token=False)
    with pytest.raises(HfHubHTTPError) as no_token:
        anonymous.create_repo(MODEL)
    assert no_token.value.response.status_code == 401

    api.create_repo(MODEL)
    with pytest.raises(HfHubHTTPError) as upload:
        anonymous.upload_file(path_or_fileobj=b"hello\n", path_in_repo="hello.txt", repo_id=MODEL)
    assert upload.value.response.status_code == 401
    raw = requests.post(f"{hub.url}/api/models/{MODEL}/commit/main", timeout=10,
                        data=b'{"key": "header", "value": {"summary": "x"}}\n')
    assert raw.status_code == 401
    with pytest.raises(HfHubHTTPError) as bad_token:
        HfApi(token="hf_wrong").create_tag(MODEL, tag="v1")
    assert bad_token.value.response.status_code == 401
    assert "hello.txt" not in api.list_repo_files(MODEL)

    # Public repos read anonymously; private ones only with the token.
    assert anonymous.model_info(MODEL).id == MODEL
    api.create_repo("test-org/secret", private=True)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info("test-org/secret")
    assert api.model_info("test-org/secret").private is True


def test_multipart_lfs_and_incremental_upload(hub: HubServer, api: HfApi, tmp_path: Path) -> None:
    hub.multipart_chunk_size = 64 * 1024
    folder = tmp_path / "ckpt"
    folder.mkdir()
    payload = np.random.default_rng(0).bytes(200_000)
    (folder / "weights.bin").write_bytes(payload)
    (folder / "config.json").write_text('{"hidden": 8}\n')

    api.create_repo(MODEL)
    api.upload_folder(repo_id=MODEL, folder_path=folder)
    assert any(path.endswith("/part/4") for _, path in hub.request_log)  # 200 kB in 64 kB parts
    assert Path(hf_hub_download(MODEL, "weights.bin")).read_bytes() == payload

    hub.reset_counters()
    (folder / "config.json").write_text('{"hidden": 16}\n')
    api.upload_folder(repo_id=MODEL, folder_path=folder)
    assert hub.lfs_bytes_uploaded == 0  # unchanged LFS file is not sent again
    assert 0 < hub.bytes_uploaded < 1000
    assert Path(hf_hub_download(MODEL, "config.json")).read_text() == '{"hidden": 16}\n'
