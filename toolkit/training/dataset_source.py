"""Getting a recipe's dataset onto this machine: use it, download it, or regenerate it.

* a local directory with a ``manifest.json`` is used as it is; when the recipe has a
  ``dataset.generate`` step, the manifest's generator config must be the one it asks for
  (:class:`~wmhub.errors.DatasetMismatchError` otherwise). A missing config (e.g. embeddings not
  yet computed) is computed by the recipe's ``dataset.encode`` steps;
* a missing local directory is created by the recipe's data steps: :func:`wmhub.generation.generate`
  for ``dataset.generate``, then :func:`wmhub.encoding.encode_dataset` (or the frame store) for each
  ``dataset.encode`` step. Generation is deterministic, so the data is the published data;
* ``hf://datasets/<org>/<name>`` is downloaded (verified) into ``$WMHUB_DATA_CACHE`` (default
  ``$HF_HOME/wmhub/datasets``). Only when the repository cannot be found or reached
  (:class:`~wmhub.errors.NotFoundError`, :class:`~wmhub.errors.TransferError`) and the recipe has data
  steps is the data generated there instead; any other error (a generator mismatch, a corrupt file)
  is raised. Either way the manifest's generator config is checked against the recipe's.

The checks compare configs (the manifest records the generator's config), not command strings.

Data steps write the current dataset format, except inside :func:`regenerating_format`, which
``wmhub reproduce`` uses to recreate a pushed run's data in the format it was trained on (an existing
dataset always keeps its own format as it grows).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wmhub.data.manifest import MANIFEST_NAME, SUPPORTED_FORMAT_VERSIONS, Manifest
from wmhub.encoding import encode_dataset
from wmhub.encoding.frames import save_frames
from wmhub.envs.registry import get_env
from wmhub.errors import ConfigError, DatasetMismatchError, NotFoundError, TransferError
from wmhub.generation import generate
from wmhub.storage.cache import datasets_cache_dir
from wmhub.storage.location import FsspecURL, HubRepo, LocalDir, parse_location
from wmhub.training.recipe import DatasetSpec, EncodeStep, GenerateStep


@dataclass
class ObtainedDataset:
    """Where the data is and how it got there."""

    root: Path
    how: str               # "local", "local (encoded)", "generated", "downloaded", "generated (hub unreachable)"
    revision: str | None   # resolved Hub commit, for downloads


_REGENERATED_FORMAT: ContextVar[int | None] = ContextVar("wmhub_regenerated_format", default=None)


@contextmanager
def regenerating_format(format_version: int | None) -> Iterator[None]:
    """Within the block, a ``dataset.generate`` step that creates a dataset writes ``format_version``
    (None: the current format), so that data first generated in an older format is recreated byte
    for byte. A dataset that exists keeps its own format.

    Args:
        format_version: one of :data:`~wmhub.data.manifest.SUPPORTED_FORMAT_VERSIONS`, or None.

    Raises:
        ConfigError: a format this wmhub does not write.

    Example:
        >>> with regenerating_format(1):  # doctest: +SKIP
        ...     obtain_dataset(recipe.dataset)   # a missing dataset is generated in format 1
    """
    if format_version is not None and format_version not in SUPPORTED_FORMAT_VERSIONS:
        raise ConfigError(f"dataset format_version {format_version!r} is not one this wmhub writes "
                          f"({', '.join(map(str, SUPPORTED_FORMAT_VERSIONS))}); upgrade wmhub")
    token = _REGENERATED_FORMAT.set(format_version)
    try:
        yield
    finally:
        _REGENERATED_FORMAT.reset(token)


def data_cache_dir() -> Path:
    """Where Hub datasets of recipes are downloaded: ``$WMHUB_DATA_CACHE``, default ``$HF_HOME/wmhub/datasets``
    (:mod:`wmhub.storage.cache`)."""
    return datasets_cache_dir()


def _say(message: str) -> None:
    print(f"wmhub: {message}", file=sys.stderr, flush=True)


def wanted_generator(step: GenerateStep) -> dict[str, Any]:
    """The generator config a dataset made by ``step`` records in its manifest (the keys the step fixes).

    Args:
        step: the recipe's ``dataset.generate``.

    Returns:
        ``{"episodes": ..., ["episodes_per_shard": ...,] **options}`` as the manifest's
        ``generator.config`` holds them (``workers`` left out: it does not change the data).

    Example:
        >>> wanted_generator(GenerateStep(env="reacher", episodes=4))["episodes"]
        4
    """
    env = get_env(step.env)
    options = env.complete_options(step.options)  # e.g. the digest of an MLP policy's files
    return {"episodes": step.episodes,
            **({"episodes_per_shard": step.episodes_per_shard} if step.episodes_per_shard is not None else {}),
            **options}


def check_generator(root: Path, spec: DatasetSpec, source: str) -> None:
    """The dataset's manifest must record the generator config the recipe's ``dataset.generate`` asks for.

    Args:
        root: a local dataset directory.
        spec: the recipe's dataset section (nothing is checked without a ``generate`` step).
        source: the recipe's name, for the message.

    Raises:
        DatasetMismatchError: the environment or a config value differs; the message lists them.

    Example:
        >>> check_generator(Path("data/tiny-reacher"), spec, "r.yaml")  # doctest: +SKIP
    """
    if spec.generate is None:
        return
    generator = Manifest.read(root).generator
    wanted = wanted_generator(spec.generate)
    have = {key: generator.config.get(key) for key in wanted}
    diffs = [f"{key}: has {have[key]!r}, asked {value!r}" for key, value in wanted.items() if have[key] != value]
    if generator.env != spec.generate.env:
        diffs.insert(0, f"env: has {generator.env!r}, asked {spec.generate.env!r}")
    if diffs:
        raise DatasetMismatchError(f"{root} was generated by `{generator.command}` but {source} dataset.generate "
                                   f"asks for another dataset ({'; '.join(diffs)}); point dataset.source at the "
                                   "right data or fix the recipe")


def _has_config(root: Path, config: str) -> bool:
    return any(c.name == config for c in Manifest.read(root).configs)


def run_encode_step(step: EncodeStep, root: str | os.PathLike[str], show_progress: bool = True) -> None:
    """Run one ``dataset.encode`` step on the dataset at ``root`` (``wmhub encode``'s work, called directly).

    Args:
        step: the encoder and/or frames to add.
        root: the dataset directory (or fsspec URL).
        show_progress: draw progress bars on stderr.

    Example:
        >>> run_encode_step(EncodeStep(encoder="state"), "data/tiny-reacher")  # doctest: +SKIP
    """
    _say(f"running `{step.command().replace('OUT', os.fspath(root), 1)}`")
    if step.encoder:
        result = encode_dataset(os.fspath(root), step.encoder, device=step.device, dtype=step.dtype,
                                batch_size=step.batch_size, frame_size=step.frame_size, workers=step.workers,
                                pooling=step.pooling, encoder_threads=step.encoder_threads,
                                show_progress=show_progress)
        _say(f"{result.config}: encoded {result.rows_processed} steps in {result.shards_written} new shard(s), "
             f"reused {result.shards_reused}")
    if step.save_frames:
        result = save_frames(os.fspath(root), step.frame_size or 64, workers=step.workers, show_progress=show_progress)
        _say(f"{result.config}: stored {result.rows_processed} frames in {result.shards_written} new shard(s), "
             f"reused {result.shards_reused}")


def run_generate_step(step: GenerateStep, out: str | os.PathLike[str], show_progress: bool = True) -> None:
    """Run the recipe's ``dataset.generate`` into ``out`` (``wmhub generate``'s work, called directly).

    Args:
        step: the environment, size and options.
        out: the dataset directory (or fsspec URL); an existing dataset grows or is left as it is.
        show_progress: draw a progress bar on stderr.

    Raises:
        DatasetMismatchError: ``out`` holds a dataset generated with other options.

    Example:
        >>> run_generate_step(GenerateStep(env="reacher", episodes=4), "data/r4")  # doctest: +SKIP
    """
    request = get_env(step.env).resolve(out, step.episodes, step.episodes_per_shard, step.options)
    _say(f"running `{step.command().replace('OUT', os.fspath(out), 1)}`")
    existing = parse_location(os.fspath(out))
    fresh = not (isinstance(existing, LocalDir) and (existing.path / MANIFEST_NAME).is_file())
    result = generate(request.env, os.fspath(out), request.episodes, options=request.options,
                      episodes_per_shard=request.episodes_per_shard, workers=step.workers,
                      show_progress=show_progress, format_version=_REGENERATED_FORMAT.get() if fresh else None)
    if result.shards_written or result.shards_reused:
        _say(f"wrote {result.shards_written} shard task(s) ({result.episodes_generated} episodes), reused "
             f"{result.shards_reused}; {out} now holds {result.manifest.num_episodes} episodes")


def build_dataset(spec: DatasetSpec, out: str | os.PathLike[str], show_progress: bool = True) -> None:
    """Run all of a recipe's data steps into ``out``: generation, then each encode step.

    Args:
        spec: the recipe's dataset section.
        out: the dataset directory.
        show_progress: draw progress bars on stderr.

    Raises:
        ConfigError: the recipe has no data steps.
        DatasetMismatchError: ``out`` holds a dataset generated with other options.

    Example:
        >>> from wmhub.training.recipe import load_recipe
        >>> build_dataset(load_recipe("tiny_reacher_dynamics_state").dataset, "data/tiny")  # doctest: +SKIP
    """
    if spec.generate is None and not spec.encode:
        raise ConfigError("the recipe has no dataset.generate or dataset.encode step")
    if spec.generate is not None:
        run_generate_step(spec.generate, out, show_progress)
    for step in spec.encode:
        run_encode_step(step, out, show_progress)


def obtain_dataset(spec: DatasetSpec, source: str = "the recipe", show_progress: bool = True) -> ObtainedDataset:
    """Make the recipe's dataset available locally (see the module docstring).

    Args:
        spec: the recipe's dataset section.
        source: the recipe's name, for messages.
        show_progress: draw progress bars on stderr.

    Returns:
        Where the data is and how it got there.

    Raises:
        NotFoundError: the dataset is missing and the recipe has no step to make it.
        ConfigError: the dataset lacks ``spec.config`` and the recipe has no encode step, or the
            source directory holds something that is not a dataset.
        DatasetMismatchError: the data was generated with another config than the recipe's.

    Example:
        >>> from wmhub.training.recipe import load_recipe
        >>> obtain_dataset(load_recipe("tiny_reacher_dynamics_state").dataset).how  # doctest: +SKIP
        'generated'
    """
    location = parse_location(spec.source, spec.revision, repo_type="dataset")
    if isinstance(location, LocalDir):  # a dataset directory (a local hub's root holds its latest version)
        return _obtain_local(location.path, spec, source, show_progress)
    return _obtain_remote(location, spec, source, show_progress)


def _obtain_local(location: Path, spec: DatasetSpec, source: str, show_progress: bool) -> ObtainedDataset:
    if (location / MANIFEST_NAME).is_file():
        check_generator(location, spec, source)
        if _has_config(location, spec.config):
            return ObtainedDataset(location, "local", None)
        if not spec.encode:  # e.g. state data present, embeddings not yet computed
            raise ConfigError(f"{location} has no config {spec.config!r} and {source} has no dataset.encode step; "
                              "run `wmhub encode` on it or fix dataset.config")
        for step in spec.encode:
            run_encode_step(step, location, show_progress)
        return ObtainedDataset(location, "local (encoded)", None)
    if location.exists() and any(location.iterdir()) and spec.generate is None:
        raise ConfigError(f"{location} exists but holds no {MANIFEST_NAME}; fix dataset.source in {source}")
    if spec.generate is None:
        raise NotFoundError(f"dataset {location} does not exist and {source} has no dataset.generate step; "
                            "create it (`wmhub generate ...` or `wmhub download ...`) or set dataset.source")
    build_dataset(spec, location, show_progress)
    check_generator(location, spec, source)
    return ObtainedDataset(location, "generated", None)


def _cache_dir(location: HubRepo | FsspecURL) -> Path:
    """Where a recipe's remote dataset is downloaded: ``<cache>/<org>/<name>/<revision>`` for a Hub repo
    (both validated: no ``..``), ``<cache>/<protocol>/<digest of the URL>`` for an fsspec URL, whose path
    is untrusted in a pulled recipe and so never names a folder."""
    if isinstance(location, HubRepo):
        return data_cache_dir() / location.repo_id / (location.revision or "main")
    return data_cache_dir() / location.protocol / hashlib.sha256(location.url.encode()).hexdigest()[:16]


def _download(source: str, out: Path, configs: list[str], show_progress: bool) -> str | None:
    """Download (and verify) ``configs`` of ``source`` into ``out``; returns the resolved revision."""
    from wmhub.hub.verbs import download  # the hub's transfer code, loaded only for remote sources

    return download(source, out, configs=configs, show_progress=show_progress).revision


def _obtain_remote(repo: HubRepo | FsspecURL, spec: DatasetSpec, source: str,
                   show_progress: bool) -> ObtainedDataset:
    """A Hub repo or an fsspec URL: downloaded (verified) into the data cache."""
    target = _cache_dir(repo)
    try:
        revision = _download(str(repo), target, sorted({"steps", "episodes", spec.config}), show_progress)
    except (NotFoundError, TransferError) as exc:  # missing or unreachable; a mismatch or corrupt copy is raised
        if spec.generate is None:
            raise
        _say(f"cannot download {repo} ({exc}); generating it with the recipe's data steps")
    else:
        check_generator(target, spec, source)
        return ObtainedDataset(target, "downloaded", revision)
    build_dataset(spec, target, show_progress)  # idempotent: an existing complete copy is left as it is
    check_generator(target, spec, source)
    return ObtainedDataset(target, "generated (hub unreachable)", None)
