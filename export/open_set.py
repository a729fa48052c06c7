"""The "unknown source" rule, torch side: its score and its calibration.

A tile's energy -logsumexp(f-head logits) depends on the photo as much as on the source, so a
threshold on it, calibrated on some photos, flags almost nothing on others. The rule compares an
image with its own reconstruction R(x) saved as 8-bit: the same content with the reconstructor's
trace (the runtime saves a JPEG file's reconstruction with the file's own tables: a JPEG re-save
raises every source's energy, bench/experiments/results/open_set_runtime.json). An image's `relative` score
is the mean energy of its tiles minus the mean energy of their reconstructions' tiles (each
attributed through the whole pipeline, as the runtime does); "unknown source" when it is above
a threshold, the `open_set_quantile` of the known sources' validation images. The held-out zoo
members are never used to set it (bench/experiments/results/open_set_reference.json measured it against
the tile-majority rule).
"""
from __future__ import annotations

import numpy as np

RULE = "relative"
# The runtime attributes the reconstructions of at most this many tiles of an image, spread evenly.
# Calibration and evaluation use every tile of their images (at most 64 in the zoos). On 24
# validation photos a reference of 16 tiles loses 0.002 of image AUROC to every tile's (0.861 vs
# 0.862) and calls as many known images unknown (bench/experiments/results/open_set_reference_tiles_xv.json),
# and the second pass costs a quarter of the first on a 512x512 image instead of all of it.
REFERENCE_TILES = 16
DESCRIPTION = ("relative: an image's mean tile energy -logsumexp(f-head logits) minus that of its own "
               "reconstruction R(x) saved as the input was (8-bit; a JPEG file's re-saved with its own JPEG tables) "
               "and attributed tile by tile (higher: more likely unknown); unknown source when above the threshold")

def image_keys(photos: list[str], labels: np.ndarray) -> list[tuple[str, int]]:
    """The images (photo, source) of a tile set, in first-seen order: the order of image_means."""
    return list(dict.fromkeys(zip(photos, labels.tolist())))


def image_means(scores: np.ndarray, photos: list[str], labels: np.ndarray) -> np.ndarray:
    """One score per image (photo, source): the mean of its tiles' scores, in first-seen order."""
    keys = list(zip(photos, labels.tolist()))
    return np.array([scores[[i for i, k in enumerate(keys) if k == key]].mean() for key in image_keys(photos, labels)])


def saved_reconstructions(reconstructor, tiles, save=None):
    """The tile set of each tile's 8-bit reconstruction, reconstructed again (as an image is);
    `save` (optional) re-saves each uint8 (S, S, 3) reconstruction first, as a JPEG for instance."""
    from export.data import make_tileset
    from export.tiles import to_images

    saved = to_images(tiles.x_hat)
    if save is not None:
        saved = np.stack([save(tile) for tile in saved])
    return make_tileset(reconstructor, saved, tiles.labels.numpy(), tiles.content.numpy(), tiles.photos, tiles.names)


def tile_energies(model, reconstructor, tiles, save=None, logits=None) -> tuple[np.ndarray, np.ndarray]:
    """(energy of each tile, energy of its 8-bit reconstruction attributed as an image); `logits`:
    the tiles' f-head logits when the caller has them already."""
    from export.train import fingerprints, open_set_score

    logits = fingerprints(model, tiles)["logits"] if logits is None else logits
    reference = saved_reconstructions(reconstructor, tiles, save)
    return open_set_score(logits).numpy(), open_set_score(fingerprints(model, reference)["logits"]).numpy()


def relative_scores(model, reconstructor, tiles, save=None, logits=None) -> dict[str, np.ndarray]:
    """Per tile and per image (photo, source): the energy and the relative score (the reference
    re-saved by `save`, see saved_reconstructions; `logits`: see tile_energies)."""
    own, reference = tile_energies(model, reconstructor, tiles, save, logits)
    labels = tiles.labels.numpy()
    return {"tile_energy": own, "tile_relative": own - reference,
            "image_energy": image_means(own, tiles.photos, labels),
            "image_relative": image_means(own - reference, tiles.photos, labels)}


def calibrate_relative(model, reconstructor, config, labels: list[str]) -> dict:
    """The rule's threshold: the `config.open_set_quantile` of the relative scores of the known
    sources' validation images. Returns the manifest's `open_set` entry."""
    from export.trainset import build_eval_tiles

    scores = relative_scores(model, reconstructor, build_eval_tiles(config, reconstructor, "val", labels))
    return manifest_entry(scores["image_relative"], config.open_set_quantile)


def manifest_entry(known_image_scores: np.ndarray, quantile: float) -> dict:
    """The rule with its threshold at the `quantile` of the known images' relative scores."""
    return {"rule": RULE, "threshold": float(np.quantile(known_image_scores, quantile)), "score": DESCRIPTION,
            "reference_tiles": REFERENCE_TILES,
            "calibration": {"split": "val", "images": len(known_image_scores), "quantile": quantile}}


def called_unknown(image_scores: np.ndarray, threshold: float) -> float:
    """The share of images the relative rule calls "unknown source"."""
    return float((image_scores > threshold).mean())

