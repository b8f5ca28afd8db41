"""Deterministic, resumable, sharded generation of rollout datasets."""

from toolkit.generate.job import GenerateResult, generate

__all__ = ["GenerateResult", "generate"]
