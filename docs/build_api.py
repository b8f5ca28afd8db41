"""Write docs/api.md, the reference of wmhub's public API, from the code itself.

Every name in ``wmhub.__all__`` gets a section with its signature and its docstring, so the page
cannot drift from the code: ``tests/test_public_api.py`` rebuilds it and fails when the checked-in
page differs. Run after changing a public verb:

    python docs/build_api.py
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "api.md"

INTRO = """# wmhub API reference

`import wmhub` gives the whole public API as one flat namespace, in the spirit of `huggingface_hub`.
Importing it loads neither torch, nor mujoco, nor transformers: each verb imports what it needs the
first time it is used. Every verb accepts the locations it can serve: a local dataset or run
directory, a local hub directory (a folder laid out like a Hub repository), `hf://datasets/<org>/<name>`
or `hf://<org>/<name>` with an optional `@revision`, and fsspec URLs such as `s3://bucket/prefix`;
it refuses the others with one line naming the problem and the fix (README, "Where data lives").
Errors are subclasses of `wmhub.WmhubError` (`wmhub.errors`), so callers catch only what they can
handle.

This page is generated from the docstrings by `python docs/build_api.py`; the tests fail when it
is out of date.
"""


def _section(name: str, obj: object) -> str:
    kind = "class" if inspect.isclass(obj) else "function"
    try:
        signature = str(inspect.signature(obj))
    except (TypeError, ValueError):
        signature = "(...)"
    doc = inspect.cleandoc(obj.__doc__ or "")
    module = getattr(obj, "__module__", "wmhub")
    lines = [f"## `wmhub.{name}`", "", f"```python\n{kind} wmhub.{name}{signature}\n```", "",
             f"Defined in `{module}`.", "", doc, ""]
    if inspect.isclass(obj):
        for attr, member in sorted(vars(obj).items()):
            if attr.startswith("_") or not (member.__doc__ or "").strip():
                continue
            function = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            if not callable(function) and not isinstance(member, property):
                continue
            try:
                sig = "" if isinstance(member, property) else str(inspect.signature(function))
            except (TypeError, ValueError):
                sig = "(...)"
            lines += [f"### `{name}.{attr}{sig}`", "", inspect.cleandoc(member.__doc__), ""]
    return "\n".join(lines)


def build() -> str:
    """The page's text (one section per public name, in ``wmhub.__all__`` order)."""
    import wmhub

    sections = [INTRO]
    for name in wmhub.__all__:
        if name.startswith("__"):
            continue
        sections.append(_section(name, getattr(wmhub, name)))
    return "\n".join(sections).rstrip() + "\n"


if __name__ == "__main__":
    PAGE.write_text(build())
    print(f"wrote {PAGE}", file=sys.stderr)
