"""Publish, append, tag, download and verify with a local hub directory."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data import open_dataset
from wmhub.data.verify import verify_dataset
from wmhub.errors import WmhubError
from wmhub.hub.verbs import download, publish

from support.datasets import make_small, tree_bytes


@pytest.fixture
def published(tmp_path):
    """A source grown from 8 to 12 episodes, published at v1 (8) and v2 (12)."""
    src = make_small(tmp_path / "src", episodes=8)
    hub = tmp_path / "hub"
    first = publish(src, str(hub), tag="v1")
    make_small(src, episodes=12)
    second = publish(src, str(hub), tag="v2")
    return src, hub, first, second


def test_publish_then_append_uploads_only_new_shards(published):
    src, hub, first, second = published
    assert len(first.uploaded) == 4 and first.skipped == 0
    assert sorted(second.uploaded) == ["data/episodes/episodes-00000008-00000012.parquet",
                                       "data/steps/episodes-00000008-00000012.parquet"]
    assert second.skipped == 4
    assert verify_dataset(hub) == []
    from datasets import load_dataset

    # datasets caches a local directory's Arrow by its name and configs, not its content: a private cache
    # keeps another test's 8-episode "src" from being served here
    cache = str(src.parent / "datasets-cache")
    assert load_dataset(str(hub), split="train", cache_dir=cache)["position"] == \
        load_dataset(str(src), split="train", cache_dir=cache)["position"]
    again = publish(src, str(hub), tag="v2")
    assert again.noop and again.uploaded == []


def test_existing_files_are_never_rewritten(published, tmp_path):
    src, hub, *_ = published
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (hub / "data").rglob("*.parquet")}
    make_small(src, episodes=16)
    publish(src, str(hub))
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (hub / "data").rglob("*.parquet")}
    assert all(after[p] == before[p] for p in before) and len(after) == len(before) + 2


def test_tags_are_versions_and_never_move(published, tmp_path):
    src, hub, *_ = published
    old = download(str(hub), tmp_path / "v1", revision="v1", show_progress=False)
    new = download(str(hub), tmp_path / "latest", show_progress=False)
    assert open_dataset(tmp_path / "v1").num_episodes == 8 and len(old.fetched) == 4
    assert open_dataset(tmp_path / "latest").num_episodes == 12 and len(new.fetched) == 6
    assert verify_dataset(tmp_path / "v1") == [] and verify_dataset(tmp_path / "latest") == []
    make_small(src, episodes=16)
    with pytest.raises(WmhubError, match="never moved"):
        publish(src, str(hub), tag="v1")
    with pytest.raises(WmhubError, match="no version 'v9'"):
        download(str(hub), tmp_path / "x", revision="v9", show_progress=False)


def test_second_download_is_served_from_what_is_there(published, tmp_path):
    _, hub, *_ = published
    download(str(hub), tmp_path / "out", show_progress=False)
    before = tree_bytes(tmp_path / "out")
    again = download(str(hub), tmp_path / "out", show_progress=False)
    assert again.fetched == [] and len(again.cached) == 6
    assert tree_bytes(tmp_path / "out") == before


def test_conflicting_remote_shard_is_an_error_and_nothing_is_overwritten(published):
    src, hub, *_ = published
    shard = hub / "data" / "steps" / "episodes-00000000-00000004.parquet"
    manifest = json.loads((hub / "manifest.json").read_text())
    manifest["shards"][0]["sha256"] = "0" * 64
    (hub / "manifest.json").write_text(json.dumps(manifest))
    before = tree_bytes(hub)
    with pytest.raises(WmhubError, match="different SHA-256"):
        publish(src, str(hub))
    assert tree_bytes(hub) == before and shard.exists()


def test_publishing_another_dataset_is_refused(published, tmp_path):
    _, hub, *_ = published
    other = make_small(tmp_path / "other", seed=99)
    with pytest.raises(WmhubError, match="different dataset"):
        publish(other, str(hub))


def test_corrupt_published_shard_fails_naming_it(published, tmp_path):
    _, hub, *_ = published
    shard = hub / "data" / "steps" / "episodes-00000004-00000008.parquet"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["download", str(hub), str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2
    assert "data/steps/episodes-00000004-00000008.parquet" in result.output and "corrupt" in result.output
    assert not (tmp_path / "out" / "data" / "steps" / "episodes-00000004-00000008.parquet").exists()


def test_partial_download_by_episodes_and_config(published, tmp_path):
    _, hub, *_ = published
    result = CliRunner().invoke(main, ["download", str(hub), str(tmp_path / "part"), "--episodes", "5-6",
                                       "--config", "steps", "--quiet"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "part" / "manifest.json").read_text())
    assert [s["path"] for s in manifest["shards"]] == ["data/steps/episodes-00000004-00000008.parquet"]
    assert manifest["subset"]["episodes"] == "5-6"
    assert verify_dataset(tmp_path / "part") == []
    import datasets  # the partial card lists only the shards that are there

    rows = datasets.load_dataset(str(tmp_path / "part"), split="train", cache_dir=str(tmp_path / "hf"))
    assert sorted(set(rows["episode_index"])) == [4, 5, 6, 7]
    bad = CliRunner().invoke(main, ["download", str(hub), str(tmp_path / "p2"), "--episodes", "9-x"])
    assert bad.exit_code == 2 and "expected numbers" in bad.output


def test_load_dataset_of_a_grown_directory_sees_the_new_rows(tmp_path):
    """datasets keys its cache of a local directory on the card's YAML: the card lists shard files, so
    an append changes the key (with a glob, load_dataset kept serving the old rows)."""
    import datasets

    src = make_small(tmp_path / "src", episodes=8)
    cache = str(tmp_path / "hf")
    assert len(set(datasets.load_dataset(str(src), split="train", cache_dir=cache)["episode_index"])) == 8
    make_small(src, episodes=12)
    assert len(set(datasets.load_dataset(str(src), split="train", cache_dir=cache)["episode_index"])) == 12


def test_remote_manifest_paths_must_stay_inside(published, tmp_path):
    _, hub, *_ = published
    manifest = json.loads((hub / "manifest.json").read_text())
    manifest["shards"][0]["path"] = "../../escape.parquet"
    (hub / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WmhubError, match="outside"):
        download(str(hub), tmp_path / "out", show_progress=False)
    assert not (tmp_path / "escape.parquet").exists()


def test_verify_and_info_accept_a_hub_directory(published):
    _, hub, *_ = published
    assert CliRunner().invoke(main, ["verify", str(hub)]).exit_code == 0
    result = CliRunner().invoke(main, ["info", str(hub), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["num_episodes"] == 12


def test_interrupted_download_resumes(published, tmp_path):
    _, hub, *_ = published
    out = tmp_path / "out"
    download(str(hub), out, show_progress=False)
    # as after a kill: one shard never arrived, one is half-written under its temporary name
    (out / "data" / "steps" / "episodes-00000008-00000012.parquet").unlink()
    (out / "data" / "steps" / ".episodes-00000004-00000008.parquet.tmp-4242").write_bytes(b"partial")
    (out / "data" / "steps" / "episodes-00000004-00000008.parquet").unlink()
    result = download(str(hub), out, show_progress=False)
    assert sorted(result.fetched) == ["data/steps/episodes-00000004-00000008.parquet",
                                      "data/steps/episodes-00000008-00000012.parquet"]
    assert len(result.cached) == 4
    assert verify_dataset(out) == []
