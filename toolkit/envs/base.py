"""What the shard engine needs from an environment, and seed derivation.

An environment contributes a :class:`RolloutSpec`: its generation config
(a pydantic model), the features of its ``steps`` and ``episodes`` tables and
a factory for a runner that rolls out one episode by index (registered with the
environment's other parts in :mod:`wmhub.envs.registry`). The engine in
:mod:`wmhub.generation` does everything else (sharding, workers, resume,
manifest, card), so every environment gets the same guarantees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from pydantic import BaseModel

from wmhub.data.schema import Feature


@dataclass
class EpisodeData:
    """One rolled-out episode: ``steps`` has T+1 rows (the last row holds the final observation and any
    value in ``terminal_null`` features: the writer stores the fill value, or null in format 1); ``episode``
    holds the per-episode scalars."""

    steps: dict[str, np.ndarray]
    episode: dict[str, object]

    @property
    def num_steps(self) -> int:
        """Number of actions (T); the steps table has T+1 rows."""
        return len(next(iter(self.steps.values()))) - 1


class EpisodeRunner(Protocol):
    """Rolls out episodes of one configuration; built once per worker."""

    def run(self, episode_index: int) -> EpisodeData:
        """Roll out episode ``episode_index`` (deterministic in the config's seed)."""
        ...


@dataclass
class RolloutSpec:
    """Everything the engine needs to know about an environment."""

    name: str
    description: str
    config_cls: type[BaseModel]
    step_features: list[Feature]
    episode_features: list[Feature]
    latent_features: list[str]
    make_runner: Callable[[BaseModel], EpisodeRunner]
    card_template: str = "rollouts.md"
    versions: Callable[[], dict[str, str]] = field(default=lambda: {})


def episode_seed_sequence(dataset_seed: int, episode_index: int) -> np.random.SeedSequence:
    """The seed sequence of one episode, a pure function of (dataset seed, index).

    Any episode can therefore be regenerated alone and shards can be produced
    in any order or on any worker.
    """
    return np.random.SeedSequence(entropy=int(dataset_seed), spawn_key=(int(episode_index),))


def episode_seeds(dataset_seed: int, episode_index: int) -> tuple[int, np.random.Generator]:
    """(environment seed stored with the episode, generator for policy / ε draws)."""
    seq = episode_seed_sequence(dataset_seed, episode_index)
    env_seed = int(seq.generate_state(1, dtype=np.uint32)[0])
    policy_rng = np.random.default_rng(seq.spawn(1)[0])
    return env_seed, policy_rng
