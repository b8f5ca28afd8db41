"""``summary.json``: what a training run measured, as a versioned pydantic model.

:class:`RunSummary` is written by :func:`wmhub.training.train` and read by every reader of a run
(the CLI, the model card, the quickstart, ``wmhub reproduce``). The JSON keeps the keys it has always
had, plus ``schema_version``; a file written before the field existed (no ``schema_version``) is
version 0 and reads as the current version, since its shape is the same. Keys this version does not
know are kept (``extra="allow"``), so a file round-trips unchanged.

Example:
    >>> from wmhub.training.summary import RunSummary
    >>> summary = RunSummary.read("runs/tiny_reacher_dynamics_state/summary.json")  # doctest: +SKIP
    >>> summary.val_loss < summary.val_baseline_loss                                 # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from wmhub.errors import NotFoundError, UnsupportedFormatError
from wmhub.fileio import atomic_write_json

SCHEMA_VERSION = 1
SUMMARY_NAME = "summary.json"

_Record = TypeVar("_Record", bound="VersionedRecord")


class VersionedRecord(BaseModel):
    """A JSON record with a ``schema_version``; files without one are version 0 (the same shape as 1).

    Subclasses set :attr:`SCHEMA_VERSION`; a file from a newer wmhub is refused with one clear line.
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=())
    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION
    schema_version: int = SCHEMA_VERSION

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        if isinstance(data, dict):
            version = data.get("schema_version", 0)  # version 0: written before the field existed
            if isinstance(version, int) and version > cls.SCHEMA_VERSION:
                raise ValueError(f"schema_version {version} is newer than this wmhub reads ({cls.SCHEMA_VERSION}); "
                                 "upgrade wmhub (pip install -U wmhub)")
            data = {**data, "schema_version": cls.SCHEMA_VERSION}
        return data

    @classmethod
    def from_json(cls: type[_Record], text: str, source: str = "the record") -> _Record:
        """Validate JSON text.

        Args:
            text: the file's text.
            source: where it was read from, for error messages.

        Returns:
            The record, migrated to the current schema version.

        Raises:
            UnsupportedFormatError: the text is not JSON, or not a record of this kind (or is newer).

        Example:
            >>> RunSummary.from_json(Path("runs/x/summary.json").read_text())  # doctest: +SKIP
        """
        try:
            return cls.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise UnsupportedFormatError(f"{source}: not valid JSON ({exc}); re-create the file") from exc
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise UnsupportedFormatError(f"{source}: not a {cls.__name__} ({where + ': ' if where else ''}"
                                         f"{error['msg'].removeprefix('Value error, ')}); re-create it with "
                                         "this wmhub") from None

    @classmethod
    def read(cls: type[_Record], path: str | os.PathLike[str]) -> _Record:
        """Read a record file.

        Args:
            path: the JSON file.

        Returns:
            The record, migrated to the current schema version.

        Raises:
            NotFoundError: there is no such file.
            UnsupportedFormatError: the file is not a record of this kind.

        Example:
            >>> RunSummary.read("runs/tiny_reacher_dynamics_state/summary.json").steps  # doctest: +SKIP
            400
        """
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"{path}: no such file; is the run finished (`wmhub train`)?")
        return cls.from_json(path.read_text(encoding="utf-8"), str(path))

    def to_json_dict(self) -> dict[str, Any]:
        """The record as the JSON object written to disk (same keys as before, plus ``schema_version``).

        Values are kept as measured: a NaN stays a NaN, which :meth:`write` refuses (JSON has none), as
        the files always have.
        """
        return self.model_dump(mode="python")

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the record atomically (2-space indented JSON).

        Args:
            path: the JSON file.
        """
        atomic_write_json(path, self.to_json_dict())


class DatasetRecord(BaseModel):
    """The dataset a run was trained on: where it came from, which revision and config, how it was split.

    Runs trained on format 2 data or later also record the data's ``format_version`` (an extra key, so
    summaries written before it round-trip unchanged; ``wmhub reproduce`` reads 1 when it is absent).
    """

    model_config = ConfigDict(extra="allow")
    source: str
    revision: str | None = None
    obtained: str | None = None
    path: str
    config: str
    manifest_sha256: str | None = None
    generator: Any = None
    train_episodes: int
    val_episodes: int
    train_samples: int


_JEPA_ONLY = ("val_prediction_loss", "val_sigreg", "sigreg_weight")


class RunSummary(VersionedRecord):
    """``summary.json`` of a finished training run (every value measured by the trainer)."""

    recipe: str
    model_class: str
    num_parameters: int
    latent: dict[str, Any]
    latent_dim: int
    action_dim: int
    dataset: DatasetRecord
    objective: str
    loss: str
    horizon: int
    frame_skip: int = 1
    steps: int
    planned_steps: int
    steps_per_epoch: int
    epochs: float
    stopped_early: bool
    best_step: int | None
    val_loss: float
    val_baseline_loss: float
    val_samples: int
    val_prediction_loss: float | None = None  # jepa only (absent from the file otherwise)
    val_sigreg: float | None = None  # jepa only
    sigreg_weight: float | None = None  # jepa only
    baseline: str
    data_path: str
    device: str
    device_name: str
    torch_threads: int
    train_time_s: float
    samples_per_s: float
    data_wait_share: float
    wall_time_s: float
    versions: dict[str, str]

    @model_serializer(mode="wrap")
    def _drop_absent_jepa_terms(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for key in _JEPA_ONLY:
            if data.get(key) is None:
                data.pop(key, None)
        return data
