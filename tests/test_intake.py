"""Image intake: every supported mode becomes RGB uint8; unusable files raise InputError."""
import io

import numpy as np
import pytest
from PIL import Image

from runtime.errors import InputError
from runtime.intake import decode_image, read_image


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("mode, fmt", [("RGB", "PNG"), ("L", "JPEG"), ("P", "GIF"), ("CMYK", "TIFF"),
                                       ("I;16", "PNG"), ("LA", "PNG"), ("RGB", "WEBP"), ("RGB", "BMP")])
def test_every_mode_becomes_rgb_uint8(mode, fmt):
    image = Image.new(mode, (13, 7))
    array = decode_image(_encode(image, fmt))
    assert array.shape == (7, 13, 3) and array.dtype == np.uint8


def test_alpha_is_composited_on_white_and_16_bit_is_scaled():
    transparent = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert (decode_image(_encode(transparent, "PNG")) == 255).all()
    deep = Image.fromarray(np.full((3, 3), 65535, dtype=np.uint16))
    assert (decode_image(_encode(deep, "PNG")) == 255).all()


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (20, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    assert decode_image(_encode(image, "JPEG", exif=exif)).shape == (20, 10, 3)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"just some text, not an image", "not an image file"),
    (_encode(Image.new("RGB", (64, 64)), "PNG")[:60], "damaged or truncated"),
])
def test_unusable_bytes_raise_input_error(data, message):
    with pytest.raises(InputError, match=message):
        decode_image(data, name="upload")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "nothing.png")
