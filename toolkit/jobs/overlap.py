"""Overlap a work unit's writing with the next unit's computing, on one writer thread per worker.

A unit that can be split in two (:class:`StagedUnit`: ``stage`` computes its rows and returns
the step that writes them) is computed on the worker's own thread while the previous unit's
shards are encoded, hashed and written on a single writer thread. Parquet encoding, hashing and
large numpy reductions release the GIL, so a spare core does that work while the simulation
steps; with no spare core the two share it and nothing is lost.

* **Bounded**: at most one unit is being written while the next is computed; the worker waits
  for the write before handing over the following one, so memory holds two units' rows at most.
* **Same files**: the writing step is the unit's own (temporary name, fsync, rename), so a
  killed worker leaves complete shards and temporaries only, as before, and ``--resume`` keeps
  the former; each unit's result is reported as soon as its shards are written.
* **Errors**: a failed write is raised on the worker's thread before it starts another write,
  as itself (its type and traceback kept: a full disk stays an :class:`OSError`, a user error a
  :class:`~wmhub.errors.WmhubError`, a bug a traceback) with a note naming the unit; a failure
  while computing waits for the write in flight, so no writer outlives the worker's error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, runtime_checkable

from wmhub.jobs.units import ProgressSink, ResultCallback, UnitResult, WorkUnit

WriteStep = Callable[[], UnitResult]
"""The second half of a staged unit: writes what ``stage`` computed and returns the unit's result."""


@runtime_checkable
class StagedUnit(Protocol):
    """A work unit whose computing and writing can run on different threads.

    ``stage(progress)`` does the computing on the calling thread and returns the step that
    writes its shards; ``stage(progress)()`` does exactly what ``run(progress)`` does.

    Attributes:
        key: ``<start>-<end>``.
        name: the unit's name (``wmhub-<env>-<start>-<end>``).
    """

    @property
    def key(self) -> str: ...

    @property
    def name(self) -> str: ...

    def run(self, progress: ProgressSink) -> UnitResult: ...

    def stage(self, progress: ProgressSink) -> WriteStep: ...


def is_staged(unit: WorkUnit) -> bool:
    """Whether ``unit`` can be split into computing and writing (it has a ``stage`` method).

    Example:
        >>> is_staged(object())
        False
    """
    return isinstance(unit, StagedUnit)


def run_overlapped(units: Iterable[StagedUnit], progress: ProgressSink, on_result: ResultCallback) -> None:
    """Run ``units`` in order on this thread, each one's writing overlapped with the next one's computing.

    Args:
        units: the units this worker runs (an iterable: a worker may take them from a queue one at a
            time, taking the next one only when it is ready to compute it).
        progress: where the units report progress (from this thread).
        on_result: called on the writer thread with each unit's result as soon as its shards are
            written (e.g. to record them in the job file, or send them to the driver).

    Raises:
        Exception: what a unit's computing or writing raised, as itself; a write's error carries a note
            naming the unit (``(while writing the shards of wmhub-spot-00000000-00000100)``).

    Example:
        >>> run_overlapped(tasks, progress, results.append)  # doctest: +SKIP
    """
    in_flight: tuple[StagedUnit, Future[None]] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wmhub-writer") as writer:
        # the pool's exit waits for the write in flight, also when computing a unit raised
        for unit in units:
            try:
                write = unit.stage(progress)
            except BaseException as exc:  # the write in flight finishes first; its failure is not lost
                earlier = in_flight[1].exception() if in_flight is not None else None
                if in_flight is not None and earlier is not None:
                    exc.add_note(f"(the shards of {in_flight[0].name} failed to write too: {earlier!r})")
                raise
            if in_flight is not None:
                _wait(*in_flight)
            in_flight = (unit, writer.submit(_write_and_report, write, on_result))
        if in_flight is not None:
            _wait(*in_flight)


def _write_and_report(write: WriteStep, on_result: ResultCallback) -> None:
    on_result(write())


def _wait(unit: StagedUnit, future: Future[None]) -> None:
    """Wait for ``unit``'s write; raise its error here, with a note naming the unit."""
    error = future.exception()
    if error is not None:
        error.add_note(f"(while writing the shards of {unit.name})")
        raise error
