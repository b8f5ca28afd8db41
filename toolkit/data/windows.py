"""H-step windows over episodes, for multi-step world-model training."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from wmhub.data.tensors import TensorData
from wmhub.errors import ConfigError


class WindowDataset(Dataset):
    """Windows (z_{t..t+H}, a_{t..t+H-1}, r_{t..t+H-1}) inside one episode.

    Item ``i`` is a dict with ``latents [H+1, D]``, ``actions [H, A]``,
    ``rewards [H]``, ``episode_index`` and ``step_index`` (t). A window starts
    at every ``stride``-th step t with t + H ≤ T, so it never crosses an
    episode boundary and never uses the action-less last row as an action.

    With ``frame_skip`` k > 1 a window step spans k environment steps (action
    blocks, as LeWorldModel / DINO-WM's frameskip): ``latents`` are
    z_t, z_{t+k}, …, z_{t+Hk}; ``actions [H, k·A]`` concatenates the k actions
    of each block in time order; ``rewards [H]`` sums them. t + Hk ≤ T.
    """

    def __init__(self, data: TensorData, horizon: int, stride: int = 1, frame_skip: int = 1) -> None:
        if horizon < 1:
            raise ConfigError(f"horizon must be >= 1, got {horizon}")
        if stride < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        if frame_skip < 1:
            raise ConfigError(f"frame_skip must be >= 1, got {frame_skip}")
        self.data = data
        self.horizon, self.frame_skip = horizon, frame_skip
        starts, steps = [], []
        bounds = data.episode_starts.tolist()
        for first, end in zip(bounds[:-1], bounds[1:]):
            num_actions = end - first - 1
            t = torch.arange(0, max(num_actions - horizon * frame_skip + 1, 0), stride)
            starts.append(first + t)
            steps.append(t)
        self.rows = torch.cat(starts) if starts else torch.zeros(0, dtype=torch.long)
        self.step_index = torch.cat(steps) if steps else torch.zeros(0, dtype=torch.long)
        self._offsets = torch.arange(horizon + 1) * frame_skip
        self._block = torch.arange(frame_skip)

    def to(self, device: torch.device | str) -> WindowDataset:
        """Move the data and the window index to ``device`` (batches are then gathered there)."""
        self.data = self.data.to(device)
        self.rows, self.step_index, self._offsets, self._block = (
            t.to(device) for t in (self.rows, self.step_index, self._offsets, self._block))
        return self

    def select(self, keep: torch.Tensor) -> WindowDataset:
        """Keep only the windows where the boolean mask ``keep`` (one entry per window) is true."""
        self.rows, self.step_index = self.rows[keep], self.step_index[keep]
        return self

    def __len__(self) -> int:
        return int(self.rows.numel())

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.batch(torch.as_tensor([i])).items()}

    def batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """Gather many windows at once (fast path for training loops)."""
        rows = self.rows[indices][:, None] + self._offsets[None, :]
        steps = rows[:, :-1, None] + self._block                          # [N, H, k] rows of each block
        actions = self.data.actions[steps]
        return {
            "latents": self.data.latents[rows],
            "actions": actions.reshape(*steps.shape[:2], -1),
            "rewards": self.data.rewards[steps].sum(-1),
            "episode_index": self.data.episode_index[rows[:, 0]],
            "step_index": self.step_index[indices],
        }
