"""Sources are data: a dataset from folders of images, trained with the tiny preset, exported, and
named by the runtime, with source names the zoo has never heard of."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from conftest import run_module
from export.folders import assign_splits, from_folders
from runtime.errors import InputError

SIDE = 96
MATCHED = 8  # contents every source shows; then one image per source of its own


def crops() -> list[tuple[str, Image.Image]]:
    """96-pixel centre crops of the package photos at half size."""
    from export.photos import package_photos
    from runtime.intake import read_image

    out = []
    for photo in package_photos()[: MATCHED + 2]:
        image = Image.fromarray(read_image(photo.path))
        image = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
        left, top = (image.width - SIDE) // 2, (image.height - SIDE) // 2
        out.append((photo.name, image.crop((left, top, left + SIDE, top + SIDE))))
    return out


def make_source_folder(root: Path) -> Path:
    """real/ plus two made-up sources (3-bit posterization, a Gaussian blur): eight shared contents
    and two images of each source's own; sources.json names one of them."""
    views = {"real": lambda im: im, "posterizer": lambda im: ImageOps.posterize(im, 3),
             "blurrer": lambda im: im.filter(ImageFilter.GaussianBlur(1.5))}
    for index, (name, image) in enumerate(crops()):
        for source, view in views.items():
            stem = name if index < MATCHED else f"{name}-{source}"
            (root / source).mkdir(parents=True, exist_ok=True)
            view(image).save(root / source / f"{stem}.png")
    (root / "sources.json").write_text(json.dumps({"posterizer": {"display_name": "Posterizer 3-bit",
                                                                  "family": "quantizers"}}))
    return root


@pytest.fixture(scope="module")
def source_folder(tmp_path_factory) -> Path:
    return make_source_folder(tmp_path_factory.mktemp("folders") / "src")


def test_a_folder_dataset_trains_exports_and_names_its_own_sources(source_folder, tmp_path):
    dataset, run, bundle = tmp_path / "dataset", tmp_path / "run", tmp_path / "bundle"
    made = run_module("export.dataset", "from-folders", str(source_folder), "--output", str(dataset), "--tile", "32")
    assert made.returncode == 0, made.stderr
    build = json.loads((dataset / "build.json").read_text())
    assert build["labels"] == ["real", "blurrer", "posterizer"] and build["content_matched"] is False
    trained = run_module("export.train", "--dataset", str(dataset), "--output", str(run), "--preset", "tiny",
                         "--threads", "2")
    assert trained.returncode == 0, trained.stderr[-2000:]
    exported = run_module("export.to_onnx", "--dataset", str(dataset), "--checkpoint", str(run / "model.pt"),
                          "--output", str(bundle))
    assert exported.returncode == 0, exported.stderr[-2000:]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [(row["name"], row["display_name"], row["family"]) for row in manifest["labels"]] == [
        ("real", "Camera / real photo", "real"), ("blurrer", "blurrer", "blurrer"),
        ("posterizer", "Posterizer 3-bit", "quantizers")]
    assert manifest["tile"]["size"] == manifest["tile"]["stride"] == 32  # the stride defaults to the model's tile

    test_stem = build["splits"]["test"][0]
    paths = [str(source_folder / source / f"{test_stem}.png") for source in ("posterizer", "blurrer")]
    answered = run_module("runtime", "attribute", "--bundle", str(bundle), *paths, "--json")
    assert answered.returncode == 0, answered.stderr
    rows = json.loads(answered.stdout)
    assert [row["label"] for row in rows] == ["posterizer", "blurrer"]
    assert rows[0]["display_name"] == "Posterizer 3-bit" and "Posterizer 3-bit" in rows[0]["headline"]


def test_contents_shared_by_sources_land_in_one_split_and_every_source_is_validated(source_folder, tmp_path):
    built = from_folders(source_folder, tmp_path / "d", tile=32)
    images = tmp_path / "d" / "images"
    for split in ("train", "val", "test"):
        for stem in built["splits"][split]:
            holders = [s for s in ("real", "blurrer", "posterizer") if (images / split / s / f"{stem}.png").is_file()]
            assert holders, stem
            others = [s for s in ("train", "val", "test") if s != split]
            assert not any((images / other / s / f"{stem}.png").exists() for other in others for s in holders)
    for source in ("real", "blurrer", "posterizer"):
        for split in ("train", "val"):
            assert list((images / split / source).glob("*.png")), (source, split)
    saved = np.asarray(Image.open(images / "train" / "posterizer" / f"{built['splits']['train'][0]}.png"))
    assert saved.shape == (SIDE, SIDE, 3)  # images keep their own size


def test_the_split_is_seeded():
    contents = {f"c{i}": {"real", "a"} for i in range(20)} | {f"own{i}": {"a"} for i in range(6)}
    first = assign_splits(contents, {"val": 0.15, "test": 0.15}, seed=0)
    assert first == assign_splits(contents, {"val": 0.15, "test": 0.15}, seed=0)
    assert first != assign_splits(contents, {"val": 0.15, "test": 0.15}, seed=1)
    shared = [first[f"c{i}"] for i in range(20)]
    assert shared.count("val") == 3 and shared.count("test") == 3


def _folder(root: Path, layout: dict[str, list[str]], size=(64, 64)) -> Path:
    for source, stems in layout.items():
        (root / source).mkdir(parents=True, exist_ok=True)
        for stem in stems:
            Image.new("RGB", size, (len(stem) * 20 % 255, 90, 40)).save(root / source / f"{stem}.png")
    return root


@pytest.mark.parametrize("setup, message", [
    (lambda root: _folder(root, {"sd": ["a", "b"]}), "no real/ folder"),
    (lambda root: _folder(root, {"real": ["a", "b"], "sd": ["a", "b"], "Bad Name": ["a"]}), "lower-case"),
    (lambda root: (_folder(root, {"real": ["a", "b"], "sd": ["a", "b"]}) / "notes.txt").write_text("x"),
     "files outside a source folder: notes.txt"),
    (lambda root: (_folder(root, {"real": ["a", "b"], "sd": ["a", "b"]}) / "sd" / "readme.md").write_text("x"),
     "not image files: readme.md"),
    (lambda root: _folder(root, {"real": ["a", "b"]}), "at least one source besides real/"),
    (lambda root: _folder(root, {"real": ["a", "b"], "sd": ["a", "b"], "lonely": ["z"]}), "lonely: 1 image(s)"),
    (lambda root: (_folder(root, {"real": ["a", "b"], "sd": ["a", "b"]}) / "sources.json").write_text("{oops"),
     "not valid JSON"),
    (lambda root: (_folder(root, {"real": ["a", "b"], "sd": ["a", "b"]}) / "sources.json").write_text(
        '{"mj": {"family": "x"}}'), "names sources with no folder in"),
    (lambda root: (_folder(root, {"real": ["a", "b"], "sd": ["a", "b"]}) / "sources.json").write_text(
        '{"real": {"held_out": true}}'), "real class cannot be held out"),
    (lambda root: (_folder(root, {"real": ["a", "b"], "sd": ["a", "b"]}) / "sources.json").write_text(
        '{"sd": {"colour": "red"}}'), "unknown settings colour"),
])
def test_bad_source_folders_are_refused_and_nothing_is_written(tmp_path, setup, message):
    setup(tmp_path / "src")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_folders(tmp_path / "src", tmp_path / "out", tile=32)
    assert not (tmp_path / "out").exists()


def test_one_content_in_two_sizes_is_refused(tmp_path):
    _folder(tmp_path / "src", {"real": ["a", "b"], "sd": ["b"]})
    _folder(tmp_path / "src", {"sd": ["a"]}, size=(80, 64))
    with pytest.raises(InputError, match="share the stem 'a'.*sizes differ"):
        from_folders(tmp_path / "src", tmp_path / "out", tile=32)
    assert not (tmp_path / "out").exists()


def test_the_command_line_reports_bad_folders_in_one_line(tmp_path):
    done = run_module("export.dataset", "from-folders", str(tmp_path / "missing"), "--output", str(tmp_path / "o"))
    assert done.returncode == 2 and done.stderr.strip() == f"error: {tmp_path / 'missing'}: no such folder"


def test_batches_hold_whole_content_groups_of_about_the_asked_size():
    from types import SimpleNamespace

    import torch

    from export.train import content_batches

    generator = torch.Generator().manual_seed(0)
    matched = SimpleNamespace(content=torch.arange(30).repeat_interleave(5))  # every class of each tile: 5
    batch = next(content_batches(matched, 4 * 5, generator))
    assert len(batch) == 20 and len(torch.unique(matched.content[batch])) == 4
    own = SimpleNamespace(content=torch.arange(50))  # sources bring their own images: groups of one
    assert len(next(content_batches(own, 12, generator))) == 12


def test_contrastive_loss_without_any_pair_is_zero_not_nan():
    import torch

    from export.losses import supervised_contrastive

    features = torch.randn(6, 4, requires_grad=True)
    loss = supervised_contrastive(features, torch.arange(6), 0.1)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(features.grad).all()


def test_a_preset_sets_the_run_and_flags_beside_it_win():
    from export.config import PRESETS, parse_config

    config = parse_config(["--preset", "tiny", "--steps", "5"])
    assert config.steps == 5 and config.tile == PRESETS["tiny"]["tile"] == 32
    assert parse_config([]).tile == 64
    with pytest.raises(SystemExit):
        parse_config(["--preset", "huge"])
