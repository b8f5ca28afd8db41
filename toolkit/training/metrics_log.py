"""Training metrics as JSON lines (``RUN/metrics.jsonl``), and optionally TensorBoard.

On ``--resume`` the records written after the restored checkpoint are dropped
first, so the log of a resumed run has each step once, as an uninterrupted
run would.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wmhub.errors import MissingDependencyError
from wmhub.fileio import atomic_write_text

METRICS_NAME = "metrics.jsonl"


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of a run's ``metrics.jsonl`` (a torn last line from a kill is skipped)."""
    path = Path(run_dir) / METRICS_NAME
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


class MetricsLog:
    """Appends one JSON object per line; flushes each record so a kill loses nothing written."""

    def __init__(self, run_dir: Path, tensorboard: bool = False, truncate_after: int | None = None) -> None:
        self.path = run_dir / METRICS_NAME
        if truncate_after is not None:
            kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= truncate_after]
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self.file = open(self.path, "a", encoding="utf-8")
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise MissingDependencyError("training.tensorboard is true but the tensorboard package is not "
                                             "installed; `pip install tensorboard` or set training.tensorboard=false"
                                             ) from exc
            self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
                    self.writer.add_scalar(f"{record['split']}/{key}", value, record["step"])

    def close(self) -> None:
        self.file.close()
        if self.writer is not None:
            self.writer.close()
