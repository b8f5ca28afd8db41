"""The installed version of wmhub (``wmhub.__version__``), importable by every layer."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wmhub")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
