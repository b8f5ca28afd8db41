"""End-to-end JEPA world model: an observation encoder trained jointly with a causal predictor.

``JEPAWorldModel`` = encoder E(o) → e (``embed_dim``) + a :class:`~wmhub.models.world_model.WorldModel`
predictor over e (the same causal transformer as the frozen-encoder regime,
with identity normalisation: SIGReg already keeps e near N(0, I)). Trained by
the ``jepa`` objective (:mod:`wmhub.training.objectives`): the world-model loss
between predicted and encoded embeddings (gradients reach both sides, no stop-
gradient or EMA target, as LeWorldModel) plus ``sigreg_weight`` · SIGReg of the
embeddings (:mod:`wmhub.training.sigreg`), the anti-collapse term.

Why SIGReg rather than an EMA target with variance–covariance terms: one
hyperparameter instead of an EMA schedule plus two weights, no second encoder
copy in memory, and a statistic that is itself a collapse diagnostic (≈0.40
for a collapsed batch, ≈1/N for a Gaussian one). Measured choices are in the
recipes' comments and BENCHMARKS.md.

Encoders (``encoder``):

* ``mlp`` — proprioceptive vectors (Spot's 81-d ``state``, reacher's 6-d state):
  ``encoder_depth`` × [Linear, LayerNorm, GELU] then Linear → ``embed_dim``;
* ``cnn`` — square RGB frames stored flat as H·W·3 uint8 (a dataset's
  ``frames-<S>`` config, e.g. 64×64): four stride-2 4×4 convolutions
  (``encoder_width`` · 1, 2, 4, 8 channels, GroupNorm, GELU) then Linear → ``embed_dim``;
* ``keypoints`` — the same frames through a spatial soft-argmax (Levine et al. 2016, "deep spatial
  autoencoders"): three convolutions to ``keypoints`` feature maps at 1/4 resolution, each reduced to the
  expected (x, y) of its softmax over positions, then Linear → ``embed_dim``. The embedding is a linear
  function of image coordinates, so its distance to a goal keeps rising with the arm's angle to it, where
  the ``cnn`` embedding's saturates once the arm no longer overlaps its goal pose. It holds the arm less
  precisely, though, and plans worse (measured: BENCHMARKS.md, "Keypoint encoder"). Its points lock onto
  the static target unless SIGReg is taken per episode (``training.sigreg_scope: episode``).

The model's inputs are the dataset's raw "latent" (observation) columns;
:meth:`JEPAWorldModel.encode` normalises them with the dataset statistics
(pixels: mean 127.5, std 64) and embeds them. Evaluation and planning then work
in embedding space with :attr:`JEPAWorldModel.predictor`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn

from wmhub.errors import ConfigError
from wmhub.models.base import LatentModel
from wmhub.models.world_model import Conditioning, WorldModel

EncoderKind = Literal["mlp", "cnn", "keypoints"]
PIXEL_ENCODERS = ("cnn", "keypoints")
PIXEL_MEAN, PIXEL_STD = 127.5, 64.0


class MLPEncoder(nn.Module):
    """Vector observation → embedding."""

    def __init__(self, obs_dim: int, width: int, depth: int, embed_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for d_in in [obs_dim] + [width] * (depth - 1):
            layers += [nn.Linear(d_in, width), nn.LayerNorm(width), nn.GELU()]
        self.net = nn.Sequential(*layers, nn.Linear(width, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def channels_first(x: torch.Tensor, size: int) -> torch.Tensor:
    """Flat normalised frames ``[N, S·S·3]`` (channels last, as stored) → ``[N, 3, S, S]`` for convolutions."""
    return x.reshape(-1, size, size, 3).permute(0, 3, 1, 2)


class ConvEncoder(nn.Module):
    """Square RGB frame ``[N, S, S, 3]`` (normalised) → embedding, four stride-2 convolutions."""

    def __init__(self, size: int, width: int, embed_dim: int) -> None:
        super().__init__()
        if size % 16:
            raise ConfigError(f"the cnn encoder needs frames whose side is a multiple of 16, got {size}")
        layers: list[nn.Module] = []
        channels = [3, width, 2 * width, 4 * width, 8 * width]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.GroupNorm(8 if c_out % 8 == 0 else 1, c_out),
                       nn.GELU()]
        self.size = size
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels[-1] * (size // 16) ** 2, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(channels_first(x, self.size))


INITIAL_TEMPERATURE = 0.1  # of the keypoint softmax (learned from there)


class KeypointEncoder(nn.Module):
    """Square RGB frame ``[N, S, S, 3]`` (normalised) → ``keypoints`` soft-argmax (x, y) pairs → embedding."""

    def __init__(self, size: int, width: int, keypoints: int, embed_dim: int) -> None:
        super().__init__()
        if size % 4:
            raise ConfigError(f"the keypoints encoder needs frames whose side is a multiple of 4, got {size}")
        self.size = size
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 4, stride=2, padding=1), nn.GroupNorm(1, width), nn.GELU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.GroupNorm(1, 2 * width), nn.GELU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.GroupNorm(1, 2 * width), nn.GELU(),
            nn.Conv2d(2 * width, keypoints, 1))
        side = torch.linspace(-1.0, 1.0, size // 4)
        ys, xs = torch.meshgrid(side, side, indexing="ij")
        self.register_buffer("grid", torch.stack([xs.flatten(), ys.flatten()], -1), persistent=False)  # [P, 2]
        # at temperature 1 the softmax of random maps is nearly uniform, so at initialisation the points sit near
        # the centre and hardly move with the arm; at 0.1 they start out following it (and planned better, 44%
        # against 32%, BENCHMARKS.md "Keypoint encoder")
        self.log_temperature = nn.Parameter(torch.tensor(math.log(INITIAL_TEMPERATURE)))
        self.head = nn.Linear(2 * keypoints, embed_dim)

    def points(self, x: torch.Tensor) -> torch.Tensor:
        """Expected image coordinates ``[N, keypoints, 2]`` in [-1, 1] of each feature map's softmax."""
        maps = self.net(channels_first(x, self.size)).flatten(2)  # [N, K, P]
        return torch.softmax(maps / self.log_temperature.exp(), dim=-1) @ self.grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.points(x).flatten(1))


class JEPAWorldModel(LatentModel):
    """Encoder + causal predictor trained end to end; see the module docstring."""

    def __init__(self, latent_dim: int, action_dim: int, encoder: EncoderKind = "mlp", embed_dim: int = 64,
                 encoder_width: int = 256, encoder_depth: int = 2, width: int = 256, depth: int = 4, heads: int = 4,
                 context: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 conditioning: Conditioning = "adaln", frame_skip: int = 1, keypoints: int = 32,
                 latent: dict[str, Any] | None = None) -> None:
        super().__init__(latent_dim, action_dim, latent)
        if min(embed_dim, encoder_width, encoder_depth, keypoints) < 1:
            raise ConfigError(f"JEPAWorldModel needs embed_dim, encoder_width, encoder_depth, keypoints >= 1; got "
                              f"{embed_dim}, {encoder_width}, {encoder_depth}, {keypoints}")
        self.encoder_kind, self.embed_dim = encoder, embed_dim
        if encoder == "mlp":
            self.encoder: nn.Module = MLPEncoder(latent_dim, encoder_width, encoder_depth, embed_dim)
        elif encoder in PIXEL_ENCODERS:
            size = math.isqrt(latent_dim // 3)
            if size * size * 3 != latent_dim:
                raise ConfigError(f"the {encoder} encoder reads square RGB frames (S·S·3 values); this latent has "
                                  f"{latent_dim} values: use a dataset's frames-<S> config")
            self.encoder = (ConvEncoder(size, encoder_width, embed_dim) if encoder == "cnn"
                            else KeypointEncoder(size, encoder_width, keypoints, embed_dim))
        else:
            raise ConfigError(f"JEPAWorldModel encoder must be one of 'mlp', {', '.join(map(repr, PIXEL_ENCODERS))}; "
                              f"got {encoder!r}")
        self.predictor = WorldModel(embed_dim, action_dim, width=width, depth=depth, heads=heads, context=context,
                                    mlp_ratio=mlp_ratio, dropout=dropout, conditioning=conditioning,
                                    frame_skip=frame_skip, latent={"embedding_of": "JEPAWorldModel.encode"})
        self.frame_skip, self.keypoints = frame_skip, keypoints

    @property
    def context(self) -> int:
        """k: past embeddings the predictor reads."""
        return self.predictor.context

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations ``[..., latent_dim]`` (any dtype, e.g. uint8 pixels) → embeddings ``[..., embed_dim]``."""
        lead = obs.shape[:-1]
        x = self.normalize(obs.reshape(-1, self.latent_dim).to(self.latent_mean.dtype))
        return self.encoder(x).reshape(*lead, self.embed_dim)

    @torch.no_grad()
    def encode_all(self, obs: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """:meth:`encode` in batches, without gradients, on the model's device; result on the CPU."""
        was_training = self.training
        self.eval()
        device = self.latent_mean.device
        out = [self.encode(obs[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(obs), batch_size)]
        self.train(was_training)
        return torch.cat(out) if out else torch.empty(0, self.embed_dim)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next embeddings ``[B, T, E]`` from observations ``[B, T, D]`` and actions ``[B, T, A]``."""
        return self.predictor.predict_normalized(self.encode(obs), actions)
