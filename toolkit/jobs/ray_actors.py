"""``wmhub encode --executor ray``: a pool of Ray actors, each loading the encoder once.

The work units of a derived config (:class:`wmhub.jobs.derived.DerivedShardUnit`)
carry a picklable recipe of the config (the encoder spec and its options); an
actor builds it on its first unit and keeps it, so the model loads **once per
actor**, and with ``num_gpus=1`` per actor, once per GPU. The driver keeps a
queue of units (one step shard -> one derived shard) and hands the next one to
whichever actor finishes; an actor reads its step shard, encodes it and writes
the derived shard straight to the dataset (a temporary name then a rename on a
path every node sees; a PUT of the final key on ``s3://``), then returns the
manifest entry. Planning, resume and the single finalize step (card, then
manifest) stay on the driver (:mod:`wmhub.jobs.derived`), so the bytes are the
local executor's for the same device type.

Devices (``--device``) and the pool:

========  =====================================  ======================================
device    cluster with GPUs                      cluster without GPUs
========  =====================================  ======================================
auto      one actor per GPU, ``num_gpus=1``      CPU actors
cuda      one actor per GPU, ``num_gpus=1``      error (names ``--device cpu``)
cpu       CPU actors                             CPU actors
========  =====================================  ======================================

A GPU actor reserves ``num_gpus=1`` and ``1 + workers`` CPUs (``workers``: its render
processes) and sees its GPU as ``cuda`` (Ray sets ``CUDA_VISIBLE_DEVICES``; a
``cuda:N`` index is ignored). A CPU actor reserves ``threads + workers`` CPUs,
``threads`` being ``--encoder-threads`` (default 1: more, smaller actors keep
more cores busy than fewer multi-threaded ones), and runs torch with that many
threads. The state encoder and ``--save-frames`` run no network: always CPU actors.
Pool size: ``--ray-actors`` if given, else one per GPU, or the cluster's CPUs
divided by what an actor reserves; never more than the shards to encode. An
actor reserving more CPUs than the whole cluster has is refused up front (Ray
would wait for it forever).

Failures: an actor whose process dies (OOM kill, lost node, segfault) is
restarted by Ray (``max_restarts``; the restart reloads the model) and the shard
it was working on is retried (``max_task_retries``); a retry rewrites the same
bytes. An exception raised by the work itself (missing weights, a storage error)
is not retried: the job stops with it, the job file stays, and ``--resume``
encodes only the missing shards. Progress and the crash test hook
(``WMHUB_TEST_CRASH_DIR``: each shard's first attempt kills its actor after the
first batch) are :mod:`wmhub.ray_support`'s.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from wmhub.errors import ConfigError, WmhubError
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

T = TypeVar("T")
_DEVICES = ("auto", "cpu", "cuda")


class WorkerNeeds(Protocol):
    """What one worker of a derived config needs (a :class:`wmhub.jobs.derived.DerivedFactory` says it).

    Attributes:
        accelerated: the config runs a model that a GPU speeds up (actors get ``num_gpus=1`` when
            the cluster has GPUs); False for the state encoder and stored frames.
        render_workers: render processes each worker spawns (an actor reserves a CPU for each).
        cpu_threads: torch CPU threads for the model (None: torch's default locally, 1 in an actor).
    """

    @property
    def accelerated(self) -> bool: ...

    @property
    def render_workers(self) -> int: ...

    @property
    def cpu_threads(self) -> int | None: ...


@dataclass(frozen=True)
class ActorPlan:
    """How many actors, what each reserves, and the device its model runs on."""

    count: int
    num_cpus: float
    num_gpus: float
    device: str

    def describe(self) -> str:
        """One line for messages: ``2 actors x (1 GPU, 2 CPUs)``."""
        gpu = f"{self.num_gpus:g} GPU, " if self.num_gpus else ""
        return f"{self.count} actor(s) x ({gpu}{self.num_cpus:g} CPUs, device {self.device})"


def plan_actors(device: str, needs: WorkerNeeds, cluster: dict[str, float],
                requested: int | None = None) -> ActorPlan:
    """Map ``--device`` and the cluster's resources to an actor pool (table in the module docstring).

    Args:
        device: ``auto``, ``cpu``, ``cuda`` (or ``cuda:N``, treated as ``cuda``).
        needs: what a worker needs (``accelerated``, ``render_workers``, ``cpu_threads``).
        cluster: ``ray.cluster_resources()`` (``CPU``, ``GPU``).
        requested: ``--ray-actors``; None for the default.

    Returns:
        The pool's plan.

    Raises:
        ConfigError: an unknown device, a non-positive pool size, ``cuda`` on a cluster without
            GPUs, or an actor larger than the whole cluster.

    Example:
        >>> plan_actors("auto", settings, {"CPU": 8.0}).count  # doctest: +SKIP
        8
    """
    kind = device.split(":", 1)[0]
    if kind not in _DEVICES or (kind != "cuda" and ":" in device):
        raise ConfigError(f"--device {device!r}: choose auto, cpu or cuda")
    if requested is not None and requested <= 0:
        raise ConfigError(f"--ray-actors must be positive, got {requested}")
    gpus = int(cluster.get("GPU", 0))
    cpus = float(cluster.get("CPU", 1))
    if needs.accelerated and kind == "cuda" and gpus < 1:
        raise ConfigError("--device cuda but the Ray cluster has no GPU (ray.cluster_resources() lists none); "
                          "add GPU workers, or pass --device cpu (or auto) to encode on CPU actors")
    if needs.accelerated and gpus >= 1 and kind in ("auto", "cuda"):
        plan = ActorPlan(requested or gpus, 1 + needs.render_workers, 1, "cuda")
    else:
        per_actor = (needs.cpu_threads or 1) + needs.render_workers
        plan = ActorPlan(requested or max(1, int(cpus // per_actor)), per_actor, 0, "cpu")
    if plan.num_cpus > cpus:  # Ray would wait for resources that never come
        raise ConfigError(f"an encoder actor reserves {plan.num_cpus:g} CPUs (--encoder-threads + --workers render "
                          f"processes) but the Ray cluster has {cpus:g}; lower --workers or --encoder-threads, or "
                          "add larger nodes")
    return plan


class _UnitWorker:
    """A Ray actor: runs work units (and one-off calls) in one long-lived process.

    Units keep what they load (a model) in their worker process, so the actor loads it once; a
    restarted actor (its process died) loads it again on the retried call.
    """

    def __init__(self, torch_threads: int) -> None:
        self.torch_threads = torch_threads
        self.ready = False

    def _setup(self) -> None:
        if not self.ready:
            import torch

            torch.set_num_threads(self.torch_threads)
            self.ready = True

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in this actor."""
        self._setup()
        return fn(*args)

    def run(self, unit: WorkUnit, counter: Any, crash_dir: str | None) -> dict[str, Any]:
        """Run one unit; returns its result as JSON data."""
        self._setup()
        return unit.run(WorkerProgress(counter, unit.key, crash_dir)).to_json()


class RayActorPool:
    """Runs work units on a pool of Ray actors (see the module docstring).

    Use as a context manager: entering connects to the cluster and starts one actor (on which
    :meth:`call` runs, e.g. to load the model once and describe it); :meth:`run` grows the pool to
    the planned size and feeds it; leaving kills the actors (and stops a Ray instance it started).

    Args:
        needs: what each actor reserves (see :class:`WorkerNeeds`).
        address: ``ray.init`` address; None: an initialised Ray, else ``RAY_ADDRESS``, else local.
        actors: pool size (default from the cluster's resources).
        device: ``auto``, ``cpu`` or ``cuda``.
        max_retries: restarts of a dead actor and retries of the unit it was running.

    Raises:
        MissingDependencyError: Ray is not installed.

    Example:
        >>> with RayActorPool(settings, address="auto") as pool:  # doctest: +SKIP
        ...     results = pool.run(units, progress)
    """

    name = "ray"

    def __init__(self, needs: WorkerNeeds, *, address: str | None = None, actors: int | None = None,
                 device: str = "auto", max_retries: int = DEFAULT_MAX_RETRIES) -> None:
        import_ray()  # fail before any work when the extra is missing
        self.needs = needs
        self.address = address
        self.requested = actors
        self.device = device
        self.max_retries = max_retries
        self.actors: list[Any] = []
        self.plan: ActorPlan | None = None

    def __enter__(self) -> RayActorPool:
        self._connection = connected(self.address)
        self.ray = self._connection.__enter__()
        try:
            self.plan = plan_actors(self.device, self.needs, self.ray.cluster_resources(), self.requested)
            self._start_actor()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        self._connection.__exit__(*exc_info)

    @property
    def actor_device(self) -> str:
        """The device the actors' models run on (``cuda`` or ``cpu``)."""
        assert self.plan is not None
        return self.plan.device

    def _start_actor(self) -> None:
        plan = self.plan
        remote = self.ray.remote(_UnitWorker).options(
            num_cpus=plan.num_cpus, num_gpus=plan.num_gpus, max_restarts=self.max_retries,
            max_task_retries=self.max_retries)
        self.actors.append(remote.remote(self.needs.cpu_threads or 1))

    def _get(self, ref: Any, what: str) -> Any:
        """``ray.get`` with errors turned into WmhubErrors (a WmhubError raised by the work as itself)."""
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, WmhubError):
                raise exc.cause from None
            raise UnitFailedError(f"{what} failed: {exc}; fix the cause and rerun with --resume "
                                  "(completed shards are kept)") from exc
        except ray.exceptions.RayError as exc:
            raise UnitFailedError(f"{what} failed (its actor died more than {self.max_retries} times, or the "
                                  f"cluster could not place {self.plan.describe() if self.plan else 'it'}): {exc}; "
                                  "rerun with --resume (completed shards are kept)") from exc

    def call(self, fn: Callable[..., T], *args: Any, what: str = "loading the encoder in the first actor") -> T:
        """Run ``fn(*args)`` on the first actor and return its result."""
        return self._get(self.actors[0].call.remote(fn, *args), what)

    def run(self, units: Sequence[WorkUnit], progress: Progress,
            on_result: ResultCallback | None = None) -> list[UnitResult]:
        """Run every unit on the pool; returns their results (raises if one fails for good)."""
        ray = self.ray
        while len(self.actors) < min(self.plan.count, len(units)):
            self._start_actor()
        relay = ProgressRelay(ray, progress)
        crash_dir = crash_dir_from_env()
        queue = deque(units)
        pending: dict = {}
        results: list[UnitResult] = []

        def submit(actor: Any) -> dict:
            if not queue:
                return {}
            unit = queue.popleft()
            return {actor.run.remote(unit, relay.counter, crash_dir): (actor, unit)}

        def on_ready(tag: tuple[Any, WorkUnit], ref: Any) -> dict:
            actor, unit = tag
            result = UnitResult.from_json(self._get(ref, f"encoding shard [{unit.key.replace('-', ', ')})"))
            results.append(result)
            relay.finish(unit.key, result.units, result.secondary)
            if on_result is not None:
                on_result(result)
            return submit(actor)  # this actor is free: give it the next unit

        for actor in self.actors:
            pending.update(submit(actor))
        try:
            drain(ray, pending, relay, on_ready)
        finally:
            relay.close()
        return results
