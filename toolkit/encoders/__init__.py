"""Frozen encoders that turn rendered frames (or states) into per-step latents.

Specs accepted by ``wmhub encode --encoder``:

* ``vjepa2[:MODEL_ID_OR_PATH]`` — V-JEPA 2 video encoder (default
  ``facebook/vjepa2-vitl-fpc64-256``), 8-frame windows, mean-pooled last hidden state.
* ``hf-image:MODEL_ID_OR_PATH`` — any Hugging Face image backbone (DINOv2, ...) per frame,
  CLS or mean pooling.
* ``random[:DIM]`` — a randomly initialised V-JEPA 2 (seed 0), the seeds' baseline.
* ``state`` — the low-dimensional observation itself.
"""

from wmhub.encoders.registry import Encoder, parse_encoder_spec

__all__ = ["Encoder", "parse_encoder_spec"]
