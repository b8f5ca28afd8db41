"""Staged work units for the tests of wmhub.jobs.overlap: each writes one file and logs what it does."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from wmhub.jobs.destination import worker_files
from wmhub.jobs.units import UnitResult


@dataclass
class Hooks:
    """What the units of one run share (in-process runs only): the log of their steps, and the units'
    hand-offs (``staged[k]`` is set when unit k starts computing)."""

    log: list[tuple[str, int]] = field(default_factory=list)
    staged: dict[int, threading.Event] = field(default_factory=dict)

    def event(self, index: int) -> threading.Event:
        return self.staged.setdefault(index, threading.Event())


@dataclass(frozen=True)
class StagedFileUnit:
    """Computes a line of text, then writes it to ``out/<index>.txt`` through :func:`worker_files`.

    ``fail``: ``"write"`` raises ValueError while writing, ``"disk"`` an OSError, ``"compute"`` raises
    while computing. ``wait_for_next``: the write waits (up to 30 s) until unit ``index + 1`` has
    started computing, and logs whether it did.
    """

    location: str
    index: int
    fail: str = ""
    wait_for_next: bool = False
    hooks: Hooks | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.index}-{self.index + 1}"

    @property
    def name(self) -> str:
        return f"wmhub-test-{self.index:08d}-{self.index + 1:08d}"

    def _log(self, what: str) -> None:
        if self.hooks is not None:
            self.hooks.log.append((what, self.index))

    def run(self, progress) -> UnitResult:
        return self.stage(progress)()

    def stage(self, progress):
        self._log("stage-start")
        if self.hooks is not None:
            self.hooks.event(self.index).set()
        if self.fail == "compute":
            raise RuntimeError(f"unit {self.index} could not compute")
        text = f"unit {self.index}\n"
        progress.update(1, 10)
        self._log("stage-end")
        return lambda: self._write(text)

    def _write(self, text: str) -> UnitResult:
        self._log("write-start")
        if self.wait_for_next and self.hooks is not None:
            self._log("overlapped" if self.hooks.event(self.index + 1).wait(30) else "not-overlapped")
        if self.fail == "write":
            raise ValueError("the encoder refused the rows")
        if self.fail == "disk":
            raise OSError(28, "No space left on device", str(Path(self.location) / "out"))
        with worker_files(self.location) as files:
            rel = f"out/{self.index}.txt"
            files.path(rel).parent.mkdir(parents=True, exist_ok=True)
            files.path(rel).write_text(text)
            files.publish(rel)
        self._log("write-end")
        return UnitResult([], 1, 10)
