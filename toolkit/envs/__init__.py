"""Rollout sources: each environment is one module plus one :func:`~wmhub.envs.registry.register_env` call.

The registry (:mod:`wmhub.envs.registry`) is light; an environment's module, with its simulator, is
imported when the environment is first used.
"""
