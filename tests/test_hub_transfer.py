"""wmhub's download transport, cache and partial files, against the Hub-compatible test server
with real HTTP clients (no mocks)."""

from __future__ import annotations

import hashlib
import os

import pytest

from wmhub.data.layout import remove_stale_temporaries
from wmhub.data.verify import verify_dataset
from wmhub.fileio import partial_name
from wmhub.storage.stores import ChecksumMismatch, LocalHubStore
from wmhub.storage.transfer import download_to_file

from support.hub_server import HubServer, patch_endpoint


@pytest.fixture
def file_on_hub(tmp_path, monkeypatch):
    """(server, URL, bytes) of one 200 kB LFS file in a dataset repo."""
    from huggingface_hub import HfApi, constants, hf_hub_url

    payload = os.urandom(200_000)
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        api = HfApi()
        api.create_repo("wm-lab/blob", repo_type="dataset")
        commit = api.upload_file(path_or_fileobj=payload, path_in_repo="data/blob.parquet", repo_id="wm-lab/blob",
                                 repo_type="dataset").oid
        url = hf_hub_url("wm-lab/blob", "data/blob.parquet", repo_type="dataset", revision=commit,
                         endpoint=constants.ENDPOINT)
        yield server, url, payload


@pytest.mark.parametrize("client", ["huggingface_hub session", "requests"])
def test_a_cut_transfer_continues_from_the_bytes_on_disk(file_on_hub, tmp_path, client):
    """The transport also works with a requests session (what get_session() returns before huggingface_hub 1.0)."""
    import requests

    server, url, payload = file_on_hub
    session = requests.Session() if client == "requests" else None
    server.inject_fault("GET", "/resolve/", cut_after=150_000)
    partial = tmp_path / ".blob.parquet.wmhub-partial"
    received = download_to_file(url, partial, what="data/blob.parquet", expected_size=len(payload), session=session)
    assert received.sha256 == hashlib.sha256(payload).hexdigest() and partial.read_bytes() == payload
    # httpx hands over what arrived; requests whole 64 KiB pieces (two of them before the cut)
    offset = 150_000 if client != "requests" else 2 * 65536
    assert server.range_log == [("data/blob.parquet", f"bytes={offset}-")]
    assert received.bytes_received == len(payload) and received.resumed_from == 0
    # a complete partial file from an earlier run is only hashed: no request at all
    server.reset_counters()
    again = download_to_file(url, partial, what="data/blob.parquet", expected_size=len(payload), session=session)
    assert again.sha256 == received.sha256 and again.bytes_received == 0 and server.request_log == []


def test_partial_downloads_survive_only_the_download_cleanup(small_copy):
    shard = small_copy / "data" / "steps" / "episodes-00000000-00000004.parquet"
    partial, tmp = partial_name(shard), shard.with_name(f".{shard.name}.tmp-4242")
    partial.write_bytes(b"head")
    tmp.write_bytes(b"half")
    assert [p.message for p in verify_dataset(small_copy)][0].startswith("half-written")
    remove_stale_temporaries(small_copy, keep_partial_downloads=True)  # what `wmhub download` does
    assert partial.exists() and not tmp.exists()
    remove_stale_temporaries(small_copy)  # generate, encode: every temporary goes
    assert not partial.exists() and verify_dataset(small_copy) == []


def test_local_store_hashes_while_copying_and_never_replaces_with_bad_bytes(small_copy, tmp_path):
    store = LocalHubStore(small_copy)
    path = "data/steps/episodes-00000000-00000004.parquet"
    dest = tmp_path / "out" / path
    fetched = store.fetch(path, "latest", dest)
    assert fetched.sha256 == hashlib.sha256(dest.read_bytes()).hexdigest() and fetched.size == dest.stat().st_size
    with pytest.raises(ChecksumMismatch, match=path):
        store.fetch(path, "latest", dest, expected_sha256="0" * 64)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == fetched.sha256  # untouched
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]  # no temporary left behind
