"""``wmhub push``: a trained run's checkpoint, card, evaluation and provenance, in one commit.

The repository (``hf://<org>/<name>``, a local hub directory or an fsspec URL) receives
``model.safetensors`` + ``config.json`` at its root (so ``from_pretrained`` and
:func:`wmhub.load_model` read it directly), ``README.md`` (the model card),
``eval_results.json``, ``eval/*.png`` (and the media the results list), ``recipe.yaml``,
``metrics.jsonl``, ``summary.json`` and ``split.json``. A tag marks the pushed commit and never moves.

The card and the pushed ``recipe.yaml`` name the training data by its published location and
revision (``dataset_repo``, checked against the run's data first; or the recipe's Hub source; or
where the data was downloaded from), else by its generator: never by a local path
(:mod:`wmhub.runs.training_data`). A run trained before ``summary.json`` had a ``schema_version``
is pushed as it always was, unless ``dataset_repo`` is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wmhub.errors import AlreadyExistsError, NotFoundError, UnsupportedLocationError
from wmhub.fileio import resolve_inside
from wmhub.runs.card import card_version, media_of, published_recipe, render_model_card
from wmhub.runs.evaluate import write_training_curve
from wmhub.runs.pushed import read_pushed
from wmhub.runs.run import RECIPE_NAME, SPLIT_NAME, Run
from wmhub.runs.training_data import training_data
from wmhub.storage.location import HubRepo, LocalDir, parse_location
from wmhub.storage.stores import Store, ensure_tag, open_store
from wmhub.training.metrics_log import METRICS_NAME
from wmhub.training.summary import SUMMARY_NAME

__all__ = ["PushResult", "push", "read_pushed", "run_files"]


@dataclass
class PushResult:
    """Where a run was pushed.

    Attributes:
        destination: the repository, as its store describes it.
        revision: the commit (a 40-hex id on the Hub, ``latest`` for a local hub).
        files: the repository paths written, sorted.
        tag: the tag that marks the commit, if one was asked for.
    """

    destination: str
    revision: str
    files: list[str]
    tag: str | None


def run_files(run_dir: str | os.PathLike[str] | Run) -> dict[str, Path]:
    """Repository path -> local file, for everything a push uploads (card excluded).

    Raises:
        NotFoundError: the run is not finished.
    """
    run = run_dir if isinstance(run_dir, Run) else Run(run_dir)
    files = {"config.json": run.model_dir / "config.json", "model.safetensors": run.model_dir / "model.safetensors"}
    for name in (RECIPE_NAME, METRICS_NAME, SUMMARY_NAME, SPLIT_NAME):
        files[name] = run.root / name
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise NotFoundError(f"{run.root} is not a finished run (missing {', '.join(missing)}); run `wmhub train` "
                            "first")
    if run.eval_results_path.is_file():
        files["eval_results.json"] = run.eval_results_path
        results = run.eval_results
        for item in media_of(results) if results is not None else []:
            path = resolve_inside(run.root, item["path"])  # a listed path never leaves the run
            if not path.is_file():
                raise NotFoundError(f"{run.eval_results_path} lists media {item['path']!r}, which {run.root} lacks; "
                                    "re-run `wmhub eval` or remove the entry")
            files[path.relative_to(run.root.resolve()).as_posix()] = path
    for plot in run.plots():
        files[f"eval/{plot.name}"] = plot
    return files


def push(run_dir: str | os.PathLike[str] | Run, dest: str, *, tag: str | None = None, private: bool = False,
         message: str | None = None, dataset_repo: str | None = None) -> PushResult:
    """Push a trained run (checkpoint, card, eval results, plots, recipe, log) in one commit.

    Args:
        run_dir: a finished run directory (or its :class:`~wmhub.runs.run.Run`).
        dest: ``hf://<org>/<name>`` (a model repo), a local hub directory or an fsspec URL.
        tag: a tag marking the commit; an existing tag is never moved.
        private: create a Hub repository as private.
        message: the commit message (default: recipe, model class and steps).
        dataset_repo: where the training data is published, ``hf://datasets/<org>/<name>[@rev]``: the card
            names it at its resolved revision, after its manifest is checked against the run's data.

    Returns:
        Where it went, the commit and the files.

    Raises:
        UnsupportedLocationError: ``dest`` is a dataset repository or holds a dataset; ``dataset_repo`` is a
            local path.
        NotFoundError: the run is not finished; ``dataset_repo`` does not exist or holds no wmhub dataset.
        DatasetMismatchError: ``dataset_repo`` does not hold the run's training data.
        AlreadyExistsError: ``tag`` already marks other files.

    Example:
        >>> import wmhub
        >>> wmhub.push("runs/tiny_reacher_dynamics_state", "hub/tiny-dynamics", tag="v1.0")  # doctest: +SKIP
        PushResult(destination='hub/tiny-dynamics', revision='latest', files=[...], tag='v1.0')
        >>> wmhub.push("runs/tiny_reacher_dynamics_state", "hf://my-org/tiny-dynamics",
        ...            dataset_repo="hf://datasets/my-org/tiny-reacher@v1.0")  # doctest: +SKIP
    """
    run = run_dir if isinstance(run_dir, Run) else Run(run_dir)
    location = parse_location(dest)
    if isinstance(location, HubRepo) and location.repo_type != "model":
        raise UnsupportedLocationError(f"{dest} is a dataset repo; push checkpoints to a model repo "
                                       "hf://<org>/<name>")
    local = location.path if isinstance(location, LocalDir) else location if isinstance(location, Path) else None
    if local is not None and (local / "manifest.json").is_file():
        raise UnsupportedLocationError(f"{local} holds a dataset; push the checkpoint to another directory")
    write_training_curve(run.root)
    files = run_files(run)
    data = None if dataset_repo is None and card_version(run) == 0 else training_data(run, dataset_repo)
    card = render_model_card(run, repo_ref=str(location) if isinstance(location, HubRepo) else str(dest), data=data)
    texts = {"README.md": str(card)}
    if data is not None:  # the recipe as the card shows it: its data named by location, never by a local path
        texts[RECIPE_NAME] = published_recipe(run, data).to_yaml()
        files.pop(RECIPE_NAME)
    pushed = sorted([*files, *texts])
    store = open_store(location, versioned=tuple(pushed))
    if tag:
        _check_tag_before_commit(store, tag, files, texts)
    summary = run.summary
    text = message or f"wmhub push: {summary.recipe} ({summary.model_class}, {summary.steps} steps)"
    revision = store.commit(files, texts, text, private)
    if tag:
        ensure_tag(store, tag, revision)
    return PushResult(store.describe(), revision, pushed, tag)


def _check_tag_before_commit(store: Store, tag: str, files: dict[str, Path], texts: dict[str, str]) -> None:
    """Refuse, before anything is committed, a tag that already marks other files (tags never move).

    Re-pushing the very files a tag marks is allowed (the tag then stays where it is).
    """
    if tag not in store.tags():
        return
    resolved = store.resolve(tag)
    payload = {path: source.read_bytes() for path, source in files.items()}
    payload.update({path: text.encode("utf-8") for path, text in texts.items()})
    if any(store.read_bytes(path, resolved) != data for path, data in payload.items()):
        raise AlreadyExistsError(f"tag {tag!r} already marks other files in {store.describe()}; tags are never "
                                 "moved: choose a new tag")
