"""The life of a job in a dataset, once for every kind (generate, encode, frames).

1. The driver opens the destination and takes its lock; half-written
   temporaries (a dead writer's) are deleted.
2. The job file ``.wmhub-job.json`` says what is being built. An interrupted
   job (a job file is there) is refused unless resumed, and resumed only with
   the options that started it (:func:`claim_job`).
3. The work is cut into picklable *work units* (one shard range each), run by an
   :class:`Executor`: this process, a pool of spawned processes
   (:class:`LocalExecutor`), one Ray task per unit
   (:class:`wmhub.jobs.ray_tasks.RayTaskExecutor`) or a pool of Ray actors
   (:class:`wmhub.jobs.ray_actors.RayActorPool`). A unit writes its shards
   straight to the dataset under their final names (atomically), so a killed
   job leaves only complete shards.
4. Finalize (:func:`finish_job`): the dataset card, then ``manifest.json``,
   then the job file is removed.

Because a shard's bytes depend only on its unit, and the manifest only on the
shards, a resumed job is byte-identical to an uninterrupted one, whatever the
executor or the number of workers.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from wmhub.data.manifest import Manifest
from wmhub.envs.base import RolloutSpec
from wmhub.errors import ConfigError, InterruptedJobError, WmhubError
from wmhub.fileio import ENVIRONMENT_ERRNOS, describe_os_error
from wmhub.jobs.destination import Destination
from wmhub.jobs.local_executor import LocalExecutor
from wmhub.jobs.ray_tasks import RayTaskExecutor
from wmhub.jobs.units import Executor, ResultCallback, UnitResult, WorkUnit
from wmhub.progress import Progress

#: the command that resumes each kind of job, for messages
_RESUME_COMMANDS = {"generate": "wmhub generate", "encode": "wmhub encode", "frames": "wmhub encode --save-frames"}


# ------------------------------------------------------------------ the job file
def claim_job(dest: Destination, content: dict[str, Any], *, resume: bool) -> dict[str, Any] | None:
    """Check the interrupted job in ``dest`` (if any) against the one asked for.

    Args:
        dest: the destination, locked.
        content: what identifies the job (``kind`` and its options); an interrupted job is resumed
            only when its job file holds the same values for these keys.
        resume: continue an interrupted job.

    Returns:
        The interrupted job's file (resume it), or None when there is none (start a new job).

    Raises:
        InterruptedJobError: a job file is there and ``resume`` is off, or it is another kind of job,
            or it was started with other options.

    Example:
        >>> found = claim_job(dest, {"kind": "encode", "config": "embeddings-state"}, resume=False)  # doctest: +SKIP
    """
    found = dest.read_job()
    if found is None:
        return None
    kind = str(found.get("kind", "generate"))
    if not resume or kind != content["kind"]:
        command = _RESUME_COMMANDS.get(kind, f"wmhub {kind}")
        raise InterruptedJobError(f"{dest} holds an interrupted {kind} job; finish it first with "
                                  f"`{command} ... --resume` (the command that started it)")
    if {k: found.get(k) for k in content} != content:
        raise InterruptedJobError(f"the interrupted job in {dest} was started with other options "
                                  f"({json.dumps(found, sort_keys=True)[:300]}); resume it with those options")
    return found


@contextlib.contextmanager
def environment_errors(where: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an error of the environment (a full or read-only disk, a path too long, see
    :data:`wmhub.fileio.ENVIRONMENT_ERRNOS`) raised in the block into one :class:`WmhubError` line
    naming the path (``where`` when the error names none) and the fix.

    Args:
        where: the job's destination.

    Raises:
        WmhubError: the block raised such an error (other errors pass unchanged).

    Example:
        >>> with environment_errors("data/reacher"):  # doctest: +SKIP
        ...     generate_into("data/reacher")
    """
    try:
        yield
    except OSError as exc:
        if exc.errno not in ENVIRONMENT_ERRNOS:
            raise
        raise WmhubError(describe_os_error(exc, where)) from exc


@contextlib.contextmanager
def temporaries_removed_on_failure(dest: Destination) -> Iterator[None]:
    """Delete the temporaries of the job's writers when the block fails (the caller holds the lock, and
    the executor has stopped its workers), so that a failed job leaves complete shards and its job
    file only.

    Args:
        dest: the destination, locked.

    Example:
        >>> with dest.lock(), temporaries_removed_on_failure(dest):  # doctest: +SKIP
        ...     run_units(executor, units, progress)
    """
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # best effort: the error being raised is the one to report
            dest.remove_stale_temporaries()
        raise


def finish_job(dest: Destination, manifest: Manifest, spec: RolloutSpec) -> None:
    """Finalize: the dataset card, then ``manifest.json`` (last), then remove the job file.

    Args:
        dest: the destination, locked.
        manifest: the dataset's new manifest.
        spec: the dataset's environment (its card template).

    Example:
        >>> finish_job(dest, manifest, get_spec("reacher"))  # doctest: +SKIP
    """
    dest.finalize(manifest, spec)
    dest.remove_job()


def plan_ranges(start: int, end: int, per_shard: int) -> list[tuple[int, int]]:
    """Contiguous ranges [a, b) of at most ``per_shard`` covering [start, end).

    Args:
        start: first episode.
        end: one past the last episode.
        per_shard: episodes per shard.

    Returns:
        The shard ranges, in order.

    Example:
        >>> plan_ranges(0, 10, 4)
        [(0, 4), (4, 8), (8, 10)]
    """
    return [(a, min(a + per_shard, end)) for a in range(start, end, per_shard)]


def run_units(executor: Executor, units: Sequence[WorkUnit], progress: Progress,
              on_result: ResultCallback | None = None) -> list[UnitResult]:
    """Run ``units`` on ``executor``, closing ``progress`` afterwards.

    Args:
        executor: where the units run.
        units: the work.
        progress: the job's progress bar.
        on_result: called with each unit's result as soon as it arrives (e.g. to record it in the
            job file).

    Returns:
        One result per unit (empty when there is no work).

    Example:
        >>> results = run_units(LocalExecutor(2), units, progress)  # doctest: +SKIP
    """
    try:
        return executor.run(units, progress, on_result) if units else []
    finally:
        progress.close()


def make_executor(executor: str | Executor, workers: int = 1, ray_address: str | None = None) -> Executor:
    """An executor of stateless work units by name.

    Args:
        executor: ``"local"`` (``workers`` processes), ``"ray"`` (one Ray task per unit on the
            cluster at ``ray_address``; default ``RAY_ADDRESS``, else a local one) or an
            :class:`Executor` instance (returned as is).
        workers: processes of the local executor.
        ray_address: the Ray cluster, with ``executor="ray"`` only.

    Returns:
        The executor.

    Raises:
        ConfigError: an unknown name, or ``ray_address`` without Ray.
        MissingDependencyError: ``"ray"`` without Ray installed.

    Example:
        >>> make_executor("local", workers=2).name
        'local'
    """
    if not isinstance(executor, str):
        return executor
    if executor == "local":
        if ray_address:
            raise ConfigError("--ray-address needs --executor ray")
        return LocalExecutor(workers)
    if executor == "ray":
        return RayTaskExecutor(address=ray_address)
    raise ConfigError(f"unknown --executor {executor!r}; choose local or ray")
