"""The four-outcome verdict: the rule, its calibration, and that metadata never moves it."""
from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from export.verdict import choose_rule, expected_calibration_error, highest_allowed, write_rule
from runtime.errors import BundleError, InputError
from runtime.verdict import UNCALIBRATED, decide, headline, log_odds_generated, p_generated

LABELS = ["real", "gan-a", "gan-b"]
RULE = {"accuse_above": 1.0, "real_below": -1.0, "logistic": {"slope": 2.0, "intercept": 0.0},
        "calibration": {"note": "set by hand for these tests"}}


def probabilities(real: float, a: float) -> np.ndarray:
    return np.array([real, a, 1 - real - a])


@pytest.mark.parametrize("p, unknown, outcome, label", [
    (probabilities(0.05, 0.80), False, "generated", "gan-a"),
    (probabilities(0.05, 0.80), True, "unknown", "gan-a"),
    (probabilities(0.90, 0.06), False, "real", "real"),
    (probabilities(0.90, 0.06), True, "real", "real"),  # an open-set flag is not an accusation
    (probabilities(0.55, 0.30), False, "inconclusive", "real"),
    (probabilities(0.40, 0.10), False, "inconclusive", "gan-b"),
])
def test_each_band_of_the_evidence_gives_its_outcome(p, unknown, outcome, label):
    verdict = decide(p, LABELS, 0, unknown, RULE)
    assert (verdict.outcome, verdict.label) == (outcome, label)
    assert verdict.log_odds == pytest.approx(np.log(1 - p[0]) - np.log(p[0]))
    assert 0 <= verdict.confidence <= 1


def test_confidence_is_the_probability_of_what_the_verdict_states():
    p = probabilities(0.05, 0.80)
    generated = decide(p, LABELS, 0, False, RULE)
    p_gen = p_generated(log_odds_generated(p, 0), RULE)
    assert generated.p_generated == pytest.approx(p_gen)
    assert generated.confidence == pytest.approx(p_gen * 0.80 / 0.95)  # made by gan-a, not only "generated"
    real = decide(probabilities(0.9, 0.06), LABELS, 0, False, RULE)
    assert real.confidence == pytest.approx(1 - real.p_generated)
    assert decide(p, LABELS, 0, True, RULE).confidence == pytest.approx(p_gen)


def test_an_uncalibrated_bundle_answers_as_bundles_always_have():
    """The open-set flag first, then the most probable label; never inconclusive."""
    generated = decide(probabilities(0.4, 0.5), LABELS, 0, False, UNCALIBRATED)
    assert (generated.outcome, generated.label, generated.confidence) == ("generated", "gan-a", 0.5)
    real = decide(probabilities(0.45, 0.3), LABELS, 0, False, UNCALIBRATED)
    assert (real.outcome, real.label, real.confidence) == ("real", "real", 0.45)
    unknown = decide(probabilities(0.45, 0.3), LABELS, 0, True, UNCALIBRATED)
    assert (unknown.outcome, unknown.label) == ("unknown", "real")  # the closest label, as it always was
    assert unknown.confidence == pytest.approx(0.55)  # that a generator made it, not the closest label's


def test_headlines_are_plain_sentences_for_people():
    verdict = decide(probabilities(0.05, 0.80), LABELS, 0, False, RULE)
    assert headline(verdict, "GAN A", 2) == "Made by GAN A, one of the 2 generators this bundle knows"
    inconclusive = decide(probabilities(0.55, 0.3), LABELS, 0, False, RULE)
    assert headline(inconclusive, "x", 2).startswith("Inconclusive: not enough evidence")


def rows(condition: str, camera: np.ndarray, known: np.ndarray) -> list[dict]:
    return ([{"condition": condition, "group": "camera", "log_odds": float(s)} for s in camera]
            + [{"condition": condition, "group": "known", "log_odds": float(s)} for s in known])


def test_calibration_accuses_at_most_the_target_share_of_camera_images_under_every_condition():
    rng = np.random.default_rng(0)
    data = rows("native", rng.normal(-3, 1, 400), rng.normal(3, 1, 300)) \
        + rows("jpeg75", rng.normal(-1, 1, 400), rng.normal(1.5, 1, 300))
    rule = choose_rule(data, target=0.01, real_miss=0.10)
    for condition in ("native", "jpeg75"):
        camera = np.array([r["log_odds"] for r in data if r["condition"] == condition and r["group"] == "camera"])
        known = np.array([r["log_odds"] for r in data if r["condition"] == condition and r["group"] == "known"])
        assert (camera > rule["accuse_above"]).mean() <= 0.01
        assert (known < rule["real_below"]).mean() <= 0.10
        figures = rule["calibration"]["conditions"][condition]
        assert figures["camera_accused"] == pytest.approx((camera > rule["accuse_above"]).mean())
        assert 0 <= figures["ece"] < 0.15
    assert rule["real_below"] <= rule["accuse_above"]
    assert rule["logistic"]["slope"] > 0
    with pytest.raises(InputError, match="every condition"):
        choose_rule(rows("native", np.zeros(3), np.zeros(0)))


def test_separated_sources_leave_no_inconclusive_band_and_overlapping_ones_a_wide_one():
    camera = np.linspace(-10, 0, 100)
    separated = choose_rule(rows("native", camera, np.linspace(-0.5, 10, 100)))
    assert separated["real_below"] == separated["accuse_above"] == pytest.approx(camera[-2])
    overlapping = choose_rule(rows("native", camera, np.linspace(-8, 2, 100)))
    assert overlapping["accuse_above"] == pytest.approx(camera[-2])
    assert overlapping["real_below"] == pytest.approx(np.linspace(-8, 2, 100)[10])


def test_thresholds_and_calibration_error_helpers():
    scores = np.arange(100, dtype=float)
    assert highest_allowed(scores, 0.01, above=True) == 98.0   # one score (99) above it
    assert highest_allowed(scores, 0.10, above=False) == 10.0  # ten scores below it
    assert expected_calibration_error(np.array([0.9, 0.9]), np.array([1, 1])) == pytest.approx(0.1)


def jpeg_with(pixels: np.ndarray, exif: Image.Exif | None) -> bytes:
    buffer = io.BytesIO()
    options = {"exif": exif} if exif is not None else {}
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def test_metadata_never_moves_the_verdict(tiny_bundle, tmp_path):
    """The same pixels with no metadata, a camera's EXIF, or a generator's Software tag and PNG text."""
    from runtime.engine import Engine

    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)
    camera = Image.Exif()
    camera[0x010F], camera[0x0110] = "Canon", "Canon EOS 400D DIGITAL"
    generator = Image.Exif()
    generator[0x0131] = "Stable Diffusion"
    engine = Engine.load(tiny_bundle, threads=1)
    answers = [engine.attribute(jpeg_with(pixels, exif)) for exif in (None, camera, generator)]
    from PIL import PngImagePlugin

    for text in (None, "parameters"):
        info = PngImagePlugin.PngInfo()
        if text:
            info.add_text(text, "a photo of a cat, Steps: 20, Sampler: Euler a, Model: sd_xl_base_1.0")
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG", pnginfo=info)
        answers.append(engine.attribute(buffer.getvalue()))
    keys = ("verdict", "label", "confidence", "probabilities", "p_generated")
    assert all({k: a[k] for k in keys} == {k: answers[0][k] for k in keys} for a in answers[:3])
    assert all({k: a[k] for k in keys} == {k: answers[3][k] for k in keys} for a in answers[3:])


def test_a_calibrated_rule_in_the_manifest_is_what_the_runtime_answers_with(tiny_bundle, tmp_path):
    from runtime.engine import Engine

    folder = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, folder)
    image = np.random.default_rng(4).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    before = Engine.load(folder, threads=1).attribute(image)
    assert before["evidence"]["accuse_above"] == UNCALIBRATED["accuse_above"]
    s = before["evidence"]["log_odds_generated"]
    write_rule(folder, {**RULE, "accuse_above": s + 1, "real_below": s - 1})
    after = Engine.load(folder, threads=1).attribute(image)
    assert after["verdict"] == "inconclusive" and after["headline"].startswith("Inconclusive")
    assert not after["unknown"] and not after["is_real"]
    assert after["bundle"] == Engine.load(folder, threads=1).bundle.sha256 != before["bundle"]
    write_rule(folder, {**RULE, "accuse_above": s - 2, "real_below": s - 1})
    with pytest.raises(BundleError, match="accuse_above >= real_below"):
        Engine.load(folder, threads=1)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["verdict"]["real_below"] == s - 1


def test_the_command_line_calibrates_a_bundle_on_validation_images(tiny_bundle, tmp_path, capsys):
    """Camera photos of the val pool and generated images under every calibration condition, through
    the runtime; the rule lands in the bundle's manifest and the report."""
    from export import verdict
    from export.conditions import CALIBRATION_CONDITIONS
    from export.pools import write_index
    from runtime.engine import Engine
    from test_pools import image
    from test_real_world import camera_jpeg, photo

    pools_dir, generated = tmp_path / "pools", tmp_path / "generated"
    listed = []
    for k in range(4):
        listed.append(image(f"cam{k}", pool="val", package="calib"))
        path = pools_dir / "val" / "camera" / f"cam{k}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(camera_jpeg(photo(80, 72, seed=k), "Canon" if k % 2 else None))
    write_index(listed, pools_dir)
    for source in ("gan-nearest", "tiny-ae", "gan-bicubic"):
        (generated / source).mkdir(parents=True)
        for k in range(2):
            Image.fromarray(photo(64, 64, seed=30 + k)).save(generated / source / f"p{k}.png")
    folder = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, folder)
    report = tmp_path / "calibration.json"
    args = ["--bundle", str(folder), "--pools", str(pools_dir), "--generated", str(generated),
            "--cache", str(tmp_path / "cache.jsonl"), "--threads", "1", "--report", str(report)]
    assert verdict.main(args) == 0
    rule = json.loads((folder / "manifest.json").read_text())["verdict"]
    assert set(rule["calibration"]["conditions"]) == set(CALIBRATION_CONDITIONS)
    for figures in rule["calibration"]["conditions"].values():
        assert figures["camera_images"] == 4 and figures["known_images"] == 4
        assert figures["camera_accused"] <= 0.01  # none of 4
    written = json.loads(report.read_text())
    assert written["rule"] == rule and written["command"].startswith("python -m export.verdict --bundle")
    assert Engine.load(folder, threads=1).verdict_rule == rule
    guard = json.loads((folder / "manifest.json").read_text())["enrollment_guard"]
    assert len(guard["camera_embeddings"]) == 4 and "4 camera photos of the validation pool" in guard["source"]
    assert verdict.main([*args[:-2], "--target", "1.5"]) == 2
    assert "shares between 0 and 1" in capsys.readouterr().err
