"""Every command explains itself; the package ships all of its parts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from wmhub.cli import main

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


def test_every_subpackage_is_installed_as_wmhub():
    """setup.py discovers the packages under toolkit/: each one imports as wmhub.<name>."""
    import importlib.util

    source = ROOT / "toolkit"
    found = {".".join(p.parent.relative_to(source).parts) for p in source.rglob("__init__.py")} - {""}
    assert found, "no subpackages found under toolkit/"
    missing = [name for name in sorted(found) if importlib.util.find_spec(f"wmhub.{name}") is None]
    assert not missing
    for data_package in ("wmhub.recipes", "wmhub.model_cards", "wmhub.dataset_cards"):
        assert importlib.util.find_spec(data_package) is not None


def test_import_wmhub_loads_no_heavy_library():
    """``import wmhub`` and reading a recipe import neither torch, mujoco nor transformers."""
    code = ("import sys, wmhub; print(wmhub.__version__); "
            "assert not {'torch', 'mujoco', 'transformers'} & set(sys.modules), sorted(sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_info_json(small_dataset):
    import json

    result = CliRunner().invoke(main, ["info", str(small_dataset), "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.output)
    assert summary["num_episodes"] == 12 and summary["num_transitions"] == 12 * 30
    assert 0.0 <= summary["success_rate"] <= 1.0


def test_an_unusable_output_path_is_one_clear_error(tmp_path):
    from click.testing import CliRunner

    from wmhub.cli import main

    (tmp_path / "afile").write_text("x")
    result = CliRunner().invoke(main, ["generate", "reacher", str(tmp_path / "afile" / "out"), "--episodes", "1",
                                       "--quiet"])
    assert result.exit_code == 2
    assert f"cannot use {tmp_path / 'afile' / 'out'}: Not a directory" in result.output
    assert "Traceback" not in result.output
