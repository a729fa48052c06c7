"""The generator zoo: small generative models of distinct families that *regenerate* a photo
(same content, their own trace). Each maps an image in [-1, 1] (N, 3, H, W) to one in [-1, 1].

Families: GAN-style decoders (the upsampling operator is the classic source of GAN traces),
latent-diffusion autoencoder (diffusers AutoencoderKL), VQ autoencoder (VQModel), tiny
autoencoder (AutoencoderTiny, the TAESD architecture) and pixel diffusion (UNet2DModel with
partial noising then DDIM denoising). A spec's config is stored inside its safetensors file and
the model is rebuilt from it, so a retrained zoo with other settings still loads.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from runtime.errors import InputError

ZOO_DIR = Path(__file__).parent / "assets" / "zoo"
REAL = "real"


@dataclass(frozen=True)
class GeneratorSpec:
    """Everything needed to build, train and describe one zoo member."""

    name: str
    display_name: str
    family: str
    kind: str
    config: dict = field(default_factory=dict)
    seed: int = 0
    held_out: bool = False
    steps: int = 2000

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "GeneratorSpec":
        return cls(**json.loads(text))


def _gan(name, display, upsample, seed=0, held_out=False):
    config = {"upsample": upsample, "width": 32, "latent": 12, "adversarial_weight": 0.02}
    return GeneratorSpec(name, display, "gan", "upsampler", config, seed=seed, held_out=held_out)


ZOO: tuple[GeneratorSpec, ...] = (
    _gan("gan-transposed", "GAN decoder, transposed conv (seed 0)", "transposed", seed=0),
    _gan("gan-transposed-b", "GAN decoder, transposed conv (seed 1)", "transposed", seed=1),
    _gan("gan-nearest", "GAN decoder, nearest + conv", "nearest"),
    _gan("gan-bilinear", "GAN decoder, bilinear + conv", "bilinear"),
    _gan("gan-pixelshuffle", "GAN decoder, pixel shuffle", "pixelshuffle"),
    GeneratorSpec(
        "ldm-kl", "Latent-diffusion autoencoder (KL, f2)", "latent-diffusion", "autoencoder-kl",
        {"block_out_channels": [16, 32], "latent_channels": 3, "norm_num_groups": 8, "kl_weight": 1e-6},
    ),
    GeneratorSpec(
        "vq", "VQ autoencoder (VQModel, f2)", "vq-autoencoder", "vq",
        {"block_out_channels": [32, 64], "latent_channels": 4, "num_vq_embeddings": 1024,
         "norm_num_groups": 8},
    ),
    GeneratorSpec(
        "tiny-ae", "Tiny autoencoder (TAESD architecture, f4)", "tiny-autoencoder", "tiny",
        {"block_out_channels": [32, 32, 32], "latent_channels": 8},
    ),
    GeneratorSpec(
        "ddpm", "Pixel diffusion (UNet2D, DDIM regeneration)", "pixel-diffusion", "ddpm",
        {"block_out_channels": [32, 64, 64], "norm_num_groups": 8, "train_timesteps": 1000,
         "max_train_t": 100, "strength_t": 50, "inference_spacing": 10},
    ),
    # Held out: never used to train the attributor; they test "unknown source".
    _gan("gan-bicubic", "GAN decoder, bicubic + conv", "bicubic", held_out=True),
    GeneratorSpec(
        "ldm-kl-wide", "Latent-diffusion autoencoder (KL, f2, wide)", "latent-diffusion",
        "autoencoder-kl",
        {"block_out_channels": [32, 64], "latent_channels": 4, "norm_num_groups": 8,
         "kl_weight": 1e-6},
        held_out=True,
    ),
)


def zoo_specs() -> dict[str, GeneratorSpec]:
    return {spec.name: spec for spec in ZOO}


def listing() -> list[dict]:
    """The zoo's labels: "real" first, then every generator, with family and held-out flag."""
    rows = [{"name": REAL, "display_name": "Camera / real photo", "family": REAL, "held_out": False}]
    for spec in ZOO:
        rows.append({"name": spec.name, "display_name": spec.display_name, "family": spec.family,
                     "held_out": spec.held_out})
    return rows


def check_name(name: str) -> str:
    """Return `name` if it is a zoo label, else raise InputError listing the known ones."""
    known = [REAL] + [spec.name for spec in ZOO]
    if name not in known:
        raise InputError(f"unknown generator {name!r}; known: {', '.join(known)}")
    return name


# ---------------------------------------------------------------------------- GAN-style decoders
class Upsample2x(nn.Module):
    """A 2x upsampling step in one of the classic GAN-generator styles."""

    def __init__(self, channels_in: int, channels_out: int, mode: str):
        super().__init__()
        self.mode = mode
        if mode == "transposed":
            self.body = nn.ConvTranspose2d(channels_in, channels_out, 4, stride=2, padding=1)
        elif mode == "pixelshuffle":
            self.body = nn.Sequential(nn.Conv2d(channels_in, channels_out * 4, 3, padding=1), nn.PixelShuffle(2))
        elif mode in ("nearest", "bilinear", "bicubic"):
            self.body = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        else:
            raise ValueError(f"unknown upsampling mode {mode!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode in ("nearest", "bilinear", "bicubic"):
            align = None if self.mode == "nearest" else False
            x = nn.functional.interpolate(x, scale_factor=2, mode=self.mode, align_corners=align)
        return self.body(x)


class UpsamplerGAN(nn.Module):
    """Conv encoder (4x down) to a small latent, GAN-style decoder (two 2x upsampling steps)."""

    def __init__(self, upsample: str, width: int = 32, latent: int = 12, **_: object):
        super().__init__()
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        self.encoder = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), act(),
            nn.Conv2d(width, width * 2, 4, stride=2, padding=1), act(),
            nn.Conv2d(width * 2, width * 2, 4, stride=2, padding=1), act(),
            nn.Conv2d(width * 2, latent, 3, padding=1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(latent, width * 2, 3, padding=1), act(),
            Upsample2x(width * 2, width * 2, upsample), act(),
            Upsample2x(width * 2, width, upsample), act(),
            nn.Conv2d(width, 3, 3, padding=1), nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class PatchDiscriminator(nn.Module):
    """A small PatchGAN critic used while training the GAN-style decoders."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width * 2, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width * 2, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


# ------------------------------------------------------------------- diffusers-based generators
def encoder_decoder_kwargs(config: dict) -> dict:
    """The arguments AutoencoderKL and VQModel share: plain down/up blocks, no mid attention."""
    blocks = len(config["block_out_channels"])
    return dict(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks, up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=tuple(config["block_out_channels"]), layers_per_block=1,
        latent_channels=config["latent_channels"], norm_num_groups=config["norm_num_groups"],
        mid_block_add_attention=False,
    )


def _autoencoder_kl(config: dict):
    from diffusers import AutoencoderKL

    return AutoencoderKL(**encoder_decoder_kwargs(config))


def _vq(config: dict):
    from diffusers import VQModel

    return VQModel(num_vq_embeddings=config["num_vq_embeddings"], **encoder_decoder_kwargs(config))


def _tiny(config: dict):
    from diffusers import AutoencoderTiny

    channels = tuple(config["block_out_channels"])
    return AutoencoderTiny(
        encoder_block_out_channels=channels, decoder_block_out_channels=channels,
        num_encoder_blocks=(1,) * len(channels), num_decoder_blocks=(1,) * len(channels),
        latent_channels=config["latent_channels"],
    )


def _unet(config: dict):
    from diffusers import UNet2DModel

    blocks = len(config["block_out_channels"])
    return UNet2DModel(
        in_channels=3, out_channels=3, layers_per_block=1,
        block_out_channels=tuple(config["block_out_channels"]),
        down_block_types=("DownBlock2D",) * blocks, up_block_types=("UpBlock2D",) * blocks,
        norm_num_groups=config["norm_num_groups"],
    )


# The diffusers autoencoders are built without mid-block attention: a member is trained on small
# crops and applied to larger windows, where attention over many more tokens would change it.


class Generator(nn.Module):
    """One zoo member: `regenerate(x)` maps [-1, 1] images to regenerated [-1, 1] images.

    `downsample` is the factor image sides must be a multiple of."""

    def __init__(self, spec: GeneratorSpec):
        super().__init__()
        self.spec = spec
        config = spec.config
        builders = {"autoencoder-kl": _autoencoder_kl, "vq": _vq, "tiny": _tiny, "ddpm": _unet}
        if spec.kind == "upsampler":
            self.net = UpsamplerGAN(**config)
            self.downsample = 4
        elif spec.kind in builders:
            self.net = builders[spec.kind](config)
            # every diffusers member halves the resolution between consecutive blocks
            self.downsample = 2 ** (len(config["block_out_channels"]) - 1)
        else:
            raise ValueError(f"unknown generator kind {spec.kind!r}")

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training forward for the autoencoder kinds: (reconstruction, auxiliary loss)."""
        kind, zero = self.spec.kind, x.new_zeros(())
        if kind == "upsampler":
            return self.net(x), zero
        if kind == "autoencoder-kl":
            posterior = self.net.encode(x).latent_dist
            kl = posterior.kl().mean() * self.spec.config["kl_weight"]
            return self.net.decode(posterior.sample()).sample, kl
        if kind == "vq":
            out = self.net(x)
            return out.sample, out.commit_loss.mean()
        if kind == "tiny":
            return self.net.decode(self.net.encode(x).latents).sample, zero
        raise ValueError(f"{kind} has no reconstruction forward")

    @torch.no_grad()
    def code_usage(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """VQ only: (encoder outputs as rows, how often each code is the nearest) for a batch."""
        h = self.net.encode(x).latents
        flat = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])
        codebook = self.net.quantize.embedding.weight
        nearest = torch.cdist(flat, codebook).argmin(dim=1)
        return flat, torch.bincount(nearest, minlength=len(codebook))

    @torch.no_grad()
    def restart_dead_codes(self, usage: torch.Tensor, encoder_rows: torch.Tensor,
                           generator: torch.Generator) -> int:
        """VQ only: move codes nobody used onto random encoder outputs (against codebook collapse)."""
        dead = torch.nonzero(usage == 0).flatten()
        if len(dead):
            picks = torch.randint(len(encoder_rows), (len(dead),), generator=generator)
            self.net.quantize.embedding.weight[dead] = encoder_rows[picks]
        return len(dead)

    def denoise_loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training loss of the pixel diffusion model, on the low-noise range it regenerates at."""
        scheduler = self._train_scheduler()
        t = torch.randint(1, self.spec.config["max_train_t"] + 1, (x.shape[0],), generator=generator)
        noise = torch.randn(x.shape, generator=generator)
        noisy = scheduler.add_noise(x, noise, t)
        return nn.functional.mse_loss(self.net(noisy, t).sample, noise)

    def _train_scheduler(self):
        from diffusers import DDPMScheduler

        return DDPMScheduler(num_train_timesteps=self.spec.config["train_timesteps"])

    @torch.no_grad()
    def regenerate(self, x: torch.Tensor, noise_seed: int = 0) -> torch.Tensor:
        """Deterministic regeneration of a batch in [-1, 1]; sides a multiple of `downsample`."""
        kind = self.spec.kind
        if kind == "upsampler":
            out = self.net(x)
        elif kind == "autoencoder-kl":
            out = self.net.decode(self.net.encode(x).latent_dist.mode()).sample
        elif kind == "vq":
            out = self.net(x).sample
        elif kind == "tiny":
            out = self.net.decode(self.net.encode(x).latents).sample
        else:
            out = self._sdedit(x, noise_seed)
        return out.clamp(-1, 1)

    def _sdedit(self, x: torch.Tensor, noise_seed: int) -> torch.Tensor:
        """Partial noising to `strength_t`, then DDIM (eta 0) denoising back to t = 0."""
        from diffusers import DDIMScheduler

        config = self.spec.config
        scheduler = DDIMScheduler(num_train_timesteps=config["train_timesteps"])
        scheduler.set_timesteps(config["train_timesteps"] // config["inference_spacing"])
        start = config["strength_t"]
        timesteps = [int(t) for t in scheduler.timesteps if int(t) <= start]
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(noise_seed)).to(x)
        sample = scheduler.add_noise(x, noise, torch.tensor([timesteps[0]]))
        for t in timesteps:
            eps = self.net(sample, t).sample
            sample = scheduler.step(eps, t, sample, eta=0.0).prev_sample
        return sample


def weights_path(name: str, folder: Path = ZOO_DIR) -> Path:
    return folder / f"{name}.safetensors"


def save_generator(model: Generator, folder: Path = ZOO_DIR) -> Path:
    """Save weights with the spec in the file's metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    path = weights_path(model.spec.name, folder)
    state = {k: v.detach().contiguous() for k, v in model.net.state_dict().items()}
    save_file(state, str(path), metadata={"spec": model.spec.to_json()})
    return path


def load_generator(name: str, folder: Path = ZOO_DIR) -> Generator:
    """Rebuild a trained zoo member from its safetensors file (spec from the file's metadata)."""
    check_name(name)
    if name == REAL:
        raise InputError("'real' is not a generator; it is the prepared photo itself")
    path = weights_path(name, folder)
    if not path.is_file():
        raise InputError(f"{path}: no trained weights for {name!r}; run `python -m export.zoo train`")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        spec = GeneratorSpec.from_json(handle.metadata()["spec"])
    model = Generator(spec)
    model.net.load_state_dict(load_file(str(path)))
    return model.eval()
