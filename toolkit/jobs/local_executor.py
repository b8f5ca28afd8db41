"""The local executor: work units in this process, or in a pool of spawned processes."""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wmhub.jobs.units import ResultCallback, UnitResult, WorkUnit
from wmhub.progress import Progress
from wmhub.workers import die_with_parent

T = TypeVar("T")

_PROGRESS_QUEUE: Any = None


class _QueueProgress:
    """A pool worker's progress: sent to the driver through the pool's queue."""

    def update(self, units: int, secondary: int) -> None:
        _PROGRESS_QUEUE.put((units, secondary))


def _worker_init(progress_queue: Any) -> None:  # pragma: no cover - runs in subprocesses
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = progress_queue
    die_with_parent()


def _worker_run(unit: WorkUnit) -> dict[str, Any]:  # pragma: no cover - runs in subprocesses
    return unit.run(_QueueProgress()).to_json()


@dataclass
class LocalExecutor:
    """This machine: in this process for one worker, else a pool of ``workers`` spawned processes.

    Workers are *spawned* (no inherited simulator or GL state), so a script using more than one
    needs the usual ``if __name__ == "__main__":`` guard. Pool workers die with the job (a
    SIGKILLed job leaves no writer behind to race a ``--resume``).

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

        if self.workers <= 1 or len(units) <= 1:
            for unit in units:
                finished(unit.run(progress))
            return results
        ctx = mp.get_context("spawn")
        progress_queue = ctx.Queue()
        with ctx.Pool(min(self.workers, len(units)), initializer=_worker_init, initargs=(progress_queue,)) as pool:
            pending = [pool.apply_async(_worker_run, (unit,)) for unit in units]
            while pending:
                try:
                    progress.update(*progress_queue.get(timeout=0.2))
                except queue_mod.Empty:
                    pass
                for done in [p for p in pending if p.ready()]:
                    finished(UnitResult.from_json(done.get()))
                    pending.remove(done)
            while True:  # drain the last progress messages
                try:
                    progress.update(*progress_queue.get_nowait())
                except queue_mod.Empty:
                    break
        return results
