"""A training run directory, typed: :class:`Run` owns the files ``wmhub train`` and ``wmhub eval`` write.

::

    RUN/
      recipe.yaml              the resolved recipe                  Run.recipe
      split.json               training / held-out episodes         Run.split
      metrics.jsonl            training and validation records      Run.metrics()
      summary.json             what training measured               Run.summary      (RunSummary)
      model/                   safetensors + config.json            Run.load_model()
      checkpoints/step-*/      resumable training state             Run.checkpoints()
      eval/eval_results.json   what evaluation measured             Run.eval_results (EvalResults)
      eval/*.png               plots                                Run.plots()

Every read goes to the file (nothing is cached), so a run being evaluated elsewhere is seen as it is.

Example:
    >>> import wmhub
    >>> run = wmhub.Run.open("runs/tiny_reacher_dynamics_state")  # doctest: +SKIP
    >>> run.summary.val_loss, run.summary.val_baseline_loss          # doctest: +SKIP
    (0.0045, 0.0509)
    >>> run = wmhub.Run.pull("hf://my-org/tiny-dynamics@v1.0")       # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from wmhub.errors import AlreadyExistsError, NotFoundError, UnsupportedFormatError
from wmhub.fileio import atomic_write_text, dumps_json
from wmhub.models.registry import load_model
from wmhub.runs.pushed import read_pushed
from wmhub.runs.results import EVAL_DIR, RESULTS_NAME, EvalResults
from wmhub.training.checkpoint import CHECKPOINTS_DIR, list_checkpoints
from wmhub.training.dataset_source import check_generator, obtain_dataset
from wmhub.training.metrics_log import METRICS_NAME, read_metrics
from wmhub.training.recipe import Recipe, parse_recipe
from wmhub.training.summary import SUMMARY_NAME, RunSummary

if TYPE_CHECKING:  # pragma: no cover
    from wmhub.models.base import LatentModel

RECIPE_NAME = "recipe.yaml"
SPLIT_NAME = "split.json"
PULLED_NAME = "pulled.json"  # written by Run.pull: the run's recipe came from elsewhere (untrusted)
MODEL_DIR = "model"
# what a finished run holds (and what `wmhub push` publishes beside the weights)
RUN_FILES = (RECIPE_NAME, SUMMARY_NAME, SPLIT_NAME)


class RunSplit(BaseModel):
    """``split.json``: the episodes a run trained on and the held-out episodes it validated on."""

    model_config = ConfigDict(extra="allow")
    train_episodes: list[int]
    val_episodes: list[int]


class Run:
    """A run directory (see the module docstring).

    Args:
        root: the run directory (use :meth:`open` to check it holds a run).

    Example:
        >>> run = Run.open("runs/tiny_reacher_dynamics_state")  # doctest: +SKIP
        >>> run.eval_results.headline("latent")                 # doctest: +SKIP
        {'cosine@1': 0.994, 'cosine@5': 0.99, 'cosine@10': 0.985, 'cosine@30': 0.945}
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Run({str(self.root)!r})"

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, finished: bool = False) -> Run:
        """Open a `wmhub train` run directory.

        Args:
            path: the run directory.
            finished: also require what a finished run holds (summary, split, model).

        Returns:
            The run.

        Raises:
            NotFoundError: ``path`` holds no run (no ``recipe.yaml``), or, with ``finished``, an
                unfinished one.

        Example:
            >>> run = Run.open("runs/tiny_reacher_dynamics_state", finished=True)  # doctest: +SKIP
            >>> run.summary.steps                                                  # doctest: +SKIP
            304
        """
        run = cls(path)
        required = (*RUN_FILES, f"{MODEL_DIR}/config.json") if finished else (RECIPE_NAME,)
        for name in required:
            if not (run.root / name).is_file():
                raise NotFoundError(f"{run.root} is not a finished training run (no {name}); run `wmhub train` "
                                    "first")
        return run

    @classmethod
    def pull(cls, source: str, out: str | os.PathLike[str] | None = None) -> Run:
        """A local run directory for a checkpoint pushed with `wmhub push`, so that it can be evaluated.

        ``out`` receives ``model/`` plus the pushed recipe, summary, split and training log. Claimed
        results are not copied: every suite run on it is measured here. An ``out`` that already
        holds the run is reused. ``pulled.json`` marks the run as pulled: the data its recipe makes
        stays inside ``out`` (:meth:`dataset_root`).

        Args:
            source: ``hf://<org>/<name>[@rev]`` or a local hub directory.
            out: the run directory (default ``runs/<name>``).

        Returns:
            The run.

        Raises:
            AlreadyExistsError: ``out`` holds something else.
            NotFoundError: ``source`` does not exist or is not a pushed checkpoint (a file is missing).
            TransferError: the Hub cannot be reached.

        Example:
            >>> run = Run.pull("hf://my-org/tiny-dynamics@v1.0", "runs/tiny-dynamics")  # doctest: +SKIP
            >>> wmhub.evaluate(run, suites=["latent"])                                   # doctest: +SKIP
        """
        out = Path(out) if out is not None else Path("runs") / default_run_name(source)
        if (out / MODEL_DIR / "config.json").is_file() and all((out / n).is_file() for n in RUN_FILES):
            return cls(out)
        if out.exists() and any(out.iterdir()):
            raise AlreadyExistsError(f"{out} exists and is not a run of {source}; pass another --out")
        texts = {name: read_pushed(source, name) for name in RUN_FILES}
        model = load_model(source)
        tmp = out.with_name(f".tmp-{out.name}")
        if tmp.exists():
            shutil.rmtree(tmp)
        model.save_pretrained(tmp / MODEL_DIR)
        for name, text in texts.items():
            atomic_write_text(tmp / name, text)
        try:
            atomic_write_text(tmp / METRICS_NAME, read_pushed(source, METRICS_NAME))
        except NotFoundError:
            pass  # an older push without the training log: no training curve
        atomic_write_text(tmp / PULLED_NAME, dumps_json({"source": source}))
        if out.exists():
            out.rmdir()
        tmp.replace(out)
        return cls(out)

    # ------------------------------------------------------------------ paths
    @property
    def model_dir(self) -> Path:
        """``RUN/model``: the best weights (``model.safetensors`` + ``config.json``)."""
        return self.root / MODEL_DIR

    @property
    def recipe_path(self) -> Path:
        return self.root / RECIPE_NAME

    @property
    def summary_path(self) -> Path:
        return self.root / SUMMARY_NAME

    @property
    def split_path(self) -> Path:
        return self.root / SPLIT_NAME

    @property
    def metrics_path(self) -> Path:
        return self.root / METRICS_NAME

    @property
    def eval_dir(self) -> Path:
        return self.root / EVAL_DIR

    @property
    def eval_results_path(self) -> Path:
        return self.root / EVAL_DIR / RESULTS_NAME

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / CHECKPOINTS_DIR

    @property
    def is_pulled(self) -> bool:
        """Whether the run was copied from a pushed checkpoint (:meth:`pull`), so its recipe is untrusted."""
        return (self.root / PULLED_NAME).is_file()

    @property
    def is_finished(self) -> bool:
        """Whether training finished (``summary.json`` and the model are written)."""
        return self.summary_path.is_file() and (self.model_dir / "config.json").is_file()

    # ------------------------------------------------------------------ contents
    @property
    def recipe(self) -> Recipe:
        """The resolved recipe the run was trained with.

        Raises:
            NotFoundError: the run has no ``recipe.yaml``.
            ConfigError: it is not a valid recipe.
        """
        if not self.recipe_path.is_file():
            raise NotFoundError(f"{self.root} is not a training run (no {RECIPE_NAME}); run `wmhub train` first")
        return parse_recipe(self.recipe_path.read_text(encoding="utf-8"), str(self.recipe_path))

    @property
    def summary(self) -> RunSummary:
        """``summary.json``: what training measured.

        Raises:
            NotFoundError: training has not finished.
            UnsupportedFormatError: the file is not a run summary.
        """
        return RunSummary.read(self.summary_path)

    @property
    def split(self) -> RunSplit:
        """``split.json``: training and held-out episodes.

        Raises:
            NotFoundError: the run has no ``split.json`` yet.
            UnsupportedFormatError: the file is not a split.
        """
        if not self.split_path.is_file():
            raise NotFoundError(f"{self.split_path}: no such file; is the run started (`wmhub train`)?")
        try:
            return RunSplit.model_validate_json(self.split_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UnsupportedFormatError(f"{self.split_path}: not a run split ({exc.__class__.__name__}); "
                                         "re-create the run") from None

    @property
    def eval_results(self) -> EvalResults | None:
        """``eval/eval_results.json``, or None before the run is evaluated.

        Raises:
            UnsupportedFormatError: the file is not evaluation results.
        """
        if not self.eval_results_path.is_file():
            return None
        return EvalResults.read(self.eval_results_path)

    def metrics(self) -> list[dict[str, Any]]:
        """The training log: one record per logged step (``split`` is ``train`` or ``val``)."""
        return read_metrics(self.root)

    def plots(self) -> list[Path]:
        """The evaluation plots (``eval/*.png``), sorted by name."""
        return sorted(self.eval_dir.glob("*.png")) if self.eval_dir.is_dir() else []

    def checkpoints(self) -> list[Path]:
        """The resumable training checkpoints, oldest first."""
        return list_checkpoints(self.root)

    def load_model(self, *, map_location: str = "cpu") -> LatentModel:
        """The run's best weights.

        Raises:
            NotFoundError: training has not finished.

        Example:
            >>> model = Run.open("runs/tiny_reacher_dynamics_state").load_model()  # doctest: +SKIP
        """
        if not (self.model_dir / "config.json").is_file():
            raise NotFoundError(f"{self.root} has no trained model yet; finish `wmhub train` first")
        return load_model(self.model_dir, map_location=map_location)

    def dataset_root(self, *, show_progress: bool = True) -> Path:
        """The run's dataset: the local copy it was trained on, else obtained again from the recipe's
        source (at the revision the run recorded, for a Hub source).

        The recipe of a pulled run (:meth:`pull`) is untrusted: its local dataset is made inside the run
        directory (:func:`wmhub.runs.confine.confined_dataset`), never where the recipe says.

        Raises:
            NotFoundError: the dataset is gone and the recipe cannot make it again.
            DatasetMismatchError: a pulled run's summary names data that another generator config made.
        """
        summary = self.summary
        recipe = self.recipe
        root = Path(summary.dataset.path)
        if (root / "manifest.json").is_file():
            if self.is_pulled:  # a path from a pushed summary: read it only if it is the recipe's data
                check_generator(root, recipe.dataset, recipe.source)
            return root
        spec = recipe.dataset
        revision = summary.dataset.revision
        if revision and str(spec.source).startswith("hf://"):
            spec = spec.model_copy(update={"revision": revision})
        if self.is_pulled:
            from wmhub.runs.confine import confined_dataset

            spec = confined_dataset(spec, self.root, recipe.source)
        return obtain_dataset(spec, recipe.source, show_progress=show_progress).root


def default_run_name(source: str) -> str:
    """The last component of a pushed checkpoint's location, without ``@revision`` (``runs/<name>``)."""
    return source.split("@", 1)[0].rstrip("/").rsplit("/", 1)[-1]
