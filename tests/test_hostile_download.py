"""Hostile downloads: edits through the cache, downloads into a directory holding another version,
and sources whose manifest does not add up.

Each test reproduces one case of a reliability review and pins what wmhub promises instead.
"""

from __future__ import annotations

import json
import os
import shutil

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data.manifest import Manifest
from wmhub.data.verify import verify_dataset
from wmhub.errors import WmhubError
from wmhub.hub.verbs import download, publish

from support.datasets import make_small, tree_bytes


@pytest.fixture
def hub(tmp_path):
    """A local hub with v1 (8 episodes) and v2 (12 episodes, the latest)."""
    src = make_small(tmp_path / "src", episodes=8)
    hub = tmp_path / "hub"
    publish(src, str(hub), tag="v1")
    make_small(src, episodes=12)
    publish(src, str(hub), tag="v2")
    return hub


# ---------------------------------------------------------------- case 3
def test_an_edit_of_one_download_changes_no_other_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("WMHUB_CACHE", str(tmp_path / "cache"))
    src = make_small(tmp_path / "src", episodes=8)
    url = f"memory://wmhub-hostile-{os.getpid()}-{tmp_path.name}/reacher"
    publish(src, url)
    download(url, tmp_path / "a", show_progress=False)
    second = download(url, tmp_path / "b", show_progress=False)
    assert len(second.from_cache) == 4  # the cache still serves the second download
    shard = Manifest.read(tmp_path / "b").shards[0].path
    assert all(p.stat().st_nlink == 1 for p in (tmp_path / "a" / "data").rglob("*.parquet"))
    table = pq.read_table(tmp_path / "b" / shard)
    pq.write_table(table.slice(0, 10), tmp_path / "b" / shard)  # rewritten in place, as a user might
    assert verify_dataset(tmp_path / "a") == []
    third = download(url, tmp_path / "c", show_progress=False)
    assert verify_dataset(tmp_path / "c") == [] and len(third.from_cache) == 4


# ---------------------------------------------------------------- case 10
def test_a_subset_downloaded_into_a_full_copy_keeps_it_whole(hub, tmp_path):
    out = tmp_path / "out"
    download(str(hub), out, show_progress=False)
    download(str(hub), out, episodes="0-3", show_progress=False)
    manifest = Manifest.read(out)
    assert manifest.subset is None and len(manifest.shards) == 6
    assert verify_dataset(out) == []


def test_an_older_revision_into_a_newer_copy_is_refused(hub, tmp_path):
    out = tmp_path / "out"
    download(str(hub), out, show_progress=False)
    before = tree_bytes(out)
    result = CliRunner().invoke(main, ["download", str(hub), str(out), "--revision", "v1", "--quiet"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "error:" in result.output
    assert tree_bytes(out) == before and verify_dataset(out) == []


def test_subsets_of_two_revisions_merge_when_consistent(hub, tmp_path):
    out = tmp_path / "out"
    download(str(hub), out, revision="v1", episodes="0-3", show_progress=False)
    download(str(hub), out, episodes="8-11", show_progress=False)
    manifest = Manifest.read(out)
    assert manifest.num_episodes == 12 and manifest.subset is not None
    assert sorted(s.episode_start for s in manifest.shards) == [0, 0, 8, 8]
    assert verify_dataset(out) == []
    download(str(hub), out, show_progress=False)  # then the rest: whole again
    assert Manifest.read(out).subset is None and verify_dataset(out) == []


def test_a_download_into_a_directory_of_local_work_is_refused(hub, tmp_path):
    out = make_small(tmp_path / "mine", episodes=16)  # the same dataset, grown further here
    before = tree_bytes(out)
    with pytest.raises(WmhubError, match="new directory"):
        download(str(hub), out, episodes="0-3", show_progress=False)
    assert tree_bytes(out) == before


# ---------------------------------------------------------------- case 6 (download)
def _edit_manifest(root, edit):
    path = root / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _overlap(data):
    steps = [s for s in data["shards"] if s["config"] == "steps"]
    data["shards"].append(dict(steps[0]))


def _wrong_rows(data):
    data["shards"][0]["num_rows"] += 1


@pytest.mark.parametrize("edit", [_overlap, _wrong_rows])
def test_a_source_whose_manifest_does_not_add_up_is_refused(hub, tmp_path, edit):
    _edit_manifest(hub, edit)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["download", str(hub), str(out), "--quiet"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "error:" in result.output
    assert not (out / "manifest.json").exists()


def test_a_consistent_source_still_downloads_whole(hub, tmp_path):
    shutil.rmtree(hub / ".wmhub-tags")
    download(str(hub), tmp_path / "out", show_progress=False)
    assert verify_dataset(tmp_path / "out") == []
