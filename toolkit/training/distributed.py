"""Data-parallel training under ``torchrun``: the launch, each rank's share of a batch, the gradient sum.

``wmhub train`` (and :func:`wmhub.train`) run data-parallel when the launcher's environment is set
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, as ``torchrun`` sets them) and ``WORLD_SIZE``
is above 1. The process group uses ``gloo`` on CPU and ``nccl`` on CUDA (rank ``r`` on ``cuda:LOCAL_RANK``),
with a timeout on every collective (``WMHUB_DIST_TIMEOUT_S``, default 600 s), so a rank that dies or
hangs stops the others with one line instead of a hang.

``training.batch_size`` stays the global batch: every rank walks the same seeded permutation and takes
rows ``[n·r/W, n·(r+1)/W)`` of each global batch of ``n`` rows, so the shares are disjoint and together
are the one-process batch. The gradients are summed by one all-reduce per step of a flat buffer
holding each rank's gradient times its share size (and its loss times its share size), divided by
the global batch: the mean over the global batch, as one process computes it, up to the order of the
float additions, also for a last batch of an epoch whose rows do not split evenly (a rank with no rows
contributes with weight 0). This is done here instead of wrapping the model in
``DistributedDataParallel``: DDP averages the ranks' gradients with equal weights (wrong for an uneven
last batch) and renames the weights (``module.``), which the checkpoints would carry. The price is
that the all-reduce does not overlap the backward pass.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from wmhub.errors import ConfigError, WmhubError

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")
TIMEOUT_VARIABLE = "WMHUB_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 600.0


class RankFailedError(WmhubError):
    """Another rank of a data-parallel run stopped, or a collective timed out."""


@dataclass(frozen=True)
class Launch:
    """Where this process sits in a ``torchrun`` launch.

    Attributes:
        rank: global rank (0 writes the run directory).
        world_size: number of processes.
        local_rank: rank on this node (the CUDA device index).
    """

    rank: int
    world_size: int
    local_rank: int

    @property
    def lead(self) -> bool:
        """Whether this is rank 0, the one that validates and writes."""
        return self.rank == 0


def detect_launch(environ: dict[str, str] | None = None) -> Launch | None:
    """The ``torchrun`` launch this process belongs to, or None for a plain single process.

    Args:
        environ: the environment to read (default ``os.environ``).

    Returns:
        The launch when every launcher variable is set and ``WORLD_SIZE`` is above 1, else None.

    Raises:
        ConfigError: a launcher variable is not an integer, or the rank is outside the world.

    Example:
        >>> detect_launch({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "localhost"})
        Launch(rank=1, world_size=2, local_rank=1)
    """
    env = os.environ if environ is None else environ
    if not all(env.get(k) for k in LAUNCH_VARIABLES):
        return None
    try:
        rank, world, local = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"])
    except ValueError:
        raise ConfigError(f"the launcher set RANK={env['RANK']!r}, WORLD_SIZE={env['WORLD_SIZE']!r}, "
                          f"LOCAL_RANK={env['LOCAL_RANK']!r}, which are not all integers; launch with torchrun, "
                          "or unset them for a single process") from None
    if world <= 1:
        return None
    if not 0 <= rank < world:
        raise ConfigError(f"RANK={rank} is outside WORLD_SIZE={world}; launch with torchrun")
    return Launch(rank, world, local)


def collective_timeout() -> datetime.timedelta:
    """The timeout on collectives: ``WMHUB_DIST_TIMEOUT_S`` seconds (default 600).

    Raises:
        ConfigError: the variable is not a positive number.

    Example:
        >>> collective_timeout().total_seconds()  # doctest: +SKIP
        600.0
    """
    raw = os.environ.get(TIMEOUT_VARIABLE, "")
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise ConfigError(f"{TIMEOUT_VARIABLE}={raw!r} is not a number of seconds; set e.g. "
                          f"{TIMEOUT_VARIABLE}=600") from None
    if seconds <= 0:
        raise ConfigError(f"{TIMEOUT_VARIABLE}={raw!r} must be positive; set e.g. {TIMEOUT_VARIABLE}=600")
    return datetime.timedelta(seconds=seconds)


def check_batch(batch_size: int, launch: Launch, source: str, grad_accum_steps: int = 1) -> None:
    """Refuse a global batch that the ranks (and their micro-batches) cannot share equally.

    Args:
        batch_size: the recipe's ``training.batch_size`` (the global batch).
        launch: this process's launch.
        source: the recipe's file or name, for the message.
        grad_accum_steps: the recipe's ``training.grad_accum_steps`` (micro-batches per rank and step).

    Raises:
        ConfigError: ``batch_size`` is not a multiple of world size × ``grad_accum_steps`` (the message names
            the nearest ones).

    Example:
        >>> check_batch(256, Launch(rank=0, world_size=4, local_rank=0), "my_recipe.yaml", grad_accum_steps=2)
    """
    world = launch.world_size
    parts = world * grad_accum_steps
    if batch_size % parts:
        lower, upper = max(parts, batch_size // parts * parts), (batch_size // parts + 1) * parts
        accum = (f" × training.grad_accum_steps {grad_accum_steps} = {parts}" if grad_accum_steps > 1 else "")
        raise ConfigError(f"{source}: training.batch_size={batch_size} (the global batch) does not divide by the "
                          f"world size {world} (torchrun's --nnodes × --nproc_per_node, or --ray-workers){accum}; "
                          f"set --set training.batch_size={lower} or {upper}, or launch a world size that divides it")


def ranks_on_node(launch: Launch, environ: dict[str, str] | None = None) -> int:
    """How many ranks of the launch share this node (``LOCAL_WORLD_SIZE``, as torchrun and Ray Train set it).

    Args:
        launch: this process's launch.
        environ: the environment to read (default ``os.environ``).

    Returns:
        ``LOCAL_WORLD_SIZE`` when it is a positive integer, else the world size (every rank counted: the
        memory estimate that uses it then errs on the safe side).

    Example:
        >>> ranks_on_node(Launch(rank=0, world_size=16, local_rank=0), {"LOCAL_WORLD_SIZE": "8"})
        8
    """
    raw = (os.environ if environ is None else environ).get("LOCAL_WORLD_SIZE", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else launch.world_size


def rank_device(device: torch.device, launch: Launch) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` for a CUDA recipe (made the current device), else ``device``.

    Args:
        device: the recipe's resolved device.
        launch: this process's launch.

    Returns:
        The device this rank trains on.

    Raises:
        ConfigError: the node has fewer CUDA devices than processes.

    Example:
        >>> rank_device(torch.device("cpu"), Launch(rank=1, world_size=2, local_rank=1))
        device(type='cpu')
    """
    if device.type == "cuda":
        if launch.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK={launch.local_rank} but torch sees {torch.cuda.device_count()} CUDA "
                              "device(s); launch at most that many processes per node (--nproc_per_node)")
        torch.cuda.set_device(launch.local_rank)
        return torch.device("cuda", launch.local_rank)
    return device


def _failed(what: str, exc: BaseException, launch: Launch) -> RankFailedError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RankFailedError(f"rank {launch.rank}/{launch.world_size}: {what} failed ({first[:200]}); another rank "
                           f"stopped or did not answer within {collective_timeout().total_seconds():g} s "
                           f"({TIMEOUT_VARIABLE}); see that rank's error, then rerun with --resume")


class Group:
    """The process group of a data-parallel run (created, or reused when the caller made one)."""

    def __init__(self, launch: Launch, device: torch.device) -> None:
        """Join the process group (``gloo`` on CPU, ``nccl`` on CUDA).

        Raises:
            RankFailedError: the rendezvous failed or timed out.
        """
        self.launch, self.device = launch, device
        self.owned = not dist.is_initialized()
        if self.owned:
            backend = "nccl" if device.type == "cuda" else "gloo"
            try:
                dist.init_process_group(backend, timeout=collective_timeout(),
                                        **({"device_id": device} if device.type == "cuda" else {}))
            except (RuntimeError, ValueError) as exc:
                raise _failed(f"joining the {backend} process group", exc, launch) from None
        elif dist.get_world_size() != launch.world_size:
            raise ConfigError(f"a process group of {dist.get_world_size()} ranks exists but WORLD_SIZE="
                              f"{launch.world_size}; destroy it first")

    def close(self) -> None:
        """Leave the process group (only when this object created it)."""
        if self.owned and dist.is_initialized():
            dist.destroy_process_group()

    def share(self, rows: int) -> tuple[int, int]:
        """This rank's rows ``[lo, hi)`` of a global batch of ``rows``."""
        r, w = self.launch.rank, self.launch.world_size
        return rows * r // w, rows * (r + 1) // w

    def reduce_gradients(self, parameters: Iterable[torch.nn.Parameter], loss: torch.Tensor, rows: int,
                         total: int) -> torch.Tensor:
        """Replace every gradient by the global-batch mean; returns the global-batch mean loss.

        Args:
            parameters: the model's parameters, after ``backward`` of this rank's mean loss.
            loss: this rank's mean loss (detached).
            rows: this rank's rows (0: its gradient and loss count with weight 0).
            total: the global batch's rows.

        Raises:
            RankFailedError: another rank stopped, or the all-reduce timed out.
        """
        grads = [p.grad for p in parameters if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads] + [loss.reshape(1).to(grads[0].dtype if grads else
                                                                               torch.float32)])
        flat.mul_(float(rows))
        try:
            dist.all_reduce(flat)
        except (RuntimeError, ValueError) as exc:
            raise _failed("the gradient all-reduce", exc, self.launch) from None
        flat.div_(float(total))
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()
        return flat[offset]

    def broadcast_flag(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (also the barrier after rank 0's validation)."""
        value = torch.tensor([1 if flag else 0], dtype=torch.int64,
                             device=self.device if self.device.type == "cuda" else "cpu")
        try:
            dist.broadcast(value, src=0)
        except (RuntimeError, ValueError) as exc:
            raise _failed("waiting for rank 0", exc, self.launch) from None
        return bool(value.item())

    def _broadcast_json(self, value: object) -> object:
        """Rank 0's JSON-able ``value`` on every rank (sent as UTF-8 JSON bytes: no pickle between ranks)."""
        where = self.device if self.device.type == "cuda" else torch.device("cpu")
        data = json.dumps(value, sort_keys=True).encode("utf-8") if self.launch.lead else b""
        try:
            size = torch.tensor([len(data)], dtype=torch.int64, device=where)
            dist.broadcast(size, src=0)
            buffer = (torch.frombuffer(bytearray(data), dtype=torch.uint8).to(where) if self.launch.lead
                      else torch.empty(int(size.item()), dtype=torch.uint8, device=where))
            dist.broadcast(buffer, src=0)
        except (RuntimeError, ValueError) as exc:
            raise _failed("waiting for rank 0", exc, self.launch) from None
        return json.loads(bytes(buffer.cpu().tolist()).decode("utf-8"))

    def broadcast_error(self, error: WmhubError | None) -> None:
        """Rank 0's setup outcome on every rank: an error on rank 0 is raised (as one line) on every rank.

        Raises:
            WmhubError: rank 0's error (a ConfigError where it was one).
        """
        sent = self._broadcast_json(None if error is None else [type(error).__name__, str(error)])
        if error is not None:
            raise error
        if sent is not None:
            name, message = sent  # type: ignore[misc]
            raise (ConfigError if name == "ConfigError" else WmhubError)(f"rank 0 stopped: {message}")

    def check_same(self, value: object, what: str) -> None:
        """Refuse a run whose ranks disagree on ``value`` (a JSON-able object, e.g. the validation split).

        Raises:
            ConfigError: this rank's ``value`` differs from rank 0's.
        """
        if self._broadcast_json(value) != json.loads(json.dumps(value, sort_keys=True)):
            raise ConfigError(f"rank {self.launch.rank} computed a different {what} than rank 0; every rank must "
                              "see the same dataset and recipe (same paths and --set options on every node)")

    def barrier(self) -> None:
        """Wait for every rank (within the collective timeout).

        Raises:
            RankFailedError: another rank stopped, or the wait timed out.
        """
        try:
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()
        except (RuntimeError, ValueError) as exc:
            raise _failed("the barrier", exc, self.launch) from None
