"""Hostile pushed checkpoints for ``wmhub reproduce`` and ``wmhub eval``: nothing is written outside the
output directory, and a missing or unreachable Hub repo is one ``error:`` line with exit status 2."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.errors import ConfigError
from wmhub.runs.confine import confined_dataset
from wmhub.training.recipe import DatasetSpec

from support.datasets import tree_bytes
from support.hub_server import HubServer, patch_endpoint

PUSHED_BEFORE = Path(__file__).parent / "fixtures" / "pushed_before_schema"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    """Backoff of 0.05, 0.1, 0.2 s instead of 1, 2, 4 s (a client setting, not a mock)."""
    import wmhub.storage.transfer

    monkeypatch.setattr(wmhub.storage.transfer, "RETRY_FIRST_DELAY_S", 0.05)


def _malicious_hub(tmp_path: Path, victim: Path) -> Path:
    """A pushed checkpoint whose recipe points dataset.source at ``victim`` with an encode step only, and
    whose summary claims the data lives there too."""
    hub = tmp_path / "evil-hub"
    shutil.copytree(PUSHED_BEFORE, hub)
    raw = yaml.safe_load((hub / "recipe.yaml").read_text())
    raw["dataset"]["source"] = str(victim)
    raw["dataset"]["generate"] = ["wmhub encode OUT --encoder state"]
    (hub / "recipe.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    summary = json.loads((hub / "summary.json").read_text())
    summary["dataset"]["path"] = str(tmp_path / "gone")
    (hub / "summary.json").write_text(json.dumps(summary))
    return hub


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def test_reproduce_never_touches_a_dataset_named_by_the_pushed_recipe(small_copy, tmp_path):
    before = tree_bytes(small_copy)
    hub = _malicious_hub(tmp_path, small_copy)
    listing = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(main, ["reproduce", str(hub), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert len(_error_lines(result.output)) == 1 and "Traceback" not in result.output, result.output
    assert "dataset.generate" in _error_lines(result.output)[0]
    assert tree_bytes(small_copy) == before  # the victim's manifest and card are as they were
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "out") == listing  # nothing new outside out


def test_eval_of_a_pulled_run_never_touches_a_dataset_named_by_its_recipe(small_copy, tmp_path):
    before = tree_bytes(small_copy)
    hub = _malicious_hub(tmp_path, small_copy)
    out = tmp_path / "pulled"
    result = CliRunner().invoke(main, ["eval", str(hub), "--out", str(out), "--suite", "latent", "--quiet"])
    assert result.exit_code == 2, result.output
    assert len(_error_lines(result.output)) == 1 and "Traceback" not in result.output, result.output
    assert tree_bytes(small_copy) == before
    assert (out / "pulled.json").is_file(), result.output


def test_a_pulled_local_source_is_re_rooted_inside_the_run(tmp_path):
    run = tmp_path / "run"
    for source in ("/elsewhere/tiny-reacher", "../../tiny-reacher", "data/tiny-reacher", "file:///x/tiny-reacher"):
        spec = confined_dataset(DatasetSpec(source=source), run, "r.yaml")
        assert Path(spec.source) == run / "data" / "tiny-reacher", source
    for source in ("..", "/", "a/.."):
        assert Path(confined_dataset(DatasetSpec(source=source), run, "r.yaml").source) == run / "data" / "dataset"
    hub = DatasetSpec(source="hf://datasets/wm-lab/tiny@v1.0")
    assert confined_dataset(hub, run, "r.yaml") == hub
    with pytest.raises(ConfigError):
        confined_dataset(DatasetSpec(source="hf://datasets/wm-lab/tiny", revision="../../x"), run, "r.yaml")


def test_a_tag_outside_the_local_hub_is_refused(tmp_path):
    hub = tmp_path / "hub"
    shutil.copytree(PUSHED_BEFORE, hub)
    shutil.copytree(PUSHED_BEFORE, tmp_path / "outside")
    result = CliRunner().invoke(main, ["reproduce", f"{hub}@../../outside", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and len(_error_lines(result.output)) == 1, result.output


@pytest.mark.parametrize("command", ["reproduce", "eval"])
def test_a_missing_hub_repo_is_one_line_with_exit_2(command, tmp_path, monkeypatch):
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        result = CliRunner().invoke(main, [command, "hf://wm-lab/no-such-model", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = _error_lines(result.output)
    assert len(lines) == 1 and "not found" in lines[0] and "Traceback" not in result.output, result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["reproduce", "eval"])
def test_an_unreachable_hub_is_reported_as_unreachable(command, tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with patch_endpoint(f"http://127.0.0.1:{port}", hf_home=tmp_path / "hf-home"):
        result = CliRunner().invoke(main, [command, "hf://wm-lab/tiny-dynamics", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = _error_lines(result.output)
    assert len(lines) == 1 and "failed after" in lines[0] and "eval_results.json" not in lines[0], result.output


def test_out_must_be_the_dataset_path_of_an_old_command_string():
    from wmhub.training.recipe import parse_recipe

    text = ("{name: r, model: {kind: bc}, dataset: {source: d, generate: "
            "['wmhub generate reacher /victim --episodes 2 --seed OUT']}}")
    with pytest.raises(ConfigError, match="OUT"):
        parse_recipe(text)


def test_a_source_named_with_set_is_the_users_own_and_kept(tmp_path):
    from wmhub.runs.reproduce import _pulled_dataset
    from wmhub.training.recipe import parse_recipe
    from wmhub.training.summary import RunSummary

    summary = RunSummary.read(PUSHED_BEFORE / "summary.json")
    text = (PUSHED_BEFORE / "recipe.yaml").read_text()
    mine = parse_recipe(text, "r.yaml", [f"dataset.source={tmp_path / 'mine'}"])
    kept = _pulled_dataset(mine, summary, tmp_path / "run", [f"dataset.source={tmp_path / 'mine'}"], "r.yaml")
    assert kept.source == str(tmp_path / "mine")
    moved = _pulled_dataset(parse_recipe(text, "r.yaml"), summary, tmp_path / "run", [], "r.yaml")
    assert moved.source == str(tmp_path / "run" / "data" / "tiny-reacher")


@pytest.mark.parametrize("url", ["memory://x/../../../victim", "s3://bucket/./data/../../elsewhere"])
def test_a_pulled_fsspec_source_with_dot_segments_is_refused(url, tmp_path):
    """An fsspec URL's path never names a folder outside the cache: '.' and '..' are refused."""
    with pytest.raises(ConfigError, match=r"'\.' or '\.\.'"):
        confined_dataset(DatasetSpec(source=url), tmp_path / "run", "recipe.yaml")


def test_a_recipes_fsspec_source_is_cached_under_a_digest(tmp_path, monkeypatch):
    from wmhub.storage.location import parse_location
    from wmhub.training.dataset_source import _cache_dir

    monkeypatch.setenv("WMHUB_CACHE", str(tmp_path / "cache"))
    folder = _cache_dir(parse_location("memory://x/../../../../../../victim"))
    assert folder.resolve().is_relative_to((tmp_path / "cache").resolve())
    assert "victim" not in str(folder)
