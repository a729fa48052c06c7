"""Baselines run on the same tiles as our model, each as a small fit/predict class.

- dct-linear: log-magnitude 2-D DCT of the grey tile + a linear classifier (Frank et al. 2020).
- noise-correlation: per-source fingerprint = the average noise residual (tile minus its median
  filter) of aligned training tiles; a tile goes to the source whose fingerprint correlates best
  with its own residual (Marra et al. 2019).
- pixel-cnn: a CNN on raw pixels (Yu et al. 2019 style).
All consume uint8 tiles (N, 3, S, S) as stored in a TileSet and return class probabilities."""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from export.tiles import to_unit

logger = logging.getLogger(__name__)


def _gray(x_uint8: torch.Tensor) -> np.ndarray:
    return x_uint8.float().mean(dim=1).numpy() / 255.0


class DctLinear:
    name = "dct-linear"

    def __init__(self, seed: int = 0, max_train: int = 12000):
        self.seed, self.max_train = seed, max_train

    @staticmethod
    def features(x_uint8: torch.Tensor) -> np.ndarray:
        from scipy.fft import dctn

        spectrum = dctn(_gray(x_uint8), axes=(1, 2), norm="ortho")
        return np.log(np.abs(spectrum) + 1e-6).reshape(len(x_uint8), -1).astype(np.float32)

    def fit(self, x_uint8: torch.Tensor, labels: np.ndarray) -> "DctLinear":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        rng = np.random.default_rng(self.seed)
        keep = rng.permutation(len(labels))[: self.max_train]
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=0.05))
        self.model.fit(self.features(x_uint8[keep]), labels[keep])
        return self

    def predict_proba(self, x_uint8: torch.Tensor) -> np.ndarray:
        return self.model.predict_proba(self.features(x_uint8))


class NoiseCorrelation:
    name = "noise-correlation"

    @staticmethod
    def residuals(x_uint8: torch.Tensor) -> np.ndarray:
        from scipy.ndimage import median_filter

        gray = _gray(x_uint8)
        return gray - median_filter(gray, size=(1, 3, 3), mode="reflect")

    def fit(self, x_uint8: torch.Tensor, labels: np.ndarray) -> "NoiseCorrelation":
        residual = self.residuals(x_uint8)
        self.classes = np.unique(labels)
        prints = np.stack([residual[labels == k].mean(0) for k in self.classes])
        self.fingerprints = self._normalize(prints.reshape(len(self.classes), -1))
        return self

    @staticmethod
    def _normalize(v: np.ndarray) -> np.ndarray:
        v = v - v.mean(axis=1, keepdims=True)
        return v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-12)

    def predict_proba(self, x_uint8: torch.Tensor) -> np.ndarray:
        residual = self._normalize(self.residuals(x_uint8).reshape(len(x_uint8), -1))
        correlation = residual @ self.fingerprints.T
        scores = np.exp((correlation - correlation.max(1, keepdims=True)) * 50.0)
        return scores / scores.sum(1, keepdims=True)


class PixelCNN(nn.Module):
    name = "pixel-cnn"

    def __init__(self, num_classes: int, width: int = 32, seed: int = 0):
        super().__init__()
        from export.model import Branch

        # Seeded here too: the initial weights otherwise depend on whatever ran before.
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.body = Branch(3, width, 64, downsamples=3)
            self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def fit(self, x_uint8: torch.Tensor, labels: np.ndarray, steps: int = 1500, batch: int = 64,
            seed: int = 0) -> "PixelCNN":
        return self.fit_on(lambda index: to_unit(x_uint8[index]), labels, steps, batch, seed)

    def fit_on(self, inputs, labels: np.ndarray, steps: int = 1500, batch: int = 64, seed: int = 0) -> "PixelCNN":
        """Fit on float batches: `inputs(index)` gives the network's input for a LongTensor of
        indices into `labels` (raw pixels in [-1, 1] for the baseline; a training surrogate may
        read another projection). Returns the network in eval mode."""
        from tqdm import tqdm

        torch.manual_seed(seed)
        targets = torch.as_tensor(labels)
        optimizer = torch.optim.AdamW(self.parameters(), lr=2e-3, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        generator = torch.Generator().manual_seed(seed)
        self.train()
        for _ in tqdm(range(steps), desc=self.name, leave=False):
            index = torch.randint(len(targets), (batch,), generator=generator)
            loss = nn.functional.cross_entropy(self(inputs(index)), targets[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        return self.eval()

    @torch.no_grad()
    def predict_proba(self, x_uint8: torch.Tensor) -> np.ndarray:
        probs = [torch.softmax(self(to_unit(x_uint8[i : i + 256])), 1) for i in range(0, len(x_uint8), 256)]
        return torch.cat(probs).numpy()


class DctLinearJudge(nn.Module):
    """Not a baseline: a differentiable surrogate of the dct-linear family, which the counterfactual
    phase of training can fool as well as our own heads (export.train, --w-judge). DctLinear's own
    features, log(|DCT| + eps) of the grey tile with eps 1e-6, standardized, one linear layer;
    fitted by sklearn's logistic regression on the clean tiles it is given (an independent fit:
    training gives it random-phase train tiles, the evaluation's baseline an aligned grid), then run
    in torch. The gradient is that of the smoothed log(sqrt(s^2 + grad_eps^2)): at eps 1e-6 the
    near-zero coefficients would give gradients up to 1e6 that 8-bit rounding makes meaningless.
    Input: float tiles (N, 3, S, S) in [-1, 1]; output: logits (N, K)."""

    EPS = 1e-6  # DctLinear's: the near-zero coefficients carry its evidence (bench/experiments/results/judge_fidelity.json)
    GRAD_EPS = 1e-3  # about one 8-bit rounding step's noise in an orthonormal DCT coefficient (1/255/sqrt(12))

    def __init__(self, tile: int, num_classes: int, eps: float = EPS, grad_eps: float = GRAD_EPS):
        super().__init__()
        from export.projections import dct_matrix

        self.register_buffer("matrix", dct_matrix(tile), persistent=False)
        self.eps, self.grad_eps = eps, max(grad_eps, eps)
        features = tile * tile
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("scale", torch.ones(features))
        self.linear = nn.Linear(features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        grey = (x.mean(dim=1, keepdim=True) + 1) / 2
        spectrum = self.matrix @ grey @ self.matrix.t()
        exact = torch.log(spectrum.abs() + self.eps)
        smooth = torch.log(torch.sqrt(spectrum * spectrum + self.grad_eps**2))
        return (smooth + (exact - smooth).detach()).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((self.features(x) - self.mean) / self.scale)

    @torch.no_grad()
    def predict_proba(self, x_uint8: torch.Tensor) -> np.ndarray:
        """Class probabilities of uint8 tiles, as the baselines give them."""
        return torch.softmax(self(to_unit(x_uint8)), 1).numpy()

    @classmethod
    def load(cls, path, tile: int, num_classes: int, eps: float = EPS) -> "DctLinearJudge":
        """A fitted judge saved with `torch.save(judge.state_dict(), path)`; frozen, eval mode."""
        judge = cls(tile, num_classes, eps)
        judge.load_state_dict(torch.load(path))
        return judge.eval().requires_grad_(False)

    @classmethod
    def fit(cls, x_uint8: torch.Tensor, labels, num_classes: int, max_train: int = 12000, seed: int = 1,
            eps: float = EPS) -> "DctLinearJudge":
        """Fit on uint8 tiles (N, 3, S, S) and their labels (a seeded subsample of at most
        `max_train`); frozen, eval mode."""
        from sklearn.linear_model import LogisticRegression

        judge = cls(x_uint8.shape[-1], num_classes, eps)
        keep = np.random.default_rng(seed).permutation(len(labels))[:max_train]
        labels = np.asarray(labels)[keep]
        if len(np.unique(labels)) != num_classes:
            raise ValueError(f"the judge's tiles hold {len(np.unique(labels))} of {num_classes} classes")
        with torch.no_grad():
            x = judge.features(to_unit(x_uint8[torch.from_numpy(keep)]))
            judge.mean.copy_(x.mean(0))
            judge.scale.copy_(x.std(0).clamp_min(1e-6))
            standardized = ((x - judge.mean) / judge.scale).numpy()
        fitted = LogisticRegression(max_iter=300, C=0.05).fit(standardized, labels)
        with torch.no_grad():
            judge.linear.weight.copy_(torch.from_numpy(fitted.coef_).float())
            judge.linear.bias.copy_(torch.from_numpy(fitted.intercept_).float())
        return judge.eval().requires_grad_(False)
