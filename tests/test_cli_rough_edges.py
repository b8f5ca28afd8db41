"""CLI messages that must say what happens: the default shard size in ``generate --help`` and the
error of ``wmhub reproduce`` on a checkpoint pushed without evaluation results."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from wmhub.cli import main

PUSHED = Path(__file__).parent / "fixtures" / "pushed_before_schema"


def _help_of_episodes_per_shard(env: str) -> str:
    result = CliRunner().invoke(main, ["generate", env, "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    options = result.output.split("Options:", 1)[1]
    return " ".join(options.split("--episodes-per-shard", 1)[1].split("  --")[0].split())


def test_generate_help_names_the_episodes_per_shard_each_environment_uses():
    from wmhub.envs.spot import SPOT_EPISODES_PER_SHARD
    from wmhub.generation.job import DEFAULT_EPISODES_PER_SHARD

    assert f"default {SPOT_EPISODES_PER_SHARD};" in _help_of_episodes_per_shard("spot")
    assert f"default {DEFAULT_EPISODES_PER_SHARD};" in _help_of_episodes_per_shard("reacher")


def test_reproduce_of_a_checkpoint_pushed_without_eval_names_the_missing_evaluation(tmp_path):
    hub = tmp_path / "hub"
    shutil.copytree(PUSHED, hub)
    (hub / "eval_results.json").unlink()  # pushed with `wmhub push`, but `wmhub eval` never ran
    result = CliRunner().invoke(main, ["reproduce", str(hub), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert "no evaluation results" in errors[0] and "wmhub eval" in errors[0], errors[0]
    assert "was it pushed with" not in errors[0], errors[0]
    assert not (tmp_path / "out").exists()  # nothing trained before the claim to compare with was found
