"""Gymnasium environments that step exactly as wmhub's generators do; importing this module registers them.

Gymnasium 1.x loads no plugins, so the ids exist once this module is imported: import it, or name it in
the id (Gymnasium imports the module before the ``:``)::

    import gymnasium
    env = gymnasium.make("wmhub.envs.gym:wmhub/SpotFlatTerrainJoystick-v0")

=======================================  ==========================================================  ==========
id                                       entry point (vector entry point)                            time limit
=======================================  ==========================================================  ==========
``wmhub/SpotFlatTerrainJoystick-v0``     :class:`~wmhub.envs.gym.spot.SpotFlatTerrainJoystickEnv`    1000
                                         (:class:`~wmhub.envs.gym.spot.SpotFlatTerrainJoystickVectorEnv`)
``wmhub/SpotJoystick-v0``                the same (an alias)                                         1000
``wmhub/ReacherEasy-v0``                 :class:`~wmhub.envs.gym.reacher.ReacherEasyEnv`              200
=======================================  ==========================================================  ==========

The time limits are the generators' default episode lengths; a dataset's manifest records its own
(``generator.gymnasium``, see :func:`wmhub.envs.gym_ids.gymnasium_info`), and
``wmhub.recover_environment(dataset)`` makes the environment with it.

Observations are :class:`gymnasium.spaces.Dict` spaces whose keys are the dataset's ``steps`` columns
(Spot: ``state``, ``privileged_state``, as MuJoCo Playground's observation dict; reacher: ``position``,
``to_target``, ``velocity``, as dm_control's), float32 as stored. ``gymnasium.wrappers.FlattenObservation``
turns them into one Box.

Example:
    >>> import gymnasium
    >>> import wmhub.envs.gym
    >>> gymnasium.spec("wmhub/ReacherEasy-v0").max_episode_steps
    200
"""

from __future__ import annotations

import gymnasium

from wmhub.envs.gym_ids import REACHER_ID, SPOT_ALIAS_ID, SPOT_ID
from wmhub.envs.reacher import ReacherConfig
from wmhub.envs.spot import SpotConfig

SPOT_ENTRY_POINT = "wmhub.envs.gym.spot:SpotFlatTerrainJoystickEnv"
SPOT_VECTOR_ENTRY_POINT = "wmhub.envs.gym.spot:SpotFlatTerrainJoystickVectorEnv"
REACHER_ENTRY_POINT = "wmhub.envs.gym.reacher:ReacherEasyEnv"
# the generators' default episode lengths: 1000 (Playground's episode_length) and 200 (the suite's is 1000)
SPOT_EPISODE_STEPS = SpotConfig.model_fields["episode_length"].default
REACHER_EPISODE_STEPS = ReacherConfig.model_fields["episode_length"].default


def register_envs() -> None:
    """Register wmhub's Gymnasium ids (done when this module is imported; a second call changes nothing).

    Example:
        >>> register_envs()
        >>> "wmhub/SpotJoystick-v0" in gymnasium.registry
        True
    """
    for gym_id in (SPOT_ID, SPOT_ALIAS_ID):
        if gym_id not in gymnasium.registry:
            gymnasium.register(id=gym_id, entry_point=SPOT_ENTRY_POINT, vector_entry_point=SPOT_VECTOR_ENTRY_POINT,
                               max_episode_steps=SPOT_EPISODE_STEPS)
    if REACHER_ID not in gymnasium.registry:
        gymnasium.register(id=REACHER_ID, entry_point=REACHER_ENTRY_POINT, max_episode_steps=REACHER_EPISODE_STEPS)


register_envs()
