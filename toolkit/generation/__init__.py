"""Deterministic, resumable, sharded generation of rollout datasets."""

from wmhub.generation.job import GenerateResult, generate

__all__ = ["GenerateResult", "generate"]
