"""Confining a pulled recipe's data to the run directory (``wmhub reproduce`` and ``wmhub eval`` of a pushed run).

A pushed ``recipe.yaml`` is untrusted input: its ``dataset.source`` could name any directory on this
machine, and its data steps (generation, encoding) write into that directory. So the data of a
pulled recipe only ever lives inside the run directory, or is read from a remote location:

* a Hub dataset (``hf://datasets/<org>/<name>[@rev]``) or another remote fsspec URL is kept: it is
  downloaded (verified) into the data cache, as for any recipe. Its revision must look like a git
  ref (no ``..``, no leading ``/``), since it names a folder of that cache;
* a local ``dataset.source`` (absolute, relative, with or without ``..``) is **re-rooted** to
  ``RUN/data/<its last path component>``: the recipe's deterministic data steps then recreate the
  data there, and a recipe without such steps fails with one line (nothing is written). A
  ``file://`` URL is a local path and is re-rooted too.

To train on data of one's own instead, pass ``--set dataset.source=PATH``: a source the user names
is trusted and used as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

from wmhub.errors import ConfigError
from wmhub.storage.location import FsspecURL, HubRepo, parse_location
from wmhub.training.recipe import DatasetSpec

DATA_DIR = "data"  # RUN/data/<name>: where a pulled recipe's local dataset is recreated
_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def check_revision(revision: str | None, where: str) -> None:
    """Refuse a Hub revision that could name a folder outside the data cache.

    Args:
        revision: a branch, tag or commit (None: the default branch).
        where: the file the revision came from, for the message.

    Raises:
        ConfigError: the revision is not a git-ref-like name (``..``, a leading ``/``, odd characters).

    Example:
        >>> check_revision("v1.0", "recipe.yaml")
    """
    if revision is None:
        return
    parts = revision.split("/")
    if not _REF_RE.match(revision) or any(p in ("", ".", "..") for p in parts) or revision.endswith(".lock"):
        raise ConfigError(f"{where}: dataset.revision {revision!r} is not a branch, tag or commit name; "
                          "fix the pushed recipe or pass --set dataset.revision=REV")


def confined_dataset(spec: DatasetSpec, run_dir: str | Path, where: str) -> DatasetSpec:
    """The dataset section of a pulled recipe with its data kept inside ``run_dir`` (see the module docstring).

    Args:
        spec: the pulled recipe's ``dataset`` section.
        run_dir: the run directory that ``reproduce`` trains into (or that ``eval`` evaluates in).
        where: the recipe's name, for messages.

    Returns:
        ``spec`` itself for a remote source; otherwise a copy whose ``source`` is ``RUN/data/<name>``.

    Raises:
        ConfigError: a Hub revision that is not a ref-like name, or an fsspec URL with ``.``/``..`` in its path.
        UnsupportedLocationError: a malformed ``hf://`` source.

    Example:
        >>> spec = DatasetSpec(source="/elsewhere/tiny-reacher")
        >>> confined_dataset(spec, "runs/again", "recipe.yaml").source
        'runs/again/data/tiny-reacher'
    """
    source = str(spec.source)
    if source.startswith("hf://"):
        location = parse_location(source, spec.revision, repo_type="dataset")
        if isinstance(location, HubRepo):
            check_revision(location.revision, where)
            return spec
    elif "://" in source:
        try:
            location = parse_location(source, repo_type="dataset")
        except Exception:  # noqa: BLE001 - an unusable URL is re-rooted like any local name
            location = None
        if isinstance(location, FsspecURL):
            parts = location.url.split("://", 1)[1].split("/")
            if any(part in (".", "..") for part in parts):
                raise ConfigError(f"{where}: dataset.source {source!r} has '.' or '..' in its path; a pulled "
                                  "recipe must name its data plainly")
            return spec
    name = Path(source.split("://", 1)[-1].split("@", 1)[0].rstrip("/")).name
    if name in ("", ".", "..") or name.startswith("."):
        name = "dataset"
    return spec.model_copy(update={"source": str(Path(run_dir) / DATA_DIR / name), "revision": None})
