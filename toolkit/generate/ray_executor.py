"""``--executor ray``: one Ray task per shard, on a Ray cluster.

Each shard range is one CPU task (``num_cpus=1``) running
:func:`toolkit.generate.job.run_task`, which writes the shard files straight to
the destination (a path every node sees, or an ``s3://`` / ``gs://`` URL) and
returns their manifest entries. Planning, resume and the finalize step (card,
then manifest) stay in :mod:`toolkit.generate.job`, on the driver, so the bytes
are those of the local executor.

* Failures: a task whose worker dies (OOM kill, node loss, ``os._exit``) is
  retried by Ray up to ``max_retries`` times; a retry rewrites the same bytes.
  An exception raised by the task itself is not retried (it would fail again):
  the job stops, the job file stays and ``--resume`` redoes the missing shards.
* Progress: tasks report each finished episode to a small actor (fire-and-forget
  calls); the driver polls it twice a second. A retried attempt restarts its
  task's count, and a finished task counts its exact totals, so the bar neither
  double-counts nor lags at the end.
* Ray is optional (``pip install 'wmhub[ray]'``) and imported only here.

Test hook: when ``WMHUB_TEST_CRASH_DIR`` is set in the driver's environment, each
task's *first* attempt creates ``$WMHUB_TEST_CRASH_DIR/crashed-<start>-<end>`` after
its first episode and kills its worker process with ``os._exit(1)`` -- a crash
mid-shard, which Ray must retry. Used by tests/test_scale_out.py; never set it
otherwise.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

from toolkit.data.layout import STEPS_CONFIG
from toolkit.data.manifest import ShardInfo
from toolkit.errors import WmhubError
from toolkit.progress import Progress

CRASH_HOOK_ENV = "WMHUB_TEST_CRASH_DIR"
DEFAULT_MAX_RETRIES = 3


def import_ray():
    """``ray``, or a WmhubError naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise WmhubError("--executor ray needs Ray, an optional extra: pip install 'wmhub[ray]'") from exc
    return ray


class _ProgressCounter:
    """Episodes and transitions per task, for the current attempt of each (a Ray actor)."""

    def __init__(self) -> None:
        self.tasks: dict[str, list] = {}

    def add(self, key: str, attempt: str, steps: int) -> None:
        entry = self.tasks.get(key)
        if entry is None or entry[0] != attempt:  # first report of a (re)started attempt
            entry = self.tasks[key] = [attempt, 0, 0]
        entry[1] += 1
        entry[2] += steps

    def snapshot(self) -> dict[str, tuple[int, int]]:
        return {key: (entry[1], entry[2]) for key, entry in self.tasks.items()}


def _crash_once(crash_dir: str, key: str) -> None:  # pragma: no cover - kills the worker process
    try:
        fd = os.open(Path(crash_dir) / f"crashed-{key}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # not the first attempt
    os.close(fd)
    os._exit(1)


def _shard_task(env: str, config_json: str, destination: str, start: int, end: int,
                storage_options: dict[str, Any] | None, counter, crash_dir: str | None) -> list[dict]:
    """The body of one Ray task (runs on a worker)."""
    from toolkit.generate.job import run_task

    key, attempt, episodes = f"{start}-{end}", uuid.uuid4().hex, [0]

    def on_episode(steps: int) -> None:
        counter.add.remote(key, attempt, steps)
        episodes[0] += 1
        if crash_dir and episodes[0] == 1:
            _crash_once(crash_dir, key)

    return run_task(env, config_json, destination, start, end, on_episode=on_episode,
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

    def _connect(self, ray) -> bool:
        """Initialise Ray unless it already is; True if this call did (and must shut it down)."""
        if ray.is_initialized():
            return False
        try:
            ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=True)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise WmhubError(f"could not connect to the Ray cluster at {self.address or 'RAY_ADDRESS/local'}: "
                             f"{exc}") from exc
        return True

    def run(self, tasks, progress: Progress) -> list[ShardInfo]:
        ray = import_ray()
        started = self._connect(ray)
        try:
            return self._run(ray, tasks, progress)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, tasks, progress: Progress) -> list[ShardInfo]:
        counter = ray.remote(num_cpus=0)(_ProgressCounter).remote()
        remote = ray.remote(_shard_task)
        crash_dir = os.environ.get(CRASH_HOOK_ENV) or None
        refs = {}
        for start, end in tasks.ranges:
            ref = remote.options(name=f"wmhub-{tasks.env}-{start:08d}-{end:08d}", num_cpus=self.num_cpus,
                                 max_retries=self.max_retries, retry_exceptions=False).remote(
                tasks.env, tasks.config_json, tasks.destination, start, end, tasks.storage_options, counter,
                crash_dir)
            refs[ref] = (start, end)
        pending = list(refs)
        infos: list[ShardInfo] = []
        finished: dict[str, tuple[int, int]] = {}
        shown = (0, 0)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
                for ref in ready:
                    start, end = refs[ref]
                    try:
                        result = [ShardInfo.model_validate(d) for d in ray.get(ref)]
                    except ray.exceptions.RayError as exc:
                        raise WmhubError(f"shard task [{start}, {end}) failed (after up to {self.max_retries} "
                                         f"retries of a lost worker): {exc}; fix the cause and rerun with "
                                         "--resume (completed shards are kept)") from exc
                    infos += result
                    rows = sum(i.num_rows for i in result if i.config == STEPS_CONFIG)
                    finished[f"{start}-{end}"] = (end - start, rows - (end - start))  # exact: T+1 rows per episode
                live = {**ray.get(counter.snapshot.remote()), **finished}
                total = (sum(v[0] for v in live.values()), sum(v[1] for v in live.values()))
                if total != shown:
                    progress.update(total[0] - shown[0], total[1] - shown[1])
                    shown = total
        finally:
            for ref in pending:  # on error or interrupt: stop what is still queued or running
                ray.cancel(ref, force=True)
            ray.kill(counter)
        return infos
