"""Choosing the torch device: CUDA when present, else CPU."""

from __future__ import annotations

import torch

from wmhub.errors import WmhubError


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise WmhubError(f"device {device!r} was asked for but torch sees no CUDA GPU; use 'cpu' or 'auto'")
    return torch.device(device)
