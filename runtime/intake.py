"""Image intake: decode any supported image file into an RGB uint8 array, or raise InputError."""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from runtime.errors import InputError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
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


def sniff_format(data: bytes) -> str | None:
    """The image format named by the file's first bytes, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in SIGNATURES.items() if data.startswith(magic)), None)


# "JPEG ghosts": an image last saved as a JPEG at quality q changes far less when saved again at q
# than at q + 1; one never saved as a JPEG changes less and less as the quality rises. So the
# quality whose re-save error is below HISTORY_DIP_RATIO times the next one's is the image's, on
# a centre crop of at most HISTORY_CROP pixels aligned to the 16-pixel JPEG grid. On the zoo
# (bench/results/jpeg_history.json) a clean image's ratio stays above it and a JPEG's below.
HISTORY_QUALITIES = range(30, 97)
HISTORY_CROP = 256
HISTORY_DIP_RATIO = 0.85
HISTORY_MIN_STD = 2.0  # a flat crop (a black border) has no error to compare
HISTORY_PLATEAU = 4
HISTORY_FULL_CHROMA_SHARE = 0.25


@lru_cache(maxsize=1)
def standard_tables() -> np.ndarray:
    """(100, 2, 64): the luminance and chrominance tables libjpeg writes at each quality 1..100
    (read from real encodes)."""
    tables = []
    for quality in range(1, 101):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buffer, "JPEG", quality=quality)
        with Image.open(buffer) as encoded:
            tables.append([list(encoded.quantization[0]), list(encoded.quantization[1])])
    return np.array(tables)


@dataclass(frozen=True)
class JpegSaving:
    """How a JPEG file was compressed (its quantization tables and chroma subsampling), enough to
    compress other pixels the same way. `quality` is the libjpeg quality whose luminance table is
    nearest; `standard` says whether it is that table exactly (cameras and editors use others);
    `estimated`: read from the pixels of an image that is not a JPEG file (see jpeg_history)."""

    qtables: tuple[tuple[int, ...], ...]
    subsampling: int  # PIL's code: 0 is 4:4:4, 1 is 4:2:2, 2 is 4:2:0; -1 for a grayscale file
    quality: int
    standard: bool
    estimated: bool = False

    @property
    def grayscale(self) -> bool:
        return len(self.qtables) == 1

    def describe(self) -> str:
        saved = f"JPEG quality {'' if self.standard else '~'}{self.quality}"
        return saved + " (estimated from the pixels)" if self.estimated else saved

    def save(self, image: np.ndarray) -> np.ndarray:
        """An (H, W, 3) uint8 image compressed with these tables and decoded again, as RGB uint8."""
        picture = Image.fromarray(image).convert("L") if self.grayscale else Image.fromarray(image)
        options = {} if self.grayscale else {"subsampling": self.subsampling}
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", qtables=[list(table) for table in self.qtables], **options)
        with Image.open(buffer) as decoded:
            return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def jpeg_saving(image: Image.Image) -> JpegSaving | None:
    """The JpegSaving of an opened JPEG file (None for any other format, or a JPEG whose tables
    PIL cannot use again: not one or two 64-entry tables, or 4:1:1-like subsampling)."""
    tables = image.quantization if isinstance(image, JpegImagePlugin.JpegImageFile) else None
    if not tables or len(tables) > 2 or any(len(table) != 64 for table in tables.values()):
        return None
    qtables = tuple(tuple(int(v) for v in tables[key]) for key in sorted(tables))
    subsampling = JpegImagePlugin.get_sampling(image)
    if len(qtables) == 2 and subsampling not in (0, 1, 2):
        return None
    distances = np.abs(standard_tables()[:, 0] - np.array(qtables[0])).sum(1)
    best = int(distances.argmin())
    return JpegSaving(qtables, subsampling, quality=best + 1, standard=bool(distances[best] == 0))


def standard_saving(quality: int, subsampling: int) -> JpegSaving:
    """libjpeg's own colour compression at `quality` (what PIL writes with quality=...), estimated."""
    qtables = tuple(tuple(int(v) for v in table) for table in standard_tables()[quality - 1])
    return JpegSaving(qtables, subsampling, quality, standard=True, estimated=True)


def grid_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """A centre crop of at most `size` pixels a side whose corner lies on the 16-pixel JPEG grid."""
    height, width = pixels.shape[:2]
    side_h, side_w = min(size, height) // 16 * 16, min(size, width) // 16 * 16
    top, left = (height - side_h) // 2 // 16 * 16, (width - side_w) // 2 // 16 * 16
    return pixels[top : top + side_h, left : left + side_w]


def resave_error(image: np.ndarray, saving: JpegSaving | None = None, quality: int | None = None) -> float:
    """Mean squared change of a uint8 image (gray or RGB) saved as a JPEG and decoded again."""
    if saving is not None:
        return float(np.mean((image.astype(np.float32) - saving.save(image)) ** 2))
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    with Image.open(buffer) as decoded:
        return float(np.mean((image.astype(np.float32) - np.asarray(decoded, dtype=np.float32)) ** 2))


def resave_dip(crop: np.ndarray) -> tuple[int, float] | None:
    """Where the luma re-save error drops most below the next quality's: the quality of least
    error at most HISTORY_PLATEAU qualities below that drop, and the drop (the error's share of
    the next quality's); None for an empty or flat crop."""
    luma = np.asarray(Image.fromarray(crop).convert("L")) if crop.size else crop
    if crop.size == 0 or luma.std() < HISTORY_MIN_STD:
        return None
    errors = np.array([resave_error(luma, quality=q) for q in HISTORY_QUALITIES])
    ratios = errors[:-1] / np.maximum(errors[1:], 1e-12)
    dip = int(ratios.argmin())
    # Neighbouring qualities can share most table entries: the image's is the least change among them.
    start = max(0, dip - HISTORY_PLATEAU)
    best = start + int(errors[start : dip + 1].argmin())
    return HISTORY_QUALITIES[best], float(ratios[dip])


def jpeg_history(pixels: np.ndarray) -> JpegSaving | None:
    """How an (H, W, 3) uint8 image was last saved as a JPEG, read from its pixels (a JPEG saved
    again as PNG, say): libjpeg's colour tables at the quality of the re-save "ghost", with 4:2:0
    chroma unless a 4:4:4 re-save changes it far less; None when it shows no JPEG history on the
    grid of its top-left corner (never a JPEG, resized or cropped since, or saved above 96)."""
    crop = grid_crop(pixels, HISTORY_CROP)
    dip = resave_dip(crop)
    if dip is None or dip[1] >= HISTORY_DIP_RATIO:
        return None
    halved, full = standard_saving(dip[0], 2), standard_saving(dip[0], 0)
    # 4:4:4 keeps more colour, so it changes any image less; only far less means it was the one used.
    return full if resave_error(crop, full) < HISTORY_FULL_CHROMA_SHARE * resave_error(crop, halved) else halved


@dataclass(frozen=True)
class Decoded:
    """A decoded image: (H, W, 3) uint8 RGB pixels and, for a JPEG file, how it was compressed."""

    pixels: np.ndarray
    jpeg: JpegSaving | None = None


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes to an (H, W, 3) uint8 RGB array, EXIF orientation applied."""
    return decode(data, name).pixels


def decode(data: bytes, name: str = "<bytes>") -> Decoded:
    """Decode image bytes (EXIF orientation applied) and keep a JPEG's compression settings."""
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
            jpeg = jpeg_saving(image)
            image = ImageOps.exif_transpose(image)
            return Decoded(np.asarray(to_rgb(image), dtype=np.uint8).copy(), jpeg)
    except InputError:
        raise
    except Image.DecompressionBombError as error:
        raise InputError(f"{name}: over the {MAX_PIXELS}-pixel limit ({error})") from error
    except UnidentifiedImageError as error:
        kind = sniff_format(data)
        if kind:
            raise InputError(f"{name}: damaged or truncated {kind} file (its header cannot be read)") from error
        raise InputError(f"{name}: not an image file PIL can read (PNG, JPEG, WebP, GIF, BMP, TIFF)") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{name}: damaged or truncated image ({error})") from error


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file to an (H, W, 3) uint8 RGB array; InputError if it is missing or unusable."""
    return read(path).pixels


def read(path: str | Path) -> Decoded:
    """Read and decode an image file (see `decode`); InputError if it is missing or unusable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return decode(path.read_bytes(), name=str(path))


def save_png(image: np.ndarray, path: str | Path) -> None:
    """Write an (H, W, 3) uint8 array as a lossless PNG with no metadata at all (no text chunks,
    EXIF, XMP or ICC profile); creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG", optimize=False)
