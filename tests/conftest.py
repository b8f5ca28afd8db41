"""Shared fixtures: small datasets generated once per test session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
# the suite never writes into the user's caches: a private HF_HOME (and so wmhub cache root,
# $HF_HOME/wmhub) per test session; tests that need their own set it themselves
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="wmhub-test-hf-home-"))
_MENAGERIE = Path(__file__).resolve().parents[1].parent / "shared" / "menagerie"
if "MENAGERIE_ROOT" not in os.environ and _MENAGERIE.is_dir():  # offline Spot model (see its README)
    os.environ["MENAGERIE_ROOT"] = str(_MENAGERIE)

from support.datasets import make_small  # noqa: E402


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small transformers on a busy 2-core machine run ~10× faster on one thread (no spin-waiting)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


