"""The ways images travel, as files: what a visitor's upload went through before it arrived.

`native` (the file as it is), `half` (0.5x Lanczos, PNG), `jpeg75`, `web1080` (longest side 1080,
JPEG 85), `camera_saved` (an image saved as JPEG with a camera's quantization tables and its EXIF
copied in; a camera photo stays as it is), and two that training and calibration must never use:
`webp_small` (0.37x bicubic, WebP 80) and `screenshot125` (a centre crop upscaled 125%, PNG).
Pillow only: the benchmark (bench/real_world.py) and the verdict's calibration share them.
"""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from runtime.errors import InputError

CONDITIONS = ("native", "half", "jpeg75", "web1080", "camera_saved", "webp_small", "screenshot125")
NEVER_TRAINED = ("webp_small", "screenshot125")
CALIBRATION_CONDITIONS = tuple(c for c in CONDITIONS if c not in NEVER_TRAINED)
MAX_NATIVE_PIXELS = 4_000_000
SCREENSHOT_CROP = (800, 600)   # width, height of the screen region captured before the 125% zoom


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def scaled(image: Image.Image, factor: float, resample) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, resample)


def centre_crop(image: Image.Image, width: int, height: int, multiple: int = 1) -> Image.Image:
    """A centre crop of at most width x height, its corner on a `multiple` grid."""
    width, height = min(width, image.width), min(height, image.height)
    left = (image.width - width) // 2 // multiple * multiple
    top = (image.height - height) // 2 // multiple * multiple
    return image.crop((left, top, left + width, top + height))


def native_bytes(path: Path) -> bytes:
    """The file as it is; one over 4 MP is centre-cropped to 4 MP on its 16-pixel block grid and, if
    a JPEG, saved again with its own quantization tables, subsampling and EXIF."""
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        if image.width * image.height <= MAX_NATIVE_PIXELS:
            return data
        side = int(MAX_NATIVE_PIXELS**0.5)
        ratio = image.width / image.height
        width = min(image.width, int(side * ratio**0.5) // 16 * 16)
        height = min(image.height, MAX_NATIVE_PIXELS // width // 16 * 16)
        crop = centre_crop(image, width, height, multiple=16)
        if image.format == "JPEG":
            from PIL import JpegImagePlugin

            return encode(crop, "JPEG", qtables=image.quantization, exif=image.info.get("exif", b""),
                          subsampling=JpegImagePlugin.get_sampling(image))
        return encode(crop, "PNG")


def camera_template(data: bytes) -> dict:
    """How a camera saved one of its photos: its quantization tables, subsampling and EXIF."""
    from PIL import JpegImagePlugin

    with Image.open(io.BytesIO(data)) as image:
        return {"qtables": image.quantization, "subsampling": JpegImagePlugin.get_sampling(image),
                "exif": image.info.get("exif", b"")}


def condition_bytes(native: bytes, condition: str, camera: bool, template: dict | None) -> bytes:
    """The file a visitor would upload after `condition` happened to the native file (`camera`:
    a camera photo, which camera_saved leaves as it is)."""
    if condition == "native" or (condition == "camera_saved" and camera):
        return native
    from runtime.intake import decode_image

    image = Image.fromarray(decode_image(native))
    if condition == "half":
        return encode(scaled(image, 0.5, Image.Resampling.LANCZOS), "PNG")
    if condition == "jpeg75":
        return encode(image, "JPEG", quality=75)
    if condition == "web1080":
        factor = min(1.0, 1080 / max(image.size))
        return encode(scaled(image, factor, Image.Resampling.LANCZOS), "JPEG", quality=85)
    if condition == "camera_saved":
        if template is None:
            raise InputError("camera_saved needs a camera JPEG with EXIF in the test pool to copy tables from")
        return encode(image, "JPEG", **template)
    if condition == "webp_small":
        return encode(scaled(image, 0.37, Image.Resampling.BICUBIC), "WEBP", quality=80)
    if condition == "screenshot125":
        crop = centre_crop(image, *SCREENSHOT_CROP)
        return encode(scaled(crop, 1.25, Image.Resampling.BILINEAR), "PNG")
    raise InputError(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}")
