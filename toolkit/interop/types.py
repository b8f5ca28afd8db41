"""The typed result of an export (shared by every exporter, so that none imports another)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote.

    Attributes:
        format: ``triples``, ``lerobot`` or ``minari``.
        path: the written directory (Minari: the dataset's own directory inside the datasets root).
        episodes: episodes exported.
        rows: rows written (transitions: one per action).
        name: the LeRobot repo id or Minari dataset id ("" for triples).

    Example:
        >>> ExportResult(format="triples", path="out/triples", episodes=500, rows=100000).rows
        100000
    """

    format: str
    path: str
    episodes: int
    rows: int
    name: str = ""
