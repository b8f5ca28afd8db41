"""``vjepa2[:MODEL_ID_OR_PATH]``: V-JEPA 2 embeddings of 8-frame windows.

The input for step t is the window of the 8 frames ending at t; at the start
of an episode the window is padded by repeating the episode's first frame
(step 2 sees frames 0,0,0,0,0,0,1,2). The embedding is the mean of the
encoder's last hidden state over all tokens (1024-d for ViT-L), stored as
float16.

Preprocessing is the V-JEPA 2 video processor's, done in torch: frames are
rendered at the model's crop size (so its resize + centre crop are the
identity; other sizes are resized bilinearly), scaled to [0, 1] and
normalised with the processor's mean / std (read from the model's
``video_preprocessor_config.json`` when present, else ImageNet's). The
processor class itself is not used because it needs torchvision, which has
no CPU wheel on our machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from wmhub.encoders.base import (
    DTYPES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Encoder,
    frames_to_tensor,
    processor_stats,
    resolve_device,
    state_dict_sha256,
    weight_files_sha256,
)
from wmhub.errors import WmhubError

DEFAULT_MODEL = "facebook/vjepa2-vitl-fpc64-256"
WINDOW = 8


def load_vjepa2(model_id: str):
    """``VJEPA2Model.from_pretrained`` with an error that says how to provide weights offline."""
    from transformers import VJEPA2Model

    try:
        return VJEPA2Model.from_pretrained(model_id)
    except (OSError, ValueError) as exc:
        raise WmhubError(
            f"cannot load V-JEPA 2 weights {model_id!r} ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            f"without network access, download it on another machine (`hf download {model_id} --local-dir DIR`), "
            "copy DIR here and pass --encoder vjepa2:DIR") from exc


class VJEPA2Encoder(Encoder):
    """Frozen V-JEPA 2 video encoder, mean-pooled."""

    window = WINDOW
    storage_dtype = "float16"

    def __init__(self, model_id: str = DEFAULT_MODEL, device: str = "auto", dtype: str = "fp32",
                 model=None) -> None:
        self.model_id = model_id
        self.device = resolve_device(device)
        self.dtype_name = dtype
        self.model = (model if model is not None else load_vjepa2(model_id)).to(self.device).eval()
        self.model.requires_grad_(False)
        config = self.model.config
        self.dim = int(config.hidden_size)
        self.frame_size = int(config.crop_size)
        mean, std, self.norm_source = processor_stats(model_id) if model is None else (
            IMAGENET_MEAN, IMAGENET_STD, "imagenet-default")
        self.mean = torch.tensor(mean, device=self.device)
        self.std = torch.tensor(std, device=self.device)
        self.slug = "vjepa2-" + Path(model_id.rstrip("/")).name.removeprefix("vjepa2-")

    def weights_identity(self) -> dict[str, Any]:
        """Revision for Hub models, SHA-256 of the weight files for local ones."""
        files = weight_files_sha256(self.model_id)
        if files is not None:
            return {"weights_sha256": files}
        revision = getattr(self.model.config, "_commit_hash", None)
        return {"revision": revision} if revision else {"weights_sha256": state_dict_sha256(self.model)}

    def identity(self) -> dict[str, Any]:
        return {"encoder": "vjepa2", "model_id": self.model_id, **self.weights_identity(),
                "preprocessing": f"render {self.frame_size}x{self.frame_size}, /255, normalize "
                                 f"({self.norm_source})",
                "pooling": "mean of last_hidden_state over tokens", "window": self.window,
                "padding": "repeat first frame of the episode", "compute_dtype": self.dtype_name,
                "dtype": self.storage_dtype, "embedding_dim": self.dim}

    @torch.inference_mode()
    def encode_windows(self, windows: np.ndarray) -> np.ndarray:
        x = frames_to_tensor(windows, self.frame_size, self.mean, self.std, self.device)  # B T C H W
        compute = DTYPES[self.dtype_name]
        with torch.autocast(self.device.type, dtype=compute, enabled=compute != torch.float32):
            hidden = self.model(pixel_values_videos=x, skip_predictor=True).last_hidden_state
        return hidden.float().mean(dim=1).cpu().numpy()
