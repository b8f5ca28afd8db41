"""Open LeRobot datasets with LeRobot itself (0.4.4) and write what it returns as JSON.

This script runs under the LeRobot environment's Python (``.venv-lerobot``, built from
``requirements-lerobot.lock`` by ``make install-lerobot``), never inside the test process: LeRobot
0.4.4 pins torch<2.11, huggingface-hub<0.36 and datasets<5, which wmhub's environment does not
satisfy. ``tests/support/lerobot_read.py`` starts it::

    .venv-lerobot/bin/python tests/support/lerobot_load.py REQUESTS.json RESULTS.json

``REQUESTS.json`` is a list of requests; each is answered by one result, in order:

* ``{"call": "dataset", "repo_id", "root", "episodes", "delta_timestamps", "items", "rows"}``:
  ``LeRobotDataset(repo_id, root=root, episodes=episodes, delta_timestamps=delta_timestamps)``
  (``root`` null: from the Hub at ``HF_ENDPOINT``, as LeRobot downloads it). The result holds the
  metadata LeRobot loaded (``info``, ``tasks``, ``stats``, the episodes table without its
  ``stats/...`` columns), ``len(ds)``, ``num_episodes``, ``num_frames``, ``fps``, ``ds[i]`` for
  each index in ``items`` (tensors as nested lists), and with ``rows`` a path, the frames
  LeRobot selected (``ds.hf_dataset``) written there as parquet.
* ``{"call": "repo_versions", "repo_id"}``: ``lerobot.datasets.utils.get_repo_versions``.

A request LeRobot refuses gives ``{"error": <exception class>, "message": ...}``.

torchvision: ``lerobot.datasets`` imports it at module level, and for CPU-only torch builds
no torchvision wheel loads (the PyPI wheels are CUDA builds whose ``_C`` extension needs
torch's CUDA libraries; their import then fails registering ``torchvision::nms``). Only if
``import torchvision`` fails, this script puts a stand-in in its place before LeRobot is
imported: a ``torchvision`` module with a ``transforms`` submodule and nothing else, the names
``lerobot.datasets`` touches while importing. Using anything from it raises. LeRobot uses
torchvision only for image transforms, ``ToTensor`` of image features stored in parquet, and
the ``pyav`` video decoder, none of which the exports read here touch; every other line run is
LeRobot's own. Video decoding is therefore not exercised (wmhub's exports check their MP4 frame
timestamps with ffmpeg instead). ``datasets`` is imported first, so it still records that
torchvision is not installed.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import datasets  # noqa: F401  (before the stand-in: datasets.config must see no torchvision)


class TorchvisionUnavailable(RuntimeError):
    """Raised by every use of the torchvision stand-in."""


def _stand_in(name: str) -> types.ModuleType:
    module = types.ModuleType(name, "Stand-in for torchvision, which has no wheel for this torch build.")

    def __getattr__(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise TorchvisionUnavailable(f"{name}.{attr}: torchvision has no wheel for this CPU torch build; "
                                     "the LeRobot interop tests do not exercise image transforms or video decoding")

    module.__getattr__ = __getattr__
    return module


def _torchvision_or_stand_in() -> str:
    """Import torchvision; only if that fails, install the stand-in. Returns which one is used."""
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError, OSError):
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]  # a half-imported real package
        package, transforms = _stand_in("torchvision"), _stand_in("torchvision.transforms")
        package.transforms = transforms
        sys.modules["torchvision"], sys.modules["torchvision.transforms"] = package, transforms
        return "stand-in"
    return "torchvision"


def _plain(value):
    """Tensors, arrays and numpy scalars as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _dataset(request: dict) -> dict:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = request.get("root")
    ds = LeRobotDataset(request["repo_id"], root=Path(root) if root else None, episodes=request.get("episodes"),
                        delta_timestamps=request.get("delta_timestamps"))
    episodes = ds.meta.episodes
    result = {
        "root": str(ds.root),
        "info": ds.meta.info,
        "tasks": {str(task): int(row.task_index) for task, row in ds.meta.tasks.iterrows()},
        "stats": _plain(ds.meta.stats),
        "episodes": [_plain({k: v for k, v in episodes[i].items() if not k.startswith("stats/")})
                     for i in range(len(episodes))],
        "len": len(ds),
        "num_episodes": ds.num_episodes,
        "num_frames": ds.num_frames,
        "fps": ds.fps,
        "items": {str(i): _plain(ds[i]) for i in request.get("items", [])},
    }
    if request.get("rows"):
        ds.hf_dataset.to_parquet(request["rows"])
    return result


def _repo_versions(request: dict) -> dict:
    from lerobot.datasets.utils import get_repo_versions

    return {"versions": [str(v) for v in get_repo_versions(request["repo_id"])]}


def main(requests_path: str, results_path: str) -> None:
    """Answer every request of ``requests_path`` into ``results_path``."""
    torchvision = _torchvision_or_stand_in()
    import lerobot

    calls = {"dataset": _dataset, "repo_versions": _repo_versions}
    results = []
    for request in json.loads(Path(requests_path).read_text()):
        try:
            result = calls[request["call"]](request)
        except Exception as exc:  # the tests assert which refusal LeRobot gave
            result = {"error": type(exc).__name__, "message": str(exc)}
        results.append({**result, "lerobot": lerobot.__version__, "torchvision": torchvision})
    Path(results_path).write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:])
