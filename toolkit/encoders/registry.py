"""Parse ``--encoder`` specs into encoders."""

from __future__ import annotations

from wmhub.encoders.base import Encoder
from wmhub.errors import WmhubError

SPECS = "vjepa2[:MODEL_ID_OR_PATH], hf-image:MODEL_ID_OR_PATH, random[:DIM], state"


def parse_encoder_spec(spec: str, *, device: str = "auto", dtype: str = "fp32", frame_size: int | None = None,
                       pooling: str = "cls", state_features: list[str] | None = None,
                       state_dim: int | None = None) -> Encoder:
    """Build the encoder named by ``spec`` (see :mod:`wmhub.encoders`)."""
    name, _, arg = spec.partition(":")
    if name == "vjepa2":
        from wmhub.encoders.vjepa2 import DEFAULT_MODEL, VJEPA2Encoder

        return VJEPA2Encoder(arg or DEFAULT_MODEL, device=device, dtype=dtype)
    if name == "hf-image":
        from wmhub.encoders.hf_image import HFImageEncoder

        if not arg:
            raise WmhubError("--encoder hf-image needs a model: hf-image:MODEL_ID_OR_PATH (e.g. facebook/dinov2-base)")
        return HFImageEncoder(arg, pooling=pooling, device=device, dtype=dtype)
    if name == "random":
        from wmhub.encoders.random_vjepa2 import RandomVJEPA2Encoder

        try:
            dim = int(arg) if arg else 1024
        except ValueError as exc:
            raise WmhubError(f"--encoder {spec}: DIM must be an integer") from exc
        return RandomVJEPA2Encoder(dim, frame_size=frame_size or 256, device=device, dtype=dtype)
    if name == "state":
        from wmhub.encoders.state import StateEncoder

        if arg:
            raise WmhubError("--encoder state takes no argument")
        return StateEncoder(state_features or [], state_dim or 0)
    raise WmhubError(f"unknown encoder {spec!r}; choose one of: {SPECS}")
