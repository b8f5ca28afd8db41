"""Errors that wmhub reports to users as one clear line (problem, then fix).

Every error a user can cause is a :class:`WmhubError`; the subclasses below let callers catch
exactly what they can handle (``except NotFoundError`` to fall back to generating a dataset, never a
bare ``except WmhubError``, which would also swallow a generator mismatch or a corrupt download).
The CLI prints ``error: <message>`` and exits with status 2 for all of them; anything else is a bug
and keeps its traceback.

Example:
    >>> import wmhub
    >>> from wmhub.errors import NotFoundError
    >>> try:
    ...     wmhub.open_dataset("no/such/dataset")
    ... except NotFoundError as exc:
    ...     print("missing:", exc)  # doctest: +SKIP
"""

from __future__ import annotations


class WmhubError(Exception):
    """A user-facing error: the message names the problem and how to fix it."""


class ConfigError(WmhubError, ValueError):
    """A recipe, option or configuration value is missing, unknown or out of range."""


class NotFoundError(WmhubError, LookupError):
    """A dataset, repository, revision, file, run or recipe does not exist where it was looked for."""


class AlreadyExistsError(WmhubError):
    """Something that must not be overwritten is already there (a tag, an output directory, a file)."""


class UnsupportedLocationError(WmhubError):
    """A verb was given a location it cannot serve (e.g. writing embeddings into an ``hf://`` repository)."""


class UnsupportedFormatError(WmhubError):
    """A file was written in a format (version) this wmhub cannot read, or in a format it refuses."""


class ChecksumMismatchError(WmhubError):
    """A file's size or SHA-256 differs from the one its manifest records."""


class DatasetMismatchError(WmhubError):
    """Existing data was generated with a different configuration than the one asked for."""


class InterruptedJobError(WmhubError):
    """An unfinished job is present and ``resume`` was not asked for."""


class TransferError(WmhubError):
    """A network or storage transfer failed after its retries."""


class MissingDependencyError(WmhubError, ImportError):
    """An optional dependency (an extra such as ``wmhub[ray]`` or ``wmhub[s3]``) is not installed."""


__all__ = [
    "AlreadyExistsError",
    "ChecksumMismatchError",
    "ConfigError",
    "DatasetMismatchError",
    "InterruptedJobError",
    "MissingDependencyError",
    "NotFoundError",
    "TransferError",
    "UnsupportedFormatError",
    "UnsupportedLocationError",
    "WmhubError",
]
