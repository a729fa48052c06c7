"""The runtime API: `attribute`, `fingerprint`, `anonymize` on any image, returning plain data.

An image is cut into tiles (the manifest's size and stride, covering every pixel; an image
smaller than a tile is reflect-padded and the answer says so). Each tile goes through the
reconstructor (E, D, E again) and the fingerprint encoder; tile log-probabilities are averaged
into the image's attribution. The reconstructions of the tiles (of at most the manifest's
reference_tiles, spread over the image), saved as the input was (8-bit; as a JPEG with the
input file's own tables, or with libjpeg's when its pixels show it was a JPEG; as a lossy WebP
file was), go through them too: "unknown source" compares the image's energy with its
reconstruction's (the manifest's open_set rule).
numpy + ONNX Runtime only: no torch.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import log_softmax, logsumexp

from runtime.bundle import GRAPHS, OPEN_SET_RULE, Bundle, Label, load_bundle
from runtime.errors import InputError
from runtime.enroll import Enrolled, enroll, load_overlay, match
from runtime.intake import load
from runtime.sessions import Graph, create_graphs
from runtime.tiling import blend, blend_window, covering_grid, cut, pad_to_tile, spread_grid
from runtime.verdict import UNCALIBRATED, decide, headline

if TYPE_CHECKING:
    from runtime.compression import Saving

logger = logging.getLogger(__name__)

NEUTRAL = "neutral"
CAMERA_PHOTO_NOTE = ("Looks like a camera photo: there is no generator's fingerprint to hide, so the pixels are left "
                     "as they are; a saved copy carries none of the file's metadata.")
BATCH_TILES = 64


@dataclass
class Analysis:
    """Per-tile outputs of one image (padded to at least one tile)."""

    image: np.ndarray          # (H, W, 3) uint8, padded
    original_size: tuple[int, int]
    padded: bool
    positions: list[tuple[int, int]]
    x: np.ndarray              # (N, 3, S, S) float32 in [-1, 1]
    x_hat: np.ndarray
    mu: np.ndarray             # (N, F)
    content: np.ndarray        # (N, C)
    logits: np.ndarray         # (N, K) the f head: its energy is the open-set score
    reference_logits: np.ndarray  # (M, K) the f head on the saved reconstructions of M <= N spread tiles
    space_logits: np.ndarray   # (N, spaces, K)
    decision: np.ndarray       # (N, K) log-probabilities: the attribution of each tile
    seconds: float
    saving: Saving | None = None  # how the input was compressed (the reference is saved the same way)
    sampled: bool = False         # the tiles are a spread subset of the covering grid


def spectral_peaks(spectrum: np.ndarray, count: int = 8, centre: float = 0.06) -> list[list[int]]:
    """The strongest isolated bright points of a centred log spectrum (H, W) away from its centre:
    where a periodic trace, such as the grid an upsampling layer leaves, shows. [row, column] each,
    strongest first; none where nothing stands out (4 standard deviations over the local mean)."""
    from scipy.ndimage import maximum_filter, uniform_filter

    excess = spectrum - uniform_filter(spectrum, size=15, mode="wrap")
    height, width = spectrum.shape
    rows, columns = np.ogrid[:height, :width]
    far = np.hypot((rows - height // 2) / height, (columns - width // 2) / width) > centre
    peaks = (excess == maximum_filter(excess, size=9, mode="wrap")) & far & (excess > excess.mean() + 4 * excess.std())
    found = np.argwhere(peaks)
    strongest = np.argsort(-excess[peaks])[:count]
    return found[strongest].tolist()


def coverage(positions: list[tuple[int, int]], size: int, shape: tuple[int, int]) -> float:
    """The share of an image's pixels that the tiles at `positions` cover."""
    covered = np.zeros(shape, dtype=bool)
    for top, left in positions:
        covered[top : top + size, left : left + size] = True
    return round(float(covered.mean()), 4)


def max_change_rms(psnr_floor_db: float) -> float:
    """The RMS change (in [-1, 1] units, peak-to-peak 2) of a tile at a PSNR of `psnr_floor_db` dB."""
    return 2.0 * 10 ** (-psnr_floor_db / 20)


def to_picture(values: np.ndarray, spread: float | None = None) -> np.ndarray:
    """A signed array (a residual) as a uint8 picture: 0 is mid-grey, +-spread (default: the 99.5th
    percentile of |values|) is black/white."""
    spread = spread or float(np.percentile(np.abs(values), 99.5)) or 1.0
    return np.clip(127.5 + 127.5 * values / spread, 0, 255).round().astype(np.uint8)


def similarity(source: np.ndarray, result: np.ndarray) -> dict:
    """SSIM and PSNR (dB) of two uint8 images of at least 7x7; PSNR is None when they are equal."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    ssim = structural_similarity(source, result, channel_axis=2, data_range=255)
    equal = np.array_equal(source, result)
    return {"ssim": float(ssim), "psnr": None if equal else float(peak_signal_noise_ratio(source, result, data_range=255))}


class Engine:
    """A loaded bundle and its ONNX Runtime sessions (built once). Thread-safe for inference."""

    def __init__(self, bundle: Bundle, graphs: dict[str, Graph], read_jpeg_history: bool = True,
                 enrolled: tuple[Enrolled, ...] = ()):
        self.bundle = bundle
        self.graphs = graphs
        self.read_jpeg_history = read_jpeg_history
        self.enrolled = tuple(enrolled)  # sources taught from a few images (runtime.enroll)
        manifest = bundle.manifest
        self.labels: list[Label] = bundle.labels
        self.real_index = [label.name for label in self.labels].index(manifest["real_label"])
        fingerprint = manifest["fingerprint"]
        self.prototypes = np.asarray(fingerprint["prototypes"], dtype=np.float32)
        self.spread = np.asarray(fingerprint["spread"], dtype=np.float32)  # within-source, per dimension of f
        self.neutral = np.asarray(fingerprint["neutral"], dtype=np.float32)
        self.neutral_content = np.asarray(fingerprint["neutral_content"], dtype=np.float32)
        self.max_change_rms = float(manifest["anonymize"]["max_change_rms"])
        self.psnr_floor_db = float(manifest["anonymize"]["psnr_floor_db"])
        self.psnr_floor_range_db = tuple(float(v) for v in manifest["anonymize"]["psnr_floor_range_db"])
        # Overlapping tiles whose changes cross-fade (no seams); a bundle that names no stride of its
        # own changes tiles on the attribution grid.
        self.anonymize_stride = int(manifest["anonymize"].get("stride", bundle.stride))
        self.threshold = float(manifest["open_set"]["threshold"])
        self.reference_tiles = int(manifest["open_set"]["reference_tiles"])
        self.scale = float(manifest["normalization"]["scale"])
        self.offset = float(manifest["normalization"]["offset"])
        self.verdict_rule = manifest.get("verdict", UNCALIBRATED)
        self.shared = self.shared_fingerprint()  # what every source's fingerprint picture shares

    @classmethod
    def load(cls, source: str | Path | None = None, revision: str | None = None, device: str = "auto",
             threads: int = 0, available_providers: list[str] | None = None,
             read_jpeg_history: bool = True, spinning: bool = False, enrolled: list[str | Path] = ()) -> "Engine":
        """Load a bundle (None: the shipped `weights/`) and build its sessions (`threads`,
        `spinning`: runtime.sessions.create_session). `read_jpeg_history`: an image that is not a
        JPEG file but was one (runtime.compression.jpeg_history) has its reference saved as that
        JPEG was (False: as 8-bit). `enrolled`: enrollment overlays (runtime.enroll) made on this bundle."""
        bundle = load_bundle(source, revision)
        paths = {name: bundle.path(name) for name in GRAPHS}
        graphs = create_graphs(paths, device, threads, available_providers, spinning)
        return cls(bundle, graphs, read_jpeg_history, tuple(load_overlay(path, bundle.sha256) for path in enrolled))

    @property
    def provider(self) -> str:
        """The execution provider in use: "CUDAExecutionProvider" or "CPUExecutionProvider"."""
        return self.graphs["fingerprint_encoder"].provider

    @property
    def generators(self) -> list[str]:
        return [label.name for k, label in enumerate(self.labels) if k != self.real_index]

    # ------------------------------------------------------------ tiles through the graphs
    def run_tiles(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """(N, 3, S, S) float tiles in [-1, 1] -> x_hat and the fingerprint encoder's outputs."""
        parts = []
        for start in range(0, len(x), BATCH_TILES):
            xb = x[start : start + BATCH_TILES]
            z = self.graphs["reconstructor_encoder"].run(x=xb)["z"]
            x_hat = self.graphs["reconstructor_decoder"].run(z=z)["x_hat"]
            z_hat = self.graphs["reconstructor_encoder"].run(x=x_hat)["z"]
            out = self.graphs["fingerprint_encoder"].run(x=xb, x_hat=x_hat, z=z, z_hat=z_hat)
            out["x_hat"] = x_hat
            parts.append(out)
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    def decode(self, f: np.ndarray, c: np.ndarray, r: np.ndarray | None = None) -> np.ndarray:
        """G(f, c, r): residuals (N, 3, S, S) in [-1, 1] image units. `r` is the observed residual
        x - x_hat of each tile (None: zeros, the VAE decoder G(f, c) alone)."""
        if r is None:
            r = np.zeros((len(f), 3, self.bundle.tile, self.bundle.tile), dtype=np.float32)
        decoder = self.graphs["fingerprint_decoder"]
        out = [decoder.run(f=f[i : i + BATCH_TILES], c=c[i : i + BATCH_TILES], r=r[i : i + BATCH_TILES])["residual"]
               for i in range(0, len(f), BATCH_TILES)]
        return np.concatenate(out)

    def analyze(self, image, stride: int | None = None, sample: bool = False) -> Analysis:
        """Cut an image into covering tiles (at `stride`; None: the manifest's) and run every graph on
        them; with `sample`, at most the manifest's max_tiles of them, spread evenly over the image."""
        started = time.perf_counter()
        decoded = load(image, history=self.read_jpeg_history)
        saving = decoded.saving
        original = decoded.pixels.shape[:2]
        padded_image, padded = pad_to_tile(decoded.pixels, self.bundle.tile)
        stride = stride or self.bundle.stride
        positions = covering_grid(*padded_image.shape[:2], self.bundle.tile, stride)
        sampled = bool(sample and self.bundle.max_tiles and len(positions) > self.bundle.max_tiles)
        if sampled:
            positions = spread_grid(*padded_image.shape[:2], self.bundle.tile, stride, self.bundle.max_tiles)
        x = cut(padded_image, positions, self.bundle.tile).transpose(0, 3, 1, 2).astype(np.float32)
        x = x * self.scale + self.offset
        out = self.run_tiles(x)
        reference = self.run_tiles(self.saved_as_input(out["x_hat"][self.reference_picks(len(x))], saving))
        return Analysis(padded_image, original, padded, positions, x, out["x_hat"], out["mu"], out["content"],
                        out["logits"], reference["logits"], out["space_logits"], out["decision"],
                        time.perf_counter() - started, saving, sampled)

    def reference_picks(self, count: int) -> np.ndarray:
        """Which of `count` tiles (raster order) the reference pass attributes: all of them up to the
        manifest's reference_tiles, else that many spread evenly over the image; their mean energy
        estimates the whole image's and bounds the cost of the rule on large images."""
        return np.unique(np.linspace(0, count - 1, min(count, self.reference_tiles)).round().astype(int))

    def saved_as_input(self, x: np.ndarray, saving: Saving | None) -> np.ndarray:
        """Float tiles saved the way the input was: as 8-bit (rounded to the normalization's
        levels), and for a JPEG (or lossy WebP) each tile compressed as it was too. A lossy re-save
        raises every source's energy, so the reference must carry the same loss as the image it is
        compared with."""
        levels = np.clip(np.round((x - self.offset) / self.scale), 0, 255)
        if saving is not None:
            tiles = levels.astype(np.uint8).transpose(0, 2, 3, 1)
            levels = np.stack([saving.save(tile) for tile in tiles]).transpose(0, 3, 1, 2)
        return (levels * self.scale + self.offset).astype(np.float32)

    # ------------------------------------------------------------ the API
    @staticmethod
    def open_set_scores(logits: np.ndarray) -> np.ndarray:
        """Per tile: the energy score -logsumexp(logits); higher means more likely an unknown source."""
        return -logsumexp(logits, axis=1)

    def verdict(self, analysis: Analysis) -> dict:
        """The attribution of an analysed image as plain data."""
        tile_logp = log_softmax(analysis.decision, axis=1)
        mean_logp = tile_logp.mean(0)
        probabilities = np.exp(log_softmax(mean_logp))
        energy = float(self.open_set_scores(analysis.logits).mean())
        reference_energy = float(self.open_set_scores(analysis.reference_logits).mean())
        score = energy - reference_energy
        names = [lab.name for lab in self.labels]
        decided = decide(probabilities, names, self.real_index, score > self.threshold, self.verdict_rule)
        label = self.labels[names.index(decided.label)]
        tile_best = tile_logp.argmax(1)
        answer = {
            "verdict": decided.outcome,
            "headline": headline(decided, label.display_name, len(self.generators)),
            "label": label.name,
            "display_name": label.display_name,
            "family": label.family,
            "is_real": decided.outcome == "real",
            "unknown": decided.outcome == "unknown",
            "confidence": decided.confidence,
            "p_generated": decided.p_generated,
            "evidence": {"log_odds_generated": decided.log_odds, "accuse_above": self.verdict_rule["accuse_above"],
                         "real_below": self.verdict_rule["real_below"]},
            "bundle": self.bundle.sha256,
            "probabilities": {lab.name: float(p) for lab, p in zip(self.labels, probabilities)},
            "open_set": {"rule": OPEN_SET_RULE, "score": score, "threshold": self.threshold, "energy": energy,
                         "reference_energy": reference_energy,
                         "reference_saved_as": analysis.saving.describe() if analysis.saving else "8-bit"},
            "tiles": {
                "size": self.bundle.tile, "stride": self.bundle.stride,
                "coverage": coverage(analysis.positions, self.bundle.tile, analysis.image.shape[:2])
                if analysis.sampled else 1.0,  # the covering grid covers every pixel
                "positions": [list(p) for p in analysis.positions],
                "labels": [self.labels[k].name for k in tile_best],
                "confidence": np.exp(tile_logp.max(1)).round(4).tolist(),
            },
            "image_size": list(analysis.original_size),
            "padded": analysis.padded,
            "provider": self.provider,
            "seconds": round(analysis.seconds, 4),
        }
        found = match(self, analysis.mu.mean(0), list(self.enrolled))
        if found:
            source, distance = found
            answer.update({"verdict": "generated", "is_real": False, "unknown": False, "label": source.name,
                           "display_name": source.display_name, "family": source.family,
                           "headline": f"Made by {source.display_name}, a source taught from {source.images} images",
                           "confidence": round(max(0.5, 1 - distance / (2 * source.radius)), 4),
                           "enrolled": {"name": source.name, "distance": round(distance, 4), "radius": source.radius}})
        return answer

    def embedding(self, image) -> np.ndarray:
        """An image's place in fingerprint space: the mean fingerprint f of its tiles, (F,)."""
        return self.analyze(image, sample=True).mu.mean(0)

    def enroll(self, name: str, images, family: str | None = None, display_name: str | None = None) -> Enrolled:
        """Teach this bundle a new source from a few of its images (see runtime.enroll)."""
        return enroll(self, name, images, family, display_name)

    def with_enrolled(self, enrolled) -> "Engine":
        """This engine (the same sessions) with these enrolled sources instead of its own."""
        return Engine(self.bundle, self.graphs, self.read_jpeg_history, tuple(enrolled))

    def attribute(self, image) -> dict:
        """Which source made `image`: the verdict (real, generated, unknown, inconclusive), its
        headline and confidence, the closest known source (label, display name, family),
        probabilities, a per-tile map, the bundle's sha256, the provider and the time taken."""
        return self.verdict(self.analyze(image, sample=True))

    def attribute_batch(self, images) -> list[dict]:
        """`attribute` for several images (each may have its own size)."""
        return [self.attribute(image) for image in images]

    def fingerprint_picture(self, f: np.ndarray) -> np.ndarray:
        """G(f, c0) for one fingerprint vector, less the mean of the known sources' G(prototype, c0)
        (what every source's picture shares, mostly the neutral scene): a signed (S, S, 3) array."""
        return self.decode(f[None].astype(np.float32), self.neutral_content[None])[0].transpose(1, 2, 0) \
            - self.shared

    def shared_fingerprint(self) -> np.ndarray:
        """The mean of G(prototype, c0) over the known sources, (S, S, 3)."""
        count = len(self.prototypes)
        raw = self.decode(self.prototypes.astype(np.float32), np.repeat(self.neutral_content[None], count, 0))
        return raw.mean(0).transpose(1, 2, 0)

    def source_fingerprints(self) -> dict[str, np.ndarray]:
        """Each known source's fingerprint picture (fingerprint_picture of its prototype), uint8, on one
        shared scale."""
        raw = {label.name: self.fingerprint_picture(proto) for label, proto in zip(self.labels, self.prototypes)}
        spread = float(np.percentile(np.abs(np.stack(list(raw.values()))), 99.5)) or 1.0
        return {name: to_picture(r, spread) for name, r in raw.items()}

    def embedding_plane(self, f: np.ndarray) -> dict:
        """2-D coordinates of `f` and the prototypes on the prototypes' two principal axes."""
        centre = self.prototypes.mean(0)
        _u, _s, axes = np.linalg.svd(self.prototypes - centre, full_matrices=False)
        project = lambda v: ((v - centre) @ axes[:2].T).tolist()  # noqa: E731
        return {"image": project(f), "prototypes": {lab.name: project(p) for lab, p in zip(self.labels, self.prototypes)}}

    def fingerprint(self, image) -> dict:
        """The image's causal fingerprint picture G(f, c0), its residual x - R(x) and the
        residual's log spectrum (uint8 pictures) with its isolated peaks, its place in fingerprint
        space, and the attribution."""
        analysis = self.analyze(image)
        height, width = analysis.original_size
        f = analysis.mu.mean(0)
        residual_tiles = (analysis.x - analysis.x_hat).transpose(0, 2, 3, 1)
        residual = blend(residual_tiles, analysis.positions, *analysis.image.shape[:2])[:height, :width]
        spectrum = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(residual.mean(2)))))
        low, high = np.percentile(spectrum, [1, 99.9])
        return {
            "fingerprint": to_picture(self.fingerprint_picture(f)),
            "residual": to_picture(residual),
            "spectrum": np.clip((spectrum - low) / max(high - low, 1e-6) * 255, 0, 255).astype(np.uint8),
            "spectrum_peaks": spectral_peaks(spectrum),
            "embedding": self.embedding_plane(f),
            "attribution": self.verdict(analysis),
        }

    def target_fingerprint(self, target: str) -> np.ndarray:
        if target == NEUTRAL:
            return self.neutral
        names = [label.name for label in self.labels]
        if target not in self.generators:
            known = ", ".join([NEUTRAL] + self.generators)
            reason = "the real class is never a target (anonymization, not laundering)" \
                if target in names else "unknown source"
            raise InputError(f"target {target!r}: {reason}; choose one of {known}")
        return self.prototypes[names.index(target)]

    def change_budget(self, psnr_floor_db: float | None) -> float:
        """The per-tile RMS change allowed at a PSNR floor (None: the manifest's, what the model was
        trained at); a floor outside the manifest's range is an InputError."""
        if psnr_floor_db is None:
            return self.max_change_rms
        low, high = self.psnr_floor_range_db
        if isinstance(psnr_floor_db, bool) or not isinstance(psnr_floor_db, (int, float)) \
                or not low <= psnr_floor_db <= high:
            raise InputError(f"psnr_floor_db must be a number of dB from {low:g} to {high:g} (lower: a stronger, "
                             f"more visible change), got {psnr_floor_db!r}")
        return max_change_rms(float(psnr_floor_db))

    def anonymize(self, image, target: str = NEUTRAL, psnr_floor_db: float | None = None) -> dict:
        """x_cf = x + clip(G(f_target, c, r) - G(f, c, r)) per tile (r = x - R(x); clip: each tile's
        change scaled down to a PSNR floor, by default the manifest's), on tiles at the manifest's
        anonymize stride cross-faded into one change (runtime.tiling.blend_window): the anonymized
        image (uint8), the decoded input, SSIM and PSNR to it, the floor used, and the attributions
        before and after. An image the verdict calls a camera photo has no generator's fingerprint
        to hide: neutral anonymization leaves its pixels as they are (`changed` False, and a `note`)."""
        f_target = self.target_fingerprint(target)
        budget = self.change_budget(psnr_floor_db)
        started = time.perf_counter()
        before = self.analyze(image, sample=True)  # the answer attribute() gives
        height, width = before.original_size
        before_verdict = self.verdict(before)
        answer = {"input": before.image[:height, :width], "target": target,
                  "psnr_floor_db": self.psnr_floor_db if psnr_floor_db is None else float(psnr_floor_db),
                  "before": before_verdict, "provider": self.provider}
        if target == NEUTRAL and before_verdict["verdict"] == "real":
            return {**answer, "image": answer["input"], "changed": False, "note": CAMERA_PHOTO_NOTE,
                    "ssim": 1.0, "psnr": None, "after": before_verdict, "seconds": round(time.perf_counter() - started, 4)}
        reuse = self.anonymize_stride == self.bundle.stride and not before.sampled
        analysis = before if reuse else self.analyze(image, self.anonymize_stride)  # every pixel is changed
        targets = np.broadcast_to(f_target, analysis.mu.shape).astype(np.float32)
        residual = analysis.x - analysis.x_hat
        delta = self.decode(targets, analysis.content, residual) - self.decode(analysis.mu, analysis.content, residual)
        rms = np.sqrt((delta**2).mean(axis=(1, 2, 3), keepdims=True))
        delta = delta * np.minimum(1.0, budget / np.maximum(rms, 1e-12))
        delta = blend(delta.transpose(0, 2, 3, 1), analysis.positions, *analysis.image.shape[:2],
                      blend_window(self.bundle.tile, self.anonymize_stride))
        original = analysis.image.astype(np.float32)
        full = np.clip(original + delta / self.scale, 0, 255).round().astype(np.uint8)
        result = full[:height, :width]
        # SSIM needs a 7x7 window: an image smaller than that is measured on its padded tile.
        measured = (analysis.image[:height, :width], result) if min(height, width) >= 7 else (analysis.image, full)
        return {**answer, "image": result, "changed": True, "note": None, **similarity(*measured),
                "after": self.attribute(result), "seconds": round(time.perf_counter() - started, 4)}
