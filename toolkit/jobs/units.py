"""Work units and executors: the picklable pieces a job is cut into, and what runs them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from wmhub.data.manifest import ShardInfo
from wmhub.errors import WmhubError
from wmhub.progress import Progress


class UnitFailedError(WmhubError):
    """A work unit failed for good (after the executor's retries); the job file stays for ``--resume``."""


class ProgressSink(Protocol):
    """Anything a work unit reports progress to (:class:`~wmhub.progress.Progress`, a queue, a Ray relay)."""

    def update(self, units: int, secondary: int) -> None:
        """``units`` (episodes, rows) and ``secondary`` (transitions, windows) done."""


@dataclass
class UnitResult:
    """What one work unit wrote.

    Attributes:
        shards: the manifest entries of the shards it wrote (or kept).
        units: its exact progress total (episodes, rows), replacing live counts when it finishes.
        secondary: its exact secondary total (transitions, windows).
        reused: it kept a complete shard an interrupted run left instead of rebuilding it.
    """

    shards: list[ShardInfo]
    units: int
    secondary: int
    reused: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (what crosses a process or Ray boundary)."""
        return {"shards": [s.model_dump(mode="json") for s in self.shards], "units": self.units,
                "secondary": self.secondary, "reused": self.reused}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UnitResult:
        """The inverse of :meth:`to_json`."""
        return cls([ShardInfo.model_validate(s) for s in data["shards"]], int(data["units"]),
                   int(data["secondary"]), bool(data["reused"]))


ResultCallback = Callable[[UnitResult], None]
"""Called on the driver with each finished unit's result, as it arrives."""


class WorkUnit(Protocol):
    """One picklable unit of work: everything a worker needs (shard range, config, destination).

    Attributes:
        key: ``<start>-<end>``: names the unit in progress reports and errors.
        name: a name for the unit's task (``wmhub-<config>-<start>-<end>``).
    """

    @property
    def key(self) -> str: ...

    @property
    def name(self) -> str: ...

    def run(self, progress: ProgressSink) -> UnitResult:
        """Do the work on this worker, writing the unit's shards to the dataset."""


class Executor(Protocol):
    """Runs a job's work units and reports progress.

    ``run`` returns one result per unit, in any order; it calls ``progress.update`` as work
    completes, ``on_result`` (when given) with each unit's result as soon as it arrives (the driver
    records what is finished, for ``--resume``), and raises (leaving the job file for ``--resume``)
    if a unit fails for good.
    """

    name: str

    def run(self, units: Sequence[WorkUnit], progress: Progress,
            on_result: ResultCallback | None = None) -> list[UnitResult]: ...
