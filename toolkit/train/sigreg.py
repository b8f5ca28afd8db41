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
an exact N(0, I) sample in the limit, ≈ 0.40 for a collapsed batch (all z = 0; :func:`collapsed_value`), ≈ 1/N for an N-sample from N(0, I).
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
    directions = torch.randn(z.shape[-1], num_slices, generator=generator)
    directions = (directions / directions.norm(dim=0, keepdim=True)).to(z.device, z.dtype)
    return epps_pulley(z.reshape(-1, z.shape[-1]) @ directions, knots, t_max).mean()


def collapsed_value(knots: int = 17, t_max: float = 3.0) -> float:
    """SIGReg of a completely collapsed batch (every z = 0), for reading the logged values."""
    return float(epps_pulley(torch.zeros(2, 1, dtype=torch.float64), knots, t_max)[0])
