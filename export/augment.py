"""Image perturbations, applied to every class alike: training augmentation and robustness tests.
All take and return (H, W, 3) uint8 RGB arrays."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def resize(image: np.ndarray, factor: float) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=sigma)))


def crop(image: np.ndarray, top: int = 7, left: int = 5) -> np.ndarray:
    """Drop a few rows/columns: shifts the phase of any periodic (upsampling) trace."""
    return image[top:, left:].copy()


# The robustness suite of the evaluation: name -> perturbation.
ROBUSTNESS = {
    "jpeg95": lambda im: jpeg(im, 95),
    "jpeg75": lambda im: jpeg(im, 75),
    "jpeg50": lambda im: jpeg(im, 50),
    "resize0.5": lambda im: resize(im, 0.5),
    "resize1.5": lambda im: resize(im, 1.5),
    "blur1": lambda im: blur(im, 1.0),
    "crop": crop,
}


# Training perturbation families in the order a photo's draws take them (cycling): with 6 draws
# every photo is seen clean, shifted, rescaled, blurred and twice as JPEG (the commonest re-save).
AUGMENT_FAMILIES = ("clean", "jpeg", "crop", "jpeg", "resize", "blur")


def augmentation(family: str, rng: np.random.Generator):
    """A training perturbation of `family` with random strength, as (name, function)."""
    if family == "clean":
        return "clean", lambda im: im
    if family == "jpeg":
        quality = int(rng.integers(50, 96))
        return f"jpeg{quality}", lambda im: jpeg(im, quality)
    if family == "resize":
        factor = float(rng.uniform(0.5, 1.5))
        return f"resize{factor:.2f}", lambda im: resize(im, factor)
    if family == "blur":
        sigma = float(rng.uniform(0.3, 1.2))
        return f"blur{sigma:.2f}", lambda im: blur(im, sigma)
    if family == "crop":
        top, left = (int(v) for v in rng.integers(1, 8, size=2))
        return f"crop{top},{left}", lambda im: crop(im, top, left)
    raise ValueError(f"unknown augmentation family {family!r}; known: {', '.join(AUGMENT_FAMILIES)}")
