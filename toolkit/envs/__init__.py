"""Rollout sources: each environment module registers one :class:`RolloutSpec`."""

from wmhub.envs.base import RolloutSpec, get_spec, register, registered_envs

__all__ = ["RolloutSpec", "get_spec", "register", "registered_envs"]
