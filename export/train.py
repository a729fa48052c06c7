"""Train the causal-fingerprint model on a dataset built by `python -m export.zoo build`.

    python -m export.zoo build --output data/zoo
    python -m export.train --dataset data/zoo --output runs/causal            # resumes if stopped
    python -m export.train --dataset data/zoo --output runs/ablation --ablation residual-only
    python -m export.train --dataset data/zoo --output runs/more --init-from runs/causal/model.pt --cf-steps 2000
    python -m export.train --dataset data/zoo --output runs/ft --finetune-from runs/causal/model.pt --steps 1500 --lr 5e-4

Phase 1 (attribution and decoupling): fused + per-space cross-entropy; supervised contrastive on
the fingerprint f by source across contents (do(content) must not move f) and on the content code
c by content across sources (do(source) must not move c); a gradient-reversal adversary so c
cannot predict the source; VAE reconstruction of the residual from (f, c) + KL on f. Then the
decision heads: the subset of space heads whose product with the f head is most accurate on the
validation photos.
Phase 2 (counterfactuals): G's trace branch alone (pixel-aligned convolutions and per-frequency
DCT gains, both reading r; the VAE decoder G(f, c) of phase 1 stays as it is) learns
x_cf = x + clip(G(f_target, c, r) - G(f, c, r)) (r = x - R(x); clip: the change of each tile is
scaled down to a PSNR floor) so that the frozen attributor, reading x_cf
through the real reconstructor, finds the target ("neutral": neither the true source nor "real" is
found, no other generator singled out; or a named generator X), each judged as saved (8-bit,
straight-through rounding). Surrogates of the dct-linear baseline family
(export.baselines.DctLinearJudge: the baseline's features, fitted independently on random-phase
tiles of the clean train photos, `judges` fits on as many draws) can judge the counterfactuals too,
with weight `w_judge`
(bench/experiments/results/judge_fidelity.json: how often it agrees with the baseline it stands in for), and
`cnn_judges` surrogates each of the two CNN families (Surrogate: the pixel-cnn network on raw pixels,
and on the pixel residual as the residual-only ablation reads it), each family's mean at `w_judge`.
`--init-from CHECKPOINT` skips phase 1: the run starts from that checkpoint's weights, keeps its
phase-1 settings and calibration (prototypes, decision heads, open-set threshold), and trains
`cf_steps` more counterfactual steps from its trace branch (adding the spectral gains, zero at
first, to a checkpoint made before them). A fresh phase 2 first scales a trace branch that has
drifted far past the change budget back to it (settle_trace_scale).
`--device` (default "auto": cuda when present) runs the steps on a GPU; tiles, draws and
calibration stay on the CPU, and checkpoints are saved from the CPU, so a run made on a GPU loads
anywhere (`export.chain` and `export.tilepack` run the counterfactual chain on a GPU machine that
has no copy of the dataset).
"""
from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from export.checkpoints import continued_from, model_device, model_from_source, phase1_start, save_checkpoint
from export.config import TrainConfig, continued_config, parse_config, torch_device
from export.judges import load_or_fit_judges
from export.phase2 import train_phase2
from export.trainset import build_eval_tiles, known_labels, load_or_build_tiles

logger = logging.getLogger(__name__)


def phase1_loss(config: TrainConfig, model, adversary, batch, labels, contents):
    """Loss of one attribution/decoupling step, and its parts for the progress bar."""
    import torch
    from torch import nn

    from export.losses import gaussian_kl, reverse_gradient, supervised_contrastive

    out = model.encode(*batch)
    f = out["mu"] + torch.randn_like(out["mu"]) * (0.5 * out["logvar"]).exp()
    parts = {"ce": nn.functional.cross_entropy(model.head(f), labels)}
    if not config.decoupled:
        return parts["ce"], parts
    parts["space"] = sum(nn.functional.cross_entropy(logits, labels)
                         for logits in out["space_logits"].values()) / len(out["space_logits"])
    parts["supcon_f"] = supervised_contrastive(out["mu"], labels, config.temperature)
    parts["supcon_c"] = supervised_contrastive(out["content"], contents, config.temperature)
    parts["adversary"] = nn.functional.cross_entropy(adversary(reverse_gradient(out["content"])), labels)
    residual = model.decoder(f, out["content"])
    parts["recon"] = nn.functional.mse_loss(residual, out["residual"])
    parts["kl"] = gaussian_kl(out["mu"], out["logvar"])
    total = (parts["ce"] + config.w_space * parts["space"] + config.w_supcon_f * parts["supcon_f"]
             + config.w_supcon_c * parts["supcon_c"] + config.w_adversary * parts["adversary"]
             + config.w_recon * parts["recon"] + config.w_kl * parts["kl"])
    return total, parts


def content_batches(tiles, tiles_per_batch: int, generator):
    """Endless batches of whole content groups, about `tiles_per_batch` tiles each: in a
    content-matched dataset a group is every class of the same tile, so each batch holds the
    interventions do(source) (within a group) and do(content) (across groups)."""
    import torch

    order = torch.argsort(tiles.content, stable=True)
    groups = torch.unique_consecutive(tiles.content[order], return_counts=True)[1]
    starts = torch.cumsum(groups, 0) - groups
    while True:
        chosen = torch.randperm(len(groups), generator=generator)
        take = int(torch.searchsorted(torch.cumsum(groups[chosen], 0), tiles_per_batch)) + 1
        yield torch.cat([order[starts[g] : starts[g] + groups[g]] for g in chosen[:take].tolist()])


def train_phase1(config: TrainConfig, model, adversary, tiles, checkpoint: Path):
    """Attribution and decoupling; resumes from `checkpoint`. Returns (model, loss per step)."""
    import torch
    from tqdm import tqdm

    device = model_device(model)
    params = list(model.parameters()) + list(adversary.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, config.steps) / config.steps)))
    start = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False, map_location=device)
        model.load_state_dict(state["model"])
        adversary.load_state_dict(state["adversary"])
        start = state["step"]
        if start >= config.steps:
            logger.info("phase 1 already done (%d steps)", start)
            return model.eval(), []
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        logger.info("resumed phase 1 at step %d", start)
    generator = torch.Generator().manual_seed(config.seed + start)
    torch.manual_seed(config.seed + start)
    batches = content_batches(tiles, config.contents_per_batch * len(tiles.names), generator)
    model.train()
    losses = []
    bar = tqdm(range(start, config.steps), desc="phase 1", initial=start, total=config.steps)
    for step in bar:
        index = next(batches)
        batch = tiles.batch(index, device)
        labels, contents = tiles.labels[index], tiles.content[index]
        loss, parts = phase1_loss(config, model, adversary, batch, labels.to(device), contents.to(device))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix({k: f"{v.item():.3f}" for k, v in parts.items()})
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            save_checkpoint(checkpoint, model=model.state_dict(), adversary=adversary.state_dict(),
                            optimizer=optimizer.state_dict(), schedule=schedule.state_dict(), step=step + 1)
    return model.eval(), losses


def fingerprints(model, tiles, batch: int = 256) -> dict:
    """Every tile's mu (N, F), f-head logits (N, K), decision log-probabilities (N, K) and
    per-space logits (N, spaces, K), in eval mode, computed on the model's device, on the CPU."""
    import torch

    keys = ("mu", "logits", "decision", "space_logits")
    parts = {key: [] for key in keys}
    device = model_device(model)
    with torch.no_grad():
        for start in range(0, len(tiles), batch):
            out = model.encode(*tiles.batch(slice(start, start + batch), device))
            out["space_logits"] = torch.stack([out["space_logits"][s] for s in model.config.spaces], dim=1)
            for key in keys:
                parts[key].append(out[key].cpu())
    return {key: torch.cat(value) for key, value in parts.items()}


def choose_decision_spaces(outputs: dict, labels, spaces: tuple[str, ...]) -> tuple[tuple[str, ...], dict]:
    """The subset of space heads whose product with the f head is most accurate on `outputs`
    (the validation tiles); ties go to fewer heads. Returns (spaces, accuracy of every subset)."""
    from itertools import combinations

    from export.model import decision

    scores = {}
    for size in range(len(spaces) + 1):
        for subset in combinations(range(len(spaces)), size):
            log_probs = decision(outputs["logits"], [outputs["space_logits"][:, i] for i in subset])
            scores[tuple(spaces[i] for i in subset)] = float((log_probs.argmax(1) == labels).float().mean())
    best = max(scores, key=lambda subset: (scores[subset], -len(subset)))
    return best, {"+".join(("f",) + subset): value for subset, value in scores.items()}


def prototypes_and_scale(mu, labels, num_classes: int):
    """Class means of f, and the pooled within-class standard deviation per dimension."""
    import torch

    protos = torch.stack([mu[labels == k].mean(0) for k in range(num_classes)])
    spread = (mu - protos[labels]).pow(2).mean(0).sqrt().clamp_min(1e-6)
    return protos, spread


def prototype_distance(mu, protos, spread):
    """RMS distance to the nearest prototype in within-class standard deviations."""
    import torch

    scaled = (mu[:, None, :] - protos[None]) / spread
    return torch.sqrt(scaled.pow(2).mean(-1)).min(dim=1).values


def open_set_score(logits):
    """The "unknown source" score of a tile, higher: more likely unknown. The energy score
    -logsumexp(logits) (Liu et al. 2020): on the held-out zoo members it separates better than
    the distance to the nearest prototype (bench/results/attribution.md, open set)."""
    import torch

    return -torch.logsumexp(logits, dim=1)


def select_decision(model, val_outputs: dict, val_labels):
    """Set the model's decision heads to the subset chosen on the validation tiles' `fingerprints`.
    Returns (model, its validation tile accuracy, the accuracy of every subset)."""
    chosen, selection = choose_decision_spaces(val_outputs, val_labels, model.config.spaces)
    model.config = replace(model.config, decision_spaces=chosen)
    return model, selection["+".join(("f",) + chosen)], selection


# What phase 1 leaves beside the weights (a run that continues a checkpoint keeps them as they are).
CALIBRATION = ("prototypes", "spread", "neutral", "open_set_threshold", "val_accuracy", "decision_selection")


def calibrate(config: TrainConfig, model, reconstructor, tiles, labels):
    """After phase 1: class prototypes and spread of f on the train tiles, the neutral target (the
    generators' mean prototype, never "real"), and on the validation tiles the decision heads and
    the open-set threshold. Returns (model with its decision heads, the CALIBRATION dict)."""
    import torch

    protos, spread = prototypes_and_scale(fingerprints(model, tiles)["mu"], tiles.labels, len(labels))
    real_index = labels.index("real")
    neutral = protos[[k for k in range(len(labels)) if k != real_index]].mean(0, keepdim=True)
    val = build_eval_tiles(config, reconstructor, "val", labels)
    val_outputs = fingerprints(model, val)  # the f head and space heads do not depend on the selection
    model, val_accuracy, selection = select_decision(model, val_outputs, val.labels)
    threshold = float(torch.quantile(open_set_score(val_outputs["logits"]), config.open_set_quantile))
    logger.info("val tile accuracy %.4f (decision: f head + %s); open-set threshold %.3f", val_accuracy,
                ", ".join(model.config.decision_spaces) or "nothing", threshold)
    return model, {"prototypes": protos, "spread": spread, "neutral": neutral, "open_set_threshold": threshold,
                   "val_accuracy": val_accuracy, "decision_selection": selection}


def run(config: TrainConfig) -> Path:
    """The whole training run; returns the final checkpoint path."""
    import torch
    from torch import nn

    from export.reconstructor import load_reconstructor
    from runtime.errors import InputError

    if config.init_from and config.finetune_from:
        raise InputError("--init-from (skip phase 1) and --finetune-from (phase 1 from a checkpoint) exclude each other")
    source_path = config.init_from or config.finetune_from
    source = None
    if source_path:
        if not Path(source_path).is_file():
            flag = "--init-from" if config.init_from else "--finetune-from"
            raise InputError(f"{source_path}: no such checkpoint ({flag})")
        source = torch.load(source_path, weights_only=False, map_location="cpu")
        if config.init_from:
            config = continued_config(config, source["train_config"])

    if config.threads:
        torch.set_num_threads(config.threads)
    device = torch_device(config.device)
    torch.manual_seed(config.seed)
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    reconstructor = load_reconstructor(config.reconstructor or None).to(device)
    labels, held_out = known_labels(Path(config.dataset))
    if source is not None and source["labels"] != labels:
        raise InputError(f"{source_path} knows {source['labels']}, the dataset {labels}")
    real_index = labels.index("real")
    started = time.time()
    tiles = load_or_build_tiles(config, reconstructor, labels)
    logger.info("%d train tiles (%d contents) in %.0f s", len(tiles), int(tiles.content.max()) + 1,
                time.time() - started)
    if config.init_from:
        model = model_from_source(config, source).to(device)
        config = replace(config, spectral_trace=model.config.spectral_trace)
        calibration = {key: source[key] for key in CALIBRATION}
        logger.info("phase 1 skipped: continuing %s with its prototypes, decision heads and open-set threshold",
                    config.init_from)
    else:
        model = phase1_start(config, source, len(labels), reconstructor).to(device)
        adversary = nn.Sequential(nn.Linear(model.config.content_dim, 64), nn.ReLU(),
                                  nn.Linear(64, len(labels))).to(device)
        model, _ = train_phase1(config, model, adversary, tiles, output / "phase1.pt")
        model, calibration = calibrate(config, model, reconstructor, tiles, labels)
    if config.decoupled and config.cf_steps > 0:
        judges = (load_or_fit_judges(config, labels, tiles, model.config.residual_scale, device)
                  if config.w_judge > 0 else [])
        model = train_phase2(config, model, reconstructor, tiles, calibration["prototypes"].to(device),
                             calibration["neutral"].to(device), real_index, output / "phase2.pt", judges)
    final = output / "model.pt"
    calibration = {key: value.cpu() if torch.is_tensor(value) else value for key, value in calibration.items()}
    save_checkpoint(final, train_config=asdict(config), model_config=model.config.to_dict(),
                    labels=labels, held_out=held_out, model=model.cpu().state_dict(), **calibration,
                    reconstructor=reconstructor.source, seconds=time.time() - started,
                    continued_from=continued_from(source_path, source))
    logger.info("saved %s", final)
    return final


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from runtime.errors import exit_code

    return exit_code(lambda: print(run(config)))


if __name__ == "__main__":
    sys.exit(main())
