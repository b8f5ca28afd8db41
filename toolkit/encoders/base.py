"""The encoder interface and helpers shared by the encoders."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from toolkit.errors import WmhubError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise WmhubError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(device)


def state_dict_sha256(module: torch.nn.Module) -> str:
    """SHA-256 over a module's tensors (names and bytes, sorted): the identity of its weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class Encoder(ABC):
    """A frozen encoder producing one latent per dataset step.

    Attributes:
        slug: suffix of the dataset config it writes (``embeddings-<slug>``).
        dim: embedding dimension.
        window: frames per input (0: the encoder reads the state columns instead).
        frame_size: the square frame size it expects (pixels), when it uses frames.
        storage_dtype: dtype of the stored column (``float16`` or ``float32``).
    """

    slug: str
    dim: int
    window: int = 0
    frame_size: int = 0
    storage_dtype: str = "float16"

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What makes the embeddings reproducible: model id, weights hash, preprocessing, pooling..."""

    def encode_windows(self, windows: np.ndarray) -> np.ndarray:
        """Embed ``uint8 [B, window, H, W, 3]`` frame windows → ``float32 [B, dim]``."""
        raise NotImplementedError(f"encoder {self.slug} does not take frames")

    def encode_states(self, states: np.ndarray) -> np.ndarray:
        """Embed state rows ``[B, S]`` → ``float32 [B, dim]``."""
        raise NotImplementedError(f"encoder {self.slug} does not take states")
