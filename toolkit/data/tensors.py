"""A whole step config in memory as torch tensors (:class:`TensorData`), shared by the reader that
loads it and the window datasets built on it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class TensorData:
    """A whole step config in memory.

    Attributes:
        latents: ``[rows, D]`` float32, the config's latent features concatenated.
        actions: ``[rows, A]`` float32 (0 on each episode's last row, which has no action).
        rewards: ``[rows]`` float32 (0 on each episode's last row).
        episode_index: ``[rows]`` int64.
        episode_starts: ``[E + 1]`` int64 row offsets; episode e is rows
            ``episode_starts[e]:episode_starts[e + 1]``.
        columns: every requested column as a tensor.
    """

    latents: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    episode_index: torch.Tensor
    episode_starts: torch.Tensor
    columns: dict[str, torch.Tensor]

    @property
    def latent_dim(self) -> int:
        return int(self.latents.shape[1])

    def to(self, device: torch.device | str) -> TensorData:
        """A copy with every tensor on ``device``."""
        return TensorData(**{name: ({k: v.to(device) for k, v in value.items()} if isinstance(value, dict)
                                    else value.to(device)) for name, value in self.__dict__.items()})

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[1])

    def select_episodes(self, episodes: Iterable[int]) -> TensorData:
        """A copy holding only the rows of ``episodes``, in their stored order."""
        wanted = torch.as_tensor(sorted(set(episodes)), dtype=torch.int64, device=self.episode_index.device)
        keep = torch.isin(self.episode_index, wanted)
        index = self.episode_index[keep]
        starts = torch.from_numpy(episode_starts(index.cpu().numpy())).to(index.device)
        return TensorData(latents=self.latents[keep], actions=self.actions[keep], rewards=self.rewards[keep],
                          episode_index=index, episode_starts=starts,
                          columns={k: v[keep] for k, v in self.columns.items()})


def episode_starts(index: np.ndarray) -> np.ndarray:
    """Row offsets ``[E + 1]`` of each episode's first row and the row count (an episode's rows are contiguous)."""
    return np.concatenate([[0], np.flatnonzero(np.diff(index)) + 1, [len(index)]]).astype(np.int64)
