"""How an image was compressed, so that its open-set reference can be compressed the same way:
a JPEG file's own tables, a JPEG history read from pixels, a lossy WebP's quality."""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, JpegImagePlugin
from scipy.fft import dctn

# "JPEG ghosts": an image last saved as a JPEG at quality q changes far less when saved again at q
# than at q + 1; one never saved as a JPEG changes less and less as the quality rises. So the
# quality whose re-save error is below HISTORY_DIP_RATIO times the next one's is the image's, on
# a centre crop of at most HISTORY_CROP pixels whose corner is on the image's 8x8 block grid
# (jpeg_grid: a JPEG cropped since it was saved keeps its blocks, shifted). On the zoo
# (bench/experiments/results/jpeg_history.json) a clean image's ratio stays above it and a JPEG's below.
HISTORY_QUALITIES = range(30, 97)
HISTORY_CROP = 256
HISTORY_DIP_RATIO = 0.85
HISTORY_MIN_STD = 2.0  # a flat crop (a black border) has no error to compare
HISTORY_PLATEAU = 4
HISTORY_FULL_CHROMA_SHARE = 0.25
GRID_SIDE = 128  # the centre crop whose block DCTs place the grid


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


def resaved(image: np.ndarray, fmt: str, **options) -> np.ndarray:
    """A uint8 gray (H, W) or RGB (H, W, 3) image saved by PIL as `fmt` and decoded again, as it was."""
    picture = Image.fromarray(image)
    buffer = io.BytesIO()
    picture.save(buffer, fmt, **options)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert(picture.mode), dtype=np.uint8)


def change(image: np.ndarray, saved: np.ndarray) -> float:
    """Mean squared difference of two uint8 images."""
    return float(np.mean((image.astype(np.float32) - saved.astype(np.float32)) ** 2))


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
        tables = [list(table) for table in self.qtables]
        if self.grayscale:
            gray = np.asarray(Image.fromarray(image).convert("L"))
            return np.repeat(resaved(gray, "JPEG", qtables=tables)[:, :, None], 3, axis=2)
        return resaved(image, "JPEG", qtables=tables, subsampling=self.subsampling)


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


def is_flat(crop: np.ndarray) -> bool:
    """Whether an RGB crop is empty or too flat (a black border) for its re-save errors to tell anything."""
    return crop.size == 0 or float(np.asarray(Image.fromarray(crop).convert("L")).std()) < HISTORY_MIN_STD


def resave_dip(crop: np.ndarray) -> tuple[int, float] | None:
    """Where the luma re-save error drops most below the next quality's: the quality of least
    error at most HISTORY_PLATEAU qualities below that drop, and the drop (the error's share of
    the next quality's); None for an empty or flat crop."""
    if is_flat(crop):
        return None
    luma = np.asarray(Image.fromarray(crop).convert("L"))
    errors = np.array([change(luma, resaved(luma, "JPEG", quality=q)) for q in HISTORY_QUALITIES])
    ratios = errors[:-1] / np.maximum(errors[1:], 1e-12)
    dip = int(ratios.argmin())
    # Neighbouring qualities can share most table entries: the image's is the least change among them.
    start = max(0, dip - HISTORY_PLATEAU)
    best = start + int(errors[start : dip + 1].argmin())
    return HISTORY_QUALITIES[best], float(ratios[dip])


def jpeg_grid(pixels: np.ndarray) -> tuple[int, int]:
    """(rows, columns), each 0..7, from an (H, W, 3) uint8 image's top-left corner to where its
    8x8 JPEG blocks start: the offset at which the block DCTs of a centre crop's luma have most
    near-zero AC coefficients (quantization zeroed them on the blocks' own grid, not across them).
    An image never saved as a JPEG gets some offset too: only the re-save test tells."""
    luma = np.asarray(Image.fromarray(pixels).convert("L"), dtype=np.float32) - 128
    height, width = luma.shape
    side = min(GRID_SIDE, height - 7, width - 7) // 8 * 8
    if side < 8:
        return 0, 0
    top, left = (height - side - 7) // 2, (width - side - 7) // 2
    shares = np.zeros((8, 8))
    for dy in range(8):
        for dx in range(8):
            crop = luma[top + dy : top + dy + side, left + dx : left + dx + side]
            blocks = crop.reshape(side // 8, 8, side // 8, 8).transpose(0, 2, 1, 3)
            ac = dctn(blocks, axes=(2, 3), norm="ortho").reshape(-1, 64)[:, 1:]
            shares[dy, dx] = (np.abs(ac) < 0.5).mean()
    dy, dx = np.unravel_index(int(shares.argmax()), shares.shape)
    return int(top + dy) % 8, int(left + dx) % 8


def history_crop(pixels: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The crop the re-save test reads: at most HISTORY_CROP a side, its corner on the block grid
    `grid` (jpeg_grid) and on the 16-pixel colour grid that 4:2:0 chroma would have with it."""
    return grid_crop(pixels[grid[0] :, grid[1] :], HISTORY_CROP)


def jpeg_history(pixels: np.ndarray) -> JpegSaving | None:
    """How an (H, W, 3) uint8 image was last saved as a JPEG, read from its pixels (a JPEG saved
    again as PNG, even cropped since): libjpeg's colour tables at the quality of the re-save
    "ghost", with 4:2:0 chroma unless a 4:4:4 re-save changes it far less; None when it shows no
    JPEG history (never a JPEG, resized since, or saved above 96)."""
    grid = jpeg_grid(pixels)
    dip = resave_dip(history_crop(pixels, grid))
    if dip is None or dip[1] >= HISTORY_DIP_RATIO:
        return None
    halved, full = standard_saving(dip[0], 2), standard_saving(dip[0], 0)
    # 4:2:0 chroma blocks are 16 pixels: the block grid leaves four places they may start.
    crops = [history_crop(pixels, (grid[0] + 8 * down, grid[1] + 8 * right)) for down in (0, 1) for right in (0, 1)]
    crops = [crop for crop in crops if crop.size]
    halved_changes = [change(crop, halved.save(crop)) for crop in crops]
    crop = crops[int(np.argmin(halved_changes))]
    # 4:4:4 keeps more colour, so it changes any image less; only far less means it was the one used.
    far_less = change(crop, full.save(crop)) < HISTORY_FULL_CHROMA_SHARE * min(halved_changes)
    return full if far_less else halved


# A WebP file does not record its quality. Re-saving a lossy one changes it less and less as the
# quality rises up to about its own, then more again for a while: the first such rise (by more
# than WEBP_RISE) marks its quality; none, or a flat image, libwebp's default quality.
WEBP_QUALITIES = range(40, 101, 2)
WEBP_RISE = 1.02
WEBP_DEFAULT_QUALITY = 75


@dataclass(frozen=True)
class WebpSaving:
    """A lossy WebP file's compression as far as it can be told: libwebp at `quality`, estimated
    from its pixels."""

    quality: int

    def describe(self) -> str:
        return f"lossy WebP quality ~{self.quality} (estimated from the pixels)"

    def save(self, image: np.ndarray) -> np.ndarray:
        """An (H, W, 3) uint8 image saved as a lossy WebP at this quality and decoded again."""
        return resaved(image, "WEBP", quality=self.quality)


def is_lossy_webp(data: bytes) -> bool:
    """Whether WebP file bytes hold a lossy ("VP8 ") image rather than a lossless ("VP8L") one."""
    offset = 12
    while offset + 8 <= len(data):
        fourcc, size = data[offset : offset + 4], int.from_bytes(data[offset + 4 : offset + 8], "little")
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc == b"VP8 "
        offset += 8 + size + (size & 1)
    return False


def webp_saving(pixels: np.ndarray) -> WebpSaving:
    """The WebpSaving of a lossy WebP's decoded pixels (on a grid-aligned centre crop): the last
    quality of WEBP_QUALITIES before its re-save error first rises."""
    crop = grid_crop(pixels, HISTORY_CROP)
    if is_flat(crop):
        return WebpSaving(WEBP_DEFAULT_QUALITY)
    errors = np.array([change(crop, WebpSaving(q).save(crop)) for q in WEBP_QUALITIES])
    rises = np.flatnonzero(errors[1:] > WEBP_RISE * errors[:-1] + 1e-6)
    return WebpSaving(WEBP_QUALITIES[rises[0]] if len(rises) else WEBP_DEFAULT_QUALITY)


Saving = JpegSaving | WebpSaving
