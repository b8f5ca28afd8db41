"""Training checkpoints that cross no pickle boundary: safetensors + JSON.

``RUN/checkpoints/step-XXXXXXXX/`` holds
``model.safetensors``, ``best.safetensors`` (best weights so far),
``optimizer.safetensors`` (AdamW moments), ``rng.safetensors`` (torch CPU and
CUDA generator states) and ``state.json`` (step, early-stopping state,
optimizer hyper-parameters, scheduler state). A checkpoint directory is
written under a temporary name and renamed, so a kill leaves either the whole
checkpoint or none; the newest ``keep`` are kept.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from wmhub.errors import UnsupportedFormatError
from wmhub.fileio import dumps_json, fsync_dir

CHECKPOINTS_DIR = "checkpoints"
_PREFIX = "step-"


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    tensors = {f"{index}.{name}": value.detach().contiguous()
               for index, slots in state["state"].items() for name, value in slots.items()}
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, groups


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}


def save_checkpoint(run_dir: Path, step: int, model: torch.nn.Module, best: dict[str, torch.Tensor],
                    optimizer: torch.optim.Optimizer, scheduler: Any, state: dict[str, Any], keep: int = 2) -> Path:
    """Write checkpoint ``step`` atomically and prune older ones."""
    root = run_dir / CHECKPOINTS_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{step:08d}"
    tmp = root / f".tmp-{_PREFIX}{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    save_file({k: v.contiguous().cpu() for k, v in best.items()}, tmp / "best.safetensors")
    opt_tensors, groups = _flatten_optimizer(optimizer.state_dict())
    save_file({k: v.cpu() for k, v in opt_tensors.items()}, tmp / "optimizer.safetensors")
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    save_file(rng, tmp / "rng.safetensors")
    payload = {"step": step, "trainer": state, "param_groups": groups, "scheduler": scheduler.state_dict()}
    (tmp / "state.json").write_text(dumps_json(payload), encoding="utf-8")
    for path in tmp.iterdir():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_dir(root)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporaries are ignored)."""
    root = run_dir / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX))


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                    device: torch.device) -> tuple[int, dict[str, Any], dict[str, torch.Tensor]]:
    """Restore model, optimizer, scheduler and RNG; returns (step, trainer state, best weights).

    Every file is read and checked before anything is restored, so a checkpoint that cannot be
    read leaves the model, optimizer and scheduler as they were (an older one can be tried next).

    Raises:
        UnsupportedFormatError: a file is missing, truncated or not what it should be.
    """
    from safetensors import SafetensorError

    try:
        payload = json.loads((path / "state.json").read_text(encoding="utf-8"))
        weights = load_file(path / "model.safetensors", device=str(device))
        best = load_file(path / "best.safetensors", device=str(device))
        moments = load_file(path / "optimizer.safetensors", device=str(device))
        rng = load_file(path / "rng.safetensors")
        step, trainer, groups, schedule = (int(payload["step"]), payload["trainer"], payload["param_groups"],
                                           payload["scheduler"])
        model_before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        optimizer_before, scheduler_before = optimizer.state_dict(), scheduler.state_dict()
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, SafetensorError) as exc:
        raise UnsupportedFormatError(f"checkpoint {path} cannot be restored ({type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else ''}); delete it to resume from an "
                                     "older one, or start a new run without --resume") from exc
    try:
        model.load_state_dict(weights)
        optimizer.load_state_dict(_unflatten_optimizer(moments, groups))
        scheduler.load_state_dict(schedule)
        if set(best) != set(model_before):
            raise KeyError(f"best.safetensors holds {len(best)} tensors, the model {len(model_before)}")
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        model.load_state_dict(model_before)
        optimizer.load_state_dict(optimizer_before)
        scheduler.load_state_dict(scheduler_before)
        raise UnsupportedFormatError(f"checkpoint {path} does not fit this model ({type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else ''}); delete it to resume from an "
                                     "older one, or start a new run without --resume") from exc
    torch.set_rng_state(rng["cpu"])
    cuda_states = [rng[k] for k in sorted(k for k in rng if k.startswith("cuda."))]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
    return step, trainer, best


def load_latest_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                           device: torch.device, warn: Any = None
                           ) -> tuple[int, dict[str, Any], dict[str, torch.Tensor]] | None:
    """Restore the newest checkpoint that can be read; an unreadable newer one is skipped with a warning.

    Args:
        run_dir: the run directory.
        model: restored in place.
        optimizer: restored in place.
        scheduler: restored in place.
        device: where the tensors go.
        warn: called with one line for each checkpoint skipped (default: printed on stderr).

    Returns:
        (step, trainer state, best weights), or None when the run has no checkpoint.

    Raises:
        UnsupportedFormatError: no checkpoint can be read (the newest one's error).

    Example:
        >>> load_latest_checkpoint(Path("runs/r"), model, optimizer, scheduler, torch.device("cpu"))  # doctest: +SKIP
    """
    import sys

    checkpoints = list_checkpoints(run_dir)
    first_error: UnsupportedFormatError | None = None
    for path in reversed(checkpoints):
        try:
            return load_checkpoint(path, model, optimizer, scheduler, device)
        except UnsupportedFormatError as exc:
            first_error = first_error or exc
            line = f"wmhub: warning: {exc}; trying an older checkpoint"
            if warn is not None:
                warn(line)
            else:
                print(line, file=sys.stderr, flush=True)
    if first_error is not None:
        raise UnsupportedFormatError(f"no checkpoint of {run_dir} can be restored ({first_error}); start a new run "
                                     "without --resume") from None
    return None
