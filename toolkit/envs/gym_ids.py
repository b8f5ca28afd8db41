"""The Gymnasium ids of wmhub's environments, and the id + ``make`` arguments of a dataset's generator config.

Light (no gymnasium, no simulator): the generator records :func:`gymnasium_info` in the manifest, and
:mod:`wmhub.envs.gym` registers the ids with Gymnasium when imported.

============================================  =============================  =========================
Gymnasium id                                  wmhub generator                ``make`` arguments
============================================  =============================  =========================
``wmhub/SpotFlatTerrainJoystick-v0``          ``spot``                       ``max_episode_steps``
                                                                             (``episode_length``),
                                                                             ``obs_noise``
``wmhub/SpotJoystick-v0`` (alias)             ``spot``                       as above
``wmhub/ReacherEasy-v0``                      ``reacher``                    ``max_episode_steps``
                                                                             (``episode_length``)
============================================  =============================  =========================

Example:
    >>> gymnasium_info("reacher", {"episode_length": 30, "policy": "jacobian"}).kwargs
    {'max_episode_steps': 30}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wmhub.data.manifest import GymnasiumInfo

REGISTERING_MODULE = "wmhub.envs.gym"  # importing it registers the ids (``gymnasium.make("wmhub.envs.gym:<id>")``)
SPOT_ID = "wmhub/SpotFlatTerrainJoystick-v0"  # MuJoCo Playground's registry name, SpotFlatTerrainJoystick
SPOT_ALIAS_ID = "wmhub/SpotJoystick-v0"  # the same environment under a shorter name
REACHER_ID = "wmhub/ReacherEasy-v0"  # dm_control's reacher-easy
GYMNASIUM_IDS = (SPOT_ID, SPOT_ALIAS_ID, REACHER_ID)

# generator name -> (Gymnasium id, generator config keys passed on to ``make`` besides the episode length)
_BY_GENERATOR: dict[str, tuple[str, tuple[str, ...]]] = {
    "spot": (SPOT_ID, ("obs_noise",)),
    "reacher": (REACHER_ID, ()),
}


def make_keywords(gym_id: str) -> frozenset[str] | None:
    """The ``gymnasium.make`` keyword arguments a manifest may record for one of wmhub's ids.

    Args:
        gym_id: a Gymnasium id, e.g. read from an (untrusted) manifest.

    Returns:
        The accepted keywords (``max_episode_steps`` and the generator options the environment takes), or
        None when ``gym_id`` is not one of wmhub's.

    Example:
        >>> sorted(make_keywords("wmhub/SpotJoystick-v0"))
        ['max_episode_steps', 'obs_noise']
    """
    for known, keys in _BY_GENERATOR.values():
        if gym_id == known or (known == SPOT_ID and gym_id == SPOT_ALIAS_ID):
            return frozenset({"max_episode_steps", *keys})
    return None


def gymnasium_info(env: str, config: Mapping[str, Any]) -> GymnasiumInfo | None:
    """The Gymnasium id and ``gymnasium.make`` arguments of the environment a generator config ran.

    Args:
        env: the generator's environment name (``spot``, ``reacher``).
        config: its config, as the manifest's ``generator.config`` stores it (missing keys take the
            config model's defaults; layout keys such as ``episodes`` are ignored).

    Returns:
        The :class:`~wmhub.data.manifest.GymnasiumInfo` (``max_episode_steps`` is the episode length), or
        None when ``env`` has no Gymnasium environment.

    Raises:
        ConfigError: ``config`` does not validate for ``env``.

    Example:
        >>> info = gymnasium_info("spot", {"episode_length": 25, "obs_noise": False})
        >>> info.id, info.kwargs
        ('wmhub/SpotFlatTerrainJoystick-v0', {'max_episode_steps': 25, 'obs_noise': False})
    """
    from wmhub.envs.registry import get_env, validate_options

    if env not in _BY_GENERATOR:
        return None
    gym_id, keys = _BY_GENERATOR[env]
    registered = get_env(env)
    options = {k: v for k, v in config.items() if k in registered.config_cls.model_fields}
    validated = validate_options(registered, options).model_dump(mode="json")
    return GymnasiumInfo(id=gym_id, kwargs={"max_episode_steps": validated["episode_length"],
                                            **{k: validated[k] for k in keys}})
