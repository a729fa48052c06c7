"""Phase 2: the counterfactual branch of G, x_cf = x + clip(G(f_target, c, r) - G(f, c, r)), trained so
the frozen attributor, reading x_cf as saved, finds the target (see export.train)."""
from __future__ import annotations

import logging
import math
from pathlib import Path

from export.checkpoints import model_device, save_checkpoint
from export.config import CF_OBJECTIVES, TrainConfig

logger = logging.getLogger(__name__)


def counterfactual(model, x, x_hat, mu, content, f_target, max_rms: float):
    """x_cf = x + clip(G(f_target, c, r) - G(f, c, r)), r = x - x_hat, clamped to [-1, 1]; clip
    scales each tile's change down to an RMS of at most `max_rms`. Differentiable in G.
    Returns (x_cf, change)."""
    residual = x - x_hat
    delta = clip_change(model.decode(f_target.expand_as(mu), content, residual) - model.decode(mu, content, residual),
                        max_rms)
    return (x + delta).clamp(-1, 1), delta


def clip_change(delta, max_rms: float):
    """Each tile's change (N, 3, S, S) scaled down to an RMS of at most `max_rms` (differentiable)."""
    rms = delta.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
    return delta * (max_rms / rms.clamp_min(1e-12)).clamp(max=1.0)


def neutral_loss(log_probs, sources, generators: list[int], real_index: int, objective: str):
    """How far a head's view of neutral counterfactuals is from anonymous. "uniform": cross-entropy
    to the uniform distribution over the generators (pulls up the least likely ones most); "away":
    -log(1 - p(true source) - p(real)), which spends the change budget on the tiles that still name
    their source (or look laundered into "real"), plus a tenth of "uniform" so no single other
    generator is singled out."""
    import torch

    uniform = -log_probs[:, generators].mean()
    if objective == "uniform":
        return uniform
    if objective != "away":
        raise ValueError(f"cf_objective must be one of {', '.join(CF_OBJECTIVES)}, got {objective!r}")
    named = log_probs.gather(1, sources[:, None]).exp().squeeze(1) + log_probs[:, real_index].exp()
    return -torch.log1p(-named.clamp(max=1 - 1e-6)).mean() + 0.1 * uniform


def as_saved(x):
    """x as an 8-bit image holds it ([-1, 1] rounded to 255 levels), with the gradient of the
    identity (straight-through): the counterfactual is judged as it will be saved."""
    return x + (as_8bit(x) - x).detach()


def as_8bit(x):
    """Tiles in [-1, 1] as an 8-bit image holds them: clamped, rounded to the 255 levels."""
    from export.tiles import to_pixels, to_unit

    return to_unit(to_pixels(x))


def reencode(model, reconstructor, x):
    """The attributor's view of an image tensor: reconstruct it, then encode (differentiable)."""
    z = reconstructor.encode(x)
    x_hat = reconstructor.decode(z).clamp(-1, 1)
    return model.encode(x, x_hat, z, reconstructor.encode(x_hat))


def train_phase2(config: TrainConfig, model, reconstructor, tiles, protos, neutral, real_index: int,
                 checkpoint: Path, judges=()):
    """Counterfactual training of G's trace branch only; everything else is frozen. Half of each
    batch aims at the neutral target (`neutral_loss` with `config.cf_objective`), half at a random
    named generator, as judged by every head on its own, and by `judges` (Surrogates; the mean loss
    of each family's surrogates weighted by `config.w_judge`) when given."""
    import torch
    from torch import nn
    from tqdm import tqdm

    from runtime.engine import max_change_rms

    trace = model.decoder.trace
    for p in model.parameters():
        p.requires_grad_(False)
    for p in trace.parameters():
        p.requires_grad_(True)
    model.eval()
    device = model_device(model)
    generated = torch.nonzero(tiles.labels != real_index).flatten()
    generators = [k for k in range(len(protos)) if k != real_index]
    max_rms = max_change_rms(config.cf_psnr_floor)
    resumed = torch.load(checkpoint, weights_only=False, map_location=device) if checkpoint.is_file() else None
    if resumed is not None:
        trace.load_state_dict(resumed["trace"])
    else:
        scale = settle_trace_scale(model, tiles, generated[:256], neutral, max_rms)
        logger.info("trace branch output scaled by %.3g (its smaller changes at the budget)", scale)
    optimizer = torch.optim.Adam(trace.parameters(), lr=config.cf_lr)
    start = 0
    if resumed is not None:
        optimizer.load_state_dict(resumed["optimizer"])
        start = resumed["step"]
    rng = torch.Generator().manual_seed(config.seed + 1000 + start)
    bar = tqdm(range(start, config.cf_steps), desc="phase 2 (counterfactual)", initial=start, total=config.cf_steps)
    for step in bar:
        index = generated[torch.randperm(len(generated), generator=rng)[: config.cf_batch]]
        x, x_hat, z, z_hat = tiles.batch(index, device)
        with torch.no_grad():
            out = model.encode(x, x_hat, z, z_hat)
        half = len(index) // 2
        targets = torch.tensor(generators)[torch.randint(len(generators), (len(index) - half,), generator=rng)].to(device)
        f_target = torch.cat([neutral.expand(half, -1), protos[targets]])
        x_cf, delta = counterfactual(model, x, x_hat, out["mu"], out["content"], f_target, max_rms)
        x_cf = as_saved(x_cf)
        seen = reencode(model, reconstructor, x_cf)
        heads = [seen["logits"]] + list(seen["space_logits"].values())
        sources = tiles.labels[index][:half].to(device)

        def judged(logits):
            """(neutral, named) losses of one judge's logits."""
            return (neutral_loss(nn.functional.log_softmax(logits[:half], 1), sources, generators, real_index,
                                 config.cf_objective),
                    nn.functional.cross_entropy(logits[half:], targets))

        ours = [judged(h) for h in heads]
        loss_neutral = sum(part[0] for part in ours) / len(ours)
        loss_named = sum(part[1] for part in ours) / len(ours)
        loss = loss_neutral + loss_named
        postfix = {}
        for family in dict.fromkeys(judge.family for judge in judges):
            judge_logits = [judge(x_cf, seen) for judge in judges if judge.family == family]
            loss = loss + config.w_judge * sum(sum(judged(logits)) for logits in judge_logits) / len(judge_logits)
            fooled = [(logits[:half].argmax(1) == sources).float().mean().item() for logits in judge_logits]
            postfix[f"{family}_true"] = f"{sum(fooled) / len(fooled):.2f}"
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        true_rate = (seen["decision"][:half].argmax(1) == sources).float().mean()
        psnr = 10 * torch.log10(4.0 / delta.pow(2).mean().clamp_min(1e-12))
        bar.set_postfix(neutral=f"{loss_neutral.item():.3f}", named=f"{loss_named.item():.3f}",
                        true_source=f"{true_rate.item():.2f}", psnr=f"{psnr.item():.1f}", **postfix)
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.cf_steps:
            save_checkpoint(checkpoint, trace=trace.state_dict(), optimizer=optimizer.state_dict(),
                            step=step + 1)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def settle_trace_scale(model, tiles, index, f_target, max_rms: float, quantile: float = 0.1) -> float:
    """Scale G's trace branch down (never up) so that the `quantile` of its changes toward
    `f_target` on the tiles `index` sits at the budget `max_rms`; returns the factor.

    The clip makes a counterfactual blind to the trace branch's overall scale, so training lets it
    drift (the branch shipped before the spectral gains had reached 1e5 to 1e8 times the budget),
    and a part added later (the spectral gains, zero at first) would start outmatched. The scale
    goes into the branch's scale buffers, never its weights, and a conv output layer scaled down
    in its weights before them (the first spectral run did) is brought back to its initial size
    with the difference moved to the buffer: Adam steps a weight by about lr whatever its size.
    The clipped changes above the quantile stay as they were (up to the global decoder's share)."""
    import torch

    trace = model.decoder.trace
    with torch.no_grad():
        weight = trace.out.weight
        initial = 1 / math.sqrt(3 * weight[0].numel())  # RMS of PyTorch's default conv init
        size = float(weight.pow(2).mean().sqrt()) / initial
        if size > 0:
            weight.div_(size)
            trace.conv_scale.mul_(size)
        x, x_hat, z, z_hat = tiles.batch(index, model_device(model))
        out = model.encode(x, x_hat, z, z_hat)
        _, delta = counterfactual(model, x, x_hat, out["mu"], out["content"], f_target.expand_as(out["mu"]),
                                  max_rms=math.inf)
        rms = delta.pow(2).mean(dim=(1, 2, 3)).sqrt()
        scale = min(1.0, max_rms / float(torch.quantile(rms, quantile)))
        trace.conv_scale.mul_(scale)
        if trace.spectral is not None:
            trace.spectral.scale.mul_(scale)
    return scale
