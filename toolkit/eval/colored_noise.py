"""Temporally correlated ("colored") Gaussian noise for sampling action sequences (iCEM).

White noise draws every action of a sequence independently, so a planner
rarely samples what a far goal needs: the same strong action held for many
steps. Pinneri et al. (2020, "Sample-efficient cross-entropy method for
real-time planning") draw sequences with power spectral density ∝ 1/f^β
instead: β = 0 is white noise, β = 2 a random-walk-like signal whose samples
persist for a large part of the horizon.

Measured on the pixel reacher world model (BENCHMARKS.md, "Colored-noise
CEM"): for three of the five starts that every white-noise run missed, CEM's
best plan scored worse under the model than a held constant action.
"""

from __future__ import annotations

import torch


def colored_noise(samples: int, steps: int, dims: int, beta: float, generator: torch.Generator,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """Unit-variance Gaussian noise ``[samples, steps, dims]``, correlated over ``steps`` with PSD ∝ 1/f^β.

    Each (sample, dim) series is the inverse real FFT of independent complex
    Gaussians scaled by ``f^(−β/2)`` (the zero frequency takes the lowest
    non-zero one's scale, 1/steps, as in the reference implementation), divided
    by its exact standard deviation, so every entry is N(0, 1) whatever β; β = 0
    gives white noise. Deterministic for a seeded ``generator``.
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if beta == 0 or steps < 2:
        return torch.randn(samples, steps, dims, generator=generator, device=device)
    freqs = torch.fft.rfftfreq(steps, device=device)
    freqs[0] = 1.0 / steps
    scale = freqs.pow(-beta / 2.0)
    shape = (samples, dims, len(freqs))
    real = torch.randn(shape, generator=generator, device=device)
    imag = torch.randn(shape, generator=generator, device=device)
    # irfft keeps only the real part of the zero (and, for even steps, the Nyquist) frequency, so that
    # part gets √2 (the full power of a complex coefficient); every other frequency enters with its
    # conjugate, 2·Re(X e^{iθ}): variance 4·s²
    real_only = [0, len(freqs) - 1] if steps % 2 == 0 else [0]
    real[..., real_only] *= 2.0 ** 0.5
    imag[..., real_only] = 0.0
    series = torch.fft.irfft(torch.complex(real, imag) * scale, n=steps)  # [samples, dims, steps]
    power = 4.0 * scale.pow(2).sum() - 2.0 * scale[real_only].pow(2).sum()
    return (series / (power.sqrt() / steps)).transpose(1, 2)
