"""``wmhub encode``: add an encoder's per-step embeddings to a dataset as a new config."""

from wmhub.encoding.job import EncodeResult, encode_dataset

__all__ = ["EncodeResult", "encode_dataset"]
