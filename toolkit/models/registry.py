"""Model classes by kind (from :mod:`wmhub.models.kinds`), and loading any wmhub checkpoint without knowing
its class.

``config.json`` carries ``model_class`` (written by :meth:`LatentModel._save_pretrained`),
so :func:`load_model` picks the class from the checkpoint itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from wmhub.errors import ConfigError, NotFoundError, TransferError, UnsupportedFormatError, UnsupportedLocationError
from wmhub.models.base import LatentModel
from wmhub.models.kinds import kinds
from wmhub.storage.location import HubRepo

MODEL_KINDS: dict[str, type[LatentModel]] = {name: k.load_class() for name, k in kinds().items()}
_BY_CLASS = {cls.__name__: cls for cls in MODEL_KINDS.values()}
M = TypeVar("M", bound=LatentModel)


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
        NotFoundError: no ``model.safetensors`` (pickle weights such as ``pytorch_model.bin`` are never loaded).
        UnsupportedFormatError: ``config.json`` is not JSON or names a class this wmhub does not know, or
            ``model.safetensors`` is unreadable or does not fit the class.
        TransferError: the Hub cannot be reached.

    Example:
        >>> import wmhub
        >>> model = wmhub.load_model("hf://my-lab/reacher-dynamics@v1.0")  # doctest: +SKIP
    """
    from wmhub.storage.location import FsspecURL, parse_location

    text = str(source)
    location = parse_location(text, repo_type="model", bare_repo_ids=True)
    if isinstance(location, FsspecURL):
        raise UnsupportedLocationError(f"{text}: load_model reads a checkpoint directory or a Hub model repo; "
                                       "copy it to a local directory first")
    directory = _snapshot(location, text) if isinstance(location, HubRepo) else location.path
    if not directory.is_dir():
        raise NotFoundError(f"{text}: no such checkpoint directory (or use hf://<org>/<name> for a Hub repo)")
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise NotFoundError(f"{text} has no config.json; is it a wmhub checkpoint directory (run/model)?")
    if not (directory / "model.safetensors").is_file():
        pickled = [n for n in ("pytorch_model.bin", "model.pt", "model.pth") if (directory / n).is_file()]
        found = f" (it has {', '.join(pickled)}: pickle weights, which wmhub never loads)" if pickled else ""
        raise NotFoundError(f"{text} has no model.safetensors{found}; push the checkpoint with `wmhub push`")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise UnsupportedFormatError(f"{text}: config.json is not JSON ({type(exc).__name__}); download or "
                                     "train the checkpoint again") from None
    if not isinstance(config, dict):
        raise UnsupportedFormatError(f"{text}: config.json is not a JSON object; download or train it again")
    cls = _BY_CLASS.get(str(config.get("model_class", "")))
    if cls is None:
        raise UnsupportedFormatError(f"{text}: config.json names model_class {config.get('model_class')!r}; "
                                     f"this wmhub knows {sorted(_BY_CLASS)}")
    try:
        return cls.from_pretrained(str(directory), map_location=map_location)
    except (TypeError, ValueError, KeyError) as exc:  # config.json values the class cannot take
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise UnsupportedFormatError(f"{text}: config.json does not describe a {cls.__name__} "
                                     f"({type(exc).__name__}: {detail})") from None


def load_named_model(source: str, expected: type[M], key: str, make_it: str) -> M:
    """The model a recipe or suite option names: a run directory, its ``model/`` directory or ``hf://<org>/<name>``.

    Args:
        source: the option's value.
        expected: the class the model must be (e.g. ``RewardModel``).
        key: the option, for messages (``imagination.dynamics``, ``eval.reacher-easy-return.value_model``).
        make_it: how to make a missing one (the end of the error message).

    Returns:
        The model.

    Raises:
        NotFoundError: ``source`` is neither a run, a model directory nor a Hub repo.
        ConfigError: it holds another kind of model.

    Example:
        >>> reward = load_named_model("runs/reacher_reward_1m_state", RewardModel, "reward_model",
        ...                           "train it first")  # doctest: +SKIP
    """
    path = Path(source)
    remote = source.startswith("hf://")
    if not remote and (path / "model" / "config.json").is_file():
        path = path / "model"
    elif not remote and not (path / "config.json").is_file():
        raise NotFoundError(f"{key}: {source} is neither a training run nor a model directory; {make_it}")
    model = load_model(source if remote else path)
    if not isinstance(model, expected):
        article = "an" if expected.__name__[0] in "AEIOU" else "a"
        raise ConfigError(f"{key}: {source} holds a {type(model).__name__}, not {article} {expected.__name__}; "
                          "name the right run")
    return model


def _snapshot(location: HubRepo, text: str) -> Path:
    """The Hub repo's files in the Hugging Face cache; an unreachable Hub is a TransferError, not a traceback."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    from wmhub.storage.stores import HfHubStore

    try:
        return HfHubStore(location).snapshot(location.revision)
    except LocalEntryNotFoundError as exc:
        raise TransferError(f"{text}: the Hub cannot be reached and the repo is not cached "
                            f"({str(exc).splitlines()[0]}); check your network connection and HF_ENDPOINT") from None
