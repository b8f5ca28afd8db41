"""Hostile manifests for ``verify``: entries that point at another table, no configs, and a Hub
manifest whose row counts or episode ranges do not add up.

Each test reproduces one case of a reliability review and pins what wmhub promises instead.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data.verify import verify_dataset
from wmhub.hub.verbs import publish, verify

from support.datasets import make_small
from support.hub_server import HubServer, patch_endpoint

REPO = "hf://datasets/wm-lab/checked"


def _edit(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _steps_entry_at_episodes_table(data):
    """The first steps entry points at the first episodes shard, its sha, bytes and rows included."""
    steps = next(s for s in data["shards"] if s["config"] == "steps")
    episodes = next(s for s in data["shards"] if s["config"] == "episodes")
    steps.update({k: episodes[k] for k in ("path", "sha256", "num_bytes", "num_rows")})


def _no_configs(data):
    data["configs"] = []


def _overlap(data):
    data["shards"].append(dict(next(s for s in data["shards"] if s["config"] == "steps")))


def _wrong_rows(data):
    data["shards"][0]["num_rows"] += 1


# ---------------------------------------------------------------- case 8
@pytest.mark.parametrize("edit", [_steps_entry_at_episodes_table, _no_configs])
def test_a_manifest_that_will_not_load_does_not_verify(small_copy, edit):
    _edit(small_copy / "manifest.json", edit)
    assert verify_dataset(small_copy) != []
    result = CliRunner().invoke(main, ["verify", str(small_copy)])
    assert result.exit_code == 1 and "BAD" in result.output


def test_each_shard_is_checked_against_its_config(small_copy):
    _edit(small_copy / "manifest.json", _steps_entry_at_episodes_table)
    messages = [str(p) for p in verify_dataset(small_copy)]
    assert any("columns do not match config 'steps'" in m for m in messages), messages


# ---------------------------------------------------------------- case 6 (verify)
@pytest.mark.parametrize("edit", [_overlap, _wrong_rows, _steps_entry_at_episodes_table])
def test_hub_verify_full_checks_rows_coverage_and_columns(tmp_path, monkeypatch, edit):
    src = make_small(tmp_path / "src", episodes=8)
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        publish(src, REPO)
        assert verify(REPO, full=True).ok
        from huggingface_hub import HfApi

        manifest = tmp_path / "manifest.json"
        manifest.write_bytes((src / "manifest.json").read_bytes())
        _edit(manifest, edit)
        HfApi().upload_file(path_or_fileobj=str(manifest), path_in_repo="manifest.json",
                            repo_id="wm-lab/checked", repo_type="dataset")
        assert not verify(REPO, full=True).ok
        result = CliRunner().invoke(main, ["verify", REPO, "--full"])
        assert result.exit_code == 1 and "BAD" in result.output


def test_nothing_to_verify_is_a_usage_error_not_bad_data(tmp_path, monkeypatch):
    result = CliRunner().invoke(main, ["verify", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "error:" in result.output
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        result = CliRunner().invoke(main, ["verify", "hf://datasets/wm-lab/nothing"])
        assert result.exit_code == 2 and result.output.count("\n") == 1 and "not found" in result.output
