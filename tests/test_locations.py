"""One location parser and one Store behind every dataset verb: each verb on a local directory, a local
hub at a tag, ``hf://`` at a revision (the Hub-compatible test server on 127.0.0.1, real client) and an
fsspec URL (``memory://``); and each misuse refused with one clear line, leaving nothing half-written."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

import wmhub
from wmhub.cli import main
from wmhub.data.verify import verify_dataset
from wmhub.errors import (
    AlreadyExistsError,
    ConfigError,
    NotFoundError,
    UnsupportedLocationError,
)
from wmhub.hub.verbs import download, info, open_dataset, publish, verify
from wmhub.storage.location import FsspecURL, HubRepo, LocalDir, parse_location

from support.hub_server import HubServer, patch_endpoint

REPO = "hf://datasets/wm-lab/loc"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        yield server


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WMHUB_CACHE", str(tmp_path / "wmhub-cache"))
    monkeypatch.delenv("WMHUB_DATA_CACHE", raising=False)
    return tmp_path / "wmhub-cache"


def _memory_url() -> str:
    return f"memory://wmhub-tests/{uuid.uuid4().hex}/reacher"


def shard_gets(hub) -> list[str]:
    return [path.split("/resolve/", 1)[1].split("/", 1)[1] for method, path in hub.request_log
            if method == "GET" and "/resolve/" in path and path.endswith(".parquet")]


# ------------------------------------------------------------------ parser
def test_parser_types_every_location(tmp_path):
    assert parse_location(str(tmp_path)) == LocalDir(tmp_path)
    assert parse_location(f"file://{tmp_path}") == LocalDir(tmp_path)
    assert parse_location("hf://datasets/org/name@v1") == HubRepo("dataset", "org/name", "v1")
    assert parse_location("hf://org/name", "main") == HubRepo("model", "org/name", "main")
    assert parse_location("s3://bucket/x/") == FsspecURL("s3://bucket/x", "s3")  # not PosixPath('s3:/bucket/x')
    assert parse_location("memory://b/x") == FsspecURL("memory://b/x", "memory")
    (tmp_path / ".wmhub-tags").mkdir()
    assert parse_location(str(tmp_path), "v1").is_hub


def test_parser_refusals_are_one_line():
    with pytest.raises(NotFoundError, match=r"did you mean hf://datasets/org/name\?"):
        parse_location("org/name", source=True)
    with pytest.raises(NotFoundError, match=r"did you mean hf://org/name\?"):
        parse_location("org/name", repo_type="model", source=True)
    assert parse_location("org/name", repo_type="model", bare_repo_ids=True) == HubRepo("model", "org/name")
    with pytest.raises(UnsupportedLocationError, match="hf://datasets/org/name"):
        parse_location("hf://org/name", repo_type="dataset")
    with pytest.raises(UnsupportedLocationError, match="model repos: hf://org/name"):
        parse_location("hf://datasets/org/name", repo_type="model")
    with pytest.raises(ConfigError, match="revision given twice"):
        parse_location("hf://datasets/org/name@v1", "v2")
    with pytest.raises(UnsupportedLocationError, match="no revisions"):
        parse_location("s3://bucket/x", "v1")


# ------------------------------------------------ every verb, every location
def _check_all_verbs(source: str, tmp_path: Path, episodes: int = 12, revision: str | None = None) -> None:
    report = verify(source if revision is None else f"{source}@{revision}")
    assert report.ok, report.problems
    assert info(source).num_episodes == episodes
    out = tmp_path / f"down-{uuid.uuid4().hex[:6]}"
    result = download(source, out, revision=revision, show_progress=False)
    assert result.fetched and verify_dataset(out) == []
    assert open_dataset(source, revision=revision).num_episodes == episodes


def test_every_verb_on_a_local_dir_and_a_local_hub_at_a_tag(small_dataset, tmp_path, cache):
    _check_all_verbs(str(small_dataset), tmp_path)
    hub_dir = tmp_path / "hub"
    published = publish(small_dataset, str(hub_dir), tag="v1")
    assert published.tag == "v1" and (hub_dir / ".wmhub-tags" / "v1" / "manifest.json").is_file()
    _check_all_verbs(str(hub_dir), tmp_path)
    ds = open_dataset(str(hub_dir), revision="v1")  # a tagged version is read through the store, into the cache
    assert ds.num_episodes == 12 and cache in ds.root.parents


def test_every_verb_on_hf_at_a_revision(hub, small_dataset, tmp_path, cache):
    first = publish(small_dataset, REPO, tag="v1")
    assert first.tag == "data-v1"  # a Hub dataset version is tagged data-<name> (wmhub.storage.tags)
    _check_all_verbs(REPO, tmp_path, revision="v1")
    assert verify(f"{REPO}@{first.revision}", full=True).ok
    ds = wmhub.open_dataset(f"{REPO}@v1")
    assert ds.num_episodes == 12 and ds.root.is_relative_to(cache / "datasets" / "hub" / "wm-lab" / "loc")


def test_every_verb_on_an_fsspec_url(small_dataset, tmp_path, cache):
    url = _memory_url()
    published = publish(small_dataset, url)
    assert len(published.uploaded) == 6 and not published.noop
    assert publish(small_dataset, url).noop
    _check_all_verbs(url, tmp_path)
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe_file(url.removeprefix("memory://") + "/data/steps/episodes-00000004-00000008.parquet", b"broken")
    fs.invalidate_cache()
    assert any("episodes-00000004-00000008" in str(p) for p in verify(url).problems)


def test_open_dataset_from_the_hub_downloads_only_the_shards_holding_the_episodes(hub, small_dataset, cache):
    publish(small_dataset, REPO, tag="v1")
    del hub.request_log[:]
    ds = open_dataset(f"{REPO}@v1", episodes=range(4, 6))
    assert sorted(set(shard_gets(hub))) == ["data/episodes/episodes-00000004-00000008.parquet",
                                            "data/steps/episodes-00000004-00000008.parquet"]
    assert sorted(ds.load_tensors().episode_index.unique().tolist()) == [4, 5, 6, 7]
    del hub.request_log[:]
    open_dataset(f"{REPO}@v1", episodes="4-5")  # the same selection again: nothing transferred
    assert shard_gets(hub) == []


def test_load_model_from_a_bare_repo_id_and_hf_at_a_revision(hub, tmp_path):
    from huggingface_hub import HfApi

    from wmhub.models.dynamics import MLPDynamics

    model = MLPDynamics(6, 2, hidden_dim=8)
    model.save_pretrained(tmp_path / "ckpt")
    api = HfApi()
    api.create_repo("wm-lab/dyn")
    commit = api.upload_folder(repo_id="wm-lab/dyn", folder_path=str(tmp_path / "ckpt"))
    api.create_tag("wm-lab/dyn", tag="v1", revision=commit.oid)
    for source in ("wm-lab/dyn", "hf://wm-lab/dyn@v1"):
        loaded = wmhub.load_model(source)
        assert type(loaded) is MLPDynamics
        assert all((a == b).all() for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    with pytest.raises(UnsupportedLocationError, match="model repos"):
        wmhub.load_model("hf://datasets/wm-lab/dyn")


# ------------------------------------------------------------------ misuse
def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_publish_to_a_model_repo_is_refused_and_nothing_is_committed(hub, small_dataset):
    from huggingface_hub import HfApi

    result = _cli("publish", str(small_dataset), "hf://wm-lab/loc")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: hf://wm-lab/loc is a model repo; a dataset goes into a dataset repo: hf://datasets/wm-lab/loc"]
    assert not HfApi().repo_exists("wm-lab/loc") and not HfApi().repo_exists("wm-lab/loc", repo_type="dataset")


def test_an_existing_tag_fails_before_any_commit(hub, small_dataset, tmp_path):
    from huggingface_hub import HfApi

    src = tmp_path / "src"
    from support.datasets import make_small

    make_small(src, episodes=8)
    publish(src, REPO, tag="v1.0")
    commits = len(HfApi().list_repo_commits("wm-lab/loc", repo_type="dataset"))
    make_small(src, episodes=12)
    result = _cli("publish", str(src), REPO, "--tag", "v1.0")
    # (on the Hub, version v1.0 is the tag data-v1.0: wmhub.storage.tags)
    assert result.exit_code == 2 and result.output.startswith("error: tag 'data-v1.0' already marks another version")
    assert len(HfApi().list_repo_commits("wm-lab/loc", repo_type="dataset")) == commits  # nothing committed
    # the same on a local hub: the manifest there is untouched
    local = tmp_path / "hub"
    make_small(tmp_path / "src8", episodes=8)
    publish(tmp_path / "src8", str(local), tag="v1.0")
    before = (local / "manifest.json").read_bytes()
    with pytest.raises(AlreadyExistsError, match="tags are never moved"):
        publish(src, str(local), tag="v1.0")
    assert (local / "manifest.json").read_bytes() == before
    assert not (local / "data" / "steps" / "episodes-00000008-00000012.parquet").exists()


def test_tags_on_an_fsspec_url_are_refused_before_anything_is_written(small_dataset):
    import fsspec

    url = _memory_url()
    with pytest.raises(UnsupportedLocationError, match="keeps no tags"):
        publish(small_dataset, url, tag="v1")
    assert not fsspec.filesystem("memory").exists(url.removeprefix("memory://"))


def test_download_of_a_bare_repo_id_says_which_url_was_meant(tmp_path):
    result = _cli("download", "wm-lab/reacher", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: wm-lab/reacher: no such local directory; did you mean hf://datasets/wm-lab/reacher?"]
    assert not (tmp_path / "out").exists()
    for verb in ("verify", "info"):
        assert "did you mean hf://datasets/wm-lab/reacher?" in _cli(verb, "wm-lab/reacher").output


def test_verbs_refuse_locations_they_cannot_serve(small_dataset, tmp_path):
    with pytest.raises(UnsupportedLocationError, match="needs a local directory as destination"):
        download(str(small_dataset), "memory://somewhere/out")
    with pytest.raises(UnsupportedLocationError, match="download it first"):
        publish("memory://somewhere/dataset", str(tmp_path / "hub"))
    with pytest.raises(UnsupportedLocationError, match="is a model repo"):
        open_dataset("hf://wm-lab/loc")
    result = _cli("publish", str(small_dataset), f"{REPO}@v1")
    assert result.exit_code == 2 and "drop @v1" in result.output


def test_encode_on_the_hub_is_refused_with_download_first(hub):
    result = _cli("encode", REPO, "--encoder", "state")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "download" in lines[0]


def test_processes_opening_the_same_remote_dataset_take_turns(tmp_path, monkeypatch):
    """The cache folder of a remote dataset is shared: a second opener waits for the first, not fails."""
    import threading
    import time

    from wmhub.storage.files import directory_lock

    from support.datasets import make_small

    monkeypatch.setenv("WMHUB_CACHE", str(tmp_path / "cache"))
    publish(make_small(tmp_path / "src", episodes=4), str(tmp_path / "hub"), tag="v1")
    first = open_dataset(str(tmp_path / "hub"), revision="v1")
    held = threading.Event()

    def hold():
        with directory_lock(first.root):
            held.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    again = open_dataset(str(tmp_path / "hub"), revision="v1")
    holder.join()
    assert again.root == first.root and again.manifest.num_episodes == 4
