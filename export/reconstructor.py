"""The frozen diffusion reconstructor R = D(E(x)): a diffusers autoencoder whose residual
x - R(x) carries what it cannot reproduce (mostly a generator's trace, not the scene).

Embedded default: a small AutoencoderKL trained here on the train photos and stored in diffusers'
`save_pretrained` layout. Production: any diffusers AutoencoderKL or AutoencoderTiny (an SD VAE,
TAESD) from a local folder or a Hub repo id, loaded with `from_pretrained`.

    python -m export.reconstructor train            # retrain the embedded one (a few minutes, CPU)
    python -m export.reconstructor evaluate [--from-hub REPO_ID [--subfolder vae]] [--json]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

EMBEDDED_DIR = Path(__file__).parent / "assets" / "reconstructor"
SUPPORTED_CLASSES = ("AutoencoderKL", "AutoencoderTiny")
TRAINING_FILE = "training.json"  # the embedded one's training settings, beside diffusers' files


@dataclass(frozen=True)
class ReconstructorTraining:
    """Settings of the embedded reconstructor's training run."""

    block_out_channels: tuple[int, ...] = (16, 32, 32)
    latent_channels: int = 8
    norm_num_groups: int = 8
    steps: int = 2000
    batch: int = 16
    crop: int = 64
    lr: float = 2e-3
    kl_weight: float = 1e-6
    seed: int = 1234


class Reconstructor:
    """A frozen autoencoder: `reconstruct(x)` and `encode(x)` on (N, 3, H, W) tensors in [-1, 1]."""

    def __init__(self, model, source: str):
        self.model = model.eval().requires_grad_(False)
        self.source = source
        self.kind = type(model).__name__
        self.downsample = 2 ** (len(model.config.block_out_channels) - 1) if self.kind == "AutoencoderKL" \
            else 2 ** (len(model.config.encoder_block_out_channels) - 1)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def to(self, device) -> "Reconstructor":
        """Move the autoencoder to a torch device; returns self."""
        self.model.to(device)
        return self

    def encode(self, x):
        """Deterministic latent: the posterior mean for a KL autoencoder."""
        if self.kind == "AutoencoderKL":
            return self.model.encode(x).latent_dist.mode()
        return self.model.encode(x).latents

    def decode(self, z):
        return self.model.decode(z).sample

    def reconstruct(self, x):
        import torch

        with torch.no_grad():
            return self.decode(self.encode(x)).clamp(-1, 1)


def build_embedded(settings: ReconstructorTraining):
    from diffusers import AutoencoderKL

    from export.generators import encoder_decoder_kwargs

    # No mid-block attention: the model is applied to tiles of other sizes than it was trained on.
    return AutoencoderKL(**encoder_decoder_kwargs({
        "block_out_channels": settings.block_out_channels, "latent_channels": settings.latent_channels,
        "norm_num_groups": settings.norm_num_groups}))


def load_reconstructor(source: str | Path | None = None, revision: str | None = None,
                       subfolder: str | None = None) -> Reconstructor:
    """Load a reconstructor: None for the embedded one, a local folder, or a Hub repo id."""
    import diffusers
    from huggingface_hub import hf_hub_download

    from runtime.errors import InputError

    location = str(source or EMBEDDED_DIR)
    local = Path(location)
    if local.exists():
        config_file = local / (subfolder or "") / "config.json"
        if not config_file.is_file():
            raise InputError(f"{config_file}: no diffusers config.json in this folder")
    else:
        config_file = Path(hf_hub_download(location, "config.json", subfolder=subfolder, revision=revision))
    class_name = json.loads(config_file.read_text()).get("_class_name")
    if class_name not in SUPPORTED_CLASSES:
        raise InputError(f"{location}: a {class_name!r} model; expected one of {', '.join(SUPPORTED_CLASSES)}")
    model_class = getattr(diffusers, class_name)
    # low_cpu_mem_usage=False: the small models load fine without `accelerate` (and say nothing)
    model = model_class.from_pretrained(location, subfolder=subfolder, revision=revision, low_cpu_mem_usage=False)
    logger.info("reconstructor %s from %s", class_name, location)
    return Reconstructor(model, location if revision is None else f"{location}@{revision}")


def train_embedded(settings: ReconstructorTraining, output: Path = EMBEDDED_DIR) -> Path:
    """Train the embedded AutoencoderKL on the train photos (L1 + KL) and save_pretrained it."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from export.photos import load_prepared, load_splits, package_photos, photos_by_split
    from export.tiles import random_crops

    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    train = photos_by_split(package_photos(), load_splits())["train"]
    images = [load_prepared(p) for p in train]
    model = build_embedded(settings)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.steps)
    for _ in (bar := tqdm(range(settings.steps), desc="reconstructor")):
        x = random_crops(images, settings.crop, settings.batch, rng)
        posterior = model.encode(x).latent_dist
        loss = (model.decode(posterior.sample()).sample - x).abs().mean()
        loss = loss + settings.kl_weight * posterior.kl().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
    model.save_pretrained(output)
    (Path(output) / TRAINING_FILE).write_text(json.dumps(asdict(settings), indent=2) + "\n")
    return output


def evaluate(reconstructor: Reconstructor, split: str = "test", tile: int = 64) -> dict:
    """Reconstruction PSNR (dB, 8-bit) of every photo of a split, each `tile` reconstructed on its
    own as the attributor sees it."""
    import numpy as np

    from export.photos import load_prepared, load_splits, package_photos, photos_by_split
    from export.tiles import regenerate_tiled

    from skimage.metrics import peak_signal_noise_ratio

    photos = photos_by_split(package_photos(), load_splits())[split]
    per_photo = {}
    for photo in photos:
        image = load_prepared(photo)
        fn = lambda batch, _index: reconstructor.reconstruct(batch)  # noqa: E731
        recon = regenerate_tiled(fn, image, multiple=reconstructor.downsample, tile=tile, margin=0)
        per_photo[photo.name] = float(peak_signal_noise_ratio(image, recon, data_range=255))
    return {"source": reconstructor.source, "class": reconstructor.kind, "split": split, "tile": tile,
            "psnr_mean": float(np.mean(list(per_photo.values()))), "psnr_per_photo": per_photo}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.reconstructor", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="retrain the embedded AutoencoderKL")
    train.add_argument("--steps", type=int, default=ReconstructorTraining.steps)
    train.add_argument("--output", type=Path, default=EMBEDDED_DIR)
    train.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    run = commands.add_parser("evaluate", help="reconstruction PSNR on the test photos")
    run.add_argument("--from-hub", metavar="REPO_ID", help="a diffusers AutoencoderKL/AutoencoderTiny repo or folder")
    run.add_argument("--revision")
    run.add_argument("--subfolder")
    run.add_argument("--output", type=Path, help="write the JSON result here")
    run.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from runtime.errors import exit_code

    if args.threads:
        torch.set_num_threads(args.threads)

    def command():
        if args.command == "train":
            print(train_embedded(ReconstructorTraining(steps=args.steps), args.output))
            return
        text = json.dumps(evaluate(load_reconstructor(args.from_hub, args.revision, args.subfolder)), indent=2)
        if args.output:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(text + "\n")
        print(text)

    return exit_code(command)


if __name__ == "__main__":
    sys.exit(main())
