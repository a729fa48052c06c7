"""Image intake, the first step of every answer: any supported input to RGB uint8 pixels and how the
image was saved (runtime.compression), or InputError. Then runtime.tiling, then runtime.engine."""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from runtime.compression import Saving, is_lossy_webp, jpeg_history, jpeg_saving, webp_saving
from runtime.errors import InputError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif")
READABLE = "PNG, JPEG, WebP, GIF, BMP, TIFF, HEIC, AVIF"
# Phones save HEIC (Pillow reads it through the pillow-heif plugin) and AVIF (Pillow itself).
pillow_heif.register_heif_opener()
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 64 * 1024 * 1024
# Transparent pixels are composited over white, the background most viewers show.
ALPHA_BACKGROUND = (255, 255, 255)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode (palette, L, LA, RGBA, CMYK, 16-bit, float) to RGB, alpha composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, ALPHA_BACKGROUND + (255,))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


# File signatures, to tell a damaged image from something that is not an image at all.
SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF", b"GIF89a": "GIF",
              b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


# ISO base media files (HEIF, AVIF) name their brand after "ftyp" at byte 4.
BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC", b"heis": "HEIC", b"mif1": "HEIF",
          b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF"}


def sniff_format(data: bytes) -> str | None:
    """The image format named by the file's first bytes, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp":
        return BRANDS.get(data[8:12])
    return next((kind for magic, kind in SIGNATURES.items() if data.startswith(magic)), None)


@dataclass(frozen=True)
class Decoded:
    """A decoded image: (H, W, 3) uint8 RGB pixels and, for a JPEG or lossy WebP file, how it
    was compressed."""

    pixels: np.ndarray
    saving: Saving | None = None


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes to an (H, W, 3) uint8 RGB array, EXIF orientation applied."""
    return decode(data, name, compression=False).pixels


def decode(data: bytes, name: str = "<bytes>", compression: bool = True) -> Decoded:
    """Decode image bytes (EXIF orientation applied); with `compression`, keep a JPEG's
    compression settings and estimate a lossy WebP's (0.2 s)."""
    if len(data) == 0:
        raise InputError(f"{name}: the file is empty; expected an image file")
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{name}: {len(data)} bytes is over the {MAX_FILE_BYTES}-byte file limit")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InputError(
                    f"{name}: {image.width}x{image.height} pixels is over the {MAX_PIXELS}-pixel limit"
                )
            image.seek(0)
            lossy_webp = compression and image.format == "WEBP" and is_lossy_webp(data)
            saving = jpeg_saving(image) if compression else None
            image = ImageOps.exif_transpose(image)
            pixels = np.asarray(to_rgb(image), dtype=np.uint8).copy()
            return Decoded(pixels, webp_saving(pixels) if lossy_webp else saving)
    except InputError:
        raise
    except Image.DecompressionBombError as error:
        raise InputError(f"{name}: over the {MAX_PIXELS}-pixel limit ({error})") from error
    except UnidentifiedImageError as error:
        kind = sniff_format(data)
        if kind:
            raise InputError(f"{name}: damaged or truncated {kind} file (its header cannot be read)") from error
        raise InputError(f"{name}: not an image file PIL can read ({READABLE})") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{name}: damaged or truncated image ({error})") from error


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file to an (H, W, 3) uint8 RGB array; InputError if it is missing or unusable."""
    return read(path, compression=False).pixels


def read(path: str | Path, compression: bool = True) -> Decoded:
    """Read and decode an image file (see `decode`); InputError if it is missing or unusable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return decode(path.read_bytes(), name=str(path), compression=compression)


def load(image, history: bool = True) -> Decoded:
    """Any image the runtime takes (an array, a PIL image, a path or file bytes) as pixels and how
    it was saved: a JPEG's own tables, a lossy WebP's estimated quality, else (with `history`) the
    JPEG compression its pixels still show (runtime.compression.jpeg_history). InputError if unusable."""
    decoded = _load(image)
    if decoded.saving is None and history:
        return Decoded(decoded.pixels, jpeg_history(decoded.pixels))
    return decoded


def _load(image) -> Decoded:
    """(H, W, 3) uint8 pixels from an array, a PIL image, a path or file bytes, with how a JPEG
    (a file, its bytes or an opened one) or a lossy WebP (a file or its bytes) was compressed;
    else InputError."""
    if isinstance(image, (str, Path)):
        return read(image)
    if isinstance(image, (bytes, bytearray)):
        return decode(bytes(image))
    if isinstance(image, Image.Image):
        return Decoded(np.asarray(to_rgb(image), dtype=np.uint8), jpeg_saving(image))
    return Decoded(as_rgb_array(image))


def as_rgb_array(image: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 array from a uint8 (H, W), (H, W, 3) or (H, W, 4) array; else InputError."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise InputError(f"an image array must be uint8, got {image.dtype}")
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
            raise InputError(f"an image array must be (H, W, 3) or (H, W, 4), got shape {image.shape}")
        if image.shape[2] == 4:
            return np.asarray(to_rgb(Image.fromarray(image, "RGBA")), dtype=np.uint8)
        return np.ascontiguousarray(image)
    raise InputError(f"expected an image (array, PIL image, path or bytes), got {type(image).__name__}")


def save_png(image: np.ndarray, path: str | Path) -> None:
    """Write an (H, W, 3) uint8 array as a lossless PNG with no metadata at all (no text chunks,
    EXIF, XMP or ICC profile); creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG", optimize=False)
