"""``--executor ray`` for stateless work: one Ray task per work unit (``wmhub generate``).

Each unit is one CPU task (``num_cpus=1``) running ``unit.run``, which writes
its shards straight to the destination (a path every node sees, or an
``s3://`` / ``gs://`` URL) and returns their manifest entries. Planning,
resume and the finalize step (card, then manifest) stay on the driver
(:mod:`wmhub.jobs.engine`), so the bytes are those of the local executor.

* Failures: a task whose worker dies (OOM kill, node loss, ``os._exit``) is
  retried by Ray up to ``max_retries`` times; a retry rewrites the same bytes.
  An exception raised by the task itself is not retried (it would fail again):
  the job stops, the job file stays and ``--resume`` redoes the missing shards.
* Progress: tasks report to a small actor (fire-and-forget calls); the driver
  polls it twice a second. A retried attempt restarts its task's count, and a
  finished task counts its exact totals, so the bar neither double-counts nor
  lags at the end.
* Ray is optional (``pip install 'wmhub[ray]'``) and imported only when used.
  The plumbing shared with the actor pool (connecting, the progress actor, the
  crash test hook ``WMHUB_TEST_CRASH_DIR``: each task's first attempt kills its
  worker after its first progress report) is :mod:`wmhub.ray_support`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wmhub.jobs.units import ResultCallback, UnitFailedError, UnitResult, WorkUnit
from wmhub.progress import Progress
from wmhub.ray_support import (
    DEFAULT_MAX_RETRIES,
    ProgressRelay,
    WorkerProgress,
    connected,
    crash_dir_from_env,
    drain,
    import_ray,
)


def _run_unit(unit: WorkUnit, counter: Any, crash_dir: str | None) -> dict[str, Any]:
    """The body of one Ray task (runs on a worker)."""
    return unit.run(WorkerProgress(counter, unit.key, crash_dir)).to_json()


class RayTaskExecutor:
    """Runs work units as Ray tasks (see the module docstring).

    Args:
        address: ``ray.init`` address (``auto``, ``ray://head:10001``, ``host:6379``); None: an
            already initialised Ray, else ``RAY_ADDRESS``, else a local cluster for this job.
        max_retries: Ray retries of a task whose worker died.
        num_cpus: CPUs Ray reserves per task (a rollout worker is single-threaded: 1).

    Raises:
        MissingDependencyError: Ray is not installed.

    Example:
        >>> wmhub.generate("reacher", "s3://bucket/reacher", 1000, executor=RayTaskExecutor("auto"))  # doctest: +SKIP
    """

    name = "ray"

    def __init__(self, address: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
                 num_cpus: float = 1) -> None:
        import_ray()  # fail before any work when the extra is missing
        self.address = address
        self.max_retries = max_retries
        self.num_cpus = num_cpus

    def run(self, units: Sequence[WorkUnit], progress: Progress,
            on_result: ResultCallback | None = None) -> list[UnitResult]:
        """Run every unit as a Ray task; returns their results (raises if one fails for good)."""
        with connected(self.address) as ray:
            return self._run(ray, units, progress, on_result)

    def _run(self, ray: Any, units: Sequence[WorkUnit], progress: Progress,
             on_result: ResultCallback | None) -> list[UnitResult]:
        relay = ProgressRelay(ray, progress)
        remote = ray.remote(_run_unit)
        crash_dir = crash_dir_from_env()
        pending = {}
        for unit in units:
            ref = remote.options(name=unit.name, num_cpus=self.num_cpus,
                                 max_retries=self.max_retries, retry_exceptions=False).remote(
                unit, relay.counter, crash_dir)
            pending[ref] = unit.key
        results: list[UnitResult] = []

        def on_ready(key: str, ref: Any) -> None:
            try:
                result = UnitResult.from_json(ray.get(ref))
            except ray.exceptions.RayError as exc:
                raise UnitFailedError(f"shard task [{key.replace('-', ', ')}) failed (after up to {self.max_retries} "
                                      f"retries of a lost worker): {exc}; fix the cause and rerun with "
                                      "--resume (completed shards are kept)") from exc
            results.append(result)
            relay.finish(key, result.units, result.secondary)
            if on_result is not None:
                on_result(result)

        try:
            drain(ray, pending, relay, on_ready)
        finally:
            for ref in pending:  # on error or interrupt: stop what is still queued or running
                ray.cancel(ref, force=True)
            relay.close()
        return results
