"""The encoder interface and helpers shared by the encoders."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wmhub.devices import resolve_device  # noqa: F401  (re-exported)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def processor_stats(model_id: str) -> tuple[tuple[float, ...], tuple[float, ...], str]:
    """(mean, std, source) from a model's processor config, falling back to ImageNet's.

    Read as JSON rather than through the transformers processor classes, which need
    torchvision (no CPU wheel on our machines).
    """
    from transformers.utils import cached_file

    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        try:
            path = cached_file(model_id, name, _raise_exceptions_for_missing_entries=False)
        except OSError:
            path = None
        if path:
            cfg = json.loads(Path(path).read_text())
            if "image_mean" in cfg and "image_std" in cfg:
                return tuple(cfg["image_mean"]), tuple(cfg["image_std"]), name
    return IMAGENET_MEAN, IMAGENET_STD, "imagenet-default"


def frames_to_tensor(frames: np.ndarray, size: int, mean: torch.Tensor, std: torch.Tensor,
                     device: torch.device) -> torch.Tensor:
    """``uint8 [..., H, W, 3]`` → normalised ``float [..., 3, size, size]`` on ``device``.

    Frames of another size are resized bilinearly (antialiased) to ``size``.
    """
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    lead = x.shape[:-3]
    x = x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    x = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    return x.reshape(*lead, 3, size, size)


def weight_files_sha256(model_id: str) -> dict[str, str] | None:
    """SHA-256 of each ``*.safetensors`` file of a local model directory (None for Hub ids)."""
    from wmhub.fileio import sha256_file

    local = Path(model_id)
    if not local.is_dir():
        return None
    return {f.name: sha256_file(f) for f in sorted(local.glob("*.safetensors"))}


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
