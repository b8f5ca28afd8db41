"""Representation-collapse diagnostics for latents (for encoders trained end to end with a predictor).

A JEPA trained end to end can minimise its prediction loss by mapping every
observation to the same latent (complete collapse) or to a low-dimensional
subspace (dimensional collapse). Two cheap symptoms, on a sample of latents
``[N, D]``:

* per-dimension standard deviation over the sample (min and mean): near 0 when
  the latents no longer vary;
* effective rank (Roy & Vetterli, 2007): ``exp(H(p))`` with ``p`` the singular
  values of the centred latents divided by their sum and H the Shannon
  entropy; between 1 (rank one) and D (all directions used equally); 0 for
  constant latents.

>>> stats = collapse_stats(encoder_latents)   # {'per_dim_std_min': ..., 'effective_rank': ..., 'collapsed': False}
"""

from __future__ import annotations

from typing import Any

import torch

from toolkit.errors import WmhubError


def effective_rank(latents: torch.Tensor) -> float:
    """``exp`` of the entropy of the normalised singular values of the centred ``latents [N, D]``."""
    x = latents.detach().to(torch.float64)
    x = x - x.mean(0)
    # singular values from the D × D Gram matrix: cheap for N ≫ D, the same values
    s = torch.linalg.eigvalsh(x.T @ x).clamp_min(0).sqrt()
    total = s.sum()
    if total <= 1e-12 * max(1.0, float(x.abs().max())) * x.shape[0] ** 0.5:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def collapse_stats(latents: torch.Tensor, *, min_std: float = 1e-4, min_rank_fraction: float = 0.02,
                   min_rank: float = 1.5) -> dict[str, Any]:
    """Collapse diagnostics of ``latents [N, D]`` (N ≥ 2 samples).

    ``collapsed`` is true when the mean per-dimension std is at most ``min_std``
    (the latents barely vary: complete collapse) or the effective rank is below
    ``max(min_rank, min_rank_fraction · D)`` (dimensional collapse; a rank-one
    sample has effective rank ≈ 1).
    """
    if latents.dim() != 2 or latents.shape[0] < 2:
        raise WmhubError(f"collapse_stats needs latents shaped [N, D] with N >= 2, got {tuple(latents.shape)}; "
                         "flatten any batch/time axes into N first")
    if not torch.isfinite(latents).all():
        raise WmhubError("collapse_stats: the latents hold NaN or inf values; check the encoder's output first")
    std = latents.detach().to(torch.float64).std(0)
    rank = effective_rank(latents)
    threshold = max(min_rank, min_rank_fraction * latents.shape[1])
    return {"per_dim_std_min": float(std.min()), "per_dim_std_mean": float(std.mean()),
            "effective_rank": rank, "dims": int(latents.shape[1]),
            "collapsed": bool(float(std.mean()) <= min_std or rank < threshold)}


def within_episode_share(latents: torch.Tensor, episodes: torch.Tensor) -> float:
    """Share of the latents' total variance that lies *within* episodes (mean over dimensions).

    Near 0 means the latent is (almost) constant inside an episode and varies only between
    episodes: it encodes what an episode keeps fixed (reacher's target position), not the state
    that moves — a "static shortcut" that per-batch anti-collapse terms such as SIGReg do not see
    when a batch holds one window per episode. For a state latent it is well above 0.
    """
    x = latents.detach().to(torch.float64)
    total = x.var(0, unbiased=False).clamp_min(1e-12)
    ids, inverse = torch.unique(episodes, return_inverse=True)
    means = torch.zeros(len(ids), x.shape[1], dtype=torch.float64).index_add_(0, inverse, x)
    means /= torch.bincount(inverse, minlength=len(ids)).unsqueeze(1).to(torch.float64)
    within = ((x - means[inverse]) ** 2).mean(0)
    return float((within / total).mean())
