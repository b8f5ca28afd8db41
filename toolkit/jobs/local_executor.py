"""The local executor: work units in this process, or in a pool of spawned processes."""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wmhub.jobs.overlap import is_staged, run_overlapped
from wmhub.jobs.units import ResultCallback, UnitResult, WorkUnit
from wmhub.progress import Progress
from wmhub.workers import die_with_parent

T = TypeVar("T")

_PROGRESS_QUEUE: Any = None
_UNIT_QUEUE: Any = None
_RESULT = "result"  # a message on the progress queue carrying a staged unit's result (JSON)


class _QueueProgress:
    """A pool worker's progress: sent to the driver through the pool's queue."""

    def update(self, units: int, secondary: int) -> None:
        _PROGRESS_QUEUE.put((units, secondary))


def _worker_init(progress_queue: Any, unit_queue: Any = None) -> None:  # pragma: no cover - runs in subprocesses
    global _PROGRESS_QUEUE, _UNIT_QUEUE
    _PROGRESS_QUEUE, _UNIT_QUEUE = progress_queue, unit_queue
    die_with_parent()


def _worker_run(unit: WorkUnit) -> dict[str, Any]:  # pragma: no cover - runs in subprocesses
    return unit.run(_QueueProgress()).to_json()


def _worker_drain() -> None:  # pragma: no cover - runs in subprocesses
    """Take staged units from the shared queue until its end marker, each one's writing overlapped with the
    next one's computing; each result goes to the driver as soon as its shards are written."""
    run_overlapped(iter(_UNIT_QUEUE.get, None), _QueueProgress(),
                   lambda result: _PROGRESS_QUEUE.put((_RESULT, result.to_json())))


@dataclass
class LocalExecutor:
    """This machine: in this process for one worker, else a pool of ``workers`` spawned processes.

    Workers are *spawned* (no inherited simulator or GL state), so a script using more than one
    needs the usual ``if __name__ == "__main__":`` guard. Pool workers die with the job (a
    SIGKILLed job leaves no writer behind to race a ``--resume``). Units that split into computing
    and writing (:class:`~wmhub.jobs.overlap.StagedUnit`) are taken by each worker (this process
    for one) from a shared queue, one at a time, and written on the worker's writer thread while it
    computes the next (:func:`~wmhub.jobs.overlap.run_overlapped`).

    Args:
        workers: parallel processes; the bytes written do not depend on it.

    Example:
        >>> results = LocalExecutor(workers=2).run(units, progress)  # doctest: +SKIP
    """

    workers: int = 1
    name: str = field(default="local", init=False)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` where the units run (here)."""
        return fn(*args)

    def run(self, units: Sequence[WorkUnit], progress: Progress,
            on_result: ResultCallback | None = None) -> list[UnitResult]:
        results: list[UnitResult] = []

        def finished(result: UnitResult) -> None:
            results.append(result)
            if on_result is not None:
                on_result(result)

        staged = all(is_staged(unit) for unit in units)
        if self.workers <= 1 or len(units) <= 1:
            if staged:
                run_overlapped(units, progress, finished)
                return results
            for unit in units:
                finished(unit.run(progress))
            return results
        ctx = mp.get_context("spawn")
        progress_queue = ctx.Queue()
        workers = min(self.workers, len(units))
        unit_queue = ctx.Queue() if staged else None
        if unit_queue is not None:  # after a failure nobody reads the rest: do not wait on it at exit
            unit_queue.cancel_join_thread()
        with ctx.Pool(workers, initializer=_worker_init, initargs=(progress_queue, unit_queue)) as pool:
            if unit_queue is not None:  # the workers take units as they get ready (results come as messages)
                for unit in [*units, *[None] * workers]:
                    unit_queue.put(unit)
                pending = [pool.apply_async(_worker_drain) for _ in range(workers)]
            else:
                pending = [pool.apply_async(_worker_run, (unit,)) for unit in units]
            while pending or len(results) < len(units):
                try:
                    message = progress_queue.get(timeout=0.2)
                except queue_mod.Empty:
                    pass
                else:
                    if message[0] == _RESULT:
                        finished(UnitResult.from_json(message[1]))
                    else:
                        progress.update(*message)
                for done in [p for p in pending if p.ready()]:
                    value = done.get()  # raises the worker's error
                    if value is not None:
                        finished(UnitResult.from_json(value))
                    pending.remove(done)
            while True:  # drain the last progress messages
                try:
                    progress.update(*progress_queue.get_nowait())
                except queue_mod.Empty:
                    break
        return results
