"""Shared fixtures: small datasets generated once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
_MENAGERIE = Path(__file__).resolve().parents[1].parent / "shared" / "menagerie"
if "MENAGERIE_ROOT" not in os.environ and _MENAGERIE.is_dir():  # offline Spot model (see its README)
    os.environ["MENAGERIE_ROOT"] = str(_MENAGERIE)

from toolkit.generate import generate  # noqa: E402

SMALL = dict(episodes=12, episodes_per_shard=4)
SMALL_OPTIONS = {"episode_length": 30, "policy": "p-controller", "epsilon": 0.3, "seed": 7}


def make_small(out: Path, workers: int = 1, **overrides) -> Path:
    """Generate the small reference dataset into ``out``."""
    params = {**SMALL, **{k: v for k, v in overrides.items() if k in SMALL}}
    options = {**SMALL_OPTIONS, **{k: v for k, v in overrides.items() if k not in SMALL}}
    generate("reacher", out, params["episodes"], options=options,
             episodes_per_shard=params["episodes_per_shard"], workers=workers, show_progress=False)
    return out


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    """A read-only small dataset (12 episodes × 30 steps, 3 shards per config)."""
    return make_small(tmp_path_factory.mktemp("small") / "reacher")


@pytest.fixture
def small_copy(small_dataset, tmp_path) -> Path:
    """A private copy of the small dataset that a test may damage."""
    dest = tmp_path / "copy"
    shutil.copytree(small_dataset, dest)
    return dest


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), lock file excluded."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".wmhub.lock"}
