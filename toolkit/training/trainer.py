"""``wmhub train``: one recipe → one run directory.

``RUN/`` receives ``recipe.yaml`` (resolved), ``split.json`` (validation
episodes), ``metrics.jsonl`` (train and validation records), ``checkpoints/``
(resumable state), ``model/`` (the best weights: ``model.safetensors`` +
``config.json``, loadable with ``from_pretrained``) and ``summary.json``.

An ``actor_critic`` recipe trains in imagination instead (:mod:`wmhub.training.imagination`): its
frozen models are loaded and checked before ``RUN/`` is created, and its loop keeps the same
files, checkpoints and guarantees.

The loop is seeded and, on CPU, deterministic: an epoch's batch order comes
from a generator seeded by (seed, epoch), dropout from the torch RNG whose state
is checkpointed, so ``--resume`` after a kill reproduces the uninterrupted run
bit for bit; a newest checkpoint that cannot be read is skipped (with a warning) for the
older one kept.

Launched by ``torchrun``, the supervised loop runs data-parallel (:mod:`wmhub.training.distributed`):
each rank trains on its share of every global batch, the gradients are summed over the ranks, and
rank 0 alone validates and writes ``RUN/``; the model equals one process's up to float reduction order.

Hostile inputs stop a run with one line, never a traceback: recipe errors found before any
training (the run directory, the device, the dataset's config and latent features) are raised
before ``RUN/`` is created, so a corrected rerun is not blocked; shards that are not the
manifest's are refused (:mod:`wmhub.training.data_check`); nan or inf in the data, the latent
statistics, a training loss or a validation loss stops training naming the column, row or step,
before anything from those steps is logged, kept as best or checkpointed.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from wmhub.data.layout import STEPS_CONFIG
from wmhub.data.reader import WmDataset
from wmhub.devices import resolve_device
from wmhub.errors import AlreadyExistsError, ConfigError, NotFoundError, WmhubError
from wmhub.fileio import atomic_write_json, atomic_write_text, sha256_file
from wmhub.models.base import LatentModel
from wmhub.models.dynamics import DynamicsModel
from wmhub.models.jepa import PIXEL_ENCODERS
from wmhub.models.kinds import kind
from wmhub.progress import Progress
from wmhub.training.checkpoint import load_latest_checkpoint, save_checkpoint
from wmhub.training.data import (
    EpisodeSplit,
    SampleSpec,
    StreamedWindows,
    count_samples,
    epoch_generator,
    estimate_bytes,
    grouped_permutation,
    restrict,
    shards_for,
    split_episodes,
)
from wmhub.training.data_check import check_training_shards
from wmhub.training.dataset_source import ObtainedDataset, obtain_dataset
from wmhub.training.distributed import Group, check_batch, detect_launch, rank_device, ranks_on_node
from wmhub.training.imagination import ImaginationObjective, Learner, goal_from_batches, load_frozen
from wmhub.training.metrics_log import MetricsLog
from wmhub.training.objectives import Objective, evaluate
from wmhub.training.recipe import Recipe, parse_recipe
from wmhub.training.summary import SUMMARY_NAME, RunSummary
from wmhub.version import __version__

EVAL_BATCH = 4096


@dataclass
class TrainResult:
    """Where the run is and what it measured.

    Attributes:
        run_dir: the run directory.
        model_dir: ``RUN/model`` (the best weights).
        summary: ``summary.json``.
    """

    run_dir: Path
    model_dir: Path
    summary: RunSummary


def build_model(recipe: Recipe, latent_dim: int, action_dim: int, latent: dict[str, Any]) -> LatentModel:
    """The recipe's model (any registered kind, :mod:`wmhub.models.kinds`), freshly initialised
    from the current torch RNG."""
    params = recipe.model.model_dump(exclude={"kind"})
    return kind(recipe.model.kind).load_class()(latent_dim, action_dim, latent=latent, **params)


def lr_lambda(warmup: int, total: int, min_ratio: float):
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


class _Data:
    """Train / validation batches for one run, in memory on the device or streamed from shards."""

    def __init__(self, dataset: WmDataset, spec: SampleSpec, shards: list[int], split: EpisodeSplit,
                 recipe: Recipe, device: torch.device, ranks_on_node: int = 1) -> None:
        t = recipe.training
        self.batch_size, self.seed, self.device = t.batch_size, t.seed, device
        self.windows_per_episode = t.windows_per_episode
        # the memory path holds the whole set in every process: a node's ranks each hold a copy
        need = estimate_bytes(dataset, spec, shards) * ranks_on_node
        self.path = t.data_path if t.data_path != "auto" else ("memory" if need <= t.memory_budget_gb * 2**30
                                                               else "stream")
        if self.path == "memory":
            windows = spec.windows(dataset, shards).to(device)
            self.train, self.val = restrict(windows, split.train), restrict(windows, split.val)
            self.num_train = len(self.train)
        else:
            if self.windows_per_episode > 1:
                raise ConfigError(
                    f"training.windows_per_episode={self.windows_per_episode} needs the windows in memory, but "
                    f"{dataset.root} needs {need / 2**30:.1f} GiB ({ranks_on_node} rank(s) on this node; "
                    f"memory_budget_gb={t.memory_budget_gb}, "
                    f"data_path={t.data_path}); use training.data_path=memory (or auto with a larger "
                    "training.memory_budget_gb), set dataset.max_episodes, or drop windows_per_episode")
            per_shard = max(1, need // ranks_on_node // max(1, len(shards)))
            chunk = max(1, int(t.memory_budget_gb * 2**30 // 2 // per_shard))
            self.stream = StreamedWindows(dataset, spec, shards, split.train, t.batch_size, t.seed, chunk)
            self.val_stream = StreamedWindows(dataset, spec, shards, split.val, EVAL_BATCH, t.seed, chunk)
            self.num_train = count_samples(dataset, spec, shards, split.train)
            self.num_workers = t.num_workers
        if self.num_train == 0:
            blocks = f" × frame_skip {spec.frame_skip}" if spec.frame_skip > 1 else ""
            raise ConfigError(f"no training windows of horizon {spec.horizon}{blocks} in {dataset.root} (episodes too "
                              "short?)")
        self.steps_per_epoch = math.ceil(self.num_train / self.batch_size)

    def _order(self, epoch: int) -> torch.Tensor:
        """The memory path's seeded order of the training windows in ``epoch``."""
        generator = epoch_generator(self.seed, epoch)
        if self.windows_per_episode > 1:
            return grouped_permutation(self.train.data.episode_index[self.train.rows], self.windows_per_episode,
                                       generator).to(self.device)
        return torch.randperm(self.num_train, generator=generator).to(self.device)

    def train_batches(self, epoch: int, skip: int) -> Iterator[dict[str, torch.Tensor]]:
        if self.path == "memory":
            perm = self._order(epoch)
            for i in range(skip, self.steps_per_epoch):
                yield self.train.batch(perm[i * self.batch_size:(i + 1) * self.batch_size])
            return
        from torch.utils.data import DataLoader

        self.stream.start(epoch, skip)
        loader = DataLoader(self.stream, batch_size=None, num_workers=self.num_workers,
                            pin_memory=self.device.type == "cuda", persistent_workers=False)
        for batch in loader:
            yield {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def share_batches(self, epoch: int, skip: int, group: Group) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:
        """This rank's share of each global batch of :meth:`train_batches`: (its rows, the global rows, the
        share). A rank whose share is empty (a last batch smaller than the world) gets the batch's first row,
        to be counted with weight 0."""
        if self.path == "memory":
            perm = self._order(epoch)
            for i in range(skip, self.steps_per_epoch):
                rows = perm[i * self.batch_size:(i + 1) * self.batch_size]
                lo, hi = group.share(len(rows))
                yield hi - lo, len(rows), self.train.batch(rows[lo:hi] if hi > lo else rows[:1])
            return
        # the stream path reads only the rows of this rank's share (the chunks as one process forms them)
        launch = group.launch
        for rows, total, share in self.stream.rank_batches(epoch, skip, launch.rank, launch.world_size,
                                                           self.num_train):
            yield rows, total, {k: v.to(self.device, non_blocking=True) for k, v in share.items()}

    def val_batches(self) -> Iterator[dict[str, torch.Tensor]]:
        if self.path == "memory":
            for i in range(0, len(self.val), EVAL_BATCH):
                yield self.val.batch(torch.arange(i, min(i + EVAL_BATCH, len(self.val)), device=self.device))
        else:
            self.val_stream.start(0)
            yield from self.val_stream

    def constant_batches(self) -> Iterator[dict[str, torch.Tensor]]:
        """All training windows once, in order (for the baselines' training means)."""
        if self.path == "memory":
            for i in range(0, self.num_train, EVAL_BATCH):
                yield self.train.batch(torch.arange(i, min(i + EVAL_BATCH, self.num_train), device=self.device))
        else:
            self.stream.start(0)
            yield from self.stream


def _check_run_dir(run_dir: Path, recipe: Recipe, resume: bool) -> None:
    """Refuse a run directory that holds another run (or, with ``resume``, none or another recipe's)."""
    stored = run_dir / "recipe.yaml"
    if resume:
        if not stored.is_file():
            raise NotFoundError(f"--resume: {run_dir} holds no run (no recipe.yaml); drop --resume to start it")
        before = parse_recipe(stored.read_text(encoding="utf-8"), str(stored)).model_dump(mode="json")
        now = recipe.model_dump(mode="json")
        if before != now:
            diff = [f"{section}" for section in now if now[section] != before.get(section)]
            raise ConfigError(f"--resume: {run_dir} was started with a different recipe (sections {diff} differ); "
                              "pass the same recipe and --set options, or use a new --out")
        return
    if run_dir.exists() and any(run_dir.iterdir()):
        raise AlreadyExistsError(f"{run_dir} already holds a run; add --resume to continue it or choose another "
                                 "--out")


def _create_run_dir(run_dir: Path, recipe: Recipe, resume: bool) -> None:
    """Write the resolved recipe into a new run directory (once every check has passed)."""
    if not resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "recipe.yaml", recipe.to_yaml())


def _latent_names(recipe: Recipe, dataset: WmDataset) -> list[str]:
    """The latent features the recipe trains on, checked against the dataset's config."""
    info = dataset.config_info(recipe.dataset.config)
    if info.format == "webdataset":
        if recipe.model.kind != "jepa_world_model" or recipe.model.encoder not in PIXEL_ENCODERS:
            raise ConfigError(f"{recipe.source}: dataset.config {recipe.dataset.config!r} holds frames; only "
                              f"model.kind jepa_world_model with model.encoder {' or '.join(PIXEL_ENCODERS)} "
                              "trains on frames")
        return [f.name for f in info.features]
    names = list(recipe.dataset.latent_features or info.latent_features)
    have = [f.name for f in info.features]
    unknown = [n for n in names if n not in have]
    if unknown:
        raise ConfigError(f"{recipe.source}: dataset.latent_features names {unknown}, which config "
                          f"{recipe.dataset.config!r} of {dataset.root} does not have; choose from {have}")
    if not names:
        raise ConfigError(f"{recipe.source}: config {recipe.dataset.config!r} of {dataset.root} declares no latent "
                          "features; set dataset.latent_features")
    return names


def _latent_description(dataset: WmDataset, spec: SampleSpec) -> dict[str, Any]:
    info = dataset.config_info(spec.config)
    identity = info.extra.get("identity") if isinstance(info.extra, dict) else None
    return {"config": spec.config, "features": list(spec.latent_features),
            "encoder": identity or {"encoder": "state"}}


def _normalisation(dataset: WmDataset, spec: SampleSpec) -> tuple[torch.Tensor, torch.Tensor]:
    info = dataset.config_info(spec.config)
    if info.format == "webdataset":  # uint8 frames: fixed pixel statistics
        from wmhub.models.jepa import PIXEL_MEAN, PIXEL_STD

        dim = math.prod(info.features[0].shape)
        return torch.full((dim,), PIXEL_MEAN), torch.full((dim,), PIXEL_STD)
    stats = dataset.manifest.stats(spec.config)
    missing = [n for n in spec.latent_features if n not in stats]
    if missing:
        raise ConfigError(f"{dataset.root}/manifest.json has no statistics for latent feature(s) {missing}")
    mean = torch.cat([torch.as_tensor(stats[n].mean, dtype=torch.float32).reshape(-1) for n in spec.latent_features])
    std = torch.cat([torch.as_tensor(stats[n].std, dtype=torch.float32).reshape(-1) for n in spec.latent_features])
    bad = [n for n in spec.latent_features
           if not (torch.isfinite(torch.as_tensor(stats[n].mean, dtype=torch.float32)).all()
                   and torch.isfinite(torch.as_tensor(stats[n].std, dtype=torch.float32)).all())]
    if bad:
        raise ConfigError(f"{dataset.root}/manifest.json: the statistics of latent feature(s) {bad} hold nan or inf "
                          "(the data does); regenerate the dataset, or fix the encoder that wrote it")
    return mean, std


def train(recipe: Recipe, run_dir: str | os.PathLike[str] | None = None, *, resume: bool = False,
          show_progress: bool = True) -> TrainResult:
    """Train ``recipe`` into a run directory (see the module docstring for what it holds).

    A missing dataset is made by the recipe's data steps (or downloaded, for a Hub source). Under
    ``torchrun`` (the launcher's environment set, more than one process) it trains data-parallel and
    every rank returns the run rank 0 wrote.

    Args:
        recipe: a validated recipe (:func:`wmhub.load_recipe`).
        run_dir: the run directory (default ``runs/<recipe name>``).
        resume: continue an interrupted run from its last checkpoint (a finished run is returned as is).
        show_progress: draw a progress bar on stderr.

    Returns:
        The run directory, the model directory and the run's :class:`~wmhub.training.summary.RunSummary`.

    Raises:
        AlreadyExistsError: ``run_dir`` already holds a run and ``resume`` is false.
        NotFoundError: ``resume`` on a directory without a run, or the dataset cannot be found or made.
        ConfigError: the recipe does not fit the data (or a resumed run was started with another recipe),
            or, under torchrun, the world size does not divide ``training.batch_size`` or the objective is
            ``imagination``.
        RankFailedError: under torchrun, another rank stopped or a collective timed out.

    Example:
        >>> import wmhub
        >>> result = wmhub.train(wmhub.load_recipe("tiny_reacher_dynamics_state"))  # doctest: +SKIP
        >>> result.summary.val_loss < result.summary.val_baseline_loss               # doctest: +SKIP
        True
    """
    run_dir = Path(run_dir or Path("runs") / recipe.name)
    if resume and (run_dir / SUMMARY_NAME).is_file():
        return TrainResult(run_dir, run_dir / "model", RunSummary.read(run_dir / SUMMARY_NAME))
    launch = detect_launch()
    t = recipe.training
    if launch is not None:
        if recipe.objective == "imagination":
            raise ConfigError(f"{recipe.source}: objective imagination (actor_critic) does not train data-parallel "
                              "yet; run it as one process (`wmhub train` without torchrun)")
        check_batch(t.batch_size, launch, recipe.source, t.grad_accum_steps)
    else:
        # every check that needs no training comes before the run directory is created, so a refused
        # recipe leaves nothing that blocks the next attempt
        _check_run_dir(run_dir, recipe, resume)
    try:
        device = resolve_device(t.device)
    except RuntimeError as exc:
        raise ConfigError(f"{recipe.source}: training.device {t.device!r} is not a torch device here "
                          f"({str(exc).splitlines()[0]}); use auto, cpu or cuda") from None
    if launch is None:
        return _run(recipe, run_dir, resume, show_progress, device, _setup(recipe, run_dir, resume, show_progress),
                    None)
    device = rank_device(device, launch)
    group = Group(launch, device)
    try:
        setup, error = None, None
        if launch.lead:  # rank 0 checks, obtains the data and creates RUN/; the others wait, then read it
            try:
                _check_run_dir(run_dir, recipe, resume)
                setup = _setup(recipe, run_dir, resume, show_progress)
            except WmhubError as exc:
                error = exc
        group.broadcast_error(error)
        if setup is None:
            setup = _setup(recipe, run_dir, resume, False, create=False)
        group.check_same({"train_episodes": setup.split.train, "val_episodes": setup.split.val}, "validation split")
        return _run(recipe, run_dir, resume, show_progress and launch.lead, device, setup, group)
    finally:
        group.close()


@dataclass
class _Setup:
    """What a run trains on, found before ``RUN/`` is created."""

    obtained: ObtainedDataset
    dataset: WmDataset
    spec: SampleSpec
    shards: list[int]
    split: EpisodeSplit
    frozen: _Frozen | None


def _setup(recipe: Recipe, run_dir: Path, resume: bool, show_progress: bool, create: bool = True) -> _Setup:
    """Obtain and check the dataset, split its episodes; with ``create``, create ``RUN/`` and write
    ``split.json`` (rank 0 of a data-parallel run, or the single process)."""
    t = recipe.training
    obtained = obtain_dataset(recipe.dataset, recipe.source, show_progress)
    dataset = WmDataset(obtained.root)
    info = dataset.config_info(recipe.dataset.config)
    latent_names = _latent_names(recipe, dataset)
    stored_dtype = {f.name: f.dtype for f in info.features}.get(latent_names[0] if latent_names else "", "float32")
    latent_dtype = {"float16": torch.float16, "uint8": torch.uint8}.get(stored_dtype, torch.float32)
    spec = SampleSpec(recipe.dataset.config, list(latent_names), recipe.objective, recipe.window, latent_dtype,
                      recipe.frame_skip)
    shards = shards_for(dataset, spec.config, recipe.dataset.max_episodes)
    check_training_shards(dataset, sorted({STEPS_CONFIG, spec.config}), shards)
    infos = dataset.manifest.shards_of(spec.config)
    limit = recipe.dataset.max_episodes
    episodes = sorted({e for k in shards for e in range(infos[k].episode_start, infos[k].episode_end)
                       if limit is None or e < limit})
    split = split_episodes(episodes, t.val_fraction, t.seed)
    frozen = _frozen_models(recipe, dataset, spec) if recipe.objective == "imagination" else None
    if create:
        _create_run_dir(run_dir, recipe, resume)
        atomic_write_json(run_dir / "split.json", {"train_episodes": split.train, "val_episodes": split.val})
    return _Setup(obtained, dataset, spec, shards, split, frozen)


def _run(recipe: Recipe, run_dir: Path, resume: bool, show_progress: bool, device: torch.device, setup: _Setup,
         group: Group | None) -> TrainResult:
    """Run the recipe's loop under deterministic algorithms."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        if setup.frozen is not None:
            return _imagination_loop(recipe, run_dir, resume, show_progress, setup.dataset, setup.obtained,
                                     setup.spec, setup.shards, setup.split, device, setup.frozen)
        return _train_loop(recipe, run_dir, resume, show_progress, setup.dataset, setup.obtained, setup.spec,
                           setup.shards, setup.split, device, group)
    finally:
        torch.use_deterministic_algorithms(deterministic_before)


def _train_loop(recipe: Recipe, run_dir: Path, resume: bool, show_progress: bool, dataset: WmDataset,
                obtained: ObtainedDataset, spec: SampleSpec, shards: list[int], split: EpisodeSplit,
                device: torch.device, group: Group | None = None) -> TrainResult:
    """The supervised objectives' loop; with ``group``, this rank's share of each global batch, the gradients
    summed over the ranks (:mod:`wmhub.training.distributed`), and only rank 0 validating and writing."""
    t = recipe.training
    lead = group is None or group.launch.lead
    started = time.perf_counter()
    data = _Data(dataset, spec, shards, split, recipe, device, 1 if group is None else ranks_on_node(group.launch))
    action_dim = data_action_dim(dataset) * recipe.frame_skip
    latent_dim = int(_normalisation(dataset, spec)[0].numel())
    torch.manual_seed(t.seed)
    model = build_model(recipe, latent_dim, action_dim, _latent_description(dataset, spec))
    model.set_normalization(*_normalisation(dataset, spec))
    model.to(device).train()
    objective = Objective(recipe.objective, recipe.loss, t.huber_delta, layer_norm=recipe.target_layer_norm,
                          sigreg_weight=recipe.sigreg_weight, sigreg_slices=t.sigreg_slices,
                          sigreg_scope=t.sigreg_scope)
    if recipe.objective in ("reward", "bc"):
        objective.fit_constants(data.constant_batches())
    total_steps = data.steps_per_epoch * t.epochs
    if t.max_steps is not None:
        total_steps = min(total_steps, t.max_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(t.warmup_steps, total_steps, t.min_lr_ratio))
    eval_every = t.eval_every or data.steps_per_epoch
    state: dict[str, Any] = {"best_val": None, "best_step": None, "bad_evals": 0, "stopped_early": False,
                             "wall_time_s": 0.0, "data_time_s": 0.0, "samples": 0}
    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    step = 0
    restored = load_latest_checkpoint(run_dir, model, optimizer, scheduler, device) if resume else None
    if restored is not None:
        step, state, best = restored
    log = MetricsLog(run_dir, tensorboard=t.tensorboard, truncate_after=step if resume else None) if lead else None

    progress = Progress(total_steps, "step", "samples", f"train {recipe.name}", enabled=show_progress, initial=step)
    window_loss, window_steps, window_samples, window_data = torch.zeros((), device=device), 0, 0, 0.0
    window_start, window_reduce = time.perf_counter(), 0.0
    last_val: tuple[int, dict[str, float]] | None = None  # (step, metrics) of this process's latest validation
    try:
        while step < total_steps and not state["stopped_early"]:
            epoch, offset = divmod(step, data.steps_per_epoch)
            batches = data.train_batches(epoch, offset) if group is None else data.share_batches(epoch, offset, group)
            while step < total_steps and not state["stopped_early"]:
                fetch = time.perf_counter()
                item = next(batches, None)
                if item is None:
                    break
                window_data += time.perf_counter() - fetch
                if group is None:
                    batch = item
                    n = batch["latents"].shape[0]
                    optimizer.zero_grad(set_to_none=True)
                    loss = _backward(model, objective, batch, t.grad_accum_steps, t.precision, device)
                else:
                    rows, n, batch = item
                    optimizer.zero_grad(set_to_none=True)
                    loss = _backward(model, objective, batch, t.grad_accum_steps, t.precision, device)
                    reduce_start = time.perf_counter()
                    loss = group.reduce_gradients(model.parameters(), loss.detach(), rows, n)
                    window_reduce += time.perf_counter() - reduce_start
                if t.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                window_loss += loss.detach()
                window_steps, window_samples = window_steps + 1, window_samples + n
                state["samples"] += n
                if step % t.log_every == 0 or step == total_steps or step % eval_every == 0:
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    elapsed = time.perf_counter() - window_start
                    mean_loss = float(window_loss) / window_steps
                    _check_finite(mean_loss, "training loss", step - window_steps + 1, step)
                    state["wall_time_s"] += elapsed
                    state["data_time_s"] += window_data
                    record = {"split": "train", "step": step, "epoch": step / data.steps_per_epoch,
                              "loss": mean_loss, "lr": scheduler.get_last_lr()[0],
                              "samples_per_s": window_samples / max(elapsed, 1e-9),
                              "data_wait_share": window_data / max(elapsed, 1e-9)}
                    if group is not None:  # rank 0's time in the gradient all-reduce
                        record.update(world_size=group.launch.world_size,
                                      allreduce_share=window_reduce / max(elapsed, 1e-9))
                    if log is not None:
                        log.write(record)
                    progress.update(window_steps, window_samples,
                                    f"loss {mean_loss:.4g}, lr {scheduler.get_last_lr()[0]:.2e}")
                    window_loss.zero_()
                    window_steps, window_samples, window_data, window_reduce = 0, 0, 0.0, 0.0
                    window_start = time.perf_counter()
                if step % eval_every == 0 or step == total_steps:
                    if log is not None:
                        last_val = (step, _validate(model, objective, data, device, step, state, best, log,
                                                    t.early_stopping_patience))
                    if group is not None:  # the others wait for rank 0's validation and its early-stopping call
                        state["stopped_early"] = group.broadcast_flag(state["stopped_early"])
                    window_start = time.perf_counter()
                if step % t.checkpoint_every == 0 and step < total_steps and not state["stopped_early"]:
                    if window_steps:  # steps since the last log: never checkpoint weights a nan went through
                        _check_finite(float(window_loss), "training loss", step - window_steps + 1, step)
                    if lead:
                        save_checkpoint(run_dir, step, model, best, optimizer, scheduler, state)
                    window_start = time.perf_counter()
    finally:
        progress.close()
        if log is not None:
            log.close()
    if not lead:
        assert group is not None
        group.barrier()  # rank 0 validates the best weights and writes model/ and summary.json
        return TrainResult(run_dir, run_dir / "model", RunSummary.read(run_dir / SUMMARY_NAME))
    model.load_state_dict(best)
    model.eval()
    if last_val is not None and last_val[0] == state["best_step"]:
        final = last_val[1]  # the best weights were validated at this very step: no second pass
    else:
        final = evaluate(model, objective, data.val_batches(), device)
    model_dir = run_dir / "model"
    model.to("cpu").save_pretrained(model_dir)
    summary = _summary(recipe, run_dir, model, obtained, dataset, spec, split, data, state, final, step,
                       total_steps, device, time.perf_counter() - started,
                       1 if group is None else group.launch.world_size)
    summary.write(run_dir / SUMMARY_NAME)
    if group is not None:
        group.barrier()
    return TrainResult(run_dir, model_dir, summary)


@dataclass
class _Frozen:
    """The frozen models an imagination recipe names, loaded and checked against the dataset."""

    dynamics: DynamicsModel
    reward_model: Any
    provenance: dict[str, Any]


def _frozen_models(recipe: Recipe, dataset: WmDataset, spec: SampleSpec) -> _Frozen:
    """Load ``imagination.dynamics`` (and ``reward_model``) and check them against the dataset's latent, before
    the run directory exists (a wrong name is one line and blocks nothing)."""
    from wmhub.models.reward import RewardModel

    im = recipe.imagination
    assert im is not None  # the recipe validator pairs actor_critic with an imagination section
    action_dim = data_action_dim(dataset) * recipe.frame_skip
    latent = _latent_description(dataset, spec)
    latent_dim = int(_normalisation(dataset, spec)[0].numel())
    provenance: dict[str, Any] = {}
    dynamics, provenance["dynamics"] = load_frozen(im.dynamics, DynamicsModel, "imagination.dynamics")
    ImaginationObjective.check_compatible(dynamics, latent_dim, action_dim, latent, "imagination.dynamics")
    reward_model = None
    if im.reward_model is not None:
        reward_model, provenance["reward_model"] = load_frozen(im.reward_model, RewardModel,
                                                               "imagination.reward_model")
        ImaginationObjective.check_compatible(reward_model, latent_dim, action_dim, latent, "imagination.reward_model")
    ImaginationObjective.check_spec(im, dynamics)
    return _Frozen(dynamics, reward_model, provenance)


def _imagination_loop(recipe: Recipe, run_dir: Path, resume: bool, show_progress: bool, dataset: WmDataset,
                      obtained: ObtainedDataset, spec: SampleSpec, shards: list[int], split: EpisodeSplit,
                      device: torch.device, frozen_models: _Frozen) -> TrainResult:
    """The ``imagination`` objective's loop (:mod:`wmhub.training.imagination`): one actor and one critic
    update per batch of start states; seeded, checkpointed and resumable like :func:`_train_loop`. The
    model kept is the last one (choosing by imagined return would favour a policy exploiting the model)."""
    t, im = recipe.training, recipe.imagination
    assert im is not None  # the recipe validator pairs actor_critic with an imagination section
    started = time.perf_counter()
    data = _Data(dataset, spec, shards, split, recipe, device)
    action_dim = data_action_dim(dataset) * recipe.frame_skip
    latent = _latent_description(dataset, spec)
    latent_dim = int(_normalisation(dataset, spec)[0].numel())
    dynamics, reward_model, frozen = (frozen_models.dynamics.to(device), frozen_models.reward_model,
                                      frozen_models.provenance)
    if reward_model is not None:
        reward_model.to(device)
    goal = None
    if im.reward in ("goal_distance", "hybrid"):
        goal = goal_from_batches(data.constant_batches(), im.goal_top_k).to(device)
    objective = ImaginationObjective(im, dynamics, reward_model, goal, recipe.loss)
    starts, have = [], 0
    for b in data.val_batches():  # the first val_starts held-out windows, not the whole split
        starts.append(b["latents"][:im.val_starts - have, 0].float().to(device))
        have += len(starts[-1])
        if have >= im.val_starts:
            break
    if not have:
        raise ConfigError(f"{recipe.source}: no held-out windows to validate on; raise training.val_fraction")
    val_z0 = torch.cat(starts)
    torch.manual_seed(t.seed)
    model = build_model(recipe, latent_dim, action_dim, latent)
    model.set_normalization(*_normalisation(dataset, spec))
    learner = Learner(model).to(device).train()
    actor_params, critic_params = list(model.actor.parameters()), list(model.critic.parameters())
    total_steps = data.steps_per_epoch * t.epochs
    if t.max_steps is not None:
        total_steps = min(total_steps, t.max_steps)
    optimizer = torch.optim.AdamW([{"params": actor_params, "lr": im.actor_lr or t.lr},
                                   {"params": critic_params, "lr": t.lr}], weight_decay=t.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(t.warmup_steps, total_steps, t.min_lr_ratio))
    eval_every = t.eval_every or data.steps_per_epoch
    state: dict[str, Any] = {"best_val": None, "best_step": None, "bad_evals": 0, "stopped_early": False,
                             "wall_time_s": 0.0, "data_time_s": 0.0, "samples": 0}
    step = 0
    restored = load_latest_checkpoint(run_dir, learner, optimizer, scheduler, device) if resume else None
    if restored is not None:
        step, state, _ = restored
    log = MetricsLog(run_dir, tensorboard=t.tensorboard, truncate_after=step if resume else None)
    progress = Progress(total_steps, "step", "samples", f"train {recipe.name}", enabled=show_progress, initial=step)
    sums: dict[str, torch.Tensor] = {}
    window_steps, window_samples, window_data, window_start = 0, 0, 0.0, time.perf_counter()
    last_val: tuple[int, dict[str, float]] | None = None
    try:
        while step < total_steps:
            epoch, offset = divmod(step, data.steps_per_epoch)
            batches = data.train_batches(epoch, offset)
            while step < total_steps:
                fetch = time.perf_counter()
                batch = next(batches, None)
                if batch is None:
                    break
                window_data += time.perf_counter() - fetch
                terms = objective.losses(learner, batch)
                optimizer.zero_grad(set_to_none=True)
                terms["actor_loss"].backward(inputs=actor_params)
                terms["critic_loss"].backward(inputs=critic_params)
                if t.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(actor_params, t.grad_clip)
                    torch.nn.utils.clip_grad_norm_(critic_params, t.grad_clip)
                optimizer.step()
                scheduler.step()
                learner.update_target(im.target_update)
                step += 1
                n = batch["latents"].shape[0]
                for key, value in terms.items():
                    sums[key] = sums.get(key, torch.zeros((), device=device)) + value.detach()
                window_steps, window_samples = window_steps + 1, window_samples + n
                state["samples"] += n
                if step % t.log_every == 0 or step == total_steps or step % eval_every == 0:
                    elapsed = time.perf_counter() - window_start
                    means = {k: float(v) / window_steps for k, v in sums.items()}
                    for key in ("actor_loss", "critic_loss"):
                        _check_finite(means[key], f"{key.replace('_', ' ')}", step - window_steps + 1, step)
                    state["wall_time_s"] += elapsed
                    state["data_time_s"] += window_data
                    log.write({"split": "train", "step": step, "epoch": step / data.steps_per_epoch,
                               "loss": means["critic_loss"], **means, "lr": scheduler.get_last_lr()[-1],
                               "samples_per_s": window_samples / max(elapsed, 1e-9),
                               "data_wait_share": window_data / max(elapsed, 1e-9)})
                    progress.update(window_steps, window_samples, f"return {means['imagined_return']:.3g}, "
                                                                  f"|a| {means['mean_abs_action']:.2f}")
                    sums, window_steps, window_samples, window_data = {}, 0, 0, 0.0
                    window_start = time.perf_counter()
                if step % eval_every == 0 or step == total_steps:
                    metrics = objective.validate(model, val_z0, t.seed)
                    _check_finite(metrics["loss"], "validation loss", step, step)
                    state["best_val"], state["best_step"] = metrics["loss"], step  # the last weights are kept
                    log.write({"split": "val", "step": step, **{k: v for k, v in metrics.items() if k != "samples"},
                               "best": True})
                    last_val = (step, metrics)
                    window_start = time.perf_counter()
                if step % t.checkpoint_every == 0 and step < total_steps:
                    if window_steps:
                        for key in ("actor_loss", "critic_loss"):
                            _check_finite(float(sums[key]), key.replace("_", " "), step - window_steps + 1, step)
                    current = {k: v.detach().clone() for k, v in learner.state_dict().items()}
                    save_checkpoint(run_dir, step, learner, current, optimizer, scheduler, state)
                    window_start = time.perf_counter()
    finally:
        progress.close()
        log.close()
    model.eval()
    final = last_val[1] if last_val is not None and last_val[0] == step else objective.validate(model, val_z0, t.seed)
    model_dir = run_dir / "model"
    model.to("cpu").save_pretrained(model_dir)
    summary = _summary(recipe, run_dir, model, obtained, dataset, spec, split, data, state, final, step,
                       total_steps, device, time.perf_counter() - started)
    summary = RunSummary.model_validate({
        **summary.to_json_dict(), "val_mean_abs_action": final["mean_abs_action"],
        "val_disagreement": final["disagreement"], "val_value": final["value"],
        "imagination": {"frozen": frozen, "reward": im.reward, "horizon": im.horizon,
                        "goal": None if goal is None else [float(v) for v in goal.cpu()],
                        "actor_parameters": model.actor_parameters}})
    summary.write(run_dir / SUMMARY_NAME)
    return TrainResult(run_dir, model_dir, summary)


def data_action_dim(dataset: WmDataset) -> int:
    """Action dimension of a dataset's steps config."""
    action = {f.name: f for f in dataset.features(STEPS_CONFIG)}["action"]
    return int(math.prod(action.shape or (1,)))


def _validate(model: LatentModel, objective: Objective, data: _Data, device: torch.device, step: int,
              state: dict[str, Any], best: dict[str, torch.Tensor], log: MetricsLog,
              patience: int | None) -> dict[str, float]:
    """Validate at ``step``, keep the weights when they are the best so far, log; returns the metrics."""
    metrics = evaluate(model, objective, data.val_batches(), device)
    _check_finite(metrics["loss"], "validation loss", step, step)
    improved = state["best_val"] is None or metrics["loss"] < state["best_val"]
    if improved:
        state["best_val"], state["best_step"], state["bad_evals"] = metrics["loss"], step, 0
        for k, v in model.state_dict().items():
            best[k] = v.detach().clone()
    else:
        state["bad_evals"] += 1
        if patience is not None and state["bad_evals"] >= patience:
            state["stopped_early"] = True
    log.write({"split": "val", "step": step, **{k: v for k, v in metrics.items() if k != "samples"},
               "best": improved})
    return metrics


def _backward(model: LatentModel, objective: Objective, batch: dict[str, torch.Tensor], micro_batches: int,
              precision: str, device: torch.device) -> torch.Tensor:
    """Backward of the mean loss over ``batch``, in ``micro_batches`` contiguous slices (gradient accumulation),
    the forward under bf16 autocast when ``precision`` says so; returns the mean loss (detached).

    A slice's loss is weighted by its share of the rows, so the gradient is the whole batch's mean up to float
    reduction order, also when the rows do not split evenly (an epoch's last batch)."""
    rows = batch["latents"].shape[0]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    if micro_batches == 1 or rows <= 1:
        with autocast:
            loss = objective(model, batch)
        loss.backward()
        return loss.detach().float()
    total = torch.zeros((), device=device)
    for j in range(micro_batches):
        lo, hi = rows * j // micro_batches, rows * (j + 1) // micro_batches
        if hi == lo:
            continue
        with autocast:
            loss = objective(model, {k: v[lo:hi] for k, v in batch.items()})
        weight = (hi - lo) / rows
        (loss * weight).backward()
        total += loss.detach().float() * weight
    return total


def _check_finite(value: float, what: str, first: int, last: int) -> None:
    """Stop training at a nan or inf loss: nothing from these steps is logged, kept as best or checkpointed."""
    if math.isfinite(value):
        return
    steps = f"step {last}" if first >= last else f"steps {first}-{last}"
    raise ConfigError(f"training stopped: the {what} is {value} at {steps} (nothing from these steps is logged "
                      "or saved); lower training.lr, set training.grad_clip, or check the data for nan/inf "
                      "(`wmhub verify`)")


def _summary(recipe: Recipe, run_dir: Path, model: LatentModel, obtained: ObtainedDataset, dataset: WmDataset,
             spec: SampleSpec, split: EpisodeSplit, data: _Data, state: dict[str, Any], final: dict[str, float],
             step: int, total_steps: int, device: torch.device, wall: float, world_size: int = 1) -> RunSummary:
    manifest_path = dataset.root / "manifest.json"
    return RunSummary.model_validate({
        "recipe": recipe.name,
        "model_class": type(model).__name__,
        "num_parameters": model.num_parameters,
        "latent": model.latent,
        "latent_dim": model.latent_dim,
        "action_dim": model.action_dim,
        "dataset": {"source": recipe.dataset.source, "revision": obtained.revision or recipe.dataset.revision,
                    "obtained": obtained.how, "path": str(obtained.root), "config": spec.config,
                    "manifest_sha256": sha256_file(manifest_path), "generator": dataset.manifest.generator.command,
                    "format_version": dataset.manifest.format_version,
                    "train_episodes": len(split.train), "val_episodes": len(split.val),
                    "train_samples": data.num_train},
        "objective": recipe.objective,
        "loss": recipe.loss,
        "horizon": recipe.training.horizon,
        "frame_skip": recipe.frame_skip,
        "steps": step,
        "planned_steps": total_steps,
        "steps_per_epoch": data.steps_per_epoch,
        "epochs": step / data.steps_per_epoch,
        "stopped_early": state["stopped_early"],
        "best_step": state["best_step"],
        "val_loss": final["loss"],
        "val_baseline_loss": final["baseline_loss"],
        "val_samples": final["samples"],
        **({"val_prediction_loss": final["prediction"], "val_sigreg": final["sigreg"],
            "sigreg_weight": recipe.sigreg_weight} if recipe.objective == "jepa" else {}),
        "baseline": kind(recipe.model.kind).baseline,
        "data_path": data.path,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(),
        "train_time_s": state["wall_time_s"],
        "samples_per_s": state["samples"] / max(state["wall_time_s"], 1e-9),
        "data_wait_share": state["data_time_s"] / max(state["wall_time_s"], 1e-9),
        "wall_time_s": wall,
        "precision": recipe.training.precision,
        "grad_accum_steps": recipe.training.grad_accum_steps,
        "world_size": world_size,
        "versions": {"wmhub": __version__, "torch": torch.__version__, "python": platform.python_version()},
    })
