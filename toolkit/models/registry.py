"""Model classes by kind (from :mod:`wmhub.models.kinds`), and loading any wmhub checkpoint without knowing
its class.

``config.json`` carries ``model_class`` (written by :meth:`LatentModel._save_pretrained`),
so :func:`load_model` picks the class from the checkpoint itself.
"""

from __future__ import annotations

import json
from pathlib import Path

from wmhub.errors import NotFoundError, UnsupportedFormatError, UnsupportedLocationError
from wmhub.models.base import LatentModel
from wmhub.models.kinds import kinds

MODEL_KINDS: dict[str, type[LatentModel]] = {name: k.load_class() for name, k in kinds().items()}
_BY_CLASS = {cls.__name__: cls for cls in MODEL_KINDS.values()}


def load_model(source: str | Path, *, map_location: str = "cpu") -> LatentModel:
    """Load a checkpoint from a directory, ``hf://<org>/<name>[@rev]`` or ``<org>/<name>``.

    The class is read from ``config.json``'s ``model_class``. A Hub model repo is downloaded
    whole (a snapshot in the Hugging Face cache, ``$HF_HOME/hub``), then loaded from there.

    Args:
        source: a checkpoint directory (``runs/<name>/model``), a model repo
            ``hf://<org>/<name>[@revision]``, or a bare ``<org>/<name>`` that is not a local path.
        map_location: device for the weights.

    Returns:
        The model, of the class its ``config.json`` names.

    Raises:
        NotFoundError: no such directory, repo or revision, or no ``config.json``.
        UnsupportedLocationError: a dataset repo or an fsspec URL.
        UnsupportedFormatError: ``config.json`` names a class this wmhub does not know.

    Example:
        >>> import wmhub
        >>> model = wmhub.load_model("hf://my-lab/reacher-dynamics@v1.0")  # doctest: +SKIP
    """
    from wmhub.storage.location import FsspecURL, HubRepo, parse_location
    from wmhub.storage.stores import HfHubStore

    text = str(source)
    location = parse_location(text, repo_type="model", bare_repo_ids=True)
    if isinstance(location, FsspecURL):
        raise UnsupportedLocationError(f"{text}: load_model reads a checkpoint directory or a Hub model repo; "
                                       "copy it to a local directory first")
    directory = HfHubStore(location).snapshot(location.revision) if isinstance(location, HubRepo) else location.path
    if not directory.is_dir():
        raise NotFoundError(f"{text}: no such checkpoint directory (or use hf://<org>/<name> for a Hub repo)")
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise NotFoundError(f"{text} has no config.json; is it a wmhub checkpoint directory (run/model)?")
    config = json.loads(config_file.read_text())
    cls = _BY_CLASS.get(config.get("model_class", ""))
    if cls is None:
        raise UnsupportedFormatError(f"{text}: config.json names model_class {config.get('model_class')!r}; "
                                     f"this wmhub knows {sorted(_BY_CLASS)}")
    return cls.from_pretrained(str(directory), map_location=map_location)
