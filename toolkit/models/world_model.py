"""Action-conditioned JEPA-style world model: a causal transformer predictor over latents.

The predictor reads a context of up to ``context`` (k) past latents, each paired
with the action taken there, and predicts the next latent at every position:
token t = (z_t, a_t) → ẑ_{t+1}, causal over time, so a prediction never sees a
later latent or action (the V-JEPA 2-AC predictor, on a frozen encoder's latents).

* input projection D → width, plus a learned embedding of the position in the context;
* ``depth`` pre-LN blocks: causal self-attention
  (:func:`torch.nn.functional.scaled_dot_product_attention` with ``is_causal``) and a GELU MLP;
* action conditioning, ``conditioning``:

  - ``adaln`` (default): the action embedding sets a per-token shift, scale and
    gate of every block's two LayerNorms and of the final LayerNorm (DiT's
    adaLN-Zero, the gates and the head zero-initialised), so the action acts on
    every layer, not only once at the input;
  - ``add``: the action embedding is added to the latent's token embedding.

  Measured on the tiny reacher data (6-d state latent; width 64, depth 2,
  context 4, 8 epochs, L1 on normalised latents, 2-step rollout; mean of seeds
  0–2, latent suite relative L2 at horizons 1/5/10/30, copy-last
  0.240/0.403/0.391/0.501): ``adaln`` (163k parameters) 0.046/0.066/0.069/0.071,
  validation loss 0.0606; ``add`` (106k) 0.049/0.071/0.075/0.082, 0.0648;
  ``add`` at width 80 (164k, equal size) 0.049/0.070/0.072/0.079, 0.0642.
  ``adaln`` is the default because it was ahead at every horizon on average and
  most at the longest; the margin (5–10%) is about one seed's spread, and it
  costs ~30% more time per step than ``add`` at equal width.

* output head width → D predicting **Δz in normalised units**: ẑ_{t+1} = z_t + Δ.
  The head is zero-initialised, so an untrained model is exactly the copy-last
  baseline, and the dynamics models of :mod:`wmhub.models.dynamics` share the
  same parametrisation.

``frame_skip`` k > 1 makes one model step span k environment steps (LeWorldModel
and DINO-WM's frameskip): the latents are every k-th frame and the action is
the k environment actions of the block, concatenated (``action_dim`` = k · A).
Planning then searches over blocks and looks k times further ahead for the
same number of model steps.

Rollouts are autoregressive: predictions are appended to the context, which
keeps the last k tokens (positions 0..k−1 again). :meth:`WorldModel.rollout`
accepts a single start latent ``[B, D]`` (what :class:`~wmhub.eval.planners.DynamicsRollout`
and the latent suite give a plain dynamics model) or k real past latents
``[B, k, D]`` with the k−1 actions between them. :meth:`step_normalized` is the
history-free one-step prediction (context of one), so the model also runs
wherever a :class:`DynamicsModel` does; :class:`WorldModelRollout` is the
planners' ``RolloutModel`` that keeps the model's own predictions as history.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from wmhub.errors import ConfigError
from wmhub.models.dynamics import DynamicsModel

Conditioning = Literal["adaln", "add"]


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention over time with a causal mask."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, w = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, t, w))


class Block(nn.Module):
    """Pre-LN transformer block; with ``adaln`` the LayerNorms are modulated by the condition."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float, adaln: bool) -> None:
        super().__init__()
        hidden = max(1, round(mlp_ratio * width))
        self.ln1 = nn.LayerNorm(width, elementwise_affine=not adaln)
        self.attn = CausalSelfAttention(width, heads, dropout)
        self.ln2 = nn.LayerNorm(width, elementwise_affine=not adaln)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width), nn.Dropout(dropout))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width)) if adaln else None

    def forward(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        if self.modulation is None:
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(c).chunk(6, dim=-1)
        x = x + gate1 * self.attn(_modulate(self.ln1(x), shift1, scale1))
        return x + gate2 * self.mlp(_modulate(self.ln2(x), shift2, scale2))


class WorldModel(DynamicsModel):
    """Causal transformer predictor ẑ_{t+1} = z_t + Δ(z_{≤t}, a_{≤t}) over a context of k latents."""

    def __init__(self, latent_dim: int, action_dim: int, width: int = 256, depth: int = 4, heads: int = 4,
                 context: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.0, conditioning: Conditioning = "adaln",
                 frame_skip: int = 1, latent: dict[str, Any] | None = None) -> None:
        super().__init__(latent_dim, action_dim, latent)
        if frame_skip < 1 or action_dim % frame_skip:
            raise ConfigError(f"WorldModel frame_skip must be >= 1 and divide action_dim (k environment actions "
                              f"per model step); got frame_skip {frame_skip}, action_dim {action_dim}")
        self.frame_skip = frame_skip
        if min(width, depth, heads, context) < 1 or width % heads:
            raise ConfigError(f"WorldModel needs width, depth, heads, context >= 1 and width divisible by heads; "
                              f"got width {width}, depth {depth}, heads {heads}, context {context}")
        if conditioning not in ("adaln", "add"):
            raise ConfigError(f"WorldModel conditioning must be 'adaln' or 'add', got {conditioning!r}")
        self.context, self.conditioning = context, conditioning
        adaln = conditioning == "adaln"
        self.embed_latent = nn.Linear(latent_dim, width)
        self.embed_action = nn.Sequential(nn.Linear(action_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.position = nn.Parameter(torch.zeros(context, width))
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, dropout, adaln) for _ in range(depth))
        self.ln_f = nn.LayerNorm(width, elementwise_affine=not adaln)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width)) if adaln else None
        self.head = nn.Linear(width, latent_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.position, std=0.02)
        zero = [self.head] + [b.modulation[1] for b in self.blocks if b.modulation is not None]
        zero += [self.final_modulation[1]] if self.final_modulation is not None else []
        for module in zero:  # adaLN-Zero: blocks start as identities, the model as copy-last
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)

    # ------------------------------------------------------------ prediction
    def predict_normalized(self, zn: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next latents ẑ_{t+1} ``[B, T, D]`` from ``zn [B, T, D]`` and ``actions [B, T, A]`` (T ≤ k)."""
        t = zn.shape[-2]
        if t > self.context or actions.shape[-2] != t:
            raise ConfigError(f"WorldModel takes at most {self.context} latents with one action each; got "
                              f"{t} latents and {actions.shape[-2]} actions")
        lead = zn.shape[:-2]
        zn, actions = zn.reshape(-1, t, self.latent_dim), actions.reshape(-1, t, self.action_dim).to(zn.dtype)
        x = self.embed_latent(zn) + self.position[:t]
        c = self.embed_action(actions)
        if self.final_modulation is None:
            x, c = x + c, None
        for block in self.blocks:
            x = block(x, c)
        x = self.ln_f(x)
        if self.final_modulation is not None:
            shift, scale = self.final_modulation(c).chunk(2, dim=-1)
            x = _modulate(x, shift, scale)
        return (zn + self.head(x)).reshape(*lead, t, self.latent_dim)

    def rollout_normalized(self, zn: torch.Tensor, context_actions: torch.Tensor,
                           actions: torch.Tensor) -> torch.Tensor:
        """Open loop from ``zn [B, c, D]`` (c ≥ 1 latents, the last is z_t) and the c−1 ``context_actions``
        ``[B, c−1, A]`` between them, with ``actions [B, H, A]`` (a_t …): ẑ_{t+1..t+H} ``[B, H, D]``."""
        if context_actions.shape[-2] != zn.shape[-2] - 1:
            raise ConfigError(f"a context of {zn.shape[-2]} latents needs {zn.shape[-2] - 1} context actions, "
                              f"got {context_actions.shape[-2]}")
        zs, acts, out = zn, context_actions.to(zn.dtype), []
        for h in range(actions.shape[-2]):
            acts = torch.cat([acts, actions[..., h:h + 1, :].to(zn.dtype)], dim=-2)[..., -self.context:, :]
            zs = zs[..., -self.context:, :]
            nxt = self.predict_normalized(zs, acts)[..., -1:, :]
            out.append(nxt)
            zs = torch.cat([zs, nxt], dim=-2)
        return torch.cat(out, dim=-2)

    def step_normalized(self, zn: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """One step from a single latent (a context of one): ``[..., D]``, ``[..., A]`` → ``[..., D]``."""
        return self.predict_normalized(zn.unsqueeze(-2), a.unsqueeze(-2)).squeeze(-2)

    def delta(self, zn: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.step_normalized(zn, a) - zn

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Raw units. ``z [B, D]``, ``a [B, A]`` → z_{t+1} ``[B, D]``; or a sequence ``z [B, T, D]``,
        ``a [B, T, A]`` → the prediction of the next latent at every position ``[B, T, D]``."""
        zn = self.normalize(z)
        pred = self.step_normalized(zn, a) if z.dim() == 2 else self.predict_normalized(zn, a)
        return self.denormalize(pred)

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor,
                context_actions: torch.Tensor | None = None) -> torch.Tensor:
        """Open-loop predictions ``[B, H, D]`` (raw units) from ``z0 [B, D]`` or from the last c ≤ k real
        latents ``z0 [B, c, D]`` with the ``context_actions [B, c−1, A]`` between them."""
        zn = self.normalize(z0)
        if zn.dim() == actions.dim() - 1:
            zn = zn.unsqueeze(-2)
        if context_actions is None:
            context_actions = actions[..., :0, :].expand(*zn.shape[:-2], zn.shape[-2] - 1, self.action_dim)
        return self.denormalize(self.rollout_normalized(zn, context_actions, actions))


class WorldModelRollout:
    """A planners' ``RolloutModel`` for a :class:`WorldModel` that feeds its predictions back as history.

    (:class:`~wmhub.eval.planners.DynamicsRollout` steps any dynamics model
    with :meth:`WorldModel.step_normalized`, i.e. a context of one at every
    step; this wrapper rolls out autoregressively with up to k tokens.)

    A planning loop that reports what really happened — :meth:`observe` with
    each new latent and the action that led to it (``None`` at an episode's
    start, which clears the history) — gives every rollout its real history of
    up to k latents and the actions between them; without it, a rollout starts
    from a context of one (the start latent alone).

    With ``frame_skip`` s > 1 the loop observes every *environment* step (its
    action ``[A]`` = ``action_dim`` / s); a rollout's context is then the latents
    s, 2s, … environment steps back and the blocks of actions between them, so
    a plan may start inside a block (replanning more often than every s steps).
    """

    def __init__(self, model: WorldModel, device: torch.device | str | None = None) -> None:
        if not isinstance(model, WorldModel):
            raise ConfigError(f"WorldModelRollout wraps a WorldModel, got {type(model).__name__}")
        self.model = model.eval()
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model.to(self.device)
        self.latent_dim, self.action_dim, self.latent = model.latent_dim, model.action_dim, dict(model.latent)
        self.frame_skip = model.frame_skip
        self._latents: list[torch.Tensor] = []   # after each environment step
        self._actions: list[torch.Tensor] = []   # _actions[i] led from _latents[i] to _latents[i + 1]

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.normalize(z)

    def flops_per_step(self) -> int:
        """≈ 2 · parameters · context multiply-adds per sample per step (the window is recomputed)."""
        return 2 * self.model.num_parameters * self.model.context

    def observe(self, z: torch.Tensor | Any, action: Any = None) -> None:
        """Record the real latent ``z [D]`` reached by the environment ``action [A]`` (``None``: a new
        episode starts)."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device).reshape(self.latent_dim)
        if action is None:
            self._latents, self._actions = [], []
        else:
            self._actions.append(torch.as_tensor(action, dtype=torch.float32, device=self.device)
                                 .reshape(self.action_dim // self.frame_skip))
        self._latents.append(z)
        keep = (self.model.context - 1) * self.frame_skip + 1
        self._latents = self._latents[-keep:]
        self._actions = self._actions[len(self._actions) - (len(self._latents) - 1):]

    def _history(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The context: latents every ``frame_skip`` steps back from the last ``[c, D]`` and the action
        blocks between them ``[c − 1, action_dim]``."""
        s = self.frame_skip
        rows = list(range(len(self._latents) - 1, -1, -s))[::-1]
        latents = torch.stack([self._latents[i] for i in rows])
        blocks = [torch.cat(self._actions[i:i + s]) for i in rows[:-1]]
        return latents, torch.stack(blocks) if blocks else latents.new_zeros(0, self.action_dim)

    @torch.inference_mode()
    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, None]:
        """``z0 [D]``, ``actions [N, H, A]`` → (raw latents ``[N, H, D]``, None); from the observed history
        when its last latent is ``z0``."""
        n = actions.shape[0]
        z0 = z0.to(self.device, torch.float32)
        actions = actions.to(self.device, torch.float32)
        if self._latents and torch.equal(self._latents[-1], z0.reshape(self.latent_dim)):
            latents, between = self._history()
            context = latents.expand(n, *latents.shape)
            return self.model.rollout(context, actions, context_actions=between.expand(n, *between.shape)), None
        return self.model.rollout(z0.expand(n, self.latent_dim), actions), None


def world_model_parameters(latent_dim: int, action_dim: int, width: int, depth: int, context: int = 4,
                           mlp_ratio: float = 4.0, conditioning: Conditioning = "adaln") -> int:
    """Exact parameter count of a :class:`WorldModel` (without building it; heads do not matter)."""
    w, hidden = width, max(1, round(mlp_ratio * width))
    adaln = conditioning == "adaln"
    block = (3 * w * w + 3 * w) + (w * w + w) + (2 * w * hidden + hidden + w)
    block += 6 * w * w + 6 * w if adaln else 4 * w
    final = 2 * w * w + 2 * w if adaln else 2 * w
    stem = (latent_dim * w + w) + (action_dim * w + w + w * w + w) + context * w
    return stem + depth * block + final + (w * latent_dim + latent_dim)
