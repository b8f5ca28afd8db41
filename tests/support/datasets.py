"""The small reference datasets of the tests, and helpers that compare and interrupt them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wmhub.generation import generate

SMALL = dict(episodes=12, episodes_per_shard=4)
SMALL_OPTIONS = {"episode_length": 30, "policy": "p-controller", "epsilon": 0.3, "seed": 7}


def make_small(out: Path, workers: int = 1, **overrides) -> Path:
    """Generate the small reference dataset into ``out``."""
    params = {**SMALL, **{k: v for k, v in overrides.items() if k in SMALL}}
    options = {**SMALL_OPTIONS, **{k: v for k, v in overrides.items() if k not in SMALL}}
    generate("reacher", out, params["episodes"], options=options,
             episodes_per_shard=params["episodes_per_shard"], workers=workers, show_progress=False)
    return out


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes); the lock file and a download's record of where
    the copy came from (``.wmhub-origin.json``, not part of the dataset) excluded."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in (".wmhub.lock", ".wmhub-origin.json")}


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
