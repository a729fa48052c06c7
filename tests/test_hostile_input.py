"""Hostile and broken input: the committed bad files, fuzzing, and provenance metadata."""
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from conftest import ROOT, run_module
from runtime.errors import InputError
from runtime.intake import decode, read_image
from runtime.provenance import read_provenance

BAD = ROOT / "tests" / "data" / "bad"
EXPECTED = json.loads((BAD / "expected.json").read_text())
SAMPLE = ROOT / "tests" / "data" / "samples" / "real--coffee.png"


def test_there_are_at_least_fifteen_bad_or_edge_files():
    assert len(EXPECTED) >= 15
    assert sum(e["outcome"] == "error" for e in EXPECTED.values()) >= 8
    assert sorted(p.name for p in BAD.iterdir() if p.name not in ("expected.json",)) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_intake_gives_each_bad_file_its_expected_outcome(name):
    expected = EXPECTED[name]
    if expected["outcome"] == "error":
        with pytest.raises(InputError, match=expected["message"]) as caught:
            read_image(BAD / name)
        assert name in str(caught.value)
    else:
        image = read_image(BAD / name)
        assert list(image.shape) == expected["size"] + [3] and image.dtype == np.uint8


def test_cli_answers_every_bad_file_in_one_json_list(tiny_bundle):
    paths = [str(BAD / name) for name in sorted(EXPECTED)]
    result = run_module("runtime", "--bundle", str(tiny_bundle), "--device", "cpu", "attribute", *paths, "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    rows = {Path(row["path"]).name: row for row in json.loads(result.stdout)}
    assert set(rows) == set(EXPECTED)
    for name, expected in EXPECTED.items():
        if expected["outcome"] == "error":
            assert expected["message"] in rows[name]["error"], name
        else:
            assert "error" not in rows[name], rows[name]
            assert rows[name]["image_size"] == expected["size"] and rows[name]["padded"] is expected["padded"]


# ---------------------------------------------------------------- fuzzing: only InputError escapes
def _decode_or_input_error(data: bytes) -> None:
    try:  # the runtime's path: compression settings read too (JPEG tables, a lossy WebP's quality)
        decoded = decode(data, "fuzz")
    except InputError:
        return
    image = decoded.pixels
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert decoded.saving is None or decoded.saving.save(image).shape == image.shape


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_escape_as_anything_but_input_error(data):
    _decode_or_input_error(data)


def _real_files() -> list[bytes]:
    photo = Image.open(SAMPLE).convert("RGB").resize((48, 32))
    files = []
    for image_format in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"):
        buffer = io.BytesIO()
        photo.save(buffer, format=image_format)
        files.append(buffer.getvalue())
    return files


REAL_FILES = _real_files()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL_FILES), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=12),
       st.integers(0, 10**6))
def test_mutated_real_files_never_escape_as_anything_but_input_error(data, flips, cut):
    mutated = bytearray(data)
    for position, value in flips:
        mutated[position % len(mutated)] = value
    _decode_or_input_error(bytes(mutated[: max(1, cut % (len(mutated) + 1))]))


# ---------------------------------------------------------------- provenance metadata
def _png(**text) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.open(SAMPLE).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def test_provenance_reads_generator_metadata():
    a1111 = read_provenance(_png(parameters="a cat\nSteps: 20, Sampler: Euler a, Model: sd_xl_base_1.0"))
    assert a1111["items"][0]["suggests"].startswith("AUTOMATIC1111") and "sd_xl_base_1.0" in a1111["summary"]
    comfy = read_provenance(_png(prompt='{"3": {"class_type": "KSampler"}}', workflow="{}"))
    assert [i["field"] for i in comfy["items"]] == ["prompt", "workflow"] and "ComfyUI" in comfy["summary"]
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:CreatorTool="Adobe Firefly" '
           b'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
           b"</rdf:RDF></x:xmpmeta>")
    buffer = io.BytesIO()
    Image.open(SAMPLE).convert("RGB").save(buffer, format="JPEG", xmp=xmp)
    found = {i["field"]: i for i in read_provenance(buffer.getvalue())["items"]}
    assert found["DigitalSourceType"]["suggests"] == "IPTC: made by a generative AI model"
    assert found["CreatorTool"]["suggests"] == "names a generator"


def test_provenance_reads_camera_exif_and_says_missing_metadata_is_neutral():
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "EOS R5", "Adobe Lightroom"
    buffer = io.BytesIO()
    Image.open(SAMPLE).convert("RGB").save(buffer, format="JPEG", exif=exif)
    result = read_provenance(buffer.getvalue())
    assert {i["field"] for i in result["items"]} == {"Make", "Model", "Software"}
    assert result["summary"] == "The metadata claims a camera capture."
    assert "neutral" in read_provenance(SAMPLE.read_bytes())["summary"] and read_provenance(SAMPLE.read_bytes())["c2pa"] is None


def test_a_metadata_claim_that_disagrees_with_the_verdict_is_named_in_one_line():
    from runtime.provenance import claim, disagreement

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS 400D"
    buffer = io.BytesIO()
    Image.open(SAMPLE).convert("RGB").save(buffer, format="JPEG", exif=exif)
    camera = read_provenance(buffer.getvalue())
    generator = read_provenance(_png(parameters="a cat\nSteps: 20, Sampler: Euler a, Model: sd_xl_base_1.0"))
    neutral = read_provenance(SAMPLE.read_bytes())
    assert (claim(camera), claim(generator), claim(neutral)) == ("camera", "generated", None)
    assert "claims a camera capture" in disagreement("generated", camera)
    assert "claims a camera capture" in disagreement("unknown", camera)
    assert "claims generative AI" in disagreement("real", generator)
    assert all(disagreement(v, p) is None for v, p in [("real", camera), ("inconclusive", camera),
                                                      ("generated", generator), ("generated", neutral)])


def test_anonymized_output_keeps_no_metadata(tiny_bundle, tmp_path):
    exif = Image.Exif()
    exif[0x010F], exif[0x9286] = "Canon", b"ASCII\x00\x00\x00secret comment"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "secret prompt")
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta><rdf:Description xmp:CreatorTool="Midjourney"/></x:xmpmeta>')
    source = tmp_path / "tagged.png"
    image = Image.open(SAMPLE)
    image.save(source, pnginfo=info, exif=exif, icc_profile=b"\x00" * 128 + b"desc text in an ICC profile")
    assert read_provenance(source.read_bytes())["items"]
    output = tmp_path / "out.png"
    result = run_module("runtime", "--bundle", str(tiny_bundle), "anonymize", str(source), "--output", str(output))
    assert result.returncode == 0, result.stderr
    data = output.read_bytes()
    for marker in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"iCCP", b"caBX", b"secret", b"Canon", b"xmpmeta", b"jumb"):
        assert marker not in data, marker
    assert read_provenance(data)["items"] == [] and read_provenance(data)["c2pa"] is None


def _with_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    end = png.rfind(b"IEND") - 4
    chunk = struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return png[:end] + chunk + png[end:]


def test_c2pa_manifest_is_read_and_validated():
    # made by tests/data/make_c2pa.py: signed by a throwaway test CA, "created" by a generative model
    signed = (ROOT / "tests" / "data" / "c2pa-signed.png").read_bytes()
    found = read_provenance(signed)
    assert found["c2pa"]["validation_state"] == "Valid"
    assert found["c2pa"]["digital_source_types"] == ["trainedAlgorithmicMedia"]
    assert found["summary"].startswith("C2PA manifest (Valid)")
    tampered = read_provenance(_with_chunk(signed, b"tEXt", b"Comment\x00edited after signing"))
    assert tampered["c2pa"]["validation_state"] == "Invalid"
    assert tampered["items"][0]["field"] == "Comment"


def test_anonymize_drops_a_c2pa_manifest(tiny_bundle, tmp_path):
    source = tmp_path / "signed.png"
    source.write_bytes((ROOT / "tests" / "data" / "c2pa-signed.png").read_bytes())
    output = tmp_path / "out.png"
    result = run_module("runtime", "--bundle", str(tiny_bundle), "anonymize", str(source), "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert read_provenance(output.read_bytes())["c2pa"] is None and b"caBX" not in output.read_bytes()
