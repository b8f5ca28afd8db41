"""Dataset format, reader and torch datasets (see docs/format.md).

Public names are imported lazily so that lightweight submodules (schema,
manifest) do not pull in torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TensorData", "WindowDataset", "WmDataset", "open_dataset"]


def __getattr__(name: str) -> Any:
    if name in ("TensorData", "WmDataset", "open_dataset"):
        from wmhub.data import reader

        return getattr(reader, name)
    if name == "WindowDataset":
        from wmhub.data.windows import WindowDataset

        return WindowDataset
    raise AttributeError(name)
