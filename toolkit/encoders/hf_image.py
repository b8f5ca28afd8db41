"""``hf-image:MODEL_ID_OR_PATH``: any Hugging Face image backbone (e.g. DINOv2), one frame per step.

The model is loaded with ``AutoModel.from_pretrained`` (never with remote
code). The embedding of step t is the backbone's output for frame t alone,
pooled either as the CLS token (``last_hidden_state[:, 0]``) or as the mean of
the patch tokens (``last_hidden_state[:, 1:]``); convolutional backbones
(``[B, C, H, W]`` outputs) are mean-pooled spatially. Frames are rendered at
the processor's crop size (or the config's ``image_size``) and normalised
with the processor's mean / std.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from wmhub.encoders.base import (
    DTYPES,
    Encoder,
    frames_to_tensor,
    processor_stats,
    resolve_device,
    state_dict_sha256,
    weight_files_sha256,
)
from wmhub.errors import WmhubError

POOLINGS = ("cls", "mean")


def _input_size(model_id: str, config) -> int:
    import json

    from transformers.utils import cached_file

    path = cached_file(model_id, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
    if path:
        crop = json.loads(Path(path).read_text()).get("crop_size")
        if isinstance(crop, dict) and "height" in crop:
            return int(crop["height"])
        if isinstance(crop, int):
            return crop
    size = getattr(config, "image_size", 224)
    return int(size[0] if isinstance(size, (list, tuple)) else size)


class HFImageEncoder(Encoder):
    """A frozen image backbone applied to each frame."""

    window = 1
    storage_dtype = "float16"

    def __init__(self, model_id: str, pooling: str = "cls", device: str = "auto", dtype: str = "fp32") -> None:
        from transformers import AutoModel

        if pooling not in POOLINGS:
            raise WmhubError(f"--pooling {pooling!r}: choose one of {', '.join(POOLINGS)}")
        try:
            model = AutoModel.from_pretrained(model_id)
        except (OSError, ValueError) as exc:
            raise WmhubError(
                f"cannot load image backbone {model_id!r} ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                f"without network access, download it elsewhere (`hf download {model_id} --local-dir DIR`) "
                "and pass --encoder hf-image:DIR") from exc
        self.model_id = model_id
        self.pooling = pooling
        self.device = resolve_device(device)
        self.dtype_name = dtype
        self.model = model.to(self.device).eval().requires_grad_(False)
        config = model.config
        self.dim = int(getattr(config, "hidden_size", 0) or config.hidden_sizes[-1])
        self.frame_size = _input_size(model_id, config)
        mean, std, self.norm_source = processor_stats(model_id)
        self.mean = torch.tensor(mean, device=self.device)
        self.std = torch.tensor(std, device=self.device)
        self.slug = f"{Path(model_id.rstrip('/')).name}-{pooling}"

    def identity(self) -> dict[str, Any]:
        files = weight_files_sha256(self.model_id)
        revision = getattr(self.model.config, "_commit_hash", None)
        weights = ({"weights_sha256": files} if files is not None else
                   {"revision": revision} if revision else {"weights_sha256": state_dict_sha256(self.model)})
        return {"encoder": "hf-image", "model_id": self.model_id, **weights,
                "model_type": self.model.config.model_type,
                "preprocessing": f"render {self.frame_size}x{self.frame_size}, /255, normalize ({self.norm_source})",
                "pooling": self.pooling, "window": 1, "compute_dtype": self.dtype_name,
                "dtype": self.storage_dtype, "embedding_dim": self.dim}

    @torch.inference_mode()
    def encode_windows(self, windows: np.ndarray) -> np.ndarray:
        x = frames_to_tensor(windows[:, -1], self.frame_size, self.mean, self.std, self.device)
        compute = DTYPES[self.dtype_name]
        with torch.autocast(self.device.type, dtype=compute, enabled=compute != torch.float32):
            hidden = self.model(pixel_values=x).last_hidden_state
        if hidden.dim() == 4:  # convolutional: [B, C, H, W]
            pooled = hidden.mean(dim=(2, 3))
        elif self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = hidden[:, 1:].mean(dim=1)
        return pooled.float().cpu().numpy()
