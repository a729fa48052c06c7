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
(bench/results/judge_fidelity.json: how often it agrees with the baseline it stands in for), and
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

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

logger = logging.getLogger(__name__)

# The committed checkpoints (copied from a run's model.pt): ours and the residual-only ablation.
PUBLISHED = Path(__file__).parent / "assets" / "causal-fingerprint.pt"
PUBLISHED_ABLATION = Path(__file__).parent / "assets" / "residual-cnn.pt"


# Neutral-target objectives of the counterfactual phase (see neutral_loss); the first is the default.
CF_OBJECTIVES = ("away", "uniform")
AUGMENTS = ("benchmark", "arrival")
OUTLIER_KINDS = ("tilt", "blend")


def _setting(default, description: str):
    """A TrainConfig field whose help text the command line shows."""
    return field(default=default, metadata={"help": description})


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; saved in the checkpoint and the manifest."""

    dataset: str = _setting("data/zoo", "a dataset built by `python -m export.zoo build`")
    output: str = _setting("runs/causal", "run folder: model.pt, resumable checkpoints, cached train tiles")
    reconstructor: str = _setting("", "empty: the embedded reconstructor; else a folder or Hub repo id")
    tile: int = _setting(64, "tile side in pixels")
    ablation: str = _setting("none", '"none" or "residual-only" (pixel residual, no decoupling)')
    steps: int = _setting(5000, "phase-1 steps (encoder, heads, decoder)")
    contents_per_batch: int = _setting(6, "crops per batch, each seen through every class")
    lr: float = _setting(2e-3, "phase-1 AdamW learning rate")
    weight_decay: float = _setting(1e-4, "phase-1 AdamW weight decay")
    tiles_per_megapixel: float = _setting(700.0, "random train tiles per megapixel of a photo, per draw")
    augment_draws: int = _setting(6, "perturbed draws of each train photo (JPEG, resize, blur; one per family in turn)")
    augment: str = _setting(AUGMENTS[0], f"the draws' families: {' or '.join(AUGMENTS)} (export.augment: "
                                         "the benchmark's perturbations, or the ways photos arrive)")
    val_stride: int = _setting(32, "grid stride of the validation tiles")
    temperature: float = _setting(0.1, "temperature of the supervised contrastive losses")
    w_space: float = _setting(0.5, "weight of the per-space heads' cross-entropy")
    w_supcon_f: float = _setting(0.3, "weight of supervised contrastive on f by source")
    w_supcon_c: float = _setting(0.3, "weight of supervised contrastive on c by content")
    w_adversary: float = _setting(0.3, "weight of the adversary that keeps the source out of c")
    w_recon: float = _setting(1.0, "weight of the decoder's residual reconstruction")
    w_kl: float = _setting(1e-3, "weight of the KL of f's posterior")
    w_fisher: float = _setting(0.0, "weight of log tr(S_W) - log tr(S_B) of f on each batch (export.losses.fisher_ratio_loss)")
    w_outlier: float = _setting(0.0, "weight of outlier exposure: energy margins on synthetic unknown sources (--outliers); 0: off")
    energy_margin_known: float = _setting(-8.0, "outlier exposure pushes known tiles' energy -logsumexp(f-head logits) below this")
    energy_margin_unknown: float = _setting(-3.0, "... and the synthetic unknown tiles' energy above this")
    outliers: str = _setting(OUTLIER_KINDS[0], f"synthetic unknown sources: {' or '.join(OUTLIER_KINDS)} (see synthetic_unknowns)")
    cf_steps: int = _setting(4000, "phase-2 (counterfactual) steps")
    cf_lr: float = _setting(1e-3, "phase-2 Adam learning rate")
    cf_batch: int = _setting(24, "phase-2 tiles per step")
    cf_objective: str = _setting(CF_OBJECTIVES[0], f"neutral-target objective: {' or '.join(CF_OBJECTIVES)} (see neutral_loss)")
    # 35.2 dB: the 35 dB quality target plus the loss of 8-bit rounding.
    cf_psnr_floor: float = _setting(35.2, "dB: each tile's change is scaled to stay above it")
    w_judge: float = _setting(0.0, "weight of the dct-linear surrogates in the counterfactual loss; 0: our heads only")
    judges: int = _setting(1, "dct-linear surrogates, each fitted on its own draw of train tiles; the loss averages them")
    cnn_judges: int = _setting(0, "surrogates of each CNN baseline family (pixel-cnn on x, residual-cnn on x - R(x))")
    cnn_judge_steps: int = _setting(1500, "the fit of each CNN surrogate (the evaluation's pixel-cnn baseline: 1500)")
    spectral_trace: bool = _setting(True, "G's trace branch also rescales the residual's DCT coefficients")
    init_from: str = _setting("", "a model.pt: skip phase 1, continue its counterfactual branch (see PHASE2_SETTINGS)")
    finetune_from: str = _setting("", "a model.pt: phase 1 starts from its weights, then calibration and phase 2 afresh")
    open_set_quantile: float = _setting(0.95, "share of known validation tiles (images, for the "
                                                   "relative rule set at export) below the open-set threshold")
    seed: int = _setting(0, "seed of every draw and initialisation")
    checkpoint_every: int = _setting(250, "steps between resumable checkpoints")
    threads: int = _setting(0, "torch CPU threads; 0: torch's default")
    device: str = _setting("auto", 'torch device of the steps: "auto" (cuda when present, else cpu), "cpu", "cuda", "cuda:1"')

    @property
    def decoupled(self) -> bool:
        return self.ablation == "none"


# What a run started with --init-from takes from its own command line; every other setting is the
# source checkpoint's (they made the phase-1 weights it starts from).
PHASE2_SETTINGS = ("dataset", "output", "cf_steps", "cf_lr", "cf_batch", "cf_objective", "cf_psnr_floor",
                   "w_judge", "judges", "cnn_judges", "cnn_judge_steps", "spectral_trace", "init_from", "checkpoint_every", "threads", "device")


def continued_config(config: TrainConfig, source: dict) -> TrainConfig:
    """The settings of a run that continues the checkpoint whose train_config is `source`."""
    names = {f.name for f in fields(TrainConfig)}
    inherited = TrainConfig(**{k: v for k, v in source.items() if k in names})
    return replace(inherited, **{k: getattr(config, k) for k in PHASE2_SETTINGS})


def torch_device(name: str):
    """The torch device a run computes on ("auto": cuda when present). On a GPU, TF32 stays off:
    the spectral projections take logs of small DCT coefficients, which TF32's 10-bit mantissa
    would blur, and a model trained in float32 on a CPU must read the same numbers on a GPU."""
    import torch

    from runtime.errors import InputError

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise InputError(f"--device {name!r}: {error}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: this torch sees no CUDA GPU")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return device


def known_labels(dataset: Path) -> tuple[list[str], list[str]]:
    """(known labels, held-out labels) of a built dataset, "real" first."""
    from runtime.errors import InputError

    path = Path(dataset) / "build.json"
    if not path.is_file():
        raise InputError(f"{dataset}: not a dataset (no build.json; build one with `python -m export.zoo build`)")
    build = json.loads(path.read_text())
    known = [row["name"] for row in build["zoo"] if not row["held_out"]]
    held = [row["name"] for row in build["zoo"] if row["held_out"]]
    return known, held


def build_train_tiles(config: TrainConfig, reconstructor, labels):
    """The train TileSet: `train_tile_arrays`, reconstructed."""
    from export.data import make_tileset

    return make_tileset(reconstructor, *train_tile_arrays(config, labels), labels, progress="reconstruct train tiles")


def train_tile_arrays(config: TrainConfig, labels):
    """(uint8 tiles (N, S, S, 3), labels, content ids, photo names) of the train photos: random
    phase, each photo under `augment_draws` perturbations, one per family in AUGMENT_FAMILIES
    order, random strength (the same perturbation for every class of a photo, so content stays
    matched)."""
    import numpy as np

    from export.data import cut_tiles, load_split_images, random_positions
    from runtime.errors import InputError

    rng = np.random.default_rng(config.seed)
    images = load_split_images(Path(config.dataset), "train", labels)
    families, draw_perturbation = perturbations(config)
    parts, offset = [], 0
    for draw in range(config.augment_draws):
        family = families[draw % len(families)]
        for photo, by_label in images.items():
            _name, perturb = draw_perturbation(family, rng)
            positions = random_positions(config.tile, config.tiles_per_megapixel, rng)
            try:
                xs, ys, contents, photos = cut_tiles({photo: by_label}, labels, config.tile, positions,
                                                     perturb, content_offset=offset)
            except InputError as error:
                logger.warning("%s skipped: %s", photo, error)
                continue
            offset = int(contents.max()) + 1
            parts.append((xs, ys, contents, photos))
    xs = np.concatenate([p[0] for p in parts])
    ys = np.concatenate([p[1] for p in parts])
    contents = np.concatenate([p[2] for p in parts])
    photos = [name for p in parts for name in p[3]]
    return xs, ys, contents, photos


def perturbations(config: TrainConfig):
    """(families, draw) of the config's augmentation: draw(family, rng) -> (name, function)."""
    from export.augment import ARRIVAL_FAMILIES, AUGMENT_FAMILIES, arrival, augmentation
    from runtime.errors import InputError

    if config.augment == "benchmark":
        return AUGMENT_FAMILIES, augmentation
    if config.augment != "arrival":
        raise InputError(f"--augment {config.augment!r}: choose from {', '.join(AUGMENTS)}")
    build = json.loads((Path(config.dataset) / "build.json").read_text())
    tables = build.get("camera_tables", [])
    return ARRIVAL_FAMILIES, lambda family, rng: arrival(family, rng, tables)


def build_eval_tiles(config: TrainConfig, reconstructor, split: str, labels, perturb=None, stride=None):
    """Grid tiles of a split (optionally perturbed), every class, reconstructed."""
    from export.data import cut_tiles, grid_positions, load_split_images, make_tileset

    images = load_split_images(Path(config.dataset), split, labels)
    xs, ys, contents, photos = cut_tiles(images, labels, config.tile,
                                         grid_positions(config.tile, stride or config.val_stride), perturb)
    return make_tileset(reconstructor, xs, ys, contents, photos, labels)


def load_or_build_tiles(config: TrainConfig, reconstructor, labels):
    import torch

    cache = Path(config.output) / "tiles-train.pt"
    if cache.is_file():
        return torch.load(cache, weights_only=False, map_location="cpu")
    tiles = build_train_tiles(config, reconstructor, labels)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tiles, cache)
    return tiles


def model_config_for(config: TrainConfig, num_classes: int, reconstructor):
    from export.model import SPACES, ModelConfig

    spaces = ("pixel",) if config.ablation == "residual-only" else SPACES
    latent_channels = reconstructor.model.config.latent_channels
    return ModelConfig(tile=config.tile, num_classes=num_classes, latent_channels=latent_channels,
                       latent_downsample=reconstructor.downsample, spaces=spaces, spectral_trace=config.spectral_trace)


def phase1_loss(config: TrainConfig, model, adversary, batch, labels, contents, unknown_batch=None):
    """Loss of one attribution/decoupling step, and its parts for the progress bar. `unknown_batch`
    (x, x_hat, z, z_hat of synthetic unknown tiles) adds outlier exposure, weighted by w_outlier."""
    import torch
    from torch import nn

    from export.losses import (energy_margin_loss, fisher_ratio_loss, gaussian_kl, reverse_gradient,
                               supervised_contrastive)

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
    if config.w_fisher > 0:
        parts["fisher"] = fisher_ratio_loss(out["mu"], labels)
        total = total + config.w_fisher * parts["fisher"]
    if unknown_batch is not None:
        parts["outlier"] = energy_margin_loss(out["logits"], model.encode(*unknown_batch)["logits"],
                                              config.energy_margin_known, config.energy_margin_unknown)
        total = total + config.w_outlier * parts["outlier"]
    return total, parts


def synthetic_unknowns(kind: str, x, labels, contents, real_index: int, generator):
    """Tiles of sources that are none of the known ones, made from a batch of whole content groups,
    about one per two generated tiles, rounded to 8 bits as a saved image would be. "tilt": a known
    generator's trace (its tile minus the real tile of the same crop) with its spectrum tilted
    toward high or low frequencies, as a sibling with another upsampling kernel or capacity would
    leave it; "blend": two known generators' tiles of one crop mixed."""
    if kind == "tilt":
        return tilted_unknowns(x, labels, contents, real_index, generator)
    if kind == "blend":
        return blended_unknowns(x, labels, contents, real_index, generator)
    raise ValueError(f"outliers must be one of {', '.join(OUTLIER_KINDS)}, got {kind!r}")


def tilted_unknowns(x, labels, contents, real_index: int, generator):
    """Half the generated tiles, each rebuilt as its crop's real tile plus its trace under
    `tilt_trace` with a slope drawn from +-[1, 2] (see synthetic_unknowns)."""
    import torch

    generated = torch.nonzero(labels != real_index).flatten()
    chosen = generated[torch.randperm(len(generated), generator=generator)[: len(generated) // 2]]
    real_of = {c: i for i, (c, lab) in enumerate(zip(contents.tolist(), labels.tolist())) if lab == real_index}
    chosen = chosen[[int(contents[i]) in real_of for i in chosen.tolist()]]
    real = x[[real_of[int(contents[i])] for i in chosen.tolist()]]
    magnitude = torch.empty(len(chosen), 1, 1, 1).uniform_(1.0, 2.0, generator=generator)
    sign = torch.randint(0, 2, (len(chosen), 1, 1, 1), generator=generator) * 2 - 1
    return as_8bit(real + tilt_trace(x[chosen] - real, sign * magnitude))


def tilt_trace(trace, slope):
    """`trace` (N, C, S, S) with its Fourier amplitudes scaled by exp(slope * (radius - 0.5)), radius
    the frequency over Nyquist in [0, 1]: slope > 0 sharper, < 0 smoother, 0 unchanged."""
    import torch

    size = trace.shape[-1]
    fy = torch.fft.fftfreq(size).abs()[:, None]
    fx = torch.fft.rfftfreq(size)[None, :]
    radius = (fy.pow(2) + fx.pow(2)).sqrt().clamp(max=0.5) / 0.5
    gain = torch.exp(torch.as_tensor(slope, dtype=trace.dtype) * (radius - 0.5))
    return torch.fft.irfft2(torch.fft.rfft2(trace) * gain, s=(size, size))


def blended_unknowns(x, labels, contents, real_index: int, generator):
    """Pairs of different known generators' tiles of one crop (never "real"), mixed with a weight
    drawn from [0.3, 0.7]: both parents' traces at part strength (see synthetic_unknowns)."""
    import torch

    first, second = [], []
    for content in contents.unique().tolist():
        members = torch.nonzero((contents == content) & (labels != real_index)).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        half = len(members) // 2
        pairs = torch.stack([members[:half], members[half : 2 * half]], 1)
        pairs = pairs[labels[pairs[:, 0]] != labels[pairs[:, 1]]]
        first.append(pairs[:, 0])
        second.append(pairs[:, 1])
    first, second = torch.cat(first), torch.cat(second)
    weight = torch.empty(len(first), 1, 1, 1).uniform_(0.3, 0.7, generator=generator)
    return as_8bit(weight * x[first] + (1 - weight) * x[second])


def content_batches(tiles, contents_per_batch: int, generator):
    """Endless batches of whole content groups: every class of the same tiles, so each batch
    holds the interventions do(source) (within a group) and do(content) (across groups)."""
    import torch

    order = torch.argsort(tiles.content, stable=True)
    groups = torch.unique_consecutive(tiles.content[order], return_counts=True)[1]
    starts = torch.cumsum(groups, 0) - groups
    while True:
        chosen = torch.randperm(len(groups), generator=generator)[:contents_per_batch]
        yield torch.cat([order[starts[g] : starts[g] + groups[g]] for g in chosen.tolist()])


def save_checkpoint(path: Path, **state) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    temporary.replace(path)


def train_phase1(config: TrainConfig, model, adversary, tiles, checkpoint: Path, reconstructor=None,
                 real_index: int = 0):
    """Attribution and decoupling; resumes from `checkpoint`. Returns (model, loss per step). With
    w_outlier > 0, each step also sees `synthetic_unknowns` of its batch through `reconstructor`."""
    import torch
    from tqdm import tqdm

    from export.data import reconstruct_tensor

    if config.w_outlier > 0 and reconstructor is None:
        raise ValueError("outlier exposure (w_outlier > 0) needs the reconstructor to see its synthetic unknowns")
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
    batches = content_batches(tiles, config.contents_per_batch, generator)
    model.train()
    losses = []
    bar = tqdm(range(start, config.steps), desc="phase 1", initial=start, total=config.steps)
    for step in bar:
        index = next(batches)
        batch = tiles.batch(index, device)
        labels, contents = tiles.labels[index], tiles.content[index]
        unknown_batch = None
        if config.w_outlier > 0:  # drawn on the CPU with the run's generator, then moved
            unknown = synthetic_unknowns(config.outliers, batch[0].cpu(), labels, contents, real_index,
                                         generator).to(device)
            unknown_batch = (unknown, *(part.float() for part in reconstruct_tensor(reconstructor, unknown)))
        loss, parts = phase1_loss(config, model, adversary, batch, labels.to(device), contents.to(device),
                                  unknown_batch)
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


def model_device(model):
    return next(model.parameters()).device


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


def judge_train_tiles(config: TrainConfig, labels, draw: int = 0):
    """(uint8 tiles, labels) a dct-linear surrogate is fitted on: random-phase tiles of the clean
    train photos, positions drawn anew for each `draw` (the family's baselines are fitted on clean
    tiles; an aligned grid is the evaluation's, so a surrogate's fit stays independent of the
    baseline it is measured by)."""
    import numpy as np
    import torch

    from export.data import cut_tiles, load_split_images, random_positions

    rng = np.random.default_rng(config.seed + 2 + 1000 * draw)
    images = load_split_images(Path(config.dataset), "train", labels)
    xs, ys, _, _ = cut_tiles(images, labels, config.tile, random_positions(config.tile, config.tiles_per_megapixel, rng))
    return torch.from_numpy(xs).permute(0, 3, 1, 2).contiguous(), ys


def fit_judge(config: TrainConfig, labels, draw: int = 0):
    """The dct-linear surrogate of one `draw`: fitted on that draw's tiles and subsample."""
    from export.baselines import DctLinearJudge

    return DctLinearJudge.fit(*judge_train_tiles(config, labels, draw), len(labels), seed=config.seed + 1 + draw)


def judge_paths(output: Path, count: int) -> list[Path]:
    """Where a run keeps its surrogates: judge.pt, then judge-1.pt, judge-2.pt, ..."""
    return [output / ("judge.pt" if i == 0 else f"judge-{i}.pt") for i in range(count)]


# CNN baseline families a surrogate can stand in for: what each network reads of a tile.
CNN_FAMILIES = ("pixel-cnn", "residual-cnn")
CNN_DRAWS = 100  # the pixel-cnn surrogates' tile draws start here, apart from the dct-linear ones'


@dataclass(frozen=True)
class Surrogate:
    """A frozen stand-in for one baseline family that the counterfactual phase fools. `reads`
    "image": `module` maps tiles in [-1, 1] to logits; "residual": it maps the scaled pixel residual
    (x - R(x)) * residual_scale, as our attributor sees it after re-encoding, to logits."""

    family: str
    module: object
    reads: str = "image"

    def __call__(self, x, seen: dict):
        return self.module(x if self.reads == "image" else seen["residual"])

    def predict_proba(self, tiles, residual_scale: float, batch: int = 256):
        """Class probabilities (numpy) of a TileSet, whose x_hat gives the residual."""
        import torch

        parts = []
        with torch.no_grad():
            for start in range(0, len(tiles), batch):
                x, x_hat, _, _ = tiles.batch(slice(start, start + batch))
                parts.append(torch.softmax(self(x, {"residual": (x - x_hat) * residual_scale}), 1))
        return torch.cat(parts).numpy()


def cnn_judge_path(output: Path, family: str, draw: int) -> Path:
    return Path(output) / f"{family}-judge-{draw}.pt"


def load_cnn_judge(path: Path, family: str, num_classes: int) -> Surrogate:
    """A CNN surrogate saved by a run (its state dict), frozen, reading what `family` reads."""
    import torch

    from export.baselines import PixelCNN

    network = PixelCNN(num_classes)
    network.load_state_dict(torch.load(path))
    return Surrogate(family, network.eval().requires_grad_(False), "image" if family == "pixel-cnn" else "residual")


def fit_cnn_judge(config: TrainConfig, tiles, labels, family: str, draw: int, residual_scale: float):
    """A PixelCNN-architecture surrogate of `family`, with the seed of its own `draw`, fitted on
    what that baseline is fitted on: pixel-cnn on raw pixels of clean train tiles (random phase, a
    draw of their own), residual-cnn on the scaled pixel residual of a subsample of the training
    `tiles` (perturbed alike for every class, as the residual-only ablation is trained). Frozen,
    eval mode."""
    import numpy as np
    import torch

    from export.baselines import PixelCNN

    seed = config.seed + 3 + 1000 * draw + 100 * CNN_FAMILIES.index(family)
    network = PixelCNN(len(labels), seed=seed)
    if family == "pixel-cnn":
        x_uint8, ys = judge_train_tiles(config, labels, draw=CNN_DRAWS + draw)
        return network.fit(x_uint8, ys, config.cnn_judge_steps, seed=seed).requires_grad_(False)
    keep = torch.from_numpy(np.random.default_rng(seed).permutation(len(tiles))[:60000])

    def residuals(index):
        x, x_hat, _, _ = tiles.batch(keep[index])
        return (x - x_hat) * residual_scale

    return network.fit_on(residuals, tiles.labels[keep].numpy(), config.cnn_judge_steps, seed=seed).requires_grad_(False)


def load_or_fit_judges(config: TrainConfig, labels, tiles=None, residual_scale: float = 1.0,
                       device="cpu") -> list[Surrogate]:
    """The counterfactual phase's surrogates, each fitted once per run on its own draw (kept for
    resuming): `config.judges` of the dct-linear family (random-phase tiles of the clean train
    photos) and `config.cnn_judges` of each CNN family (a subsample of `tiles`), fitted on the CPU,
    then moved to `device`. Fooling several fits of one family, not one fit's quirks, is what
    carries over to a baseline fitted elsewhere."""
    import torch

    from export.baselines import DctLinearJudge

    judges = []
    Path(config.output).mkdir(parents=True, exist_ok=True)
    for draw, path in enumerate(judge_paths(Path(config.output), config.judges)):
        if path.is_file():
            judges.append(Surrogate("dct-linear", DctLinearJudge.load(path, config.tile, len(labels))))
            continue
        judge = fit_judge(config, labels, draw)
        torch.save(judge.state_dict(), path)
        judges.append(Surrogate("dct-linear", judge))
    for family in CNN_FAMILIES:
        for draw in range(config.cnn_judges):
            path = cnn_judge_path(config.output, family, draw)
            if not path.is_file():
                if tiles is None:
                    raise ValueError(f"{path}: not fitted yet, and fitting a CNN surrogate needs the training tiles")
                torch.save(fit_cnn_judge(config, tiles, labels, family, draw, residual_scale).state_dict(), path)
            judges.append(load_cnn_judge(path, family, len(labels)))
    return [replace(judge, module=judge.module.to(device)) for judge in judges]


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
        model, _ = train_phase1(config, model, adversary, tiles, output / "phase1.pt", reconstructor, real_index)
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


def model_from_source(config: TrainConfig, source: dict):
    """The model of the checkpoint a run starts from, with G's spectral trace gains added when the
    run wants them and the checkpoint predates them."""
    model = model_from_state(source)
    return with_spectral_trace(model) if config.spectral_trace and not model.config.spectral_trace else model


def phase1_start(config: TrainConfig, source: dict | None, num_classes: int, reconstructor):
    """The model phase 1 trains: a fresh one, or (--finetune-from) the `source` checkpoint's, every
    weight trainable, G's trace branch included (phase 2 goes on from it)."""
    from export.model import CausalFingerprintModel
    from runtime.errors import InputError

    fresh = model_config_for(config, num_classes, reconstructor)
    if source is None:
        return CausalFingerprintModel(fresh)
    model = model_from_source(config, source)
    if model.config.spaces != fresh.spaces or model.config.tile != fresh.tile:
        raise InputError(f"{config.finetune_from} has spaces {model.config.spaces} on {model.config.tile}-pixel tiles; "
                         f"this run (--ablation {config.ablation}, --tile {config.tile}) wants {fresh.spaces} on {fresh.tile}")
    return model.requires_grad_(True)


def continued_from(path: str, source: dict | None) -> list[dict]:
    """The chain of checkpoints a run continued (--init-from or --finetune-from `path`), newest
    first, with their settings."""
    if source is None:
        return []
    return [{"checkpoint": path, "train_config": source["train_config"]}, *source.get("continued_from", [])]


def with_spectral_trace(model):
    """The same model with G's spectral trace gains added (zero: it behaves exactly as before)."""
    from export.model import CausalFingerprintModel

    grown = CausalFingerprintModel(replace(model.config, spectral_trace=True))
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not key.startswith("decoder.trace.spectral.") for key in missing):
        raise ValueError(f"cannot add the spectral trace: missing {missing}, unexpected {unexpected}")
    return grown.eval().requires_grad_(False)


def model_from_state(state: dict):
    """The model of a checkpoint dict, in eval mode and frozen."""
    import torch

    from export.model import LATER_BUFFERS, CausalFingerprintModel, ModelConfig

    config = dict(state["model_config"])
    config["spaces"] = tuple(config["spaces"])
    config["decision_spaces"] = tuple(config.get("decision_spaces", ()))
    model = CausalFingerprintModel(ModelConfig(**config))
    expected = model.state_dict()
    weights = {**{key: torch.ones(()) for key in LATER_BUFFERS if key in expected}, **state["model"]}
    model.load_state_dict(weights)
    return model.eval().requires_grad_(False)


def load_model(path: Path):
    """Rebuild a trained model from its checkpoint: (model in eval mode, checkpoint dict)."""
    import torch

    state = torch.load(path, weights_only=False, map_location="cpu")
    return model_from_state(state), state


def load_model_on(path: Path, dataset: Path):
    """A checkpoint ready to be measured on `dataset`: (model, checkpoint dict, its TrainConfig
    with `dataset` in place of the one it trained on, its reconstructor)."""
    from export.reconstructor import load_reconstructor

    model, state = load_model(path)
    config = TrainConfig(**{**state["train_config"], "dataset": str(dataset)})
    return model, state, config, load_reconstructor(config.reconstructor or None)


def parse_config(argv: list[str] | None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog="python -m export.train", description=__doc__.split("\n")[0])
    defaults = TrainConfig()
    for setting in fields(TrainConfig):
        value = getattr(defaults, setting.name)
        flag = f"--{setting.name.replace('_', '-')}"
        help_text = setting.metadata["help"] + " (default: %(default)s)"
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value, help=setting.metadata["help"])
        else:
            parser.add_argument(flag, type=type(value), default=value, help=help_text)
    args = parser.parse_args(argv)
    config = replace(defaults, **{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    if config.ablation not in ("none", "residual-only"):
        parser.error(f"--ablation must be none or residual-only, got {config.ablation!r}")
    if config.cf_objective not in CF_OBJECTIVES:
        parser.error(f"--cf-objective must be one of {', '.join(CF_OBJECTIVES)}, got {config.cf_objective!r}")
    if config.outliers not in OUTLIER_KINDS:
        parser.error(f"--outliers must be one of {', '.join(OUTLIER_KINDS)}, got {config.outliers!r}")
    if config.augment not in AUGMENTS:
        parser.error(f"--augment must be one of {', '.join(AUGMENTS)}, got {config.augment!r}")
    return config


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from runtime.errors import exit_code

    return exit_code(lambda: print(run(config)))


if __name__ == "__main__":
    sys.exit(main())
