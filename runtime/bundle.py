"""The ONNX bundle: a folder with `manifest.json` and the ONNX files it lists, each sha256-checked.

Everything the runtime needs to use the model (labels, tile size and stride, normalization,
prototypes, open-set threshold, file checksums) comes from the manifest.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import BundleError

logger = logging.getLogger(__name__)

# 2: the decoder graph takes the observed residual r; 3: the encoder gives the decision;
# 4: open_set is the relative rule (an image's energy minus its reconstruction's), one threshold per image
FORMAT_VERSION = 4
OPEN_SET_RULE = "relative"
MANIFEST_NAME = "manifest.json"
# A source checkout's weights/; `pip install .` puts the same files in runtime/weights/.
_INSTALLED = Path(__file__).resolve().parent / "weights"
SHIPPED_DIR = _INSTALLED if (_INSTALLED / MANIFEST_NAME).is_file() else Path(__file__).resolve().parents[1] / "weights"
GRAPHS = ("reconstructor_encoder", "reconstructor_decoder", "fingerprint_encoder", "fingerprint_decoder")
# A source's name: a label in manifests and answers, and a folder name in datasets.
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
REQUIRED_KEYS = ("format_version", "tile", "normalization", "labels", "real_label", "spaces",
                 "fingerprint", "anonymize", "open_set", "files")


@dataclass(frozen=True)
class Label:
    name: str
    display_name: str
    family: str


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its folder, where it came from, and its parsed manifest."""

    folder: Path
    source: str
    revision: str | None
    manifest: dict
    sha256: str  # of manifest.json, which lists every graph's sha256: names the whole bundle

    @property
    def labels(self) -> list[Label]:
        return [Label(**row) for row in self.manifest["labels"]]

    @property
    def tile(self) -> int:
        return int(self.manifest["tile"]["size"])

    @property
    def stride(self) -> int:
        return int(self.manifest["tile"]["stride"])

    @property
    def max_tiles(self) -> int | None:
        """At most this many tiles are attributed per image, spread evenly (None: every tile)."""
        value = self.manifest["tile"].get("max_tiles")
        return None if value is None else int(value)

    def path(self, graph: str) -> Path:
        return self.folder / self.manifest["files"][graph]["path"]

    def describe(self) -> str:
        revision = f"@{self.revision}" if self.revision else ""
        return f"{self.source}{revision}"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> dict:
    """Parse and validate `folder/manifest.json`; BundleError naming the problem."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(f"{path}: missing; a bundle folder holds {MANIFEST_NAME} and its ONNX files")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(manifest, dict):
        raise BundleError(f"{path}: expected a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{path}: format_version {version!r}; this runtime reads format_version {FORMAT_VERSION}")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    missing += [f"files.{g}" for g in GRAPHS if g not in manifest.get("files", {})]
    if missing:
        raise BundleError(f"{path}: missing {', '.join(missing)}")
    open_set = manifest["open_set"]
    if not isinstance(open_set, dict) or open_set.get("rule") != OPEN_SET_RULE \
            or not is_number(open_set.get("threshold")) or not is_number(open_set.get("reference_tiles")) \
            or open_set["reference_tiles"] != int(open_set["reference_tiles"]) or open_set["reference_tiles"] < 1:
        raise BundleError(f"{path}: open_set must give rule {OPEN_SET_RULE!r}, a numeric threshold and a whole "
                          f"number of reference_tiles (at least 1), got {open_set!r}")
    max_tiles = manifest["tile"].get("max_tiles") if isinstance(manifest["tile"], dict) else None
    if max_tiles is not None and not (isinstance(max_tiles, int) and not isinstance(max_tiles, bool) and max_tiles >= 1):
        raise BundleError(f"{path}: tile.max_tiles must be a whole number of at least 1, got {max_tiles!r}")
    verdict = manifest.get("verdict")
    if verdict is not None and not (
            isinstance(verdict, dict) and is_number(verdict.get("accuse_above")) and is_number(verdict.get("real_below"))
            and verdict["real_below"] <= verdict["accuse_above"] and isinstance(verdict.get("logistic"), dict)
            and is_number(verdict["logistic"].get("slope")) and is_number(verdict["logistic"].get("intercept"))):
        raise BundleError(f"{path}: verdict must give numeric accuse_above >= real_below and a logistic "
                          f"{{slope, intercept}}, got {verdict!r}")
    return manifest


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def verify_files(folder: Path, manifest: dict) -> None:
    """Every listed file exists and matches its sha256."""
    for graph in GRAPHS:
        entry = manifest["files"][graph]
        path = folder / entry["path"]
        if not path.is_file():
            raise BundleError(f"{path}: missing (listed in {MANIFEST_NAME} as {graph})")
        actual = sha256(path)
        if actual != entry["sha256"]:
            raise BundleError(f"{path}: sha256 {actual} does not match {MANIFEST_NAME} ({entry['sha256']}); "
                              "the file is damaged or from another bundle")


def fetch_from_hub(repo_id: str, revision: str | None) -> Path:
    """Download a bundle repo snapshot (manifest + ONNX files) at a pinned revision."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, revision=revision, allow_patterns=["*.json", "*.onnx"]))


def load_bundle(source: str | Path | None = None, revision: str | None = None) -> Bundle:
    """Load and verify a bundle: None for the shipped `weights/`, a folder, or a Hub repo id.

    A Hub repo that cannot be reached (offline, network down) falls back to the shipped bundle
    with a log line; a bad bundle raises BundleError naming the file."""
    if source is None or str(source) == "":
        folder, source, revision = SHIPPED_DIR, str(SHIPPED_DIR), None
    elif Path(source).is_dir():
        folder = Path(source)
    elif Path(source).exists() or str(source).startswith((".", "/")) or str(source).count("/") != 1:
        raise BundleError(f"{source}: not a bundle folder or a Hub repo id (owner/name)")
    else:
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        try:
            folder = fetch_from_hub(str(source), revision)
        except (RepositoryNotFoundError, RevisionNotFoundError) as error:
            raise BundleError(f"{source}@{revision or 'main'}: no such bundle on the Hub ({error})") from error
        except OSError as error:  # offline, connection refused, not in the local cache
            logger.warning("bundle %s@%s unavailable (%s); using the shipped bundle in %s",
                           source, revision or "main", type(error).__name__, SHIPPED_DIR)
            folder, source, revision = SHIPPED_DIR, str(SHIPPED_DIR), None
    manifest = read_manifest(folder)
    verify_files(folder, manifest)
    digest = sha256(folder / MANIFEST_NAME)
    logger.info("bundle %s%s: %d labels, tile %d", source, f"@{revision}" if revision else "",
                len(manifest["labels"]), manifest["tile"]["size"])
    return Bundle(folder=folder, source=str(source), revision=revision, manifest=manifest, sha256=digest)
