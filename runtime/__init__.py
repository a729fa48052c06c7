"""causal-fingerprint runtime: ONNX Runtime inference on the shipped bundle, no torch.

    import runtime
    result = runtime.attribute("image.png")          # label, probabilities, unknown, tile map...
    pictures = runtime.fingerprint("image.png")      # fingerprint, residual, spectrum pictures
    anonymized = runtime.anonymize("image.png")      # image, SSIM, PSNR, attribution before/after

Each call takes an image as a path, bytes, a PIL image or an (H, W, 3) uint8 array. The module
functions use one engine per bundle, built on first use; `Engine.load(...)` builds your own.
"""
from __future__ import annotations

from functools import lru_cache

from runtime.bundle import Bundle, load_bundle
from runtime.engine import NEUTRAL, Engine
from runtime.errors import BundleError, InputError

__all__ = ["Bundle", "BundleError", "Engine", "InputError", "NEUTRAL", "anonymize", "attribute",
           "default_engine", "fingerprint", "load_bundle"]


@lru_cache(maxsize=4)
def default_engine(source: str | None = None, revision: str | None = None) -> Engine:
    """The engine for a bundle (None: the shipped `weights/`), built once and reused."""
    return Engine.load(source, revision)


def attribute(image, engine: Engine | None = None) -> dict:
    """See `Engine.attribute`."""
    return (engine or default_engine()).attribute(image)


def fingerprint(image, engine: Engine | None = None) -> dict:
    """See `Engine.fingerprint`."""
    return (engine or default_engine()).fingerprint(image)


def anonymize(image, target: str = NEUTRAL, engine: Engine | None = None, psnr_floor_db: float | None = None) -> dict:
    """See `Engine.anonymize`."""
    return (engine or default_engine()).anonymize(image, target, psnr_floor_db)
