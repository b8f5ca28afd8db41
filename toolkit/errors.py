"""Errors that wmhub reports to users as one clear line (problem, then fix)."""

from __future__ import annotations


class WmhubError(Exception):
    """A user-facing error: the message names the problem and how to fix it.

    The CLI prints ``error: <message>`` and exits with status 2 for these;
    anything else is a bug and keeps its traceback.
    """


class DatasetMismatchError(WmhubError):
    """OUT already holds a dataset generated with a different configuration."""


class UnsupportedFormatError(WmhubError):
    """A manifest was written by a format version this wmhub cannot read."""


class InterruptedJobError(WmhubError):
    """An unfinished job is present and ``--resume`` was not given."""
