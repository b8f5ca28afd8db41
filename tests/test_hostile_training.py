"""Hostile inputs to ``wmhub train``: nan/inf in the schedule, the losses or the data; shards that ``verify``
rejects; a corrupted newest checkpoint; recipe errors that must not leave a run directory behind."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.errors import ChecksumMismatchError, ConfigError
from wmhub.training import load_recipe, train
from wmhub.training.checkpoint import list_checkpoints
from wmhub.training.metrics_log import read_metrics

SHARD = "data/steps/episodes-00000004-00000008.parquet"
FAST = ["dataset.generate=[]", "training.epochs=50", "training.max_steps=12", "training.batch_size=32",
        "training.eval_every=4", "training.checkpoint_every=4", "training.log_every=2", "training.warmup_steps=2"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """The states of datasets already hashed are kept under the test's own cache root."""
    monkeypatch.setenv("WMHUB_CACHE", str(tmp_path / "wmhub-cache"))


def _recipe(data: Path, *more: str):
    return load_recipe("tiny_reacher_dynamics_state", [f"dataset.source={data}", *FAST, *more])


def _rewrite_shard(root: Path, rel: str, change) -> None:
    """Rewrite one parquet shard with ``change(table) -> table`` and record its new size and SHA-256 in the
    manifest, so the dataset is consistent (verify passes) but holds what ``change`` put there."""
    path = root / rel
    table = change(pq.read_table(path))
    pq.write_table(table, path)
    manifest = json.loads((root / "manifest.json").read_text())
    for shard in manifest["shards"]:
        if shard["path"] == rel:
            shard["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
            shard["num_bytes"] = path.stat().st_size
    (root / "manifest.json").write_text(json.dumps(manifest))


def _nan_at(row: int, column: str = "position"):
    def change(table: pa.Table) -> pa.Table:
        values = table.column(column).to_pylist()
        values[row] = [float("nan")] * len(values[row])
        field = table.schema.field(column)
        return table.set_column(table.column_names.index(column), field, pa.array(values, type=field.type))
    return change


# ------------------------------------------------------------------ case 5: nan / inf
@pytest.mark.parametrize("value", [".inf", ".nan", "-1", "0"])
def test_a_non_finite_or_negative_learning_rate_is_refused_at_load(value):
    with pytest.raises(ConfigError, match="training.lr"):
        load_recipe("tiny_reacher_dynamics_state", [f"training.lr={value}"])


def test_a_diverging_run_stops_with_one_line_naming_the_step(small_copy, tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "tiny_reacher_dynamics_state", "--out", str(run), "--quiet",
                                       *[f"--set={o}" for o in [f"dataset.source={small_copy}", *FAST]],
                                       "--set", "training.lr=1e30", "--set", "training.grad_clip=null",
                                       "--set", "training.warmup_steps=0"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "nan" in lines[0] or "inf" in lines[0]
    assert "step" in lines[0]
    records = read_metrics(run)
    assert all(r["loss"] == r["loss"] and abs(r["loss"]) != float("inf") for r in records), records
    assert not any(r.get("best") for r in records if r["split"] == "val" and r["loss"] != r["loss"])
    assert not (run / "model").exists() and not (run / "summary.json").exists()
    from safetensors.torch import load_file

    for checkpoint in list_checkpoints(run):  # whatever was saved before the divergence is finite
        for tensor in load_file(checkpoint / "model.safetensors").values():
            assert tensor.isfinite().all()


def test_nan_in_the_training_data_names_the_config_column_and_row(small_copy, tmp_path):
    _rewrite_shard(small_copy, SHARD, _nan_at(5))
    with pytest.raises(ConfigError, match=r"config 'steps', column 'position' holds nan or inf at row \d+"):
        train(_recipe(small_copy), tmp_path / "run", show_progress=False)


# ------------------------------------------------------------------ case 9: data verify rejects
def test_a_truncated_shard_is_refused_before_training(small_copy, tmp_path):
    path = small_copy / SHARD
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ChecksumMismatchError, match="truncated or replaced"):
        train(_recipe(small_copy), tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()


def test_a_swapped_shard_is_refused_before_training(small_copy, tmp_path):
    other = small_copy / "data/steps/episodes-00000000-00000004.parquet"
    shutil.copyfile(other, small_copy / SHARD)
    with pytest.raises(ChecksumMismatchError):
        train(_recipe(small_copy), tmp_path / "run", show_progress=False)


def test_a_flipped_byte_is_refused_and_a_verified_state_is_not_hashed_again(small_copy, tmp_path, monkeypatch):
    import wmhub.training.data_check as data_check

    hashed = []
    real = data_check.sha256_file
    monkeypatch.setattr(data_check, "sha256_file", lambda p: hashed.append(p) or real(p))
    from wmhub.data.reader import WmDataset

    dataset = WmDataset(small_copy)
    data_check.check_training_shards(dataset, ["steps"], [0, 1, 2])
    assert len(hashed) == 3
    data_check.check_training_shards(dataset, ["steps"], [0, 1, 2])
    assert len(hashed) == 3  # the same state: sizes and rows only
    path = small_copy / SHARD
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, new modification time
    with pytest.raises(ChecksumMismatchError, match="corrupted"):
        data_check.check_training_shards(WmDataset(small_copy), ["steps"], [0, 1, 2])


# ------------------------------------------------------------------ case 14: training
def test_an_unknown_latent_feature_is_refused_before_the_run_directory_exists(small_copy, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ConfigError, match="latent_features"):
        train(_recipe(small_copy, "dataset.latent_features=[nope]"), run, show_progress=False)
    assert not run.exists()
    train(_recipe(small_copy), run, show_progress=False)  # the rerun is not blocked


def test_an_unknown_device_is_refused_at_load():
    with pytest.raises(ConfigError, match="training.device"):
        load_recipe("tiny_reacher_dynamics_state", ["training.device=tpu"])


def test_a_corrupted_newest_checkpoint_falls_back_to_the_older_one(small_copy, tmp_path, capsys):
    recipe = _recipe(small_copy)
    whole = train(recipe, tmp_path / "whole", show_progress=False)
    run = tmp_path / "run"
    partial = _recipe(small_copy, "training.max_steps=12")
    shutil.copytree(tmp_path / "whole", run)
    shutil.rmtree(run / "model")
    (run / "summary.json").unlink()
    checkpoints = list_checkpoints(run)
    assert len(checkpoints) == 2, checkpoints
    (checkpoints[-1] / "model.safetensors").write_bytes(b"garbage" * 10)
    resumed = train(partial, run, resume=True, show_progress=False)
    assert "trying an older checkpoint" in capsys.readouterr().err
    assert resumed.summary.val_loss == whole.summary.val_loss
    for checkpoint in list_checkpoints(run):
        (checkpoint / "state.json").write_text("{")
    (run / "summary.json").unlink()
    result = CliRunner().invoke(main, ["train", "tiny_reacher_dynamics_state", "--out", str(run), "--resume",
                                       "--quiet", *[f"--set={o}" for o in [f"dataset.source={small_copy}", *FAST]]])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "no checkpoint" in [line for line in result.output.splitlines() if line.startswith("error:")][0]
