"""Surrogate judges of the counterfactual phase: dct-linear fits and CNN surrogates of the baseline
families, fitted once per draw and cached in the run folder."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from export.config import TrainConfig


def judge_train_tiles(config: TrainConfig, labels, draw: int = 0):
    """(uint8 tiles, labels) a dct-linear surrogate is fitted on: random-phase tiles of the clean
    train photos, positions drawn anew for each `draw` (the family's baselines are fitted on clean
    tiles; an aligned grid is the evaluation's, so a surrogate's fit stays independent of the
    baseline it is measured by)."""
    import numpy as np
    import torch

    from export.data import cut_tiles, load_split_images, random_positions

    rng = np.random.default_rng(config.seed + 2 + 1000 * draw)
    images = load_split_images(Path(config.dataset), "train", labels)
    xs, ys, _, _ = cut_tiles(images, labels, config.tile, random_positions(config.tile, config.tiles_per_megapixel, rng))
    return torch.from_numpy(xs).permute(0, 3, 1, 2).contiguous(), ys


def fit_judge(config: TrainConfig, labels, draw: int = 0):
    """The dct-linear surrogate of one `draw`: fitted on that draw's tiles and subsample."""
    from export.baselines import DctLinearJudge

    return DctLinearJudge.fit(*judge_train_tiles(config, labels, draw), len(labels), seed=config.seed + 1 + draw)


def judge_paths(output: Path, count: int) -> list[Path]:
    """Where a run keeps its surrogates: judge.pt, then judge-1.pt, judge-2.pt, ..."""
    return [output / ("judge.pt" if i == 0 else f"judge-{i}.pt") for i in range(count)]


# CNN baseline families a surrogate can stand in for: what each network reads of a tile.
CNN_FAMILIES = ("pixel-cnn", "residual-cnn")
CNN_DRAWS = 100  # the pixel-cnn surrogates' tile draws start here, apart from the dct-linear ones'


@dataclass(frozen=True)
class Surrogate:
    """A frozen stand-in for one baseline family that the counterfactual phase fools. `reads`
    "image": `module` maps tiles in [-1, 1] to logits; "residual": it maps the scaled pixel residual
    (x - R(x)) * residual_scale, as our attributor sees it after re-encoding, to logits."""

    family: str
    module: object
    reads: str = "image"

    def __call__(self, x, seen: dict):
        return self.module(x if self.reads == "image" else seen["residual"])

    def predict_proba(self, tiles, residual_scale: float, batch: int = 256):
        """Class probabilities (numpy) of a TileSet, whose x_hat gives the residual."""
        import torch

        parts = []
        with torch.no_grad():
            for start in range(0, len(tiles), batch):
                x, x_hat, _, _ = tiles.batch(slice(start, start + batch))
                parts.append(torch.softmax(self(x, {"residual": (x - x_hat) * residual_scale}), 1))
        return torch.cat(parts).numpy()


def cnn_judge_path(output: Path, family: str, draw: int) -> Path:
    return Path(output) / f"{family}-judge-{draw}.pt"


def load_cnn_judge(path: Path, family: str, num_classes: int) -> Surrogate:
    """A CNN surrogate saved by a run (its state dict), frozen, reading what `family` reads."""
    import torch

    from export.baselines import PixelCNN

    network = PixelCNN(num_classes)
    network.load_state_dict(torch.load(path))
    return Surrogate(family, network.eval().requires_grad_(False), "image" if family == "pixel-cnn" else "residual")


def fit_cnn_judge(config: TrainConfig, tiles, labels, family: str, draw: int, residual_scale: float):
    """A PixelCNN-architecture surrogate of `family`, with the seed of its own `draw`, fitted on
    what that baseline is fitted on: pixel-cnn on raw pixels of clean train tiles (random phase, a
    draw of their own), residual-cnn on the scaled pixel residual of a subsample of the training
    `tiles` (perturbed alike for every class, as the residual-only ablation is trained). Frozen,
    eval mode."""
    import numpy as np
    import torch

    from export.baselines import PixelCNN

    seed = config.seed + 3 + 1000 * draw + 100 * CNN_FAMILIES.index(family)
    network = PixelCNN(len(labels), seed=seed)
    if family == "pixel-cnn":
        x_uint8, ys = judge_train_tiles(config, labels, draw=CNN_DRAWS + draw)
        return network.fit(x_uint8, ys, config.cnn_judge_steps, seed=seed).requires_grad_(False)
    keep = torch.from_numpy(np.random.default_rng(seed).permutation(len(tiles))[:60000])

    def residuals(index):
        x, x_hat, _, _ = tiles.batch(keep[index])
        return (x - x_hat) * residual_scale

    return network.fit_on(residuals, tiles.labels[keep].numpy(), config.cnn_judge_steps, seed=seed).requires_grad_(False)


def load_or_fit_judges(config: TrainConfig, labels, tiles=None, residual_scale: float = 1.0,
                       device="cpu") -> list[Surrogate]:
    """The counterfactual phase's surrogates, each fitted once per run on its own draw (kept for
    resuming): `config.judges` of the dct-linear family (random-phase tiles of the clean train
    photos) and `config.cnn_judges` of each CNN family (a subsample of `tiles`), fitted on the CPU,
    then moved to `device`. Fooling several fits of one family, not one fit's quirks, is what
    carries over to a baseline fitted elsewhere."""
    import torch

    from export.baselines import DctLinearJudge

    judges = []
    Path(config.output).mkdir(parents=True, exist_ok=True)
    for draw, path in enumerate(judge_paths(Path(config.output), config.judges)):
        if path.is_file():
            judges.append(Surrogate("dct-linear", DctLinearJudge.load(path, config.tile, len(labels))))
            continue
        judge = fit_judge(config, labels, draw)
        torch.save(judge.state_dict(), path)
        judges.append(Surrogate("dct-linear", judge))
    for family in CNN_FAMILIES:
        for draw in range(config.cnn_judges):
            path = cnn_judge_path(config.output, family, draw)
            if not path.is_file():
                if tiles is None:
                    raise ValueError(f"{path}: not fitted yet, and fitting a CNN surrogate needs the training tiles")
                torch.save(fit_cnn_judge(config, tiles, labels, family, draw, residual_scale).state_dict(), path)
            judges.append(load_cnn_judge(path, family, len(labels)))
    return [replace(judge, module=judge.module.to(device)) for judge in judges]
