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


def fisher_ratio_loss(features: torch.Tensor, labels: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """log tr(S_W) - log tr(S_B) of a batch: minus the log of the Fisher discriminant ratio the
    evaluation reports (export.evaluate.fisher_discriminant_ratio), so each class's features are
    pulled to their class mean relative to the spread of the class means, whatever their scale."""
    classes, inverse = torch.unique(labels, return_inverse=True)
    counts = torch.bincount(inverse, minlength=len(classes)).to(features.dtype)
    means = torch.zeros(len(classes), features.shape[1], dtype=features.dtype, device=features.device)
    means = means.index_add(0, inverse, features) / counts[:, None]
    within = (features - means[inverse]).pow(2).sum(1).mean()
    between = (means[inverse] - features.mean(0)).pow(2).sum(1).mean()
    return torch.log(within + eps) - torch.log(between + eps)


def energy_margin_loss(known_logits: torch.Tensor, unknown_logits: torch.Tensor,
                       margin_known: float, margin_unknown: float) -> torch.Tensor:
    """Energy-bounded outlier exposure (Liu et al. 2020): squared hinges that push the energy
    -logsumexp(logits) of known tiles below `margin_known` and of unknown ones above `margin_unknown`,
    so the runtime's open-set score (the same energy) separates them."""
    known = -torch.logsumexp(known_logits, dim=1)
    unknown = -torch.logsumexp(unknown_logits, dim=1)
    return (nn.functional.relu(known - margin_known).pow(2).mean()
            + nn.functional.relu(margin_unknown - unknown).pow(2).mean())
