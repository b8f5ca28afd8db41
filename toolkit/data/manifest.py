"""``manifest.json``: the index of a wmhub dataset directory.

The manifest is the source of truth: which configs exist, which shard files
belong to each (path, SHA-256, size, rows, episode range) and the mergeable
statistics of every numeric feature. It is always replaced atomically and
written last, so a reader never sees a manifest that lists a missing shard.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wmhub.data.stats import FeatureStats
from wmhub.errors import ConfigError, NotFoundError, UnsupportedFormatError
from wmhub.fileio import atomic_write_json
from wmhub.storage.files import INDEX_NAME

#: the format new datasets are written in: 2 stores each episode's last row with zero-filled
#: ``terminal_null`` cells (``is_last`` masks them); 1 stored Arrow nulls there (docs/format.md)
FORMAT_VERSION = 2
MANIFEST_NAME = INDEX_NAME
#: the formats this wmhub reads (and writes, to grow or regenerate a dataset in the format it has)
SUPPORTED_FORMAT_VERSIONS = (1, 2)
#: the formats whose ``terminal_null`` cells are Arrow nulls
NULL_TERMINAL_FORMAT_VERSIONS = (1,)


class FeatureInfo(BaseModel):
    """A column of a config, as described in the manifest."""

    model_config = ConfigDict(extra="forbid")
    name: str
    dtype: str
    shape: list[int]
    description: str = ""
    terminal_null: bool = Field(False, description="no value on each episode's last row (``is_last``): "
                                                   "zero-filled in format 2, null in format 1")


class ConfigInfo(BaseModel):
    """One config (a table aligned with the dataset's episodes)."""

    model_config = ConfigDict(extra="forbid")
    # a folder name under data/ (and a file-name part of exports and reports): never a path
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str
    granularity: str = Field(description="'step' (one row per observation) or 'episode'")
    format: str = Field("parquet", description="'parquet', or 'webdataset' (tar shards, not a datasets config)")
    features: list[FeatureInfo]
    latent_features: list[str] = Field(default_factory=list,
                                       description="features concatenated, in order, to form the latent z")
    extra: dict[str, Any] = Field(default_factory=dict, description="e.g. the encoder's identity")


class ShardInfo(BaseModel):
    """One shard file and what it holds."""

    model_config = ConfigDict(extra="forbid")
    config: str
    path: str
    sha256: str
    num_bytes: int
    num_rows: int
    episode_start: int
    episode_end: int
    stats: dict[str, FeatureStats]


class GymnasiumInfo(BaseModel):
    """The Gymnasium environment that steps as the generator did: ``gymnasium.make(id, **kwargs)`` once
    ``wmhub.envs.gym`` is imported (``wmhub.recover_environment`` does both)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="the Gymnasium id, e.g. wmhub/ReacherEasy-v0")
    kwargs: dict[str, Any] = Field(default_factory=dict,
                                   description="keyword arguments of gymnasium.make (max_episode_steps included)")


class GeneratorInfo(BaseModel):
    """How the data was produced: enough to regenerate any episode."""

    model_config = ConfigDict(extra="forbid")
    env: str
    command: str
    config: dict[str, Any]
    seed: int
    gymnasium: GymnasiumInfo | None = Field(
        None, description="the environment as a Gymnasium id and make() arguments; absent in manifests written "
                          "before it existed (wmhub.recover_environment derives it from env and config)")


class VersionRange(BaseModel):
    """The library versions that generated episodes [episode_start, episode_end), in every config
    generated with them (``steps``, ``episodes``)."""

    model_config = ConfigDict(extra="forbid")
    episode_start: int
    episode_end: int
    versions: dict[str, str]


class Manifest(BaseModel):
    """The whole ``manifest.json``."""

    model_config = ConfigDict(extra="forbid")
    format_version: int = Field(FORMAT_VERSION, description="how the shards store each episode's last row "
                                                            "(see :data:`SUPPORTED_FORMAT_VERSIONS`)")
    generator: GeneratorInfo
    versions: dict[str, str] = Field(description="library versions of the run that created the dataset")
    provenance: list[VersionRange] | None = Field(
        None, description="versions by episode range, in order, one entry per run of other versions (a grow "
                          "with the same versions extends the last entry); absent in manifests written before "
                          "it existed, which mean `versions` for every episode")
    num_episodes: int
    configs: list[ConfigInfo]
    shards: list[ShardInfo]
    subset: dict[str, Any] | None = Field(
        None, description="set by a partial `wmhub download`: the selection; shards list only what is here")

    # ----------------------------------------------------------------- io
    @classmethod
    def read(cls, root: str | Path) -> Manifest:
        """Read and validate ``root/manifest.json``.

        Args:
            root: a local dataset directory.

        Returns:
            The manifest.

        Raises:
            NotFoundError: ``root`` holds no manifest.
            UnsupportedFormatError: the file is not a manifest this wmhub reads.

        Example:
            >>> Manifest.read("data/reacher-tiny").num_episodes  # doctest: +SKIP
            4
        """
        path = Path(root) / MANIFEST_NAME
        if not path.is_file():
            raise NotFoundError(f"{path} not found: {root} is not a wmhub dataset directory "
                                "(create one with `wmhub generate`)")
        return cls.from_bytes(path.read_bytes(), source=str(path))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = MANIFEST_NAME) -> Manifest:
        """Parse and validate the bytes of a ``manifest.json``, wherever they were read from.

        The one manifest reader: local directories, local hubs, Hub repos and fsspec URLs all hand
        their bytes to it.

        Args:
            data: the file's bytes.
            source: where they came from, for messages (``hf://datasets/org/name/manifest.json``).

        Returns:
            The manifest.

        Raises:
            UnsupportedFormatError: not JSON, not a wmhub manifest, or a format version this wmhub
                does not read.
            ConfigError: a field does not validate.

        Example:
            >>> Manifest.from_bytes(Path("data/reacher-tiny/manifest.json").read_bytes())  # doctest: +SKIP
        """
        try:
            raw = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UnsupportedFormatError(f"{source} is not valid JSON ({exc}); restore it or regenerate the "
                                         "dataset") from exc
        return cls.from_json_obj(raw, source=source)

    @classmethod
    def from_json_obj(cls, raw: Any, source: str = MANIFEST_NAME) -> Manifest:
        """Validate a parsed manifest, checking the format version first."""
        if not isinstance(raw, dict) or "format_version" not in raw:
            raise UnsupportedFormatError(f"{source} has no format_version: not a wmhub manifest")
        version = raw["format_version"]
        if version not in SUPPORTED_FORMAT_VERSIONS:
            raise UnsupportedFormatError(
                f"{source} has format_version {version!r}, but this wmhub reads only "
                f"{', '.join(map(str, SUPPORTED_FORMAT_VERSIONS))}; upgrade wmhub (pip install -U wmhub)")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{source} is invalid at {where}: {first['msg']}") from exc

    def to_json_obj(self) -> dict[str, Any]:
        """The manifest as plain JSON data (field order fixed, so bytes are stable)."""
        return self.model_dump(mode="json", exclude_none=True)

    def write(self, root: str | Path) -> None:
        """Atomically replace ``root/manifest.json``."""
        atomic_write_json(Path(root) / MANIFEST_NAME, self.to_json_obj())

    # ------------------------------------------------------------ queries
    def same_dataset_as(self, other: Manifest) -> bool:
        """True when both describe the same data (same format version, env and content config; the
        episode count and shard size may differ, as when a dataset grows)."""
        layout = ("episodes", "episodes_per_shard")

        def content(m: Manifest) -> dict[str, Any]:
            return {k: v for k, v in m.generator.config.items() if k not in layout}

        return (self.format_version == other.format_version and self.generator.env == other.generator.env
                and content(self) == content(other))

    def config(self, name: str) -> ConfigInfo:
        """The config called ``name`` (error lists the available ones)."""
        for cfg in self.configs:
            if cfg.name == name:
                return cfg
        names = ", ".join(c.name for c in self.configs)
        raise NotFoundError(f"config {name!r} not in this dataset; available: {names}")

    def shards_of(self, config: str) -> list[ShardInfo]:
        """Shards of one config, ordered by episode range."""
        self.config(config)
        return sorted((s for s in self.shards if s.config == config), key=lambda s: s.episode_start)

    def stats(self, config: str) -> dict[str, FeatureStats]:
        """Dataset-wide statistics of a config, merged exactly from its shards."""
        shards = self.shards_of(config)
        names = shards[0].stats.keys() if shards else []
        return {name: FeatureStats.merge(s.stats[name] for s in shards) for name in names}

    def version_ranges(self) -> list[VersionRange]:
        """Which versions generated which episodes (``provenance``, or ``versions`` for all episodes)."""
        if self.provenance is not None:
            return list(self.provenance)
        return [VersionRange(episode_start=0, episode_end=self.num_episodes, versions=self.versions)]

    def num_rows(self, config: str) -> int:
        """Total rows of a config."""
        return sum(s.num_rows for s in self.shards_of(config))


def extend_provenance(existing: Manifest | None, episode_start: int, episode_end: int,
                      versions: dict[str, str]) -> list[VersionRange]:
    """The ``provenance`` of a dataset whose episodes [episode_start, episode_end) were just generated
    with ``versions``: the existing ranges before ``episode_start``, then the new one, merged into
    the last range when its versions are the same (so growing with the same software records what
    generating everything at once would, and the manifests are byte-identical)."""
    ranges = [r for r in existing.version_ranges() if r.episode_start < episode_start] if existing else []
    if ranges and ranges[-1].episode_end > episode_start:
        ranges[-1] = ranges[-1].model_copy(update={"episode_end": episode_start})
    if ranges and ranges[-1].versions == versions and ranges[-1].episode_end == episode_start:
        ranges[-1] = ranges[-1].model_copy(update={"episode_end": episode_end})
    else:
        ranges.append(VersionRange(episode_start=episode_start, episode_end=episode_end, versions=versions))
    return ranges
