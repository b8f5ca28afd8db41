"""Ray plumbing shared by wmhub's Ray executors.

Two executors run work units on Ray: one stateless task per unit
(:mod:`wmhub.jobs.ray_tasks`, ``wmhub generate``) and a pool of actors, each
loading the encoder once (:mod:`wmhub.jobs.ray_actors`, ``wmhub encode``). What
they share lives here, once:

* :func:`import_ray` -- Ray is an optional extra, imported only when asked for;
* :func:`connected` -- join the cluster (or start a local one) and leave it again;
* :class:`ProgressRelay` / :class:`WorkerProgress` -- workers report progress to a
  small counter actor (fire-and-forget calls), the driver polls it into its progress
  bar. Counts are kept per work item and per *attempt*: a retried item restarts its
  own count, and a finished item counts its exact totals, so the bar neither
  double-counts retries nor lags at the end;
* :func:`drain` -- wait for object refs, handing each finished one to a callback
  that may submit more work (the actor pool's queue);
* the crash test hook: when ``WMHUB_TEST_CRASH_DIR`` is set in the driver's
  environment, the *first* attempt of each work item creates
  ``$WMHUB_TEST_CRASH_DIR/crashed-<key>`` after its first progress report and kills
  its worker process with ``os._exit(1)`` -- a crash mid-shard that Ray must retry.
  Used by tests/test_scale_out.py; never set it otherwise.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wmhub.errors import ConfigError, MissingDependencyError
from wmhub.progress import Progress

CRASH_HOOK_ENV = "WMHUB_TEST_CRASH_DIR"
#: Ray retries of work whose worker process died (OOM kill, lost node, segfault)
DEFAULT_MAX_RETRIES = 3


def import_ray():
    """``ray``, imported on first use.

    Returns:
        The ``ray`` module.

    Raises:
        MissingDependencyError: Ray is not installed (the message names the extra).

    Example:
        >>> ray = import_ray()  # doctest: +SKIP
    """
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("--executor ray needs Ray, an optional extra: pip install 'wmhub[ray]'") from exc
    return ray


@contextmanager
def connected(address: str | None) -> Iterator[Any]:
    """Yield ``ray`` connected to a cluster; shut Ray down afterwards if this call started it.

    Args:
        address: ``ray.init`` address (``auto``, ``HOST:6379``, ``ray://HOST:10001``); None: an already
            initialised Ray, else ``RAY_ADDRESS``, else a local instance for this job.

    Yields:
        The ``ray`` module, connected.

    Raises:
        MissingDependencyError: Ray is not installed.
        ConfigError: no cluster could be reached (or started) at ``address``.

    Example:
        >>> with connected("auto") as ray:  # doctest: +SKIP
        ...     print(ray.cluster_resources())
    """
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
        except Exception as exc:  # noqa: BLE001 - ray.init also raises a bare Exception when a node fails to start
            raise ConfigError(f"could not connect to the Ray cluster at {address or 'RAY_ADDRESS/local'}: "
                             f"{exc}") from exc
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def crash_dir_from_env() -> str | None:
    """The crash test hook's directory (see the module docstring), read on the driver."""
    return os.environ.get(CRASH_HOOK_ENV) or None


def _crash_once(crash_dir: str, key: str) -> None:  # pragma: no cover - kills the worker process
    try:
        fd = os.open(Path(crash_dir) / f"crashed-{key}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # not the first attempt
    os.close(fd)
    os._exit(1)


class ProgressCounter:
    """Units and secondary counts per work item, for the current attempt of each (runs as a Ray actor)."""

    def __init__(self) -> None:
        self.items: dict[str, list] = {}

    def add(self, key: str, attempt: str, units: int, secondary: int) -> None:
        """Count ``units`` / ``secondary`` for ``key``; a new ``attempt`` id restarts the item's count."""
        entry = self.items.get(key)
        if entry is None or entry[0] != attempt:  # first report of a (re)started attempt
            entry = self.items[key] = [attempt, 0, 0]
        entry[1] += units
        entry[2] += secondary

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """``key -> (units, secondary)`` of every item's current attempt."""
        return {key: (entry[1], entry[2]) for key, entry in self.items.items()}


REPORT_INTERVAL_S = 0.5  # how often a worker sends its counts to the progress actor


class WorkerProgress:
    """What a worker reports progress through: the :class:`~wmhub.progress.Progress` interface
    (``update``), forwarded to the counter actor under this attempt's id.

    Created inside the worker, once per attempt. With the crash test hook set, the first report of
    an item's first attempt kills the worker process.
    """

    def __init__(self, counter, key: str, crash_dir: str | None = None, interval_s: float = REPORT_INTERVAL_S) -> None:
        self.counter = counter
        self.key = key
        self.attempt = uuid.uuid4().hex
        self.crash_dir = crash_dir
        self.reports = 0
        self.interval_s = interval_s
        self.pending = (0, 0)
        self.last_sent = float("-inf")

    def update(self, units: int, secondary: int, extra: str = "") -> None:
        """Report ``units`` (episodes, rows) and ``secondary`` (transitions, windows) done.

        Counts are sent to the actor at most every ``interval_s`` seconds (the first at once): one
        actor call per episode cost the rollout workers measurable CPU on a small machine. The
        driver replaces an item's live count by its exact total when it finishes, so counts held
        back at the end are never lost from the bar's final figure.
        """
        self.pending = (self.pending[0] + units, self.pending[1] + secondary)
        self.reports += 1
        now = time.monotonic()
        if now - self.last_sent >= self.interval_s:
            self.counter.add.remote(self.key, self.attempt, *self.pending)
            self.pending, self.last_sent = (0, 0), now
        if self.crash_dir and self.reports == 1:
            _crash_once(self.crash_dir, self.key)


class ProgressRelay:
    """Driver side of the progress counter: owns the counter actor and advances ``progress``."""

    def __init__(self, ray, progress: Progress) -> None:
        self.ray = ray
        self.progress = progress
        self.counter = ray.remote(num_cpus=0)(ProgressCounter).remote()
        self.finished: dict[str, tuple[int, int]] = {}
        self.shown = (0, 0)

    def finish(self, key: str, units: int, secondary: int) -> None:
        """Record the exact totals of a finished item (they replace its live count)."""
        self.finished[key] = (units, secondary)

    def refresh(self) -> None:
        """Pull the live counts and advance the bar by what changed."""
        live = {**self.ray.get(self.counter.snapshot.remote()), **self.finished}
        total = (sum(v[0] for v in live.values()), sum(v[1] for v in live.values()))
        if total != self.shown:
            self.progress.update(total[0] - self.shown[0], total[1] - self.shown[1])
            self.shown = total

    def close(self) -> None:
        """Stop the counter actor."""
        self.ray.kill(self.counter)


def drain(ray, pending: dict, relay: ProgressRelay, on_ready: Callable[[Any, Any], dict | None],
          poll_s: float = 0.5) -> None:
    """Wait until ``pending`` (object ref -> tag) is empty, refreshing the progress bar.

    Each finished ref is removed and passed to ``on_ready(tag, ref)``, which reads its result (raising
    to stop the job) and may return more ``ref -> tag`` entries to wait for. ``pending`` is updated in
    place, so after an exception it holds what is still queued or running, for the caller to cancel.
    """
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=poll_s)
        for ref in ready:
            tag = pending.pop(ref)
            pending.update(on_ready(tag, ref) or {})
        relay.refresh()
