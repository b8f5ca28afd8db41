"""``wmhub encode --executor ray``: a pool of Ray actors, each loading the encoder once.

Each actor builds the derived config from a picklable recipe (a
:class:`~wmhub.encoding.derived_job.DerivedFactory`: the encoder spec and its
options), so the model loads **once per actor**, and with ``num_gpus=1`` per
actor, once per GPU. The driver keeps a queue of shards (one step shard -> one
derived shard) and hands the next one to whichever actor finishes; an actor
reads its step shard, encodes it and writes the derived shard straight to the
dataset (a temporary name then a rename on a path every node sees; a PUT of the
final key on ``s3://``), then returns the manifest entry. Planning, resume and
the single finalize step (card, then manifest) stay on the driver
(:func:`~wmhub.encoding.derived_job.run_derived_job`), so the bytes are the local
executor's for the same device type.

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

import os
import socket
from collections import deque
from dataclasses import dataclass
from typing import Any

from wmhub.data.manifest import ShardInfo
from wmhub.encoding.derived_job import DerivedFactory, DerivedMeta, DerivedTasks, ShardWork, build_derived_shard
from wmhub.errors import WmhubError
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

_DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ActorPlan:
    """How many actors, what each reserves, and the device its encoder runs on."""

    count: int
    num_cpus: float
    num_gpus: float
    device: str

    def describe(self) -> str:
        """One line for messages: ``2 actors x (1 GPU, 2 CPUs)``."""
        gpu = f"{self.num_gpus:g} GPU, " if self.num_gpus else ""
        return f"{self.count} actor(s) x ({gpu}{self.num_cpus:g} CPUs, device {self.device})"


def plan_actors(device: str, factory: DerivedFactory, cluster: dict[str, float],
                requested: int | None = None) -> ActorPlan:
    """Map ``--device`` and the cluster's resources to an actor pool (table in the module docstring).

    Args:
        device: ``auto``, ``cpu``, ``cuda`` (or ``cuda:N``, treated as ``cuda``).
        factory: the config's recipe (``accelerated``, ``render_workers``, ``cpu_threads``).
        cluster: ``ray.cluster_resources()`` (``CPU``, ``GPU``).
        requested: ``--ray-actors``; None for the default.
    """
    kind = device.split(":", 1)[0]
    if kind not in _DEVICES or (kind != "cuda" and ":" in device):
        raise WmhubError(f"--device {device!r}: choose auto, cpu or cuda")
    if requested is not None and requested <= 0:
        raise WmhubError(f"--ray-actors must be positive, got {requested}")
    gpus = int(cluster.get("GPU", 0))
    cpus = float(cluster.get("CPU", 1))
    if factory.accelerated and kind == "cuda" and gpus < 1:
        raise WmhubError("--device cuda but the Ray cluster has no GPU (ray.cluster_resources() lists none); "
                         "add GPU workers, or pass --device cpu (or auto) to encode on CPU actors")
    if factory.accelerated and gpus >= 1 and kind in ("auto", "cuda"):
        plan = ActorPlan(requested or gpus, 1 + factory.render_workers, 1, "cuda")
    else:
        per_actor = (factory.cpu_threads or 1) + factory.render_workers
        plan = ActorPlan(requested or max(1, int(cpus // per_actor)), per_actor, 0, "cpu")
    if plan.num_cpus > cpus:  # Ray would wait for resources that never come
        raise WmhubError(f"an encoder actor reserves {plan.num_cpus:g} CPUs (--encoder-threads + --workers render "
                         f"processes) but the Ray cluster has {cpus:g}; lower --workers or --encoder-threads, or "
                         "add larger nodes")
    return plan


class _ShardWorker:
    """A Ray actor: builds the derived config (loads the model) on first use, then builds shards.

    The build is lazy so that a restarted actor (after its process died) reloads the model on the
    retried call; errors in it reach the driver as the call's exception.
    """

    def __init__(self, factory: DerivedFactory, device: str) -> None:
        self.factory = factory
        self.device = device
        self.derived = None

    def _load(self):
        if self.derived is None:
            import torch

            torch.set_num_threads(self.factory.cpu_threads or 1)
            self.derived = self.factory.build(self.device)
        return self.derived

    def describe(self) -> DerivedMeta:
        """The config's metadata (loads the model)."""
        return DerivedMeta.of(self._load())

    def build(self, location: str, work: ShardWork, resume: bool, storage_options: dict[str, Any] | None,
              identity: dict, counter, crash_dir: str | None) -> tuple[dict, bool]:
        """Build one shard of the dataset at ``location``; returns its manifest entry (JSON data) and
        whether it was reused (see :func:`~wmhub.encoding.derived_job.build_derived_shard`)."""
        derived = self._load()
        if derived.identity != identity:
            raise WmhubError(f"the encoder loaded on {socket.gethostname()} (pid {os.getpid()}) differs from the "
                             f"first actor's ({derived.identity} vs {identity}); every node needs the same "
                             "weights and packages")
        reporter = WorkerProgress(counter, work.key, crash_dir)
        info, reused = build_derived_shard(derived, location, work, resume=resume, progress=reporter,
                                           storage_options=storage_options)
        return info.model_dump(mode="json"), reused


class RayDerivedRunner:
    """Runs derived-shard work on a pool of Ray actors (see the module docstring).

    Use as a context manager: entering connects to the cluster and starts one actor (its metadata,
    :attr:`meta`, is what the job checks and records); :meth:`run` grows the pool to the planned
    size and feeds it; leaving kills the actors (and stops a Ray instance it started).

    Args:
        factory: the config's recipe, built once per actor.
        address: ``ray.init`` address; None: an initialised Ray, else ``RAY_ADDRESS``, else local.
        actors: pool size (default from the cluster's resources).
        device: ``auto``, ``cpu`` or ``cuda``.
        max_retries: restarts of a dead actor and retries of the shard it was building.
    """

    name = "ray"

    def __init__(self, factory: DerivedFactory, *, address: str | None = None, actors: int | None = None,
                 device: str = "auto", max_retries: int = DEFAULT_MAX_RETRIES) -> None:
        import_ray()  # fail before any work when the extra is missing
        self.factory = factory
        self.address = address
        self.requested = actors
        self.device = device
        self.max_retries = max_retries
        self.actors: list[Any] = []
        self.meta: DerivedMeta | None = None
        self.plan: ActorPlan | None = None

    def __enter__(self) -> RayDerivedRunner:
        self._connection = connected(self.address)
        self.ray = self._connection.__enter__()
        try:
            self.plan = plan_actors(self.device, self.factory, self.ray.cluster_resources(), self.requested)
            self._start_actor()
            self.meta = self._get(self.actors[0].describe.remote(), "loading the encoder in the first actor")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        self._connection.__exit__(*exc_info)

    def _start_actor(self) -> None:
        plan = self.plan
        remote = self.ray.remote(_ShardWorker).options(
            num_cpus=plan.num_cpus, num_gpus=plan.num_gpus, max_restarts=self.max_retries,
            max_task_retries=self.max_retries)
        self.actors.append(remote.remote(self.factory, plan.device))

    def _get(self, ref, what: str):
        """``ray.get`` with errors turned into WmhubErrors (a WmhubError raised by the work as itself)."""
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, WmhubError):
                raise exc.cause from None
            raise WmhubError(f"{what} failed: {exc}; fix the cause and rerun with --resume "
                             "(completed shards are kept)") from exc
        except ray.exceptions.RayError as exc:
            raise WmhubError(f"{what} failed (its actor died more than {self.max_retries} times, or the cluster "
                             f"could not place {self.plan.describe() if self.plan else 'it'}): {exc}; rerun with "
                             "--resume (completed shards are kept)") from exc

    def run(self, tasks: DerivedTasks, progress: Progress) -> list[tuple[ShardInfo, bool]]:
        """Build every shard of ``tasks`` on the pool; returns ``(entry, reused)`` per shard."""
        ray = self.ray
        while len(self.actors) < min(self.plan.count, len(tasks.shards)):
            self._start_actor()
        relay = ProgressRelay(ray, progress)
        crash_dir = crash_dir_from_env()
        queue = deque(tasks.shards)
        pending: dict = {}
        results: list[tuple[ShardInfo, bool]] = []

        def submit(actor) -> dict:
            if not queue:
                return {}
            work = queue.popleft()
            ref = actor.build.remote(tasks.location, work, tasks.resume, tasks.storage_options, self.meta.identity,
                                     relay.counter, crash_dir)
            return {ref: (actor, work)}

        def on_ready(tag: tuple[Any, ShardWork], ref) -> dict:
            actor, work = tag
            entry, reused = self._get(ref, f"encoding shard [{work.key.replace('-', ', ')})")
            info = ShardInfo.model_validate(entry)
            results.append((info, reused))
            relay.finish(work.key, info.num_rows, 0 if reused else info.num_rows)
            return submit(actor)  # this actor is free: give it the next shard

        for actor in self.actors:
            pending.update(submit(actor))
        try:
            drain(ray, pending, relay, on_ready)
        finally:
            relay.close()
        return results
