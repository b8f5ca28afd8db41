"""Read LeRobot exports with LeRobot itself (0.4.4), from the tests.

LeRobot cannot share wmhub's environment (it pins torch<2.11, huggingface-hub<0.36 and datasets<5),
so it lives in ``.venv-lerobot`` (``make install-lerobot``; ``make test`` builds it) and the tests
run ``lerobot_load.py`` there: ``LeRobotDataset(repo_id, root=..., episodes=..., delta_timestamps=...)``
and ``get_repo_versions``, answered as JSON (see that script, also for torchvision).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import pytest

ROOT = Path(__file__).resolve().parents[2]
LEROBOT_PYTHON = ROOT / ".venv-lerobot" / "bin" / "python"
SCRIPT = Path(__file__).with_name("lerobot_load.py")


@dataclass
class Loaded:
    """What ``LeRobotDataset`` loaded (see lerobot_load.py): metadata, sizes and ``ds[i]`` items."""

    info: dict
    tasks: dict[str, int]
    stats: dict
    episodes: list[dict]
    length: int
    num_episodes: int
    num_frames: int
    fps: int
    items: dict[int, dict]
    root: Path
    rows: datasets.Dataset | None = None


@dataclass
class Refused:
    """LeRobot raised: the exception's class name and message."""

    error: str
    message: str


@dataclass
class Request:
    """One ``LeRobotDataset(repo_id, root=root, episodes=..., delta_timestamps=...)``; ``root`` None: the Hub."""

    repo_id: str
    root: Path | None = None
    episodes: list[int] | None = None
    delta_timestamps: dict[str, list[float]] | None = None
    items: list[int] = field(default_factory=list)
    rows: bool = False


def lerobot_python() -> Path:
    """The LeRobot environment's Python; fails the test (not skips it) when it is not built."""
    if not LEROBOT_PYTHON.exists():
        pytest.fail(f"{LEROBOT_PYTHON.relative_to(ROOT)} is missing: run make install-lerobot (make test builds it)",
                    pytrace=False)
    return LEROBOT_PYTHON


def _run(requests: list[dict], work: Path) -> list[dict]:
    (work / "requests.json").write_text(json.dumps(requests))
    # -I: the script's folder (tests/support, which has a datasets.py) stays off sys.path
    proc = subprocess.run([str(lerobot_python()), "-I", str(SCRIPT), str(work / "requests.json"),
                           str(work / "results.json")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((work / "results.json").read_text())
    assert all(r["lerobot"] == "0.4.4" for r in results), results
    return results


@dataclass
class Versions:
    """``lerobot.datasets.utils.get_repo_versions(repo_id)``: the refs of a Hub repo LeRobot reads as versions."""

    repo_id: str


def load(requests: list[Request | Versions]) -> list[Loaded | Refused | list[str]]:
    """Answer ``requests`` with LeRobot, in one process (its start takes seconds); a ``Versions``
    request is answered by the version strings (``"3.0"`` for a ``v3.0`` tag)."""
    with tempfile.TemporaryDirectory(prefix="wmhub-lerobot-") as tmp:
        return _load(requests, Path(tmp))


def _load(requests: list[Request | Versions], work: Path) -> list[Loaded | Refused | list[str]]:
    plain = [{"call": "repo_versions", "repo_id": r.repo_id} if isinstance(r, Versions) else
             {"call": "dataset", "repo_id": r.repo_id, "root": str(r.root) if r.root else None,
              "episodes": r.episodes, "delta_timestamps": r.delta_timestamps, "items": r.items,
              "rows": str(work / f"rows-{n}.parquet") if r.rows else None} for n, r in enumerate(requests)]
    answers: list[Loaded | Refused | list[str]] = []
    for request, result in zip(plain, _run(plain, work), strict=True):
        if "versions" in result:
            answers.append(result["versions"])
        elif "error" in result:
            answers.append(Refused(result["error"], result["message"]))
        else:
            rows = datasets.Dataset.from_parquet(request["rows"]) if request["rows"] else None
            answers.append(Loaded(info=result["info"], tasks=result["tasks"], stats=result["stats"],
                                  episodes=result["episodes"], length=result["len"],
                                  num_episodes=result["num_episodes"], num_frames=result["num_frames"],
                                  fps=result["fps"], items={int(k): v for k, v in result["items"].items()},
                                  root=Path(result["root"]), rows=rows))
    return answers


def load_rows(root: Path, episodes: list[int] | None = None) -> datasets.Dataset:
    """The frames ``LeRobotDataset(..., root=root, episodes=episodes)`` selects (its ``hf_dataset``)."""
    (loaded,) = load([Request("wmhub/export", root=root, episodes=episodes, rows=True)])
    assert isinstance(loaded, Loaded), loaded
    return loaded.rows
