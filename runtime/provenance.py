"""Provenance metadata: what an image file *says* about where it came from.

Shown beside the fingerprint verdict, never mixed into it: metadata is easy to strip or forge,
and its absence is neutral evidence. Read here: PNG text chunks (AUTOMATIC1111 `parameters`,
ComfyUI `prompt` / `workflow`), EXIF Make / Model / Software / ImageDescription / UserComment,
XMP CreatorTool and IPTC DigitalSourceType, and a C2PA manifest with its validation state.
"""
from __future__ import annotations

import io
import logging
import re

from PIL import ExifTags, Image

from runtime.errors import InputError
from runtime.intake import MAX_FILE_BYTES

logger = logging.getLogger(__name__)

MAX_VALUE_CHARS = 400
GENERATOR_SOFTWARE = re.compile(r"stable diffusion|dall[-·. ]?e|midjourney|firefly|imagen|novelai|comfyui|"
                                r"automatic1111|invokeai|fooocus|flux|gpt-4o|openai|leonardo|ideogram", re.I)
AI_SOURCE_TYPES = {"trainedalgorithmicmedia": "made by a generative AI model",
                   "compositewithtrainedalgorithmicmedia": "edited or composited with generative AI",
                   "algorithmicmedia": "computer-generated (not necessarily AI)",
                   "digitalcapture": "captured by a camera",
                   "compositecapture": "a composite of camera captures",
                   "digitalart": "digital art made by a person",
                   "minorhumanedits": "a capture with minor human edits"}
MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif", "TIFF": "image/tiff",
        "BMP": "image/bmp"}


def _clip(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", "").strip()
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _item(kind: str, field: str, value, suggests: str) -> dict:
    return {"kind": kind, "field": field, "value": _clip(value), "suggests": suggests}


def png_text(info: dict) -> list[dict]:
    items = []
    if "parameters" in info:
        model = re.search(r"Model: ([^,\n]+)", str(info["parameters"]))
        suggests = "AUTOMATIC1111 / Forge web UI (Stable Diffusion)" + (f", model {model.group(1)}" if model else "")
        items.append(_item("png-text", "parameters", info["parameters"], suggests))
    for key in ("prompt", "workflow"):
        if key in info:
            items.append(_item("png-text", key, info[key], "ComfyUI workflow (a diffusion pipeline)"))
    for key in ("Software", "Description", "Comment", "Source", "Author"):
        if key in info and isinstance(info[key], (str, bytes)):
            suggests = "names a generator" if GENERATOR_SOFTWARE.search(_clip(info[key])) else "a text field"
            items.append(_item("png-text", key, info[key], suggests))
    return items


def exif_fields(image: Image.Image) -> list[dict]:
    exif = image.getexif()
    items = []
    tags = {ExifTags.Base.Make: "Make", ExifTags.Base.Model: "Model", ExifTags.Base.Software: "Software",
            ExifTags.Base.ImageDescription: "ImageDescription"}
    for tag, name in tags.items():
        if exif.get(tag):
            value = _clip(exif[tag])
            if name in ("Make", "Model"):
                suggests = "camera metadata (written by a camera or phone, or copied)"
            else:
                suggests = "names a generator" if GENERATOR_SOFTWARE.search(value) else "an editing or capture tool"
            items.append(_item("exif", name, value, suggests))
    comment = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.UserComment)
    if comment:
        value = _clip(comment[8:] if isinstance(comment, bytes) and comment[:8].rstrip(b"\x00 ") in (b"ASCII", b"UNICODE", b"") else comment)
        suggests = "names a generator" if GENERATOR_SOFTWARE.search(value) or "Steps:" in value else "a comment"
        items.append(_item("exif", "UserComment", value, suggests))
    return items


def xmp_fields(image: Image.Image) -> list[dict]:
    raw = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    items = []
    for field, pattern in (("CreatorTool", r"CreatorTool(?:=\"|>)([^\"<]+)"),
                           ("DigitalSourceType", r"DigitalSourceType(?:=\"|>)([^\"<]+)")):
        for value in re.findall(pattern, text):
            if field == "DigitalSourceType":
                code = value.rstrip("/").rsplit("/", 1)[-1]
                suggests = f"IPTC: {AI_SOURCE_TYPES.get(code.lower(), 'source type ' + code)}"
            else:
                suggests = "names a generator" if GENERATOR_SOFTWARE.search(value) else "the creating application"
            items.append(_item("xmp", field, value, suggests))
    return items


def c2pa_manifest(data: bytes, image_format: str | None) -> dict | None:
    """The active C2PA manifest's claim generator, actions' source types and validation state."""
    try:
        import c2pa
    except ImportError:
        return {"error": "c2pa-python is not installed; C2PA manifests were not checked"}
    mime = MIME.get(image_format or "", None)
    if mime is None:
        return None
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data))
    except c2pa.C2paError as error:
        return {"error": f"C2PA data present but unreadable: {_clip(error)}", "validation_state": "Invalid"}
    if reader is None:
        return None
    with reader:
        manifest = reader.get_active_manifest() or {}
        state = reader.get_validation_state()
    source_types = re.findall(r"digitalsourcetype/(\w+)", str(manifest), flags=re.I)
    generator = manifest.get("claim_generator") or ", ".join(
        f"{info.get('name', '?')} {info.get('version', '')}".strip() for info in manifest.get("claim_generator_info") or [])
    return {"claim_generator": _clip(generator),
            "title": _clip(manifest.get("title", "")),
            "digital_source_types": sorted(set(source_types)),
            "validation_state": state or "unknown"}


def read_provenance(data: bytes, name: str = "<bytes>") -> dict:
    """Every provenance field found in an image file's bytes, what each suggests, and a summary."""
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{name}: {len(data)} bytes is over the {MAX_FILE_BYTES}-byte file limit")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
            if image_format == "PNG":
                image.load()  # text chunks after the image data are read only on load
            items = png_text(image.info) + exif_fields(image) + xmp_fields(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise InputError(f"{name}: cannot read its metadata ({error})") from error
    c2pa_info = c2pa_manifest(data, image_format)
    return {"items": items, "c2pa": c2pa_info, "summary": summarize(items, c2pa_info)}


def read_file_provenance(path) -> dict:
    """`read_provenance` of a file on disk; InputError if it is missing."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return read_provenance(path.read_bytes(), str(path))


def claim(provenance: dict) -> str | None:
    """What the metadata claims about the image's origin: "generated", "camera" or None (what
    `summarize` words; a C2PA manifest claims "generated" when a source type names AI)."""
    c2pa_info = provenance.get("c2pa") or {}
    if "claim_generator" in c2pa_info:
        kinds = c2pa_info["digital_source_types"]
        return "generated" if any("AI" in kind or "generative" in kind.lower() for kind in kinds) else None
    if generator_items(provenance["items"]):
        return "generated"
    return "camera" if claims_camera(provenance["items"]) else None


def disagreement(verdict: str, provenance: dict) -> str | None:
    """One line when the metadata's claim and the pixels' verdict disagree, else None."""
    claimed = claim(provenance)
    if claimed == "camera" and verdict in ("generated", "unknown"):
        return ("The metadata claims a camera capture, but the pixels carry a generator's trace; metadata is easy "
                "to copy or forge, the verdict reads the pixels alone.")
    if claimed == "generated" and verdict == "real":
        return ("The metadata claims generative AI, but the pixels carry no trace of a generator this bundle knows; "
                "the verdict reads the pixels alone.")
    return None


def generator_items(items: list[dict]) -> list[dict]:
    """The metadata fields that name a generator or generative AI."""
    return [i for i in items if i["suggests"].startswith(("AUTOMATIC1111", "ComfyUI", "names a generator"))
            or "generative AI" in i["suggests"] or "AI model" in i["suggests"]]


def claims_camera(items: list[dict]) -> bool:
    return any(i["field"] in ("Make", "Model") or "camera" in i["suggests"] for i in items)


def summarize(items: list[dict], c2pa_info: dict | None) -> str:
    """One line: what the metadata claims. Missing metadata is neutral evidence."""
    if c2pa_info and "claim_generator" in c2pa_info:
        kinds = ", ".join(c2pa_info["digital_source_types"]) or "no declared source type"
        return (f"C2PA manifest ({c2pa_info['validation_state']}) from {c2pa_info['claim_generator'] or 'an unnamed tool'}: "
                f"{kinds}")
    ai = generator_items(items)
    if ai:
        return f"The metadata claims generative AI ({ai[0]['kind']} {ai[0]['field']}: {ai[0]['suggests']})."
    if claims_camera(items):
        return "The metadata claims a camera capture."
    if items:
        return "Some metadata, none of it about the image's origin."
    return "No provenance metadata (neutral evidence: most sites strip it)."
