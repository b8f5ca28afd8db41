"""The public API: one flat, lazily imported namespace whose every verb is documented."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import wmhub

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = [name for name in wmhub.__all__ if not name.startswith("__")]
VERBS = [name for name in PUBLIC if not inspect.isclass(getattr(wmhub, name))]


def test_every_public_name_resolves():
    for name in PUBLIC:
        assert getattr(wmhub, name) is not None, name
    assert set(PUBLIC) <= set(dir(wmhub))
    with pytest.raises(AttributeError, match="no attribute 'no_such_verb'"):
        wmhub.no_such_verb  # noqa: B018


@pytest.mark.parametrize("name", VERBS)
def test_every_verb_documents_args_returns_raises_and_an_example(name):
    doc = inspect.getdoc(getattr(wmhub, name)) or ""
    for section in ("Args:", "Returns:", "Raises:", "Example"):
        assert section in doc, f"wmhub.{name}: docstring lacks {section!r}"


def test_public_classes_have_an_example():
    for name in PUBLIC:
        obj = getattr(wmhub, name)
        if inspect.isclass(obj) and not issubclass(obj, Exception):
            assert "Example" in (inspect.getdoc(obj) or ""), name


def test_api_reference_page_is_up_to_date():
    spec = importlib.util.spec_from_file_location("build_api", ROOT / "docs" / "build_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "api.md").read_text() == module.build(), "run: python docs/build_api.py"


def test_library_code_never_imports_the_cli_or_the_tests():
    """Only wmhub.cli imports wmhub.cli; the test server lives in tests/support, outside the package."""
    offenders = []
    for path in (ROOT / "toolkit").rglob("*.py"):
        if "cli" in path.relative_to(ROOT / "toolkit").parts:
            continue
        text = path.read_text()
        if "wmhub.cli" in text.replace("`wmhub.cli`", "") or "support.hub_server" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders


def test_lazy_import_then_submodule_import_keeps_the_verbs():
    """A subpackage import must not shadow a verb of the same flat namespace."""
    code = ("import wmhub, wmhub.generation.job, wmhub.encoding.job, wmhub.training.trainer; "
            "assert callable(wmhub.generate) and callable(wmhub.encode) and callable(wmhub.train)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT.parent)
    assert result.returncode == 0, result.stderr
