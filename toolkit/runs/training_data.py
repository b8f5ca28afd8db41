"""What a model card says about a run's training data: where it is published, at which revision, and how to
make it again. Never a path of the machine that trained the run.

The published location comes from, in order:

1. ``push(..., dataset_repo="hf://datasets/org/name[@rev]")``: checked against the run's data before
   anything is pushed (:func:`check_published`): every shard of the config the run trained on is in the
   published manifest with the same SHA-256, or the published manifest is byte for byte the one the run
   recorded. A claim that does not hold is refused.
2. a recipe source that is already published (``hf://datasets/...`` or an fsspec URL), at the revision the
   run recorded;
3. the data directory's download record (``.wmhub-origin.json``, written by ``wmhub download``), when the
   manifest it records is the one the run trained on (not encoded or grown locally since).

Otherwise the data is named by its generator (``wmhub/reacher (p-controller, ε = 0.3, 60 episodes of 200
steps, seed 0)``) and the card gives the commands that regenerate it (generation is deterministic).

Example:
    >>> data = training_data(Run("runs/tiny_reacher_dynamics_state"))  # doctest: +SKIP
    >>> data.repo_id, data.description                                 # doctest: +SKIP
    (None, 'wmhub/reacher (p-controller, ε = 0.3, 60 episodes of 200 steps, seed 0)')
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from wmhub.data.manifest import Manifest
from wmhub.errors import ConfigError, DatasetMismatchError, UnsupportedLocationError, WmhubError
from wmhub.fileio import sha256_file
from wmhub.hub.download import ORIGIN_NAME
from wmhub.hub.source import open_stored
from wmhub.runs.run import Run
from wmhub.storage.location import FsspecURL, HubRepo, parse_location
from wmhub.training.recipe import GenerateStep, convert_commands
from wmhub.training.summary import DatasetRecord

MANIFEST_NAME = "manifest.json"
DATA_DIR = "data"  # where a recipe without a published source makes its data: data/<name>


@dataclass(frozen=True)
class TrainingData:
    """The training data of a run, as its card names it.

    Attributes:
        config: the config the run trained on (``steps``, ``embeddings-<name>``).
        description: the generator in words (``wmhub/reacher (p-controller, ε = 0.3, 60 episodes of 200
            steps, seed 0)``).
        generator: the generator's options (``episodes``, ``policy``, ``seed``, ...), from the data's manifest.
        commands: ``wmhub generate`` / ``wmhub encode`` command lines that make the data again (OUT for the
            dataset directory).
        location: where the data is published (``hf://datasets/org/name``, an fsspec URL), or None.
        repo_id: the Hub dataset id (``org/name``), or None.
        revision: the published revision (a commit on the Hub), or None.
        verified: how the published location was checked (``shards``, ``manifest``, ``download record``,
            ``recipe source``), or None.
    """

    config: str
    description: str
    generator: dict[str, Any] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    location: str | None = None
    repo_id: str | None = None
    revision: str | None = None
    verified: str | None = None

    @property
    def name(self) -> str:
        """A short name: the repository's name, else the environment's generator (``wmhub/reacher``)."""
        if self.repo_id:
            return self.repo_id.rsplit("/", 1)[-1]
        if self.location:
            return self.location.rstrip("/").rsplit("/", 1)[-1]
        return self.description.split(" ", 1)[0]

    @property
    def type(self) -> str:
        """The model-index ``dataset.type``: the Hub id, the published URL, else the generator description."""
        return self.repo_id or self.location or self.description

    def recipe_source(self, current: str) -> tuple[str, str | None]:
        """``(dataset.source, dataset.revision)`` for the recipe published with the card: the published
        location, else ``data/<name>`` (where ``wmhub train`` makes the data with the recipe's data steps)."""
        if self.location:
            return self.location, self.revision
        name = Path(current.split("://", 1)[-1].split("@", 1)[0].rstrip("/")).name
        if name in ("", ".", "..") or name.startswith("."):
            name = "dataset"
        return f"{DATA_DIR}/{name}", None


def parse_dataset_repo(text: str) -> HubRepo | FsspecURL:
    """The published location given to ``push --dataset-repo``.

    Args:
        text: ``hf://datasets/<org>/<name>[@rev]`` (or an fsspec URL).

    Returns:
        The parsed location.

    Raises:
        UnsupportedLocationError: a local path or a model repository.

    Example:
        >>> parse_dataset_repo("hf://datasets/my-lab/reacher@v1.0")
        HubRepo(repo_type='dataset', repo_id='my-lab/reacher', revision='v1.0')
    """
    location = parse_location(text, repo_type="dataset")
    if isinstance(location, (HubRepo, FsspecURL)):
        return location
    raise UnsupportedLocationError(f"--dataset-repo {text}: a model card names where its data is published, not a "
                                   "local directory; publish the data (`wmhub publish DIR hf://datasets/ORG/NAME`) "
                                   "and pass hf://datasets/ORG/NAME[@REV]")


def describe_generator(command: str | None) -> tuple[str, dict[str, Any]]:
    """The generator of a dataset in words, and its options, from the manifest's ``wmhub generate`` command.

    Args:
        command: ``wmhub generate ENV OUT --episodes N ...`` (the manifest's ``generator.command``).

    Returns:
        ``("wmhub/reacher (p-controller, ε = 0.3, 60 episodes of 200 steps, seed 0)", {options})``.

    Example:
        >>> describe_generator("wmhub generate reacher OUT --episodes 60 --episode-length 200 "
        ...                    "--policy p-controller --epsilon 0.3 --seed 0")[0]
        'wmhub/reacher (p-controller, ε = 0.3, 60 episodes of 200 steps, seed 0)'
    """
    try:
        generate = convert_commands([command])["generate"] if command else None
    except ValueError:
        generate = None
    if not generate:
        return "wmhub dataset (generator unknown)", {}
    try:  # typed by the environment's config model (defaults filled in), as the recipe's dataset.generate
        step = GenerateStep(**generate)
        options = {"episodes": step.episodes, "episodes_per_shard": step.episodes_per_shard, **step.options}
    except (ValueError, TypeError, WmhubError):
        options = {k: v for k, v in generate.items() if k not in ("env", "workers")}
    options = {k: v for k, v in options.items() if v is not None}
    parts = []
    if "policy" in options:
        parts.append(str(options["policy"]) + (f", ε = {options['epsilon']}" if "epsilon" in options else ""))
    if "episodes" in options:
        parts.append(f"{options['episodes']} episodes"
                     + (f" of {options['episode_length']} steps" if "episode_length" in options else ""))
    if "seed" in options:
        parts.append(f"seed {options['seed']}")
    return f"wmhub/{generate['env']}" + (f" ({', '.join(parts)})" if parts else ""), options


def _local_manifest(record: DatasetRecord) -> tuple[Path, Manifest] | None:
    """The run's data directory and manifest, when it is still there unchanged (its manifest's SHA-256 is
    the one the run recorded)."""
    root = Path(record.path)
    manifest_path = root / MANIFEST_NAME
    if not record.manifest_sha256 or not manifest_path.is_file():
        return None
    if sha256_file(manifest_path) != record.manifest_sha256:
        return None
    return root, Manifest.read(root)


def _download_origin(root: Path, record: DatasetRecord) -> tuple[str, str | None] | None:
    """``(location, revision)`` from the download record of ``root``, when the run trained on what was
    downloaded and the origin is published (a Hub repo or an fsspec URL)."""
    path = root / ORIGIN_NAME
    if not path.is_file():
        return None
    try:
        origin = json.loads(path.read_text(encoding="utf-8"))
        source, revision, digest = origin["source"], origin.get("revision"), origin.get("manifest_sha256")
        location = parse_location(str(source), repo_type="dataset")
    except (ValueError, KeyError, TypeError, UnsupportedLocationError):
        return None
    if digest != record.manifest_sha256 or not isinstance(location, (HubRepo, FsspecURL)):
        return None
    return _spelled(location), (str(revision) if revision else None)


def _spelled(location: HubRepo | FsspecURL) -> str:
    """The location without its revision (``hf://datasets/org/name``), as a public card may show it: an
    fsspec URL loses any credentials (``s3://key:secret@bucket``) and its query string."""
    if isinstance(location, HubRepo):
        return f"hf://datasets/{location.repo_id}"
    parts = urlsplit(location.url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def check_published(record: DatasetRecord, location: HubRepo | FsspecURL) -> tuple[str, Manifest, str]:
    """Check that ``location`` holds the data a run trained on, reading only its manifest.

    The run's data directory, if still there and unchanged, is compared shard by shard (every shard of the
    trained config published with the same SHA-256); without it, the published manifest must be byte for
    byte the one the run recorded.

    Args:
        record: the run's ``summary.dataset``.
        location: the published location (``hf://datasets/org/name[@rev]``).

    Returns:
        ``(resolved revision, published manifest, how it was checked)``.

    Raises:
        DatasetMismatchError: the published data is not the run's (another generator, other shards).
        NotFoundError: no such repository or revision, or it holds no wmhub dataset.
        TransferError: the Hub cannot be reached.

    Example:
        >>> check_published(Run("runs/x").summary.dataset, parse_dataset_repo("hf://datasets/lab/r"))  # doctest: +SKIP
    """
    stored = open_stored(location)
    where = f"{_spelled(location)} at {stored.revision[:12]}"
    local = _local_manifest(record)
    if local is not None:
        _, mine = local
        theirs = {s.path: s.sha256 for s in stored.manifest.shards_of(record.config)}
        trained = mine.shards_of(record.config)
        if mine.generator.command != stored.manifest.generator.command and not mine.same_dataset_as(stored.manifest):
            raise DatasetMismatchError(f"{where} is not the run's training data: it was made by "
                                       f"`{stored.manifest.generator.command}`, the run's data by "
                                       f"`{mine.generator.command}`; pass the repository the data was published to")
        differing = [s.path for s in trained if theirs.get(s.path) != s.sha256]
        if differing:
            what = (f"has no config {record.config!r}" if not theirs else
                    f"lacks shard {differing[0]} of config {record.config!r}" if differing[0] not in theirs else
                    f"holds other bytes in shard {differing[0]} (SHA-256 differs)")
            raise DatasetMismatchError(f"{where} is not the run's training data: it {what}; publish the run's data "
                                       "(`wmhub publish DATA_DIR hf://datasets/ORG/NAME`) and name that revision")
        return stored.revision, stored.manifest, "shards"
    published = stored.store.read_bytes(MANIFEST_NAME, stored.revision)
    if published is not None and hashlib.sha256(published).hexdigest() == record.manifest_sha256:
        return stored.revision, stored.manifest, "manifest"
    raise DatasetMismatchError(f"cannot check that {where} holds the run's training data: the run's data directory "
                               "is gone or changed and the published manifest is not the one the run recorded; "
                               "re-create the data (`wmhub train` regenerates it) or name the exact revision it "
                               "was published at")


def training_data(run: Run | str | os.PathLike[str], dataset_repo: str | None = None) -> TrainingData:
    """What the card of ``run`` says about its data (see the module docstring).

    Args:
        run: a finished run (or its directory).
        dataset_repo: where the data is published (``hf://datasets/org/name[@rev]``); checked against the
            run's data.

    Returns:
        The :class:`TrainingData`.

    Raises:
        UnsupportedLocationError: ``dataset_repo`` is a local path or a model repository.
        DatasetMismatchError: ``dataset_repo`` does not hold the run's data.
        NotFoundError: ``dataset_repo`` does not exist or holds no wmhub dataset.
        TransferError: the Hub cannot be reached.

    Example:
        >>> training_data(Run("runs/x"), "hf://datasets/my-lab/tiny-reacher@v1.0").revision  # doctest: +SKIP
        '3f2c...'
    """
    run = run if isinstance(run, Run) else Run(run)
    summary = run.summary
    record = summary.dataset
    recipe = run.recipe
    generator_command = record.generator if isinstance(record.generator, str) else None
    description, options = describe_generator(generator_command)
    commands = ([generator_command] if generator_command else []) + [step.command() for step in recipe.dataset.encode]
    base = {"config": record.config, "description": description, "generator": options, "commands": commands}
    if dataset_repo is not None:
        location = parse_dataset_repo(dataset_repo)
        revision, _, how = check_published(record, location)
        repo_id = location.repo_id if isinstance(location, HubRepo) else None
        return TrainingData(**base, location=_spelled(location), repo_id=repo_id, revision=revision, verified=how)
    if "://" in record.source and not record.source.startswith("file://"):
        try:
            location = parse_location(record.source, repo_type="dataset")
        except (UnsupportedLocationError, ConfigError):
            location = None
        if isinstance(location, (HubRepo, FsspecURL)):
            revision = record.revision or (location.revision if isinstance(location, HubRepo) else None)
            repo_id = location.repo_id if isinstance(location, HubRepo) else None
            return TrainingData(**base, location=_spelled(location), repo_id=repo_id, revision=revision,
                                verified="recipe source")
    origin = _download_origin(Path(record.path), record)
    if origin is not None:
        location_text, revision = origin
        parsed = parse_location(location_text, repo_type="dataset")
        repo_id = parsed.repo_id if isinstance(parsed, HubRepo) else None
        return TrainingData(**base, location=location_text, repo_id=repo_id, revision=revision,
                            verified="download record")
    return TrainingData(**base)
