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

from wmhub.generation import generate  # noqa: E402

SMALL = dict(episodes=12, episodes_per_shard=4)
SMALL_OPTIONS = {"episode_length": 30, "policy": "p-controller", "epsilon": 0.3, "seed": 7}


def make_small(out: Path, workers: int = 1, **overrides) -> Path:
    """Generate the small reference dataset into ``out``."""
    params = {**SMALL, **{k: v for k, v in overrides.items() if k in SMALL}}
    options = {**SMALL_OPTIONS, **{k: v for k, v in overrides.items() if k not in SMALL}}
    generate("reacher", out, params["episodes"], options=options,
             episodes_per_shard=params["episodes_per_shard"], workers=workers, show_progress=False)
    return out


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


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), lock file excluded."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".wmhub.lock"}


def kill_then_resume(cli: list[str], resume_cli: list[str], out: Path, kill_after_shards: int) -> None:
    """Start ``cli`` (a generate command into ``out``), SIGKILL it once ``kill_after_shards`` shard files
    exist, check that a plain re-run refuses and names ``--resume``, then run ``resume_cli``.
    Skips the test when the job finished before it could be killed."""
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(cli, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        shards = list((out / "data").rglob("*.parquet")) if (out / "data").exists() else []
        if len(shards) >= kill_after_shards and (out / ".wmhub-job.json").exists():
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if (out / "manifest.json").exists() and not (out / ".wmhub-job.json").exists():
        pytest.skip("the job finished before it could be killed")
    with pytest.raises(subprocess.CalledProcessError) as info:
        subprocess.run(cli, check=True, capture_output=True, text=True)
    assert "--resume" in info.value.stderr
    subprocess.run(resume_cli, check=True, capture_output=True)
