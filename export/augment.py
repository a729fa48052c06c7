"""Image perturbations, applied to every class alike: training augmentation and robustness tests.
All take and return (H, W, 3) uint8 RGB arrays."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def jpeg(image: np.ndarray, quality: int, **options) -> np.ndarray:
    """Saved as JPEG and read back; `options` are Pillow's (subsampling, qtables)."""
    buffer = io.BytesIO()
    if "qtables" not in options:
        options["quality"] = int(quality)
    Image.fromarray(image).save(buffer, "JPEG", **options)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def resize(image: np.ndarray, factor: float, resample=Image.Resampling.BICUBIC) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(image).resize(size, resample))


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


# How photos arrive (export.conditions holds the benchmark's fixed versions of these): the real
# class must cover every one, and generated images go through the same draws, so no processing
# step is a class cue. The test-only conditions (webp_small, screenshot125) are not among them.
ARRIVAL_FAMILIES = ("png", "jpeg", "camera_jpeg", "downscale", "sharpen", "denoise")
RESAMPLERS = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
              "bilinear": Image.Resampling.BILINEAR, "box": Image.Resampling.BOX,
              "hamming": Image.Resampling.HAMMING}
SUBSAMPLING = {"420": 2, "444": 0}


def _save_draw(rng: np.random.Generator, low: int = 70) -> tuple[str, dict]:
    """A random library JPEG save: quality in [low, 100], 4:2:0 or 4:4:4 chroma."""
    quality = int(rng.integers(low, 101))
    chroma = str(rng.choice(list(SUBSAMPLING)))
    return f"jpeg{quality}-{chroma}", {"quality": quality, "subsampling": SUBSAMPLING[chroma]}


def arrival(family: str, rng: np.random.Generator, camera_tables: list[dict] | None = None):
    """A random way a photo arrives, of `family` (ARRIVAL_FAMILIES), as (name, function).

    `camera_tables`: cameras' JPEG saving (export.conditions.camera_template: qtables and
    subsampling) for `camera_jpeg`; without them it draws a library save instead."""
    if family == "png":  # a lossless copy or a 100% screenshot
        return "png", lambda im: im
    if family == "jpeg" or (family == "camera_jpeg" and not camera_tables):
        name, options = _save_draw(rng)
        return name, lambda im: jpeg(im, options["quality"], subsampling=options["subsampling"])
    if family == "camera_jpeg":
        template = camera_tables[int(rng.integers(len(camera_tables)))]
        options = {"qtables": template["qtables"], "subsampling": template["subsampling"]}
        return "camera-jpeg", lambda im: jpeg(im, 0, **options)
    if family == "downscale":
        factor = float(rng.uniform(0.25, 0.9))
        method = str(rng.choice(list(RESAMPLERS)))
        name, options = _save_draw(rng)
        lossless = bool(rng.integers(2))
        label = f"down{factor:.2f}-{method}-{'png' if lossless else name}"

        def downscale(im):
            small = resize(im, factor, RESAMPLERS[method])
            return small if lossless else jpeg(small, options["quality"], subsampling=options["subsampling"])
        return label, downscale
    if family in ("sharpen", "denoise"):  # a phone's processing, then its JPEG save
        name, options = _save_draw(rng, low=85)
        if family == "sharpen":
            radius, percent = float(rng.uniform(0.5, 2.0)), int(rng.integers(50, 200))
            process = ImageFilter.UnsharpMask(radius=radius, percent=percent, threshold=int(rng.integers(0, 4)))
            label = f"sharpen{radius:.1f},{percent}-{name}"
        else:  # night-mode smoothing: a median, or a light blur
            size = float(rng.uniform(0.4, 1.2))
            process = ImageFilter.MedianFilter(3) if rng.integers(2) else ImageFilter.GaussianBlur(size)
            label = f"denoise-{process.__class__.__name__.lower()}-{name}"

        def phone(im):
            processed = np.asarray(Image.fromarray(im).filter(process))
            return jpeg(processed, options["quality"], subsampling=options["subsampling"])
        return label, phone
    raise ValueError(f"unknown arrival family {family!r}; known: {', '.join(ARRIVAL_FAMILIES)}")
