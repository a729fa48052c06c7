"""Training of the generator zoo: each member learns to regenerate the train photos (random
crops, L1 + its family's own terms; an adversarial PatchGAN term for the GAN-style decoders,
the low-noise denoising loss for the pixel diffusion model). Seeded per member."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from export.generators import Generator, GeneratorSpec, PatchDiscriminator
from export.tiles import random_crops

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ZooTraining:
    """Settings shared by every member's training run."""

    crop: int = 32
    batch: int = 16
    lr: float = 2e-3
    steps_scale: float = 1.0


def train_generator(spec: GeneratorSpec, images: list[np.ndarray], settings: ZooTraining) -> Generator:
    """Train one zoo member from scratch on crops of `images` (prepared RGB uint8 photos)."""
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    model = Generator(spec).train()
    optimizer = torch.optim.Adam(model.net.parameters(), lr=settings.lr)
    steps = max(1, round(spec.steps * settings.steps_scale))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    adversarial = spec.config.get("adversarial_weight", 0.0)
    critic = PatchDiscriminator() if adversarial else None
    critic_optimizer = torch.optim.Adam(critic.parameters(), lr=settings.lr / 4) if critic else None
    noise = torch.Generator().manual_seed(spec.seed)
    usage = None
    for step in (bar := tqdm(range(steps), desc=spec.name, leave=False)):
        x = random_crops(images, settings.crop, settings.batch, rng)
        if spec.kind == "vq" and step < steps * 0.8:
            usage = _restart_dead_codes(model, x, usage, step, noise)
        if spec.kind == "ddpm":
            loss = model.denoise_loss(x, noise)
        else:
            y, auxiliary = model.reconstruct(x)
            loss = (y - x).abs().mean() + auxiliary
            if critic is not None:
                loss = loss - adversarial * critic(y).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if critic is not None:
            critic_loss = torch.relu(1 - critic(x)).mean() + torch.relu(1 + critic(y.detach())).mean()
            critic_optimizer.zero_grad()
            critic_loss.backward()
            critic_optimizer.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
    return model.eval()


def _restart_dead_codes(model: Generator, x: torch.Tensor, usage, step: int, generator: torch.Generator):
    """Count code usage over windows of 50 steps; at each window's end, codes no crop chose are
    moved onto random encoder outputs (the usual cure for VQ codebook collapse)."""
    rows, counts = model.code_usage(x)
    usage = counts if usage is None else usage + counts
    if (step + 1) % 50 == 0:
        restarted = model.restart_dead_codes(usage, rows, generator)
        logger.debug("step %d: %d dead codes restarted", step + 1, restarted)
        return None
    return usage
