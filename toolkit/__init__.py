"""wmhub: datasets and checkpoints for world-model research in robot learning.

The public API is flat and lazily imported, in the spirit of ``huggingface_hub``: ``import wmhub``
loads neither torch, nor mujoco, nor transformers; each verb imports what it needs on first use.

Example:
    >>> import wmhub
    >>> wmhub.generate("reacher", "data/reacher-tiny", episodes=4, options={"episode_length": 20})  # doctest: +SKIP
    >>> ds = wmhub.open_dataset("data/reacher-tiny")                                                 # doctest: +SKIP
    >>> wmhub.verify("data/reacher-tiny").ok                                                          # doctest: +SKIP

The reference of every verb is ``docs/api.md``; the source folder of this package is ``toolkit/``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

try:
    __version__ = _version("wmhub")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

# public name -> "module:attribute"; resolved on first access by __getattr__ and cached in globals()
_LAZY: dict[str, str] = {
    # data
    "generate": "wmhub.generation.job:generate",
    "encode": "wmhub.encoding.job:encode_dataset",
    "open_dataset": "wmhub.hub.verbs:open_dataset",
    "verify": "wmhub.hub.verbs:verify",
    "info": "wmhub.hub.verbs:info",
    "publish": "wmhub.hub.verbs:publish",
    "download": "wmhub.hub.verbs:download",
    # other tools: Gymnasium, LeRobot, Minari
    "recover_environment": "wmhub.hub.environment:recover_environment",
    "export": "wmhub.interop.export:export",
    # look
    "view": "wmhub.render.episode_video:view",
    "report": "wmhub.reporting.build:report",
    # checkpoints
    "load_recipe": "wmhub.training.recipe:load_recipe",
    "train": "wmhub.training.trainer:train",
    "evaluate": "wmhub.runs.evaluate:evaluate",
    "push": "wmhub.runs.push:push",
    "reproduce": "wmhub.runs.reproduce:reproduce",
    "load_model": "wmhub.models.registry:load_model",
    "Run": "wmhub.runs.run:Run",
    # errors
    "WmhubError": "wmhub.errors:WmhubError",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover - static analysers see the real objects
    from wmhub.encoding.job import encode_dataset as encode
    from wmhub.errors import WmhubError
    from wmhub.generation.job import generate
    from wmhub.hub.environment import recover_environment
    from wmhub.hub.verbs import download, info, open_dataset, publish, verify
    from wmhub.interop.export import export
    from wmhub.models.registry import load_model
    from wmhub.render.episode_video import view
    from wmhub.reporting.build import report
    from wmhub.runs.evaluate import evaluate
    from wmhub.runs.push import push
    from wmhub.runs.reproduce import reproduce
    from wmhub.runs.run import Run
    from wmhub.training.recipe import load_recipe
    from wmhub.training.trainer import train


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'wmhub' has no attribute {name!r}")
    module_name, _, attribute = target.partition(":")
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
