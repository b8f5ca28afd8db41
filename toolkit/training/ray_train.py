"""``wmhub train --executor ray``: data-parallel training on a Ray cluster through Ray Train's ``TorchTrainer``.

The driver plans the workers (one per GPU of the cluster, or CPU workers), checks what it can before
anything starts (the objective, the global batch against the world size), and hands the recipe to Ray
Train, which starts one worker process per rank, sets the launcher's environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``) and joins the torch process group
(``gloo`` on CPU workers, ``nccl`` on GPU workers, with the collective time-out of
:func:`~wmhub.training.distributed.collective_timeout`). Each worker then runs :func:`wmhub.training.train`,
which finds the launch and the existing group and trains exactly as a ``torchrun`` rank does
(:mod:`wmhub.training.distributed`): the same share of every global batch, the same weighted all-reduce,
rank 0 alone writing ``RUN/``, ``--resume`` from the newest checkpoint. A Ray run therefore equals a
``torchrun`` run, and one process, up to float reduction order.

The workers run in the driver's working directory when their node has it (relative dataset sources
and run directories mean what they mean to the driver); the run directory and the dataset must be on
a filesystem every node sees at the same path, as with ``torchrun`` on several nodes. A worker that fails
stops the job (no retries: ``--resume`` continues it), and its error comes back as one line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wmhub.errors import ConfigError, MissingDependencyError, WmhubError
from wmhub.ray_support import connected, import_ray
from wmhub.training.distributed import (
    TIMEOUT_VARIABLE,
    Launch,
    RankFailedError,
    check_batch,
    collective_timeout,
    detect_launch,
)
from wmhub.training.recipe import Recipe, parse_recipe
from wmhub.training.summary import SUMMARY_NAME, RunSummary
from wmhub.training.trainer import TrainResult, train


@dataclass(frozen=True)
class RayWorkers:
    """How many Ray Train workers (ranks), and whether each holds a GPU.

    Attributes:
        count: workers, one rank each.
        use_gpu: each worker reserves one GPU (``nccl``); else one CPU (``gloo``).
    """

    count: int
    use_gpu: bool

    def describe(self) -> str:
        """One line for messages: ``2 workers × 1 GPU``."""
        return f"{self.count} worker{'s' if self.count != 1 else ''} × 1 {'GPU' if self.use_gpu else 'CPU'}"


def plan_workers(device: str, cluster: dict[str, float], requested: int | None) -> RayWorkers:
    """The workers of a training job on a Ray cluster.

    ``training.device`` auto or cuda: one worker per GPU of the cluster (``--ray-workers`` fewer or more);
    cpu, or auto on a cluster without GPUs: CPU workers, one per CPU of the cluster unless
    ``--ray-workers`` says how many.

    Args:
        device: the recipe's ``training.device``.
        cluster: ``ray.cluster_resources()`` (``CPU``, ``GPU``).
        requested: ``--ray-workers``; None for the default.

    Returns:
        The plan.

    Raises:
        ConfigError: ``requested`` is not positive, the device is mps, or cuda on a cluster without GPUs.

    Example:
        >>> plan_workers("auto", {"CPU": 16.0, "GPU": 8.0}, None)
        RayWorkers(count=8, use_gpu=True)
        >>> plan_workers("cpu", {"CPU": 4.0}, 2)
        RayWorkers(count=2, use_gpu=False)
    """
    if requested is not None and requested < 1:
        raise ConfigError(f"--ray-workers must be positive, got {requested}")
    if device == "mps":
        raise ConfigError("training.device mps is one machine's GPU; --executor ray trains on cuda or cpu workers "
                          "(set training.device auto, cuda or cpu)")
    gpus, cpus = int(cluster.get("GPU", 0)), int(cluster.get("CPU", 0))
    if device.startswith("cuda") and gpus == 0:
        raise ConfigError("training.device cuda but the Ray cluster has no GPU (ray.cluster_resources() lists none); "
                          "add GPU workers, or --set training.device=cpu to train on CPU workers")
    if device != "cpu" and gpus > 0:
        return RayWorkers(requested or gpus, True)
    return RayWorkers(requested or max(1, cpus), False)


def _import_train() -> tuple[Any, Any, Any, Any]:
    """Ray Train's ``TorchTrainer``, ``TorchConfig``, ``ScalingConfig`` and ``RunConfig``."""
    try:
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchConfig, TorchTrainer
    except ImportError as exc:
        raise MissingDependencyError(f"--executor ray needs Ray Train ({exc}), an optional extra: pip install "
                                     "'wmhub[ray]'") from exc
    return TorchTrainer, TorchConfig, ScalingConfig, RunConfig


def _rank_main(config: dict[str, Any]) -> dict[str, Any] | None:
    """One Ray Train worker: the recipe on this rank (the process group is already joined by Ray Train).

    Returns:
        Rank 0's ``summary.json`` object (None on the other ranks).
    """
    os.environ[TIMEOUT_VARIABLE] = config["timeout"]
    if os.path.isdir(config["cwd"]):
        os.chdir(config["cwd"])
    launch = detect_launch()  # None for a world of one: it trains as one process
    recipe = parse_recipe(config["recipe"], config["source"])
    result = train(recipe, config["run_dir"], resume=config["resume"],
                   show_progress=config["show_progress"] and (launch is None or launch.lead))
    if launch is None or launch.lead:
        return result.summary.to_json_dict()
    return None


def _worker_error(exc: BaseException) -> BaseException:
    """The error a failed worker raised (rank 0's first), unwrapped from Ray Train's exception."""
    failures = getattr(exc, "worker_failures", None)
    if isinstance(failures, dict) and failures:
        found = failures.get(0) or failures[min(failures)]
        if isinstance(found, BaseException):
            exc = found
    seen = set()
    while id(exc) not in seen:  # Ray wraps a user exception (RayTaskError, UserExceptionWithTraceback)
        seen.add(id(exc))
        if isinstance(exc, WmhubError):
            return exc
        inner = getattr(exc, "cause", None) or exc.__cause__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    wmhub_lines = [line for line in lines if "Error: " in line]
    return (wmhub_lines[-1].split("Error: ", 1)[1] if wmhub_lines else lines[0] if lines else type(exc).__name__)


def train_on_ray(recipe: Recipe, run_dir: str | os.PathLike[str] | None = None, *, resume: bool = False,
                 show_progress: bool = True, address: str | None = None,
                 workers: int | None = None) -> TrainResult:
    """Train ``recipe`` data-parallel on a Ray cluster (see the module docstring).

    Args:
        recipe: a validated recipe (:func:`wmhub.load_recipe`); ``training.batch_size`` is the global batch.
        run_dir: the run directory (default ``runs/<recipe name>``), on a filesystem every node sees.
        resume: continue an interrupted run from its last checkpoint (a finished run is returned as is).
        show_progress: rank 0 draws its progress bar (forwarded by Ray to the driver's stderr).
        address: the cluster (``auto``, ``ray://HEAD:10001``); None: ``RAY_ADDRESS``, else a local Ray
            instance for this job.
        workers: ranks (default: one per GPU of the cluster, else one per CPU).

    Returns:
        The :class:`~wmhub.training.trainer.TrainResult` of the run rank 0 wrote.

    Raises:
        MissingDependencyError: Ray (Ray Train) is not installed.
        ConfigError: the recipe cannot train data-parallel (``imagination``), the world size (times
            ``training.grad_accum_steps``) does not divide ``training.batch_size``, the cluster cannot
            be reached or lacks the device, or a worker found the recipe does not fit the data.
        RankFailedError: a worker stopped (its error, as one line); rerun with ``resume``.

    Example:
        >>> import wmhub
        >>> from wmhub.training.ray_train import train_on_ray
        >>> result = train_on_ray(wmhub.load_recipe("tiny_reacher_dynamics_state"), workers=2)  # doctest: +SKIP
    """
    run_path = Path(run_dir or Path("runs") / recipe.name).absolute()
    if resume and (run_path / SUMMARY_NAME).is_file():
        return TrainResult(run_path, run_path / "model", RunSummary.read(run_path / SUMMARY_NAME))
    if recipe.objective == "imagination":
        raise ConfigError(f"{recipe.source}: objective imagination (actor_critic) does not train data-parallel "
                          "yet; run it as one process (`wmhub train` without --executor ray)")
    timeout = collective_timeout()
    import_ray()
    trainer_class, torch_config, scaling_config, run_config = _import_train()
    with contextlib.ExitStack() as stack:
        try:
            ray = stack.enter_context(connected(address))
        except WmhubError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception when its node does not start
            raise ConfigError(f"could not start or reach the Ray cluster at {address or 'RAY_ADDRESS/local'}: "
                              f"{_one_line(exc)[:300]}") from None
        plan = plan_workers(recipe.training.device, ray.cluster_resources(), workers)
        if plan.count > 1:
            check_batch(recipe.training.batch_size, Launch(0, plan.count, 0), recipe.source,
                        recipe.training.grad_accum_steps)
        config = {"recipe": recipe.to_yaml(), "source": recipe.source, "run_dir": str(run_path), "resume": resume,
                  "show_progress": show_progress, "cwd": os.getcwd(), "timeout": f"{timeout.total_seconds():g}"}
        with tempfile.TemporaryDirectory(prefix="wmhub-ray-train-") as storage:
            trainer = trainer_class(
                _rank_main, train_loop_config=config,
                torch_config=torch_config(backend="nccl" if plan.use_gpu else "gloo",
                                          timeout_s=max(1, int(timeout.total_seconds()))),
                scaling_config=scaling_config(num_workers=plan.count, use_gpu=plan.use_gpu),
                run_config=run_config(name=f"wmhub-train-{recipe.name}", storage_path=storage))
            try:
                outcome = trainer.fit()
            except Exception as exc:  # noqa: BLE001 - Ray Train's failure types differ between its versions
                found = _worker_error(exc)
                if isinstance(found, WmhubError):  # the worker's own error, its type kept (one line)
                    raise type(found)(str(found)) from None
                raise RankFailedError(f"training on Ray ({plan.describe()}) failed: {_one_line(found)[:300]}; "
                                      "fix the cause, then rerun with --resume") from None
    value = getattr(outcome, "return_value", None)  # rank 0's summary (Ray Train 2.5x); else read what it wrote
    summary = RunSummary.model_validate(value) if value else RunSummary.read(run_path / SUMMARY_NAME)
    return TrainResult(run_path, run_path / "model", summary)
