"""``wmhub export``: one entry point over the export formats.

* ``triples``: the seeds' flat (z_t, a_t, z_t1) parquet layout (:mod:`wmhub.interop.triples`);
* ``lerobot``: a LeRobotDataset v3.0 directory (:mod:`wmhub.interop.lerobot`);
* ``minari``: a Minari datasets root holding one dataset (:mod:`wmhub.interop.minari`).

Every export is written into a temporary sibling of OUT and renamed when complete, so a failed
export leaves nothing behind. docs/interop.md shows how each is read.
"""

from __future__ import annotations

from pathlib import Path

from wmhub.data.layout import STEPS_CONFIG
from wmhub.errors import ConfigError, UnsupportedFormatError
from wmhub.interop.types import ExportResult

EXPORT_FORMATS = ("triples", "lerobot", "minari")


def export(src: str | Path, out: str | Path, format: str, *, config: str = STEPS_CONFIG,
           repo_id: str | None = None, dataset_id: str | None = None, task: str | None = None,
           embeddings: list[str] | None = None, frames: str | None = None,
           show_progress: bool = True) -> ExportResult:
    """Export the local wmhub dataset ``src`` to ``out`` in ``format``.

    Args:
        src: a local wmhub dataset directory.
        out: a new (or empty) directory.
        format: ``triples``, ``lerobot`` or ``minari``.
        config: triples only: the config whose latent features form z.
        repo_id: lerobot only: the repo id ``org/name`` (required).
        dataset_id: minari only: ``(namespace/)name-v<N>`` (default ``wmhub/<src name>-v0``).
        task: lerobot only: the task string (default: the environment's).
        embeddings: lerobot and minari: embedding configs to include (default: all).
        frames: lerobot and minari: a ``frames-S`` config to include (LeRobot: the video
            ``observation.images.frames_S``; Minari: the ``frames`` observation).
        show_progress: show a progress bar.

    Returns:
        The :class:`ExportResult`.

    Raises:
        UnsupportedFormatError: an unknown format.
        ConfigError: an option the format does not take, or a missing ``repo_id`` for lerobot.

    Example:
        >>> export("data/reacher-100k", "out/lerobot", "lerobot", repo_id="my-lab/reacher-100k")  # doctest: +SKIP
        ExportResult(format='lerobot', path='out/lerobot', episodes=500, rows=100000, name='my-lab/reacher-100k')
    """
    if format not in EXPORT_FORMATS:
        raise UnsupportedFormatError(f"unknown export format {format!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    given = {"--config": config != STEPS_CONFIG, "--repo-id": repo_id is not None,
             "--dataset-id": dataset_id is not None, "--task": task is not None,
             "--embeddings": embeddings is not None, "--frames": frames is not None}
    takes = {"triples": {"--config"}, "lerobot": {"--repo-id", "--task", "--embeddings", "--frames"},
             "minari": {"--dataset-id", "--embeddings", "--frames"}}[format]
    wrong = [name for name, on in given.items() if on and name not in takes]
    if wrong:
        raise ConfigError(f"--format {format} does not take {', '.join(wrong)}; it takes "
                          f"{', '.join(sorted(takes))}")
    if format == "triples":
        from wmhub.interop.triples import export_triples

        return export_triples(src, out, config=config, show_progress=show_progress)
    if format == "lerobot":
        if repo_id is None:
            raise ConfigError("--format lerobot needs --repo-id ORG/NAME (the id LeRobotDataset is opened with)")
        from wmhub.interop.lerobot import export_lerobot

        return export_lerobot(src, out, repo_id, task=task, embeddings=embeddings, frames=frames,
                              show_progress=show_progress)
    from wmhub.interop.minari import export_minari

    return export_minari(src, out, dataset_id, embeddings=embeddings, frames=frames, show_progress=show_progress)
