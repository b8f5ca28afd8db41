"""SIGReg: the anti-collapse term of LeJEPA / LeWorldModel, written from the papers' definition.

Sketched Isotropic Gaussian Regularisation pushes a batch of embeddings
``z [N, D]`` towards an isotropic standard Gaussian, which rules out complete
collapse (all z equal) and dimensional collapse (z in a subspace). For M random
unit directions u_m (fresh every call), the 1-d projections x = z·u_m are
compared with N(0, 1) by the Epps–Pulley statistic, the weighted distance
between the projections' empirical characteristic function and the Gaussian's:

    EP_m = ∫ |φ̂_m(t) − e^{−t²/2}|² · e^{−t²/2} dt,   φ̂_m(t) = mean_n exp(i t x_n)

integrated by the trapezoidal rule on ``knots`` points of [0, t_max] (the
integrand is even, hence the factor 2). SIGReg is the mean of EP_m over the M
directions. By the Cramér–Wold theorem, matching every 1-d projection means
matching the distribution.

Decision (documented in README's design notes): wmhub reports the statistic
*per sample* (LeJEPA's test statistic is N · EP); the recipe weight
``training.sigreg_weight`` is then independent of the batch size. Values: 0 for
an exact N(0, I) sample in the limit, ≈ 0.40 for a collapsed batch (all z = 0;
:func:`collapsed_value`), ≈ 1/N for an N-sample from N(0, I).
"""

from __future__ import annotations

import torch


def epps_pulley(x: torch.Tensor, knots: int = 17, t_max: float = 3.0) -> torch.Tensor:
    """Epps–Pulley distance of each column of ``x [N, M]`` from N(0, 1): ``[M]``."""
    t = torch.linspace(0.0, t_max, knots, device=x.device, dtype=x.dtype)
    xt = x.unsqueeze(-1) * t                       # [N, M, K]
    gauss = torch.exp(-0.5 * t * t)                # φ of N(0, 1), also the weight
    real, imag = torch.cos(xt).mean(0), torch.sin(xt).mean(0)
    integrand = ((real - gauss) ** 2 + imag ** 2) * gauss
    return 2.0 * torch.trapezoid(integrand, t, dim=-1)


def sigreg(z: torch.Tensor, num_slices: int = 256, generator: torch.Generator | None = None,
           knots: int = 17, t_max: float = 3.0) -> torch.Tensor:
    """SIGReg of embeddings ``z [N, D]``: mean Epps–Pulley statistic over ``num_slices`` random directions.

    The directions are drawn on the CPU (from ``generator``, else the global
    torch RNG, which the trainer seeds and checkpoints) so a run gives the same
    directions on every device.
    """
    return epps_pulley(z.reshape(-1, z.shape[-1]) @ _directions(z, num_slices, generator), knots, t_max).mean()


def sigreg_per_group(z: torch.Tensor, groups: torch.Tensor, num_slices: int = 256,
                     generator: torch.Generator | None = None, knots: int = 17, t_max: float = 3.0) -> torch.Tensor:
    """SIGReg of each group of rows of ``z [N, D]`` on its own (``groups [N]``, e.g. episode indices),
    averaged with the groups' sizes as weights; the same random directions for every group.

    With episodes as groups, each episode's embeddings must look like N(0, I) by themselves, so what an
    episode keeps fixed (reacher's target) earns nothing: a static embedding is a collapsed one.
    """
    x = z.reshape(-1, z.shape[-1]) @ _directions(z, num_slices, generator)
    _, group_of, sizes = torch.unique(groups.reshape(-1), return_inverse=True, return_counts=True)
    values = torch.stack([epps_pulley(x[group_of == g], knots, t_max).mean() for g in range(len(sizes))])
    return (values * sizes.to(values.dtype)).sum() / sizes.sum()


def _directions(z: torch.Tensor, num_slices: int, generator: torch.Generator | None) -> torch.Tensor:
    """``num_slices`` random unit directions ``[D, M]``, drawn on the CPU, on ``z``'s device and dtype."""
    directions = torch.randn(z.shape[-1], num_slices, generator=generator)
    return (directions / directions.norm(dim=0, keepdim=True)).to(z.device, z.dtype)


def collapsed_value(knots: int = 17, t_max: float = 3.0) -> float:
    """SIGReg of a completely collapsed batch (every z = 0), for reading the logged values."""
    return float(epps_pulley(torch.zeros(2, 1, dtype=torch.float64), knots, t_max)[0])
