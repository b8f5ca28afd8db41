"""Every command explains itself; the package ships all of its parts."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

import toolkit
from toolkit.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _commands(group, prefix=()):
    for name, command in group.commands.items():
        yield prefix + (name,)
        if hasattr(command, "commands"):
            yield from _commands(command, prefix + (name,))


@pytest.mark.parametrize("path", [()] + list(_commands(main)), ids=lambda p: " ".join(p) or "wmhub")
def test_help_has_an_example(path):
    result = CliRunner().invoke(main, list(path) + ["--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


def test_every_subpackage_is_packaged():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {"toolkit"} | {f"toolkit.{m.name}" for m in pkgutil.walk_packages(toolkit.__path__) if m.ispkg}
    assert found - {"toolkit.dataset_cards"} <= listed


def test_info_json(small_dataset):
    import json

    result = CliRunner().invoke(main, ["info", str(small_dataset), "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.output)
    assert summary["num_episodes"] == 12 and summary["num_transitions"] == 12 * 30
    assert 0.0 <= summary["success_rate"] <= 1.0


def test_an_unusable_output_path_is_one_clear_error(tmp_path):
    from click.testing import CliRunner

    from toolkit.cli import main

    (tmp_path / "afile").write_text("x")
    result = CliRunner().invoke(main, ["generate", "reacher", str(tmp_path / "afile" / "out"), "--episodes", "1",
                                       "--quiet"])
    assert result.exit_code == 2
    assert f"cannot use {tmp_path / 'afile' / 'out'}: Not a directory" in result.output
    assert "Traceback" not in result.output
