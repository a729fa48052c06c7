"""Teach a bundle a new source from a few of its images: few-shot enrollment in fingerprint space.

An image's embedding is the mean fingerprint f of its tiles. A source is enrolled as the mean
embedding of its images (its prototype) and a radius: the largest distance of one of its images
from the mean of the others, with a margin, in the bundle's within-source spread (the manifest's
`fingerprint.spread`). An image is then named as the enrolled source when its embedding lies
within that radius and nearer its prototype than any of the bundle's own.

Two refusals keep an enrollment honest: images that lie further apart than two of the bundle's
own sources do are not one source; and a source whose radius would take more than 1% of the
bundle's validation camera photos (its `enrollment_guard`) would make the Space accuse camera
photos. An enrollment is a small JSON overlay tied to the bundle it was made on (its sha256).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from runtime.bundle import SOURCE_NAME
from runtime.errors import InputError

OVERLAY_FORMAT = 1
MIN_IMAGES = 3
MAX_CAMERA_SHARE = 0.01
RADIUS_MARGIN = 1.5  # the radius, over the largest leave-one-out distance of the enrollment images
MIN_RADIUS = 0.5     # in within-source standard deviations: images alike still admit their source's others


@dataclass(frozen=True)
class Enrolled:
    """A source taught from `images` images: where its fingerprints lie, and how far they reach."""

    name: str
    display_name: str
    family: str
    prototype: list[float]
    radius: float
    images: int
    bundle_sha256: str
    format: int = OVERLAY_FORMAT

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n")


def distances(embeddings: np.ndarray, prototypes: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """(N, P) RMS distances between embeddings (N, F) and prototypes (P, F), in units of `spread`."""
    scaled = (embeddings[:, None, :] - prototypes[None]) / spread
    return np.sqrt((scaled**2).mean(-1))


def load_overlay(path: str | Path, bundle_sha256: str) -> Enrolled:
    """An enrollment overlay; InputError if it is unreadable or was made on another bundle."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        enrolled = Enrolled(**data)
    except FileNotFoundError:
        raise InputError(f"{path}: no such enrollment file") from None
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as error:
        raise InputError(f"{path}: not an enrollment overlay ({error})") from None
    if enrolled.format != OVERLAY_FORMAT:
        raise InputError(f"{path}: overlay format {enrolled.format}; this runtime reads format {OVERLAY_FORMAT}")
    if enrolled.bundle_sha256 != bundle_sha256:
        raise InputError(f"{path}: made on bundle {enrolled.bundle_sha256[:12]}, not on the loaded bundle "
                         f"{bundle_sha256[:12]}; enroll the images again on this bundle")
    return enrolled


def camera_guard(manifest: dict) -> np.ndarray:
    """The bundle's validation camera photos' embeddings (N, F); InputError if it ships none."""
    guard = manifest.get("enrollment_guard", {}).get("camera_embeddings")
    if not guard:
        raise InputError("this bundle ships no camera-photo guard (manifest enrollment_guard), so an enrollment "
                         "could not be checked against camera photos; export it again with python -m export.to_onnx")
    return np.asarray(guard, dtype=np.float32)


def check_name(name: str, engine) -> None:
    if not SOURCE_NAME.match(name or ""):
        raise InputError(f"name {name!r}: use lower-case letters, digits, '.', '_' or '-' (at most 64)")
    if name in {label.name for label in engine.labels} or name == "neutral":
        raise InputError(f"name {name!r}: the bundle already has a source of that name")


def embed_all(engine, images) -> tuple[np.ndarray, list[str]]:
    """The embeddings of the usable `images`, and a line for each unusable one."""
    embeddings, problems = [], []
    for index, image in enumerate(images):
        try:
            embeddings.append(engine.embedding(image))
        except InputError as error:
            problems.append(f"image {index + 1}: {error}" if not isinstance(image, (str, Path)) else str(error))
    return np.asarray(embeddings, dtype=np.float32), problems


def enroll(engine, name: str, images, family: str | None = None, display_name: str | None = None) -> Enrolled:
    """Enroll a new source from its `images` (paths, bytes, arrays or PIL images) on `engine`'s bundle."""
    check_name(name, engine)
    guard = camera_guard(engine.bundle.manifest)
    embeddings, problems = embed_all(engine, images)
    if len(embeddings) < MIN_IMAGES:
        raise InputError(f"{len(embeddings)} usable image(s); enrolling a source needs at least {MIN_IMAGES}"
                         + (f" ({'; '.join(problems[:3])})" if problems else ""))
    spread = engine.spread
    prototype = embeddings.mean(0)
    others = (embeddings.sum(0)[None] - embeddings) / (len(embeddings) - 1)
    apart = np.sqrt((((embeddings - others) / spread) ** 2).mean(1))
    own = engine.prototypes
    own_distances = distances(own, own, spread)[np.triu_indices(len(own), 1)]
    if apart.max() > own_distances.min():
        worst = int(apart.argmax())
        raise InputError(f"image {worst + 1} lies further from the others than two of the bundle's own sources lie "
                         "from each other: these images look like more than one source")
    radius = float(max(MIN_RADIUS, RADIUS_MARGIN * apart.max()))
    taken = float((distances(guard, prototype[None], spread)[:, 0] <= radius).mean())
    if taken > MAX_CAMERA_SHARE:
        raise InputError(f"{name}: {taken:.0%} of this bundle's validation camera photos would be named {name} "
                         f"(at most {MAX_CAMERA_SHARE:.0%} may be): these images look like camera photos, or the "
                         "bundle cannot tell them from camera photos")
    return Enrolled(name=name, display_name=display_name or name, family=family or name,
                    prototype=[round(float(v), 6) for v in prototype], radius=round(radius, 6),
                    images=len(embeddings), bundle_sha256=engine.bundle.sha256)


def match(engine, embedding: np.ndarray, enrolled: list[Enrolled]) -> tuple[Enrolled, float] | None:
    """The enrolled source an image's embedding belongs to, with its distance: within the source's
    radius and nearer its prototype than any of the bundle's own; else None."""
    if not enrolled:
        return None
    theirs = distances(embedding[None], np.asarray([e.prototype for e in enrolled], dtype=np.float32), engine.spread)[0]
    nearest_own = distances(embedding[None], engine.prototypes, engine.spread)[0].min()
    best = int(theirs.argmin())
    if theirs[best] <= enrolled[best].radius and theirs[best] < nearest_own:
        return enrolled[best], float(theirs[best])
    return None
