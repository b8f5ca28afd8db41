"""Rollout sources: each environment module registers one :class:`RolloutSpec`."""

from toolkit.envs.base import RolloutSpec, get_spec, register, registered_envs

__all__ = ["RolloutSpec", "get_spec", "register", "registered_envs"]
