"""A tiny random V-JEPA 2 for encoder tests (saved with save_pretrained, loaded by path)."""

from __future__ import annotations

from pathlib import Path

#: the tiny model's input frame size
TINY_VJEPA2_FRAME = 32


def save_tiny_vjepa2(path: Path) -> Path:
    """Save a tiny random V-JEPA 2 to ``path`` so that loading it uses the real ``from_pretrained`` path."""
    import torch
    from transformers import VJEPA2Config, VJEPA2Model

    torch.manual_seed(0)
    config = VJEPA2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2.0,
                          crop_size=TINY_VJEPA2_FRAME, frames_per_clip=8, pred_hidden_size=16, pred_num_hidden_layers=1,
                          pred_num_attention_heads=2, pred_num_mask_tokens=2)
    VJEPA2Model(config).save_pretrained(path)
    return path
