"""Losses of the decoupling framework."""
from __future__ import annotations

import torch
from torch import nn


def supervised_contrastive(features: torch.Tensor, groups: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon (Khosla et al. 2020): L2-normalized features pulled together within a group and
    pushed apart across groups. Anchors with no positive in the batch are skipped."""
    z = nn.functional.normalize(features, dim=1)
    logits = z @ z.t() / temperature
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, -1e9)
    positives = (groups[:, None] == groups[None, :]) & ~eye
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    count = positives.sum(dim=1)
    valid = count > 0
    if not valid.any():  # no two tiles of a group (a dataset whose sources bring their own images)
        return features.sum() * 0.0
    mean_log_prob = (log_prob * positives).sum(dim=1)[valid] / count[valid]
    return -mean_log_prob.mean()


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight):
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.weight * grad, None


def reverse_gradient(x: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """Identity forward; the gradient flips sign (an adversary the encoder learns to defeat)."""
    return _GradientReversal.apply(x, weight)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)), summed over dimensions, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(dim=1).mean()

