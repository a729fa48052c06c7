"""Every setting of a training run (TrainConfig, its command line) and where it computes (torch_device)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

# The committed checkpoints (copied from a run's model.pt): ours and the residual-only ablation.
PUBLISHED = Path(__file__).parent / "assets" / "causal-fingerprint.pt"
PUBLISHED_ABLATION = Path(__file__).parent / "assets" / "residual-cnn.pt"

# Neutral-target objectives of the counterfactual phase (see neutral_loss); the first is the default.
CF_OBJECTIVES = ("away", "uniform")
AUGMENTS = ("benchmark", "arrival")


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
    contents_per_batch: int = _setting(6, "crops per batch, each seen through every class (a batch: this many times the classes' count of tiles)")
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


# Named settings a run can start from (`--preset NAME`; flags given beside it still win).
PRESETS = {
    # Trains in about a minute or two on 2 CPU cores: for tests and first trials on your own folders.
    "tiny": {"tile": 32, "steps": 80, "contents_per_batch": 4, "tiles_per_megapixel": 400.0, "augment_draws": 1,
             "cf_steps": 4, "cf_batch": 8, "checkpoint_every": 40, "val_stride": 32},
}


# What a run started with --init-from takes from its own command line; every other setting is the
# source checkpoint's (they made the phase-1 weights it starts from).
PHASE2_SETTINGS = ("dataset", "output", "cf_steps", "cf_lr", "cf_batch", "cf_objective", "cf_psnr_floor",
                   "w_judge", "judges", "cnn_judges", "cnn_judge_steps", "spectral_trace", "init_from", "checkpoint_every", "threads", "device")


def saved_config(settings: dict, **changes) -> TrainConfig:
    """The TrainConfig a checkpoint's saved train_config describes; settings of options that have
    since left the training code (the shipped checkpoint's outlier exposure and Fisher term, both
    off) are dropped."""
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{**{k: v for k, v in settings.items() if k in names}, **changes})


def continued_config(config: TrainConfig, source: dict) -> TrainConfig:
    """The settings of a run that continues the checkpoint whose train_config is `source`."""
    return saved_config(source, **{k: getattr(config, k) for k in PHASE2_SETTINGS})


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


def parse_config(argv: list[str] | None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog="python -m export.train", description="Train the causal-fingerprint model on a dataset built by python -m export.zoo build.")
    defaults = TrainConfig()
    for setting in fields(TrainConfig):
        value = getattr(defaults, setting.name)
        flag = f"--{setting.name.replace('_', '-')}"
        help_text = setting.metadata["help"] + " (default: %(default)s)"
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value, help=setting.metadata["help"])
        else:
            parser.add_argument(flag, type=type(value), default=value, help=help_text)
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="start from these settings (" + "; ".join(f"{name}: {settings}" for name, settings
                                                                        in PRESETS.items()) + "); flags beside it win")
    preset = parser.parse_known_args(argv)[0].preset
    if preset:
        parser.set_defaults(**PRESETS[preset])
    args = parser.parse_args(argv)
    config = replace(defaults, **{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    if config.ablation not in ("none", "residual-only"):
        parser.error(f"--ablation must be none or residual-only, got {config.ablation!r}")
    if config.cf_objective not in CF_OBJECTIVES:
        parser.error(f"--cf-objective must be one of {', '.join(CF_OBJECTIVES)}, got {config.cf_objective!r}")
    if config.augment not in AUGMENTS:
        parser.error(f"--augment must be one of {', '.join(AUGMENTS)}, got {config.augment!r}")
    return config
