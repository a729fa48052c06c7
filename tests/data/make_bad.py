"""Write tests/data/bad/: malformed and edge-case files, and expected.json with each one's outcome.

    python tests/data/make_bad.py

Outcome "result": attribution works (with the image size and whether it was padded);
outcome "error": an InputError whose message contains `message`.
"""
from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).parent
BAD = HERE / "bad"
SAMPLE = HERE / "samples" / "real--coffee.png"


def png_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A valid-looking PNG header claiming width x height, with a tiny IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def main() -> None:
    BAD.mkdir(exist_ok=True)
    photo = Image.open(SAMPLE).convert("RGB")
    good_png = png_bytes(photo)
    jpeg = io.BytesIO()
    photo.save(jpeg, format="JPEG", quality=90)
    files: dict[str, tuple[bytes, dict]] = {}
    files["empty.png"] = (b"", {"outcome": "error", "message": "empty"})
    files["text-named.png"] = (b"hello, this is not an image\n", {"outcome": "error", "message": "not an image"})
    files["html-named.png"] = (b"<!doctype html><html><body>hi</body></html>", {"outcome": "error", "message": "not an image"})
    files["random.bin"] = (np.random.default_rng(0).bytes(4096), {"outcome": "error", "message": "not an image"})
    files["drawing.svg"] = (b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>',
                            {"outcome": "error", "message": "not an image"})
    files["truncated.png"] = (good_png[: len(good_png) // 2], {"outcome": "error", "message": "damaged or truncated"})
    files["truncated.jpg"] = (jpeg.getvalue()[: len(jpeg.getvalue()) // 3], {"outcome": "error", "message": "damaged or truncated"})
    broken = bytearray(good_png)
    broken[40] ^= 0xFF  # inside IDAT: its CRC no longer matches
    files["bad-crc.png"] = (bytes(broken), {"outcome": "error", "message": "damaged or truncated"})
    files["header-only.png"] = (good_png[:33], {"outcome": "error", "message": "damaged or truncated"})
    files["bomb-30000x30000.png"] = (bomb_png(30000, 30000), {"outcome": "error", "message": "pixel limit"})
    files["png-named.jpg"] = (good_png, {"outcome": "result", "size": [200 - 20, 300 - 44], "padded": False})
    files["one-pixel.png"] = (png_bytes(Image.new("RGB", (1, 1), (200, 30, 30))), {"outcome": "result", "size": [1, 1], "padded": True})
    files["tiny-5x3.gif"] = (_save(photo.resize((5, 3)).convert("P"), "GIF"), {"outcome": "result", "size": [3, 5], "padded": True})
    frames = [photo.rotate(angle).convert("P") for angle in (0, 90, 180)]
    animated = io.BytesIO()
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    files["animated.gif"] = (animated.getvalue(), {"outcome": "result", "size": [180, 256], "padded": False})
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    files["transparent.png"] = (png_bytes(rgba), {"outcome": "result", "size": [180, 256], "padded": False})
    gray16 = Image.fromarray((np.asarray(photo.convert("L"), dtype=np.uint16) * 257))
    files["gray16.png"] = (png_bytes(gray16), {"outcome": "result", "size": [180, 256], "padded": False})
    files["cmyk.jpg"] = (_save(photo.convert("CMYK"), "JPEG"), {"outcome": "result", "size": [180, 256], "padded": False})
    rotated = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    photo.save(rotated, format="JPEG", exif=exif)
    files["exif-rotated.jpg"] = (rotated.getvalue(), {"outcome": "result", "size": [256, 180], "padded": False})
    files["float.tiff"] = (_save(Image.fromarray(np.asarray(photo.convert("L"), dtype=np.float32)), "TIFF"),
                           {"outcome": "result", "size": [180, 256], "padded": False})
    files["photo.webp"] = (_save(photo, "WEBP"), {"outcome": "result", "size": [180, 256], "padded": False})
    files["photo.bmp"] = (_save(photo, "BMP"), {"outcome": "result", "size": [180, 256], "padded": False})
    files["thin-300x2.png"] = (png_bytes(photo.resize((300, 2))), {"outcome": "result", "size": [2, 300], "padded": True})
    expected = {}
    for name, (data, outcome) in sorted(files.items()):
        (BAD / name).write_bytes(data)
        expected[name] = outcome
    (BAD / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"{len(files)} files in {BAD}")


def _save(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
