"""Hostile publishes: concurrent writers, bad tag names, partial downloads and leftovers in a local hub.

Each test reproduces one case of a reliability review (concurrent publishers shrinking a dataset,
tags escaping the hub directory, a partial download published as if whole, stale temporaries)
and pins what wmhub promises instead.
"""

from __future__ import annotations

import json
import shutil
import threading

import pytest
from click.testing import CliRunner

import wmhub.hub.publish
from wmhub.cli import main
from wmhub.data.manifest import Manifest
from wmhub.data.verify import verify_dataset
from wmhub.errors import WmhubError
from wmhub.hub.verbs import download, publish, verify

from support.datasets import make_small, tree_bytes
from support.hub_server import HubServer, patch_endpoint

REPO = "hf://datasets/wm-lab/race"


@pytest.fixture
def growths(tmp_path):
    """A 4-episode dataset published to a local hub, and two growths of it: 12 and 8 episodes."""
    base = make_small(tmp_path / "base", episodes=4)
    big = tmp_path / "big"
    small = tmp_path / "small"
    shutil.copytree(base, big)
    shutil.copytree(base, small)
    make_small(big, episodes=12)
    make_small(small, episodes=8)
    return base, big, small


def _race(monkeypatch, first, second):
    """Run ``first()`` in a thread that pauses right after planning its upload, run ``second()``
    meanwhile, then let the first go on; returns each one's outcome (result or exception)."""
    planned, second_done = threading.Event(), threading.Event()
    real_plan = wmhub.hub.publish.plan_upload

    def plan(*args, **kwargs):
        result = real_plan(*args, **kwargs)
        if threading.current_thread().name == "first" and not planned.is_set():
            planned.set()
            second_done.wait(timeout=3)  # a correct publish holds the destination: the second waits for it
        return result

    monkeypatch.setattr(wmhub.hub.publish, "plan_upload", plan)
    outcomes = {}

    def run(name, action, done=None):
        try:
            outcomes[name] = action()
        except Exception as exc:  # noqa: BLE001 - the outcome is asserted by the test
            outcomes[name] = exc
        if done is not None:
            done.set()

    t1 = threading.Thread(target=run, args=("first", first), name="first")
    t1.start()
    assert planned.wait(timeout=60)
    t2 = threading.Thread(target=run, args=("second", second, second_done), name="second")
    t2.start()
    t1.join(timeout=120)
    t2.join(timeout=120)
    return outcomes["first"], outcomes["second"]


# ---------------------------------------------------------------- case 1
@pytest.mark.parametrize("smaller_first", [True, False])
def test_concurrent_publishes_to_a_local_hub_keep_the_larger_dataset(growths, tmp_path, monkeypatch,
                                                                     smaller_first):
    base, big, small = growths
    hub = tmp_path / "hub"
    publish(base, str(hub))
    first, second = (small, big) if smaller_first else (big, small)
    outcome1, outcome2 = _race(monkeypatch, lambda: publish(first, str(hub)), lambda: publish(second, str(hub)))
    assert Manifest.read(hub).num_episodes == 12
    assert verify_dataset(hub) == []
    if smaller_first:  # the smaller one went first (whole), the larger grew it
        assert not isinstance(outcome1, Exception) and not isinstance(outcome2, Exception)
    else:  # the larger one went first: the smaller one must not move the dataset backwards
        assert not isinstance(outcome1, Exception)
        assert isinstance(outcome2, WmhubError) and "\n" not in str(outcome2)


def test_publishing_fewer_episodes_than_the_destination_is_refused(growths, tmp_path):
    base, big, small = growths
    hub = tmp_path / "hub"
    publish(big, str(hub))
    before = tree_bytes(hub)
    with pytest.raises(WmhubError, match="backwards|lacks"):
        publish(small, str(hub))
    assert tree_bytes(hub) == before


def test_concurrent_publishes_to_a_hub_server_keep_the_larger_dataset(growths, tmp_path, monkeypatch):
    base, big, small = growths
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        publish(base, REPO)
        outcome1, outcome2 = _race(monkeypatch, lambda: publish(small, REPO), lambda: publish(big, REPO))
        assert not isinstance(outcome2, Exception)
        assert isinstance(outcome1, WmhubError) and "\n" not in str(outcome1)  # re-planned, then refused
        report = verify(REPO, full=True)
        assert report.ok, report.problems
        out = download(REPO, tmp_path / "out", show_progress=False)
        assert out.revision and Manifest.read(tmp_path / "out").num_episodes == 12


def test_a_publish_to_an_fsspec_url_being_written_is_refused(growths, tmp_path):
    import os

    from wmhub.storage.location import parse_location
    from wmhub.storage.stores import open_store

    base, big, _ = growths
    url = f"memory://wmhub-race-{os.getpid()}-{tmp_path.name}/reacher"
    publish(base, url)
    with open_store(parse_location(url)).writer():  # another writer holds the prefix from planning on
        with pytest.raises(WmhubError, match="another wmhub job") as info:
            publish(big, url)
    assert "\n" not in str(info.value)
    publish(big, url)
    assert verify(url).ok and Manifest.from_bytes(open_store(parse_location(url)).read_bytes(
        "manifest.json", "latest")).num_episodes == 12


@pytest.mark.parametrize("fail_at", [0, 1])
def test_a_publish_interrupted_while_copying_leaves_the_old_version(growths, tmp_path, monkeypatch, fail_at):
    base, big, _ = growths
    hub = tmp_path / "hub"
    publish(base, str(hub))
    before = tree_bytes(hub)
    real_copy, calls = shutil.copyfile, []

    def copy(source, dest, *args, **kwargs):
        calls.append(dest)
        if len(calls) > fail_at:
            raise KeyboardInterrupt  # as if the process were stopped here
        return real_copy(source, dest, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", copy)
    with pytest.raises(KeyboardInterrupt):
        publish(big, str(hub))
    monkeypatch.setattr(shutil, "copyfile", real_copy)
    assert tree_bytes(hub) == before  # no new shard under its final name, no temporary left
    publish(big, str(hub))
    assert verify_dataset(hub) == [] and Manifest.read(hub).num_episodes == 12


# ---------------------------------------------------------------- case 7
@pytest.mark.parametrize("tag", ["../../x", "a/b", ".hidden", "-x", "a..b", "x.lock", "a b", "a\x07b", "a~1",
                                 "a:b", "@", ""])
def test_bad_tag_names_are_refused_before_anything_is_written(growths, tmp_path, tag):
    base, big, _ = growths
    hub = tmp_path / "deep" / "hub"
    publish(base, str(hub), tag="v1")
    before = tree_bytes(tmp_path)
    with pytest.raises(WmhubError) as info:
        publish(big, str(hub), tag=tag)
    assert "\n" not in str(info.value)
    assert tree_bytes(tmp_path) == before  # latest did not move, nothing written anywhere


def test_a_bad_tag_on_the_command_line_is_one_error_line(growths, tmp_path):
    base, *_ = growths
    result = CliRunner().invoke(main, ["publish", str(base), str(tmp_path / "hub"), "--tag", "../../x"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (tmp_path / "x").exists() and not (tmp_path / "hub" / "manifest.json").exists()


def test_a_conflicting_tag_on_a_local_hub_does_not_move_latest(growths, tmp_path):
    base, big, _ = growths
    hub = tmp_path / "hub"
    publish(base, str(hub), tag="v1")
    before = tree_bytes(hub)
    result = CliRunner().invoke(main, ["publish", str(big), str(hub), "--tag", "v1"])
    assert result.exit_code == 2 and "never moved" in result.output
    assert tree_bytes(hub) == before


@pytest.mark.parametrize("revision", ["../../dir", "a/../../..", "..", ".wmhub-tags", "v1/../v1", "a\nb"])
def test_bad_revisions_of_a_local_hub_are_refused(growths, tmp_path, revision):
    base, *_ = growths
    hub = tmp_path / "hub"
    publish(base, str(hub), tag="v1")
    with pytest.raises(WmhubError) as info:
        download(str(hub), tmp_path / "out", revision=revision, show_progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("revision", ["a..b", "../x", "a b", "x.lock", "a//b", "/a", "a/", "@{x}"])
def test_bad_hub_revisions_are_refused_before_any_request(tmp_path, revision):
    result = CliRunner().invoke(main, ["download", "hf://datasets/wm-lab/none", str(tmp_path / "out"),
                                       "--revision", revision])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "error:" in result.output


# ---------------------------------------------------------------- case 4
def test_publishing_a_partial_download_is_refused(growths, tmp_path):
    _, big, _ = growths
    hub = tmp_path / "hub"
    publish(big, str(hub))
    part = tmp_path / "part"
    download(str(hub), part, episodes="3-4", show_progress=False)
    assert Manifest.read(part).subset is not None
    result = CliRunner().invoke(main, ["publish", str(part), str(tmp_path / "hub2")])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "partial download" in result.output
    assert not (tmp_path / "hub2" / "manifest.json").exists()


# --------------------------------------------------------- case 15 (local hub)
def test_a_stale_temporary_in_a_local_hub_is_cleaned_by_the_next_publish(growths, tmp_path):
    base, big, _ = growths
    hub = tmp_path / "hub"
    publish(base, str(hub))
    stale = hub / "data" / "steps" / ".episodes-00000004-00000008.parquet.tmp-999-abc"
    stale.write_bytes(b"half")
    advice = [p.message for p in verify_dataset(hub)]
    assert len(advice) == 1 and "wmhub publish" in advice[0]
    publish(base, str(hub))  # even a no-op publish cleans up
    assert not stale.exists() and verify_dataset(hub) == []
    stale.write_bytes(b"half")
    publish(big, str(hub))
    assert not stale.exists() and verify_dataset(hub) == []
    assert json.loads((hub / "manifest.json").read_text())["num_episodes"] == 12
