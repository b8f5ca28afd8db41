"""LeRobot exports on the Hub (tag ``v3.0``) and wmhub's own dataset tags (``data-v1.0``), which LeRobot
no longer mistakes for its codebase version; against the local Hub-compatible server, with LeRobot 0.4.4
itself (``.venv-lerobot``, support/lerobot_read.py) reading the server through ``HF_ENDPOINT``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi

from wmhub.cli import main
from wmhub.data.reader import open_dataset
from wmhub.hub.verbs import download, publish

from support.datasets import make_small
from support.hub_server import HubServer, patch_endpoint
from support.lerobot_read import Loaded, Refused, Request, Versions, load


@pytest.fixture
def hub(tmp_path, monkeypatch):
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        yield server


def test_lerobot_export_published_with_the_v3_tag(hub, small_dataset, tmp_path):
    out = tmp_path / "lerobot"
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(small_dataset), str(out), "--format", "lerobot",
                                  "--repo-id", "wm-lab/reacher-lerobot", "--quiet"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["publish", str(out), "hf://datasets/wm-lab/reacher-lerobot"])
    assert result.exit_code == 0 and "tagged v3.0" in result.output, result.output
    # LeRobotDataset("wm-lab/reacher-lerobot"): the refs read as versions pick v3.0, whose snapshot
    # LeRobot downloads into $HF_HOME/lerobot/<repo id> and opens
    versions, loaded = load([Versions("wm-lab/reacher-lerobot"), Request("wm-lab/reacher-lerobot", items=[359])])
    assert versions == ["3.0"]
    assert isinstance(loaded, Loaded), loaded
    assert loaded.root == tmp_path / "hf-home" / "lerobot" / "wm-lab" / "reacher-lerobot"
    assert (loaded.length, loaded.num_episodes, loaded.info["codebase_version"]) == (360, 12, "v3.0")
    assert loaded.items[359]["episode_index"] == 11 and loaded.items[359]["frame_index"] == 29
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert {path: (loaded.root / path).read_bytes() for path in files} == files
    again = runner.invoke(main, ["publish", str(out), "hf://datasets/wm-lab/reacher-lerobot"])
    assert again.exit_code == 2 and "never moved" in again.output


def test_dataset_tags_do_not_collide_with_lerobot_and_old_tags_still_read(hub, tmp_path):
    src = make_small(tmp_path / "src", episodes=4)
    published = publish(src, "hf://datasets/wm-lab/tiny", tag="v1.0")
    assert published.tag == "data-v1.0"
    refs = HfApi().list_repo_refs("wm-lab/tiny", repo_type="dataset")
    assert [t.name for t in refs.tags] == ["data-v1.0"]
    got = download("hf://datasets/wm-lab/tiny@v1.0", tmp_path / "new", show_progress=False)
    assert got.revision == published.revision and open_dataset(tmp_path / "new").num_episodes == 4
    # a repo published before the scheme carries a plain v1.0 tag: @v1.0 still reads it
    old = make_small(tmp_path / "old", episodes=4)
    publish(old, "hf://datasets/wm-lab/old")
    head = HfApi().repo_info("wm-lab/old", repo_type="dataset").sha
    HfApi().create_tag("wm-lab/old", tag="v1.0", repo_type="dataset", revision=head)
    got = download("hf://datasets/wm-lab/old@v1.0", tmp_path / "old-copy", show_progress=False)
    assert got.revision == head and open_dataset(tmp_path / "old-copy").num_episodes == 4
    # LeRobot says "not a LeRobot dataset" of the new scheme's repo; the plain v1.0 tag reads as codebase
    # version 1.0, too old (0.4.4's BackwardCompatibilityError for a 1.x version raises NotImplementedError)
    tiny_versions, tiny, old = load([Versions("wm-lab/tiny"), Request("wm-lab/tiny"), Request("wm-lab/old")])
    assert tiny_versions == []
    assert isinstance(tiny, Refused) and tiny.error == "RevisionNotFoundError", tiny
    assert "must be tagged with a codebase version" in tiny.message
    assert isinstance(old, Refused) and old.error == "NotImplementedError" and "maintainer" in old.message, old
