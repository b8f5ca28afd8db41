"""A dataset's environment as a Gymnasium env: :func:`recover_environment` (as Minari's ``recover_environment``).

The manifest records the Gymnasium id and ``make`` arguments of the environment that generated the
data (``generator.gymnasium``); for datasets written before that field existed they are derived from
the generator's name and config (:func:`wmhub.envs.gym_ids.gymnasium_info`), which gives the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from wmhub.data.manifest import GymnasiumInfo, Manifest
from wmhub.envs.gym_ids import GYMNASIUM_IDS, gymnasium_info, make_keywords
from wmhub.errors import NotFoundError
from wmhub.hub.source import dataset_location, open_stored

if TYPE_CHECKING:  # gymnasium is imported when an environment is made
    import gymnasium

__all__ = ["dataset_environment", "environment_of", "recover_environment"]


def environment_of(manifest: Manifest) -> GymnasiumInfo:
    """The Gymnasium id and ``make`` arguments of a dataset's environment.

    Args:
        manifest: the dataset's manifest.

    Returns:
        ``generator.gymnasium`` when recorded, else the same derived from the generator's name and config.

    Raises:
        NotFoundError: the generator has no Gymnasium environment.

    Example:
        >>> environment_of(Manifest.read("data/reacher-tiny")).id  # doctest: +SKIP
        'wmhub/ReacherEasy-v0'
    """
    generator = manifest.generator
    info = generator.gymnasium or gymnasium_info(generator.env, generator.config)
    if info is None:
        raise NotFoundError(f"datasets of environment {generator.env!r} name no Gymnasium environment; "
                            "recover_environment works for the spot and reacher generators")
    # a manifest is untrusted: only wmhub's own ids, with the arguments they take, are made
    allowed = make_keywords(info.id)
    if allowed is None or not set(info.kwargs) <= allowed:
        raise NotFoundError(f"the dataset names Gymnasium environment {info.id!r} with arguments "
                            f"{sorted(info.kwargs)}, which is not registered by this wmhub (it makes "
                            f"{', '.join(GYMNASIUM_IDS)} only); upgrade wmhub (pip install -U wmhub) if the "
                            "dataset is newer")
    return info


def dataset_environment(source: str | Path, *, revision: str | None = None,
                        storage_options: dict[str, Any] | None = None) -> GymnasiumInfo:
    """The Gymnasium id and ``make`` arguments of the environment of the dataset at ``source``.

    Only the manifest is read.

    Args:
        source: a dataset directory, ``hf://datasets/<org>/<name>[@rev]``, a local hub at a tag, or an
            fsspec URL (anything :func:`wmhub.open_dataset` accepts).
        revision: branch, tag or commit (default: latest).
        storage_options: fsspec options for an fsspec URL.

    Returns:
        The :class:`~wmhub.data.manifest.GymnasiumInfo`.

    Raises:
        NotFoundError: no dataset at ``source``, or its generator has no Gymnasium environment.
        UnsupportedLocationError: a model repo, or a malformed location.

    Example:
        >>> dataset_environment("data/reacher-tiny").kwargs  # doctest: +SKIP
        {'max_episode_steps': 30}
    """
    return environment_of(open_stored(dataset_location(str(source), revision), storage_options).manifest)


def recover_environment(source: str | Path, *, num_envs: int | None = None, revision: str | None = None,
                        storage_options: dict[str, Any] | None = None,
                        **kwargs: Any) -> gymnasium.Env | gymnasium.vector.VectorEnv:
    """A ready Gymnasium environment that steps exactly as the generator of the dataset at ``source`` did.

    ``env.reset(seed=<an episode's stored seed>)`` followed by the episode's stored actions reproduces
    its stored observations (``steps`` columns of the observation's keys) and ``qpos``.

    Args:
        source: a dataset directory, ``hf://datasets/<org>/<name>[@rev]``, a local hub at a tag, or an
            fsspec URL (anything :func:`wmhub.open_dataset` accepts; only the manifest is read).
        num_envs: None for one environment (``gymnasium.make``), else a vector env of this many
            (``gymnasium.make_vec``: the batched stepper for Spot, a sync vector env for reacher).
        revision: branch, tag or commit (default: latest).
        storage_options: fsspec options for an fsspec URL.
        **kwargs: ``make`` arguments that replace the recorded ones (e.g. ``max_episode_steps``).

    Returns:
        The environment (time limit = the dataset's episode length unless replaced).

    Raises:
        NotFoundError: no dataset at ``source``; its generator has no Gymnasium environment; or the
            recorded id is not one this wmhub registers (a dataset from a newer wmhub: upgrade it).
        UnsupportedLocationError: a model repo, or a malformed location.

    Example:
        >>> import wmhub
        >>> env = wmhub.recover_environment("hf://datasets/my-lab/reacher-1m")  # doctest: +SKIP
        >>> obs, info = env.reset(seed=int(episodes["seed"][0]))  # doctest: +SKIP
    """
    import gymnasium

    import wmhub.envs.gym  # noqa: F401  (registers the wmhub/... ids)

    info = dataset_environment(source, revision=revision, storage_options=storage_options)
    if info.id not in gymnasium.registry:
        raise NotFoundError(f"{source}: its environment {info.id!r} is not registered by this wmhub (registered: "
                            f"{', '.join(sorted(k for k in gymnasium.registry if k.startswith('wmhub/')))}); "
                            "upgrade wmhub (pip install -U wmhub)")
    arguments = {**info.kwargs, **kwargs}
    if num_envs is None:
        return gymnasium.make(info.id, **arguments)
    return gymnasium.make_vec(info.id, num_envs=num_envs, **arguments)
