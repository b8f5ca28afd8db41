"""``--executor ray``: one Ray task per shard, on a Ray cluster.

Each shard range is one CPU task (``num_cpus=1``) running
:func:`wmhub.generation.job.run_task`, which writes the shard files straight to
the destination (a path every node sees, or an ``s3://`` / ``gs://`` URL) and
returns their manifest entries. Planning, resume and the finalize step (card,
then manifest) stay in :mod:`wmhub.generation.job`, on the driver, so the bytes
are those of the local executor.

* Failures: a task whose worker dies (OOM kill, node loss, ``os._exit``) is
  retried by Ray up to ``max_retries`` times; a retry rewrites the same bytes.
  An exception raised by the task itself is not retried (it would fail again):
  the job stops, the job file stays and ``--resume`` redoes the missing shards.
* Progress: tasks report each finished episode to a small actor (fire-and-forget
  calls); the driver polls it twice a second. A retried attempt restarts its
  task's count, and a finished task counts its exact totals, so the bar neither
  double-counts nor lags at the end.
* Ray is optional (``pip install 'wmhub[ray]'``) and imported only when used.
  The plumbing shared with ``wmhub encode --executor ray`` (connecting, the
  progress actor, the crash test hook ``WMHUB_TEST_CRASH_DIR``: each task's first
  attempt kills its worker after one episode) is :mod:`wmhub.ray_support`'s.
"""

from __future__ import annotations

from typing import Any

from wmhub.data.layout import STEPS_CONFIG
from wmhub.data.manifest import ShardInfo
from wmhub.errors import WmhubError
from wmhub.progress import Progress
from wmhub.ray_support import (  # noqa: F401
    CRASH_HOOK_ENV,
    DEFAULT_MAX_RETRIES,
    ProgressRelay,
    WorkerProgress,
    connected,
    crash_dir_from_env,
    drain,
    import_ray,
)


def _shard_task(env: str, config_json: str, destination: str, start: int, end: int,
                storage_options: dict[str, Any] | None, counter, crash_dir: str | None) -> list[dict]:
    """The body of one Ray task (runs on a worker)."""
    from wmhub.generation.job import run_task

    reporter = WorkerProgress(counter, f"{start}-{end}", crash_dir)
    return run_task(env, config_json, destination, start, end, on_episode=lambda steps: reporter.update(1, steps),
                    storage_options=storage_options)


class RayExecutor:
    """Runs shard tasks on a Ray cluster (see the module docstring).

    Args:
        address: ``ray.init`` address (``auto``, ``ray://head:10001``, ``host:6379``); None: an
            already initialised Ray, else ``RAY_ADDRESS``, else a local cluster for this job.
        max_retries: Ray retries of a task whose worker died.
        num_cpus: CPUs Ray reserves per task (a rollout worker is single-threaded: 1).
    """

    name = "ray"

    def __init__(self, address: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
                 num_cpus: float = 1) -> None:
        import_ray()  # fail before any work when the extra is missing
        self.address = address
        self.max_retries = max_retries
        self.num_cpus = num_cpus

    def run(self, tasks, progress: Progress) -> list[ShardInfo]:
        with connected(self.address) as ray:
            return self._run(ray, tasks, progress)

    def _run(self, ray, tasks, progress: Progress) -> list[ShardInfo]:
        relay = ProgressRelay(ray, progress)
        remote = ray.remote(_shard_task)
        crash_dir = crash_dir_from_env()
        pending = {}
        for start, end in tasks.ranges:
            ref = remote.options(name=f"wmhub-{tasks.env}-{start:08d}-{end:08d}", num_cpus=self.num_cpus,
                                 max_retries=self.max_retries, retry_exceptions=False).remote(
                tasks.env, tasks.config_json, tasks.destination, start, end, tasks.storage_options, relay.counter,
                crash_dir)
            pending[ref] = (start, end)
        infos: list[ShardInfo] = []

        def on_ready(shard: tuple[int, int], ref) -> None:
            start, end = shard
            try:
                result = [ShardInfo.model_validate(d) for d in ray.get(ref)]
            except ray.exceptions.RayError as exc:
                raise WmhubError(f"shard task [{start}, {end}) failed (after up to {self.max_retries} "
                                 f"retries of a lost worker): {exc}; fix the cause and rerun with "
                                 "--resume (completed shards are kept)") from exc
            infos.extend(result)
            rows = sum(i.num_rows for i in result if i.config == STEPS_CONFIG)
            relay.finish(f"{start}-{end}", end - start, rows - (end - start))  # exact: T+1 rows per episode

        try:
            drain(ray, pending, relay, on_ready)
        finally:
            for ref in pending:  # on error or interrupt: stop what is still queued or running
                ray.cancel(ref, force=True)
            relay.close()
        return infos
