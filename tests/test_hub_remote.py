"""Publish / append / tag / download / verify through the real huggingface_hub and datasets
clients, against the Hub-compatible server of tests/support on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data import open_dataset
from wmhub.data.verify import verify_dataset
from wmhub.errors import WmhubError
from wmhub.hub.verbs import download, publish

from support.datasets import make_small
from support.hub_server import HubServer, patch_endpoint

REPO = "hf://datasets/wm-lab/reacher"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        yield server


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    """Backoff of 0.05, 0.1, 0.2 s instead of 1, 2, 4 s (a client setting, not a mock)."""
    import wmhub.storage.transfer

    monkeypatch.setattr(wmhub.storage.transfer, "RETRY_FIRST_DELAY_S", 0.05)


def shard_gets(hub) -> list[str]:
    """Repository paths of the shard files the server was asked for (GET), in order."""
    return [path.split("/resolve/", 1)[1].split("/", 1)[1] for method, path in hub.request_log
            if method == "GET" and "/resolve/" in path and path.endswith(".parquet")]


@pytest.fixture
def published(hub, tmp_path):
    src = make_small(tmp_path / "src", episodes=8)
    first = publish(src, REPO, tag="v1")
    return src, first


def test_publish_then_load_dataset_through_the_server(hub, published):
    from datasets import load_dataset

    src, first = published
    assert len(first.uploaded) == 4
    remote = load_dataset("wm-lab/reacher", split="train")
    local = load_dataset(str(src), split="train")
    assert remote.num_rows == local.num_rows and remote["position"] == local["position"]
    episodes = load_dataset("wm-lab/reacher", "episodes", split="train")
    assert episodes["seed"] == load_dataset(str(src), "episodes", split="train")["seed"]


def test_append_uploads_only_new_shards_and_tags_are_versions(hub, published, tmp_path):
    src, first = published
    make_small(src, episodes=12)
    before = hub.bytes_uploaded
    second = publish(src, REPO, tag="v2")
    sent = hub.bytes_uploaded - before
    assert sorted(second.uploaded) == ["data/episodes/episodes-00000008-00000012.parquet",
                                       "data/steps/episodes-00000008-00000012.parquet"]
    # the request bodies: new shards + card + manifest + small JSON requests
    assert second.bytes_uploaded <= sent <= second.bytes_uploaded + second.bytes_metadata + 20_000
    # re-running is a no-op: no commit, nothing uploaded
    before = hub.bytes_uploaded
    again = publish(src, REPO, tag="v2")
    assert again.noop and again.revision == second.revision and hub.bytes_uploaded == before
    # old and new versions
    download(REPO, tmp_path / "v1", revision="v1", show_progress=False)
    download(REPO + "@v2", tmp_path / "v2", show_progress=False)
    assert open_dataset(tmp_path / "v1").num_episodes == 8 and open_dataset(tmp_path / "v2").num_episodes == 12
    assert verify_dataset(tmp_path / "v1") == [] and verify_dataset(tmp_path / "v2") == []
    # a tag never moves
    make_small(src, episodes=16)
    with pytest.raises(WmhubError, match="never moved"):
        publish(src, REPO, tag="v1")


def test_second_download_comes_from_the_cache(hub, published, tmp_path, monkeypatch):
    first = download(REPO, tmp_path / "a", show_progress=False)
    assert len(shard_gets(hub)) == 4 and first.bytes_transferred == first.bytes_fetched > 0
    again = download(REPO, tmp_path / "a", show_progress=False)  # shards already in OUT
    assert again.fetched == [] and len(again.cached) == 4
    other = download(REPO, tmp_path / "b", show_progress=False)  # new OUT: served by the wmhub cache
    assert len(other.fetched) == 4 and other.from_cache == other.fetched and other.bytes_transferred == 0
    said = CliRunner().invoke(main, ["download", REPO, str(tmp_path / "b2"), "--quiet"]).output
    assert "0.00 MB transferred, 4 from the wmhub cache), 0 already in OUT" in said
    assert verify_dataset(tmp_path / "b") == [] and len(shard_gets(hub)) == 4  # no shard byte sent again
    cached = tmp_path / "hf-home" / "wmhub" / "sha256"
    assert len(list(cached.rglob("*"))) == 4 + 4  # four files in their sha256[:2] directories
    # a cache file changed behind wmhub's back (it shares bytes with a/ through a hard link) is not served
    shard = open_dataset(tmp_path / "a").manifest.shards[0]
    blob = cached / shard.sha256[:2] / shard.sha256
    blob.write_bytes(blob.read_bytes()[:-1] + b"!")
    third = download(REPO, tmp_path / "c", show_progress=False)
    assert sorted(set(third.fetched) - set(third.from_cache)) == [shard.path] and verify_dataset(tmp_path / "c") == []
    monkeypatch.setenv("WMHUB_CACHE", "off")
    hub.reset_counters()
    assert download(REPO, tmp_path / "d", show_progress=False).from_cache == [] and len(shard_gets(hub)) == 4


def test_server_side_corruption_is_caught(hub, published, tmp_path):
    bad = "data/steps/episodes-00000004-00000008.parquet"
    hub.corrupt_file("dataset", "wm-lab/reacher", bad)
    result = CliRunner().invoke(main, ["download", REPO, str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2 and bad in result.output and "corrupt" in result.output
    assert not (tmp_path / "out" / bad).exists()  # never under its final name, and no partial file kept
    assert not list((tmp_path / "out").rglob("*.wmhub-partial"))
    full = CliRunner().invoke(main, ["verify", REPO, "--full"])
    assert full.exit_code == 1 and bad in full.output
    quick = CliRunner().invoke(main, ["verify", REPO])  # metadata only: sizes and LFS SHA-256 match the manifest
    assert quick.exit_code == 0


def test_remote_info_and_partial_download(hub, published, tmp_path):
    result = CliRunner().invoke(main, ["info", REPO, "--json"])
    assert result.exit_code == 0, result.output
    assert '"num_episodes": 8' in result.output
    part = download(REPO, tmp_path / "part", configs=["steps"], episodes="0-2", show_progress=False)
    assert part.fetched == ["data/steps/episodes-00000000-00000004.parquet"]
    assert verify_dataset(tmp_path / "part") == []


def test_missing_token_says_how_to_log_in(hub, tmp_path, monkeypatch):
    src = make_small(tmp_path / "src", episodes=4)
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token")
    with pytest.raises(WmhubError, match="hf auth login"):
        publish(src, "hf://datasets/wm-lab/other")


def test_missing_repo_and_revision_are_clear(hub, published, tmp_path):
    with pytest.raises(WmhubError, match="repository not found"):
        download("hf://datasets/wm-lab/nothing", tmp_path / "x", show_progress=False)
    with pytest.raises(WmhubError, match="not found"):
        download(REPO, tmp_path / "y", revision="v404", show_progress=False)


def test_token_never_appears_in_output_or_files(hub, tmp_path):
    src = make_small(tmp_path / "src", episodes=4)
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": hub.token, "HF_HUB_OFFLINE": "0",
           "HF_DATASETS_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "cli-home")}
    runs = [subprocess.run([sys.executable, "-m", "wmhub.cli", *args], env=env, capture_output=True, text=True)
            for args in (["publish", str(src), REPO, "--tag", "v1"], ["download", REPO, str(tmp_path / "d")],
                         ["verify", REPO], ["info", REPO])]
    assert all(run.returncode == 0 for run in runs), [run.stderr for run in runs]
    assert not any(hub.token in run.stdout + run.stderr for run in runs)
    files = [*(tmp_path / "d").rglob("*"), *(tmp_path / "server").rglob("*"), *(tmp_path / "cli-home").rglob("*")]
    assert any("wmhub" in p.parts for p in files)  # the download cache was written, and is checked too
    for path in files:
        if path.is_file():
            assert hub.token.encode() not in path.read_bytes(), path


def test_network_errors_are_retried_then_reported(tmp_path):
    import socket

    from huggingface_hub import HfApi

    from wmhub.storage.stores import with_retries

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    calls = []

    def action():
        calls.append(1)
        return HfApi(endpoint=f"http://127.0.0.1:{port}").repo_info("wm-lab/x", repo_type="dataset")

    with pytest.raises(WmhubError, match="failed after 3 attempts.*re-run"):
        with_retries(action, "reading wm-lab/x", attempts=3, first_delay=0.01)
    assert len(calls) == 3


SHARD = "data/steps/episodes-00000004-00000008.parquet"


def test_transient_server_errors_are_retried_and_the_download_succeeds(hub, published, tmp_path):
    hub.inject_fault("GET", "/resolve/", status=503, times=2)  # the first two file downloads fail
    hub.inject_fault("GET", "/resolve/", status=429, times=1)
    result = download(REPO, tmp_path / "out", show_progress=False)
    assert len(result.fetched) == 4 and verify_dataset(tmp_path / "out") == []
    assert all(f.times == 0 for f in hub.faults)


def test_a_dropped_connection_resumes_with_a_range_request(hub, published, tmp_path):
    source = (published[0] / SHARD).read_bytes()
    hub.inject_fault("GET", SHARD, cut_after=4096 + 100)
    result = download(REPO, tmp_path / "out", show_progress=False)
    assert verify_dataset(tmp_path / "out") == [] and (tmp_path / "out" / SHARD).read_bytes() == source
    # the rest of the file from the first byte that did not arrive, not the whole file again
    assert len(source) > 8192 and hub.range_log == [(SHARD, "bytes=4196-")]
    assert shard_gets(hub).count(SHARD) == 2 and result.bytes_transferred == result.bytes_fetched


def test_an_interrupted_download_resumes_inside_the_shard_on_the_next_run(hub, published, tmp_path):
    """A shard cut off mid-transfer stays as .<name>.wmhub-partial; the next run continues it."""
    source = (published[0] / SHARD).read_bytes()
    out = tmp_path / "out"
    hub.inject_fault("GET", SHARD, cut_after=5000)             # 5,000 bytes arrive, then the connection drops
    hub.inject_fault("GET", SHARD, cut_after=0, times=100)     # and every resume attempt fails without progress
    failed = CliRunner().invoke(main, ["download", REPO, str(out), "--quiet"])
    assert failed.exit_code != 0 and "re-run (it resumes)" in failed.output
    assert SHARD in failed.output and hub.url in failed.output  # names the shard and the server
    assert hub.token not in failed.output
    assert not (out / SHARD).exists()  # nothing half-written under the final name
    partial = out / "data" / "steps" / ".episodes-00000004-00000008.parquet.wmhub-partial"
    assert partial.read_bytes() == source[:5000]
    done_before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert len(done_before) == 3 and SHARD not in done_before  # the other shards arrived, verified
    hub.faults.clear()
    hub.reset_counters()
    again = CliRunner().invoke(main, ["download", REPO, str(out), "--quiet"])
    assert again.exit_code == 0, again.output
    assert hub.range_log == [(SHARD, "bytes=5000-")]  # one request, for the bytes after the partial file
    assert (out / SHARD).read_bytes() == source and not partial.exists()
    assert verify_dataset(out) == [] and not set(shard_gets(hub)) & set(done_before)


def test_a_bad_partial_file_or_a_server_ignoring_range_still_gives_the_right_bytes(hub, published, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setenv("WMHUB_CACHE", "off")  # every shard from the server
    source = (published[0] / SHARD).read_bytes()
    partial = tmp_path / "out" / "data" / "steps" / ".episodes-00000004-00000008.parquet.wmhub-partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * 3000)  # not a prefix of the shard: resumed, mismatched, fetched again whole
    download(REPO, tmp_path / "out", configs=["steps"], show_progress=False)
    assert (tmp_path / "out" / SHARD).read_bytes() == source and shard_gets(hub).count(SHARD) == 2
    assert (SHARD, "bytes=3000-") in hub.range_log
    (tmp_path / "out" / SHARD).unlink()
    partial.write_bytes(source[:3000])
    hub.honour_range = False  # a server that answers a Range request with 200 and the whole file
    hub.reset_counters()
    download(REPO, tmp_path / "out", configs=["steps"], show_progress=False)
    assert (tmp_path / "out" / SHARD).read_bytes() == source and shard_gets(hub) == [SHARD]
    assert verify_dataset(tmp_path / "out") == []


def test_lfs_redirects_are_followed_without_the_token(tmp_path, monkeypatch):
    """As on the Hub, LFS files redirect to another host; the token must not follow them there."""
    with HubServer(tmp_path / "server", lfs_redirect_host="localhost") as server, \
            patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        src = make_small(tmp_path / "src", episodes=4)
        publish(src, REPO)
        steps = open_dataset(src).manifest.shards_of("steps")[0]
        assert steps.num_bytes > 6000
        server.inject_fault("GET", f"/lfs-objects/{steps.sha256}", cut_after=3000)
        result = download(REPO, tmp_path / "out", show_progress=False)
        assert len(result.fetched) == 2 and verify_dataset(tmp_path / "out") == []
        assert len(server.cdn_log) == 3 and not any(authorized for _, authorized in server.cdn_log)
        assert [r for _, r in server.range_log] == ["bytes=3000-"]  # the Range header survives the redirect
