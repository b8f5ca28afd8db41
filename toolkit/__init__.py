"""wmhub: datasets and model-hub toolkit for world-model research in robot learning.

The import package is ``toolkit``; the distribution and the command are ``wmhub``.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("wmhub")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
