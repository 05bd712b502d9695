"""VAE losses: masked reconstruction, KL divergence to N(0, I), and the KL weight (beta) schedule.

The negative ELBO per snip is ``recon + beta * KL`` (Kingma & Welling, 2014; beta weighting from
Higgins et al., 2017, "beta-VAE"; KL warm-up as in Bowman et al., 2016). Reconstruction is summed over
the valid (time, channel) entries of a snip (with unit-variance Gaussian likelihood MSE is the
negative log-likelihood up to constants and a factor 1/2), KL is summed over latent dimensions, and
both are averaged over the snips of a batch that have at least one valid entry: a snip that is
entirely missing contributes to neither term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-dimension KL(N(mu, exp(logvar)) || N(0, 1)): (B, Z) -> (B, Z), all >= 0.

    Closed form: ``0.5 * (mu^2 + exp(logvar) - 1 - logvar)``.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def recon_loss(
    x_hat: torch.Tensor,
    x: torch.Tensor,
    mask: torch.Tensor | None = None,
    kind: str = "mse",
    delta: float = 1.0,
) -> torch.Tensor:
    """Masked reconstruction loss per snip: (B, T, C) x3 -> (B,).

    Args:
        kind: ``mse`` (squared error) or ``huber`` (Huber loss with transition ``delta``).
        mask: bool (B, T, C); False entries (missing samples) contribute nothing.

    Raises:
        ValueError: unknown ``kind`` or shape mismatch.
    """
    if x_hat.shape != x.shape:
        raise ValueError(f"reconstruction shape {tuple(x_hat.shape)} != input shape {tuple(x.shape)}")
    if kind == "mse":
        err = (x_hat - x).pow(2)
    elif kind == "huber":
        err = F.huber_loss(x_hat, x, reduction="none", delta=delta)
    else:
        raise ValueError(f"recon_loss kind must be 'mse' or 'huber' (got {kind!r})")
    if mask is not None:
        err = err * mask.to(err.dtype)
    return err.flatten(1).sum(1)


@dataclass
class LossTerms:
    """Batch means: ``loss = recon + beta * kl``; ``kl_per_dim`` (Z,); ``n`` snips that counted."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    kl_per_dim: torch.Tensor
    n: int


def vae_loss(
    x_hat: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float,
    mask: torch.Tensor | None = None,
    kind: str = "mse",
    delta: float = 1.0,
) -> LossTerms:
    """Negative ELBO of a batch with masks in both terms.

    Shapes: ``x_hat``, ``x``, ``mask`` (B, T, C); ``mu``, ``logvar`` (B, Z). Snips without any valid
    entry are left out of both the reconstruction and the KL means.
    """
    rec = recon_loss(x_hat, x, mask, kind, delta)  # (B,)
    kl_d = kl_divergence(mu, logvar)  # (B, Z)
    if mask is not None:
        keep = mask.flatten(1).any(1).to(rec.dtype)  # (B,)
    else:
        keep = torch.ones_like(rec)
    n = keep.sum().clamp_min(1.0)
    recon = (rec * keep).sum() / n
    kl_per_dim = (kl_d * keep[:, None]).sum(0) / n
    kl = kl_per_dim.sum()
    return LossTerms(loss=recon + beta * kl, recon=recon, kl=kl, kl_per_dim=kl_per_dim, n=int(keep.sum().item()))


def beta_at(epoch: float, beta: float, schedule: str = "linear", warmup_epochs: int = 0) -> float:
    """KL weight at (fractional) ``epoch`` (0-based; ``epoch = e + i / n_batches`` within epoch e).

    - ``constant``: ``beta``.
    - ``linear``: ``beta * min(1, epoch / warmup_epochs)``: 0 at the start, ``beta`` from ``warmup_epochs`` on.
    - ``step``: 0 before ``warmup_epochs``, ``beta`` from then on.

    ``warmup_epochs = 0`` gives ``beta`` throughout for every schedule.

    Raises:
        ValueError: unknown schedule.
    """
    if schedule not in ("constant", "linear", "step"):
        raise ValueError(f"beta schedule must be constant, linear or step (got {schedule!r})")
    if schedule == "constant" or warmup_epochs <= 0:
        return float(beta)
    if schedule == "linear":
        return float(beta * min(1.0, max(0.0, epoch) / warmup_epochs))
    return float(beta if epoch >= warmup_epochs else 0.0)
