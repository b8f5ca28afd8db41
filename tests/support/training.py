"""Training runs the tests interrupt: a run to the end beside the same run SIGKILLed after its first
checkpoint and resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def train_cli(args: list[str], cwd: Path, **env: str) -> subprocess.Popen:
    """``wmhub train ARGS --quiet`` in a subprocess (unbuffered; ``env`` added to the environment)."""
    return subprocess.Popen([sys.executable, "-m", "wmhub.cli", "train", *args, "--quiet"], cwd=cwd,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def full_and_resumed(args: list[str], tmp_path: Path, **env: str) -> tuple[Path, Path]:
    """Train ``args`` into ``tmp_path/full`` uninterrupted, and into ``tmp_path/killed`` SIGKILLed after its
    first ``step-*`` checkpoint (before a summary exists) then resumed; returns both run directories."""
    full = train_cli([*args, "--out", str(tmp_path / "full")], tmp_path, **env)
    assert full.wait(timeout=300) == 0, full.stderr.read()
    killed = train_cli([*args, "--out", str(tmp_path / "killed")], tmp_path, **env)
    checkpoints = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 120
    while not (checkpoints.is_dir() and any(p.name.startswith("step-") for p in checkpoints.iterdir())):
        assert killed.poll() is None, "the run ended before its first checkpoint"
        assert time.time() < deadline
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed" / "summary.json").exists()
    resumed = train_cli([*args, "--out", str(tmp_path / "killed"), "--resume"], tmp_path, **env)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    return tmp_path / "full", tmp_path / "killed"
