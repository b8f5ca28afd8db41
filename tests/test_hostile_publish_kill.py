"""SIGKILL during ``wmhub publish`` to a local hub leaves the old version or the new one, never a mix.

A publish is killed at many moments spread over the time an uninterrupted publish takes (measured
in the same test, so no timing threshold is assumed). After every kill the hub's manifest must be
the old one or the new one, every shard it lists must be there with its recorded SHA-256, and the
next publish must complete the growth and verify clean.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from wmhub.data.verify import verify_dataset

from support.datasets import make_small

KILLS = 8


def _publish_cmd(src, dest) -> list[str]:
    return [sys.executable, "-m", "wmhub.cli", "publish", str(src), str(dest)]


def _listed(hub) -> dict[str, str]:
    manifest = json.loads((hub / "manifest.json").read_text())
    return {shard["path"]: shard["sha256"] for shard in manifest["shards"]}


def _assert_old_or_new(hub, old: dict[str, str], new: dict[str, str]) -> str:
    listed = _listed(hub)
    assert listed in (old, new), "the hub's manifest is neither the old nor the new version"
    for path, digest in listed.items():
        assert hashlib.sha256((hub / path).read_bytes()).hexdigest() == digest, path
    return "old" if listed == old else "new"


@pytest.mark.slow
def test_sigkill_at_any_moment_of_a_publish_leaves_old_or_new(tmp_path):
    base = make_small(tmp_path / "base", episodes=4)
    grown = tmp_path / "grown"
    shutil.copytree(base, grown)
    make_small(grown, episodes=12)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    reference = tmp_path / "reference-hub"
    subprocess.run(_publish_cmd(base, reference), check=True, capture_output=True, env=env)
    old = _listed(reference)
    started = time.monotonic()
    subprocess.run(_publish_cmd(grown, reference), check=True, capture_output=True, env=env)
    duration = time.monotonic() - started
    new = _listed(reference)
    assert old != new

    outcomes = []
    for k in range(KILLS):
        hub = tmp_path / f"hub-{k}"
        subprocess.run(_publish_cmd(base, hub), check=True, capture_output=True, env=env)
        proc = subprocess.Popen(_publish_cmd(grown, hub), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env)
        time.sleep(duration * (k + 0.5) / KILLS)  # kill points spread over a whole publish
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        outcomes.append(_assert_old_or_new(hub, old, new))
        # the next publish completes the growth (and clears what the killed one left)
        subprocess.run(_publish_cmd(grown, hub), check=True, capture_output=True, env=env)
        assert _listed(hub) == new
        assert verify_dataset(hub) == []
    assert set(outcomes) <= {"old", "new"}
