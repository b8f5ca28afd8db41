"""``wmhub report``: one static HTML page for a dataset, a training run or a reproduction.

The report is a folder: ``index.html`` (plots inline as SVG, styles inline, no script, nothing
loaded from the network) plus the files it shows beside it: ``plots/*.png`` (dense scatter
plots), ``thumbs/*.gif`` and ``videos/*.mp4`` (episodes), ``media/`` (what the evaluation wrote).
It is built in a temporary folder next to ``out`` and moved into place at the end, so an error
leaves no half-written report; a folder holding an earlier report is replaced.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from wmhub.errors import AlreadyExistsError, ConfigError
from wmhub.reporting.dataset_report import DatasetReportOptions, dataset_sections
from wmhub.reporting.page import PAGE_NAME, write_page
from wmhub.reporting.run_report import Reproduction, run_sections
from wmhub.runs.reproduce import MetricComparison, ReproduceResult, flatten_metrics
from wmhub.runs.run import RECIPE_NAME, Run

MARKER = ".wmhub-report"  # what tells a report folder from any other folder (it may be replaced)


@dataclass
class ReportResult:
    """What :func:`report` wrote.

    Attributes:
        kind: ``dataset``, ``run`` or ``reproduction``.
        page: the HTML page (``OUT/index.html``).
        out: the report's folder.
        title: the page's title.
        sections: the titles of the sections shown, in order.
        files: every file written, relative to ``out``.
        notes: what was left out and why (e.g. no evaluation yet, no renderer for an environment).
        elapsed_s: seconds it took.
    """

    kind: str
    page: Path
    out: Path
    title: str
    sections: list[str]
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


def _is_run(source: object) -> bool:
    """Whether ``source`` names a run directory (a pushed checkpoint is refused with the way to report it)."""
    if not isinstance(source, (str, os.PathLike)) or not (Path(source) / RECIPE_NAME).is_file():
        return False
    if (Path(source) / "model.safetensors").is_file():
        raise ConfigError(f"{source} is a pushed checkpoint, not a run directory; copy and evaluate it with "
                          f"`wmhub eval {source} --out RUN`, then `wmhub report RUN --out DIR --claimed {source}`")
    return True


def _claims(run: Run, claimed: str, tolerance: float) -> Reproduction:
    """The metrics claimed by the checkpoint pushed at ``claimed`` beside those of ``run``."""
    from wmhub.runs.pushed import read_pushed
    from wmhub.runs.results import RESULTS_NAME, EvalResults

    hint = "the checkpoint carries no evaluation results; push it again after `wmhub eval`"
    theirs = flatten_metrics(EvalResults.from_json(read_pushed(claimed, RESULTS_NAME, missing_hint=hint),
                                                   f"{claimed}/{RESULTS_NAME}"))
    results = run.eval_results
    if results is None:
        raise ConfigError(f"{run.root} is not evaluated, so there is nothing to compare with {claimed}; run "
                          f"`wmhub eval {run.root}` first")
    mine = flatten_metrics(results)
    return Reproduction(claimed, tolerance, [MetricComparison(n, v, mine.get(n)) for n, v in sorted(theirs.items())])


def _prepare(out: Path) -> Path:
    """A fresh temporary folder beside ``out`` (refusing an ``out`` that holds something other than a report)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise AlreadyExistsError(f"{out} exists and is not a wmhub report; pass another --out (a report folder is "
                                 "replaced, anything else is left alone)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-report-{out.name}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def _install(tmp: Path, out: Path) -> None:
    """Move the finished report into place (replacing an earlier report)."""
    (tmp / MARKER).write_text("a wmhub report folder: `wmhub report` replaces it as a whole\n", encoding="utf-8")
    if out.exists():
        old = out.with_name(f".old-report-{out.name}")
        if old.exists():
            shutil.rmtree(old)
        out.replace(old)
        try:
            tmp.replace(out)
        except OSError:
            old.replace(out)  # the earlier report stays in place
            raise
        shutil.rmtree(old)
    else:
        tmp.replace(out)


def report(source_or_run: str | os.PathLike[str] | Run | ReproduceResult, out: str | os.PathLike[str], *,
           claimed: str | None = None, tolerance: float = 0.02, thumbnails: int = 8, video_size: int = 128,
           revision: str | None = None, show_progress: bool = True) -> ReportResult:
    """Write the HTML report of a dataset, a training run or a reproduction into the folder ``out``.

    A dataset report shows size and provenance (generator, versions, revision), return and success
    distributions, episode lengths, per-feature histograms, the actions and their ε-random share,
    episode thumbnails linking to their videos (environments the report can render), and a PCA of
    each embedding config. A run report shows the recipe, training and validation curves, and
    whatever the evaluation measured: latent prediction vs horizon beside copy-last, collapse
    diagnostics, probe, planning results with per-distance tables and cost per action, and the
    evaluation's videos. A reproduction (a :class:`~wmhub.runs.reproduce.ReproduceResult`, or a run
    with ``claimed``) adds the claimed metrics beside the reproduced ones.

    Args:
        source_or_run: a dataset (directory, local hub, ``hf://datasets/<org>/<name>[@rev]`` or fsspec
            URL), a run directory or :class:`~wmhub.runs.run.Run`, or a ``ReproduceResult``.
        out: the report's folder (created; an earlier report there is replaced).
        claimed: a pushed checkpoint (``hf://<org>/<name>[@rev]`` or local hub directory) whose claimed
            metrics are compared with the run's.
        tolerance: the relative tolerance of those comparisons.
        thumbnails: dataset reports: episodes rendered as thumbnails and videos (0: none).
        video_size: the scene's size in the videos, pixels.
        revision: dataset reports: the revision of a hub source (default: latest).
        show_progress: progress bars on stderr.

    Returns:
        The :class:`ReportResult` (``result.page`` is the HTML page).

    Raises:
        NotFoundError: no dataset or run at ``source_or_run``, or an unfinished run.
        AlreadyExistsError: ``out`` holds something other than a report.
        ConfigError: ``claimed`` for a dataset or an unevaluated run, or a bad option value.
        TransferError: a remote dataset cannot be downloaded.

    Example:
        >>> import wmhub
        >>> result = wmhub.report("data/reacher-tiny", "reports/reacher-tiny")  # doctest: +SKIP
        >>> result.page                                                          # doctest: +SKIP
        PosixPath('reports/reacher-tiny/index.html')
        >>> wmhub.report("runs/tiny_reacher_dynamics_state", "reports/dynamics")  # doctest: +SKIP
    """
    started = time.perf_counter()
    if thumbnails < 0 or video_size < 16 or tolerance < 0:
        raise ConfigError(f"report options need thumbnails >= 0 (got {thumbnails}), a video size >= 16 (got "
                          f"{video_size}) and a tolerance >= 0 (got {tolerance})")
    out = Path(out)
    reproduction = None
    if isinstance(source_or_run, ReproduceResult):
        run = Run.open(source_or_run.run_dir, finished=True)
        reproduction = Reproduction(claimed or "the pushed checkpoint", source_or_run.tolerance,
                                    list(source_or_run.metrics))
    elif isinstance(source_or_run, Run) or _is_run(source_or_run):
        run = source_or_run if isinstance(source_or_run, Run) else Run.open(source_or_run, finished=True)
        if not run.is_finished:
            run = Run.open(run.root, finished=True)  # raises the one-line "not finished" error
        if claimed:
            reproduction = _claims(run, claimed, tolerance)
    else:
        run = None
        if claimed:
            raise ConfigError("--claimed compares a run with a pushed checkpoint; pass a run directory, not a "
                              "dataset")
    tmp = _prepare(out)
    try:
        if run is not None:
            built = run_sections(run, tmp, reproduction)
            kind = "reproduction" if reproduction is not None else "run"
        else:
            dataset, shown, resolved = _open_dataset(str(source_or_run), revision, show_progress)
            opts = DatasetReportOptions(thumbnails=thumbnails, video_size=video_size, show_progress=show_progress)
            built = dataset_sections(dataset, tmp, shown, resolved, opts)
            kind = "dataset"
        write_page(tmp, built.title, built.subtitle, built.sections)
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        _install(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ReportResult(kind=kind, page=out / PAGE_NAME, out=out, title=built.title,
                        sections=[s.title for s in built.sections], files=files, notes=built.notes,
                        elapsed_s=time.perf_counter() - started)


def _open_dataset(source: str, revision: str | None, show_progress: bool):
    """The dataset at ``source`` (a remote one downloaded into the cache), how to name it, and its revision."""
    from wmhub.hub.source import dataset_location, open_stored
    from wmhub.hub.verbs import open_dataset
    from wmhub.storage.location import LocalDir

    location = dataset_location(source, revision)
    if isinstance(location, LocalDir) and location.revision in (None, "latest", "main"):
        return open_dataset(location.path), source, None
    resolved = open_stored(location).revision
    return open_dataset(source, revision=revision, show_progress=show_progress), source, resolved
