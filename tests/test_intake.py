"""Image intake: every supported mode becomes RGB uint8, unusable files raise InputError, and how a
JPEG or lossy WebP was compressed is kept or read from its pixels (runtime.compression)."""
import io

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from runtime.errors import InputError
from runtime.compression import (HISTORY_DIP_RATIO, WEBP_DEFAULT_QUALITY, WebpSaving, is_lossy_webp, jpeg_grid,
                                 jpeg_history, resave_dip)
from runtime.intake import decode, decode_image, read, read_image


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


@pytest.mark.parametrize("quality, subsampling", [(95, 2), (90, 2), (75, 0), (50, 1)])
def test_a_jpeg_keeps_its_tables_and_saves_other_pixels_the_same_way(quality, subsampling):
    pixels = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    data = _encode(Image.fromarray(pixels), "JPEG", quality=quality, subsampling=subsampling)
    decoded = decode(data)
    jpeg = decoded.saving
    assert (jpeg.quality, jpeg.standard, jpeg.subsampling) == (quality, True, subsampling)
    assert jpeg.describe() == f"JPEG quality {quality}"
    assert np.array_equal(jpeg.save(pixels), decoded.pixels)  # the very compression the file went through


def test_a_grayscale_non_standard_or_phone_jpeg_and_other_formats():
    gray = np.random.default_rng(1).integers(0, 256, (24, 24), dtype=np.uint8)
    decoded = decode(_encode(Image.fromarray(gray), "JPEG", quality=70))
    assert decoded.saving.grayscale and decoded.saving.quality == 70
    assert np.array_equal(decoded.saving.save(np.repeat(gray[:, :, None], 3, axis=2)), decoded.pixels)
    custom = decode(_encode(Image.new("RGB", (16, 16)), "JPEG", quality="web_high")).saving  # PIL preset tables
    assert not custom.standard and custom.describe().startswith("JPEG quality ~")
    phone = Image.new("RGB", (16, 16), (90, 120, 30))  # phones save MPO: JPEG frames, read as JPEG
    assert decode(_encode(phone, "MPO", save_all=True, append_images=[phone], quality=85)).saving.quality == 85
    for fmt, options in (("PNG", {}), ("WEBP", {"lossless": True}), ("BMP", {})):
        assert decode(_encode(Image.new("RGB", (16, 16)), fmt, **options)).saving is None


def test_read_keeps_the_jpeg_settings_of_a_file(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(_encode(Image.new("RGB", (16, 16), (200, 40, 10)), "JPEG", quality=85))
    decoded = read(path)
    assert decoded.saving.quality == 85 and np.array_equal(decoded.pixels, read_image(path))
    assert read(path, compression=False).saving is None  # what read_image and training reads use


SAMPLE = ROOT / "tests" / "data" / "samples" / "ldm-kl--coffee.png"  # a generated image, never a JPEG


@pytest.mark.parametrize("quality, subsampling", [(90, 2), (75, 0), (50, 2)])
def test_the_pixels_of_a_jpeg_saved_again_as_png_show_how_it_was_saved(quality, subsampling):
    pixels = read_image(SAMPLE)
    once = decode(_encode(Image.fromarray(pixels), "JPEG", quality=quality, subsampling=subsampling))
    found = jpeg_history(decode(_encode(Image.fromarray(once.pixels), "PNG")).pixels)
    assert (found.quality, found.subsampling, found.estimated) == (quality, subsampling, True)
    assert found.qtables == once.saving.qtables  # libjpeg's own tables, as PIL wrote them
    assert found.describe() == f"JPEG quality {quality} (estimated from the pixels)"


@pytest.mark.parametrize("top, left, quality, subsampling", [(3, 5, 90, 2), (8, 8, 75, 2), (1, 14, 50, 0), (11, 2, 85, 2)])
def test_a_jpeg_cropped_since_it_was_saved_shows_its_history_on_its_own_block_grid(top, left, quality, subsampling):
    # (8, 8): the 8x8 blocks stay on the image's grid but 4:2:0 chroma's 16-pixel blocks do not
    pixels = read_image(SAMPLE)
    once = decode(_encode(Image.fromarray(pixels), "JPEG", quality=quality, subsampling=subsampling)).pixels
    cropped = once[top:, left:]
    assert jpeg_grid(cropped) == ((8 - top) % 8, (8 - left) % 8)
    found = jpeg_history(cropped)
    assert (found.quality, found.subsampling, found.estimated) == (quality, subsampling, True)


def test_no_history_in_an_image_never_saved_as_jpeg_resized_since_or_flat():
    pixels = read_image(SAMPLE)
    assert resave_dip(pixels)[1] > HISTORY_DIP_RATIO and jpeg_history(pixels) is None
    once = decode(_encode(Image.fromarray(pixels), "JPEG", quality=85)).pixels
    resized = np.asarray(Image.fromarray(once).resize((192, 135), Image.Resampling.LANCZOS))
    assert jpeg_history(resized) is None
    assert jpeg_history(np.full((64, 64, 3), 40, dtype=np.uint8)) is None  # nothing to compare
    assert jpeg_history(np.zeros((9, 30, 3), dtype=np.uint8)) is None  # less than one 16-pixel block


def test_a_lossy_webp_is_saved_again_at_the_quality_its_pixels_show():
    pixels = read_image(SAMPLE)
    data = _encode(Image.fromarray(pixels), "WEBP", quality=90)
    assert is_lossy_webp(data) and not is_lossy_webp(_encode(Image.fromarray(pixels), "WEBP", lossless=True))
    decoded = decode(data)
    assert decoded.saving == WebpSaving(90) and decoded.saving.describe().startswith("lossy WebP quality ~90")
    assert np.array_equal(decoded.saving.save(pixels), decoded.pixels)  # the very compression it went through
    flat = decode(_encode(Image.new("RGB", (32, 32), (30, 60, 90)), "WEBP", quality=60)).saving
    assert flat == WebpSaving(WEBP_DEFAULT_QUALITY)  # nothing to read it from


@pytest.mark.parametrize("mode, size, fmt, options", [
    ("RGB", (1, 1), "JPEG", {}), ("RGB", (1, 1), "WEBP", {"quality": 80}), ("CMYK", (24, 16), "JPEG", {}),
    ("RGB", (40, 24), "JPEG", {"progressive": True, "quality": 70}), ("L", (8, 40), "WEBP", {"quality": 60}),
])
def test_odd_compressed_files_decode_with_a_usable_saving_or_none(mode, size, fmt, options):
    pixels = np.random.default_rng(2).integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8)
    decoded = decode(_encode(Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode), fmt, **options))
    assert decoded.pixels.shape == (size[1], size[0], 3)
    if decoded.saving is not None:  # whatever was read must compress other pixels without error
        assert decoded.saving.save(decoded.pixels).shape == decoded.pixels.shape
    if options.get("progressive"):
        assert decoded.saving.quality == 70


def test_an_animated_webp_decodes_its_first_frame():
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], quality=80)
    decoded = decode(data)
    assert decoded.pixels.shape == (16, 16, 3) and decoded.pixels[..., 0].mean() > 200


@pytest.mark.parametrize("fmt, suffix", [("HEIF", ".heic"), ("AVIF", ".avif")])
def test_phone_formats_heic_and_avif_are_read(tmp_path, fmt, suffix):
    gradient = np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (64, 1, 3))
    path = tmp_path / f"phone{suffix}"
    Image.fromarray(gradient).save(path, fmt, quality=95)
    pixels = read_image(path)
    assert pixels.shape == (64, 96, 3) and pixels.dtype == np.uint8
    assert np.abs(pixels.astype(int) - gradient.astype(int)).mean() < 6  # lossy, but the same picture


@pytest.mark.parametrize("fmt, kind", [("HEIF", "HEIC"), ("AVIF", "AVIF")])
def test_a_damaged_phone_file_is_named_as_such(fmt, kind):
    data = _encode(Image.new("RGB", (64, 64), (10, 200, 30)), fmt, quality=90)
    with pytest.raises(InputError, match=f"damaged or truncated {kind}"):
        decode_image(data[:40], name="upload")
