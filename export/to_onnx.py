"""Export a trained checkpoint to the ONNX bundle the runtime serves (`weights/` by default).

    python -m export.to_onnx                                    # the committed checkpoint -> weights/
    python -m export.to_onnx --checkpoint runs/causal/model.pt --output weights --dataset data/zoo

Four graphs, each with a dynamic batch: the reconstructor's encoder (x -> z) and decoder
(z -> x_hat), the fingerprint encoder (residual encoder + fusion heads: x, x_hat, z, z_hat ->
mu, logvar, content, logits, space_logits) and the fingerprint decoder G (f, c, r -> residual).
The open-set threshold is calibrated on the dataset's validation photos (export.open_set). Each
graph is checked by `onnx.checker` and against torch on the same inputs before anything is
written: output names, then shapes, then values. The bundle is written to a temporary folder
and moved into place only when every check passed.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from runtime.bundle import FORMAT_VERSION, MANIFEST_NAME, sha256
from runtime.verdict import UNCALIBRATED

logger = logging.getLogger(__name__)

OPSET = 18
PARITY_TOLERANCE = 1e-4  # max |onnx - torch| <= tol * (1 + max |torch|) per output, fp32
# The anonymization strengths a caller may choose: at 30 dB the change is plainly visible (SSIM
# down to 0.86 on the shipped samples); at 45 dB it is about one 8-bit level per pixel.
PSNR_FLOOR_RANGE_DB = (30.0, 45.0)
# Attribution reads at most this many tiles of an image, spread evenly: a 12-megapixel photo in about
# 2 s on 2 CPU cores instead of 9 (bench/latency.py), with the coverage stated in the answer.
MAX_TILES = 512
# Anonymization's tile stride, per 64 pixels of tile: a quarter overlap, enough for the changes to
# cross-fade without a seam (a half overlap measured the same, at 1.5x the time: docs/findings/anonymization.md).
ANONYMIZE_STRIDE = 48
MAX_BUNDLE_BYTES = 50 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "weights"
BENCHMARK_FILE = ROOT / "bench" / "results" / "attribution.json"


class ParityError(RuntimeError):
    """ONNX and torch disagree; the message lists every mismatch."""

    def __init__(self, mismatches: list[str]):
        super().__init__("ONNX/torch parity failed:\n  " + "\n  ".join(mismatches))
        self.mismatches = mismatches


# ---------------------------------------------------------------- the four graphs
class ReconstructorEncoder(nn.Module):
    def __init__(self, reconstructor):
        super().__init__()
        self.reconstructor = reconstructor
        self.inner = reconstructor.model  # registered so its weights are exported

    def forward(self, x):
        return self.reconstructor.encode(x)


class ReconstructorDecoder(ReconstructorEncoder):
    def forward(self, z):
        return self.reconstructor.decode(z).clamp(-1, 1)


class FingerprintEncoder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, x_hat, z, z_hat):
        out = self.model.encode(x, x_hat, z, z_hat)
        space_logits = torch.stack([out["space_logits"][s] for s in self.model.config.spaces], dim=1)
        return out["mu"], out["logvar"], out["content"], out["logits"], space_logits, out["decision"]


class FingerprintDecoder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, f, c, r):
        return self.model.decode(f, c, r)


@dataclass
class Graph:
    """One ONNX file: its module, input/output names and example inputs."""

    name: str
    module: nn.Module
    inputs: list[str]
    outputs: list[str]
    example: tuple[torch.Tensor, ...]
    doc: str
    parity: dict = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.name}.onnx"


def build_graphs(model, reconstructor, x: torch.Tensor) -> list[Graph]:
    """The four graphs with real example inputs derived from tiles `x` ((N, 3, S, S), [-1, 1])."""
    with torch.no_grad():
        z = reconstructor.encode(x)
        x_hat = reconstructor.decode(z).clamp(-1, 1)
        z_hat = reconstructor.encode(x_hat)
        out = model.encode(x, x_hat, z, z_hat)
    return [
        Graph("reconstructor_encoder", ReconstructorEncoder(reconstructor), ["x"], ["z"], (x,),
              "reconstructor encoder E: x (N,3,S,S) in [-1,1] -> z (posterior mean)"),
        Graph("reconstructor_decoder", ReconstructorDecoder(reconstructor), ["z"], ["x_hat"], (z,),
              "reconstructor decoder D: z -> x_hat in [-1,1]"),
        Graph("fingerprint_encoder", FingerprintEncoder(model), ["x", "x_hat", "z", "z_hat"],
              ["mu", "logvar", "content", "logits", "space_logits", "decision"], (x, x_hat, z, z_hat),
              "residual encoder + fusion heads: f posterior (mu, logvar), content code c, f-head and per-space "
              "logits, decision log-probabilities (f head x the manifest's decision spaces)"),
        Graph("fingerprint_decoder", FingerprintDecoder(model), ["f", "c", "r"], ["residual"],
              (out["mu"], out["content"], x - x_hat),
              "decoder G(f, c, r): the residual in [-1,1] image units; r = x - x_hat feeds the "
              "pixel-aligned trace branch (zeros: the VAE decoder G(f, c) alone)"),
    ]


def export_graph(graph: Graph, folder: Path) -> Path:
    """torch.onnx (dynamo) export with a dynamic batch, then onnx.checker."""
    import onnx

    path = folder / graph.filename
    batch = torch.export.Dim("batch", min=1, max=4096)
    shapes = {name: {0: batch} for name in graph.inputs}
    graph.module.eval()
    program = torch.onnx.export(graph.module, graph.example, input_names=graph.inputs, verbose=False,
                                output_names=graph.outputs, opset_version=OPSET, dynamo=True,
                                dynamic_shapes=shapes, external_data=False)
    program.save(str(path))
    proto = onnx.load(str(path))
    proto.doc_string = graph.doc
    onnx.save(proto, str(path))
    onnx.checker.check_model(str(path), full_check=True)
    return path


def check_parity(graph: Graph, path: Path, inputs: tuple[torch.Tensor, ...], tolerance: float) -> dict:
    """Run torch and ONNX Runtime on the same inputs; compare names, shapes, values.
    Returns {output: max abs difference}; raises ParityError listing every mismatch."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    if names != graph.outputs:
        raise ParityError([f"{graph.name}: outputs {names}, expected {graph.outputs}"])
    with torch.no_grad():
        expected = graph.module(*inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = session.run(None, {n: t.numpy() for n, t in zip(graph.inputs, inputs)})
    mismatches, differences = [], {}
    for name, want, have in zip(names, expected, got):
        want = want.numpy()
        if want.shape != have.shape:
            mismatches.append(f"{graph.name}.{name}: shape {have.shape}, torch {want.shape}")
            continue
        difference = np.abs(have - want)
        differences[name] = float(difference.max())
        print(f"  {graph.name}.{name}: max |onnx - torch| = {differences[name]:.2e}")
        # Judged at the output's own scale: the decoder's trace branch sums large terms that
        # cancel, where float32 torch itself is ~1e-6 of the range off float64.
        allowed = tolerance * (1 + float(np.abs(want).max()))
        if differences[name] > allowed:
            mismatches.append(f"{graph.name}.{name}: max difference {differences[name]:.2e} > {allowed:.2e}")
    if mismatches:
        raise ParityError(mismatches)
    return differences


# ---------------------------------------------------------------- tiles and the manifest
def dataset_tiles(dataset: Path, split: str, labels: list[str], tile: int, stride: int) -> torch.Tensor:
    """Grid tiles of every class of a dataset split, float in [-1, 1]."""
    from export.data import cut_tiles, grid_positions, load_split_images
    from export.tiles import to_unit

    images = load_split_images(dataset, split, labels)
    xs, _ys, _contents, _photos = cut_tiles(images, labels, tile, grid_positions(tile, stride))
    return to_unit(torch.from_numpy(xs).permute(0, 3, 1, 2))


def mean_code(model, reconstructor, x: torch.Tensor, key: str, batch: int = 256) -> torch.Tensor:
    """The mean over tiles x of one of the attributor's codes (`key`: "mu" or "content")."""
    from export.phase2 import reencode

    with torch.no_grad():
        codes = [reencode(model, reconstructor, x[i : i + batch])[key] for i in range(0, len(x), batch)]
    return torch.cat(codes).mean(0)


def neutral_content(model, reconstructor, x: torch.Tensor) -> torch.Tensor:
    """c0: the mean content code over tiles, the "no particular scene" input of G(f, c0)."""
    return mean_code(model, reconstructor, x, "content")


def camera_embeddings(model, reconstructor, dataset: Path, tile: int) -> list[list[float]]:
    """The embedding (mean f over the covering tiles, as the runtime reads it) of each validation
    photo of the real class: the camera-photo guard an enrollment is checked against
    (runtime.enroll; `export.verdict` replaces it with the validation pool's camera photos)."""
    from export.data import load_split_images
    from export.tiles import to_unit
    from runtime.tiling import covering_grid, cut, pad_to_tile

    embeddings = []
    for by_label in load_split_images(dataset, "val", ["real"]).values():
        padded, _ = pad_to_tile(by_label["real"], tile)
        x = to_unit(torch.from_numpy(cut(padded, covering_grid(*padded.shape[:2], tile, tile), tile)).permute(0, 3, 1, 2))
        embeddings.append([round(float(v), 6) for v in mean_code(model, reconstructor, x, "mu")])
    return embeddings


def git_commit(root: Path = ROOT) -> str:
    """The commit whose code made a bundle, with "+uncommitted" when export/ or runtime/ differ from
    it (so a manifest never names a commit that did not make it); "unknown" outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        changed = subprocess.run(["git", "status", "--porcelain", "--", "export", "runtime"], cwd=root,
                                 capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+uncommitted" if changed.stdout.strip() else "")


def tool_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("torch", "onnx", "onnxscript", "onnxruntime", "onnxruntime-gpu", "diffusers"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def display_path(path: Path) -> str:
    """`path` relative to the repository when it lies inside it (so a manifest reads the same on any machine)."""
    path = Path(path).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def benchmark_figures(path: Path = BENCHMARK_FILE) -> dict:
    """The headline figures of `bench/results/attribution.json`, copied into the manifest."""
    if not path.is_file():
        return {}
    result = json.loads(path.read_text())
    ours = result["methods"]["causal-fingerprint"]
    anonymization = result["anonymization"]
    return {
        "source": display_path(path),
        "test_tile_accuracy": ours["accuracy"],
        "test_macro_f1": ours["macro_f1"],
        "fingerprint_fdr": result["fdr"]["value"],
        "open_set_auroc": result["open_set"].get("auroc"),
        "robustness_accuracy": result["robustness"],
        "anonymization": {key: anonymization[key] for key in ("ssim_mean", "psnr_mean", "true_source_rate", "chance",
                                                              "strongest_baseline", "true_source_rate_strongest_baseline")
                          if key in anonymization},
    }


def make_manifest(checkpoint: Path, state: dict, graphs: list[Graph], folder: Path, c0: torch.Tensor, open_set: dict,
                  stride: int, tolerance: float, sources: dict[str, dict], guard: list[list[float]]) -> dict:
    """The bundle's manifest; `sources` (export.trainset.dataset_sources) name and group the labels."""
    from runtime.engine import max_change_rms

    rows = sources
    model_config = dict(state["model_config"])
    floor = state["train_config"]["cf_psnr_floor"]
    labels = state["labels"]
    files = {}
    for graph in graphs:
        path = folder / graph.filename
        files[graph.name] = {"path": graph.filename, "sha256": sha256(path), "bytes": path.stat().st_size,
                             "inputs": graph.inputs, "outputs": graph.outputs,
                             "max_abs_difference_vs_torch": graph.parity}
    return {
        "format_version": FORMAT_VERSION,
        "name": "causal-fingerprint",
        "description": "Causal-fingerprint source attribution (arXiv 2509.15406), ONNX bundle",
        "tile": {"size": model_config["tile"], "stride": stride, "max_tiles": MAX_TILES},
        "normalization": {"scale": 1 / 127.5, "offset": -1.0, "note": "x = uint8 * scale + offset, in [-1, 1]"},
        "labels": [{"name": n, "display_name": rows[n]["display_name"], "family": rows[n]["family"]}
                   for n in labels],
        "real_label": "real",
        "held_out": [{"name": n, "display_name": rows[n]["display_name"], "family": rows[n]["family"]}
                     for n in state["held_out"]],
        "spaces": list(model_config["spaces"]),
        "decision": {"heads": ["f", *model_config.get("decision_spaces", ())],
                     "note": "a tile's attribution is the encoder's `decision` output: the normalized product of "
                             "these heads' probabilities (the subset most accurate on the validation photos)",
                     "validation_accuracy_by_heads": state.get("decision_selection", {})},
        "fingerprint": {
            "dim": model_config["fingerprint_dim"],
            "prototypes": state["prototypes"].tolist(),
            "spread": state["spread"].tolist(),
            "neutral": state["neutral"].flatten().tolist(),
            "neutral_content": c0.tolist(),
            "residual_scale": model_config["residual_scale"],
        },
        "anonymize": {"psnr_floor_db": floor, "max_change_rms": max_change_rms(floor),
                      "psnr_floor_range_db": list(PSNR_FLOOR_RANGE_DB),
                      "stride": ANONYMIZE_STRIDE * model_config["tile"] // 64,
                      "note": "per tile, G(f_target, c, r) - G(f, c, r) is scaled down to this RMS "
                              "([-1, 1] units); tiles at this stride overlap and their changes cross-fade "
                              "(runtime.tiling.blend_window), so no tile edge is a seam; a caller may pick "
                              "another floor within the range (lower: stronger)"},
        "open_set": open_set,
        "verdict": dict(UNCALIBRATED),  # python -m export.verdict calibrates it on validation images
        "enrollment_guard": {"camera_embeddings": guard, "source": "the dataset's validation photos of the real "
                             "class (python -m export.verdict puts the validation pool's camera photos here)"},
        "files": files,
        "opset": OPSET,
        "parity_tolerance": tolerance,
        "provenance": {"commit": git_commit(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       # not {"path", "sha256"}: in a manifest that pair names a file of the bundle
                       "checkpoint": display_path(checkpoint), "checkpoint_sha256": sha256(checkpoint),
                       "tools": tool_versions(), "reconstructor": state["reconstructor"],
                       "train_config": state["train_config"], "model_config": model_config,
                       "val_tile_accuracy": state.get("val_accuracy")},
        "benchmark": benchmark_figures(),
    }


def export_bundle(checkpoint: Path, dataset: Path, output: Path, stride: int | None = None,
                  tolerance: float = PARITY_TOLERANCE, parity_tiles: int = 64) -> dict:
    """Export, check, write the manifest, then move the bundle into `output`. Returns the manifest.
    `stride`: the runtime's tile stride (default: the model's tile, no overlap)."""
    from export.open_set import calibrate_relative
    from export.checkpoints import load_model_on
    from export.data import split_photos
    from export.trainset import dataset_sources

    model, state, config, reconstructor = load_model_on(checkpoint, dataset)
    labels = state["labels"]
    tile = model.config.tile
    stride = stride or tile
    # Parity needs tiles, not a held-out split: a small folder dataset may have no test contents.
    parity_split = "test" if split_photos(dataset, "test", labels) else "val"
    test_x = dataset_tiles(dataset, parity_split, labels, tile, tile)
    generator = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(test_x), generator=generator)[:parity_tiles]
    graphs = build_graphs(model, reconstructor, test_x[pick[: max(2, parity_tiles // 4)]])
    c0 = neutral_content(model, reconstructor, dataset_tiles(dataset, "val", labels, tile, tile))
    open_set = calibrate_relative(model, reconstructor, config, labels)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}-") as temporary:
        folder = Path(temporary)
        check_inputs = build_graphs(model, reconstructor, test_x[pick])  # a different batch size
        for graph, checked in zip(graphs, check_inputs):
            path = export_graph(graph, folder)
            graph.parity = check_parity(graph, path, checked.example, tolerance)
        manifest = make_manifest(checkpoint, state, graphs, folder, c0, open_set, stride, tolerance,
                                 dataset_sources(dataset), camera_embeddings(model, reconstructor, dataset, tile))
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
        total = sum(p.stat().st_size for p in folder.iterdir())
        if total > MAX_BUNDLE_BYTES:
            raise RuntimeError(f"bundle is {total / 2**20:.1f} MB, over the {MAX_BUNDLE_BYTES / 2**20:.0f} MB limit")
        if output.exists():
            shutil.rmtree(output)
        shutil.move(str(folder), str(output))
        output.chmod(0o755)  # TemporaryDirectory made it owner-only
        folder.mkdir()  # TemporaryDirectory removes it on exit
    logger.info("bundle written to %s (%.1f MB)", output, total / 2**20)
    return manifest


def main(argv: list[str] | None = None) -> int:
    from export.config import PUBLISHED
    from runtime.errors import InputError

    parser = argparse.ArgumentParser(prog="python -m export.to_onnx", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=PUBLISHED)
    parser.add_argument("--dataset", type=Path, default=Path("data/zoo"),
                        help="built dataset (its test tiles check parity, its val tiles give c0 and the open-set threshold)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--stride", type=int, help="tile stride the runtime uses (default: the model's tile, no overlap)")
    parser.add_argument("--tolerance", type=float, default=PARITY_TOLERANCE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.checkpoint.is_file():
        print(f"error: {args.checkpoint}: no such checkpoint", file=sys.stderr)
        return 2
    try:
        export_bundle(args.checkpoint, args.dataset, args.output, args.stride, args.tolerance)
    except (InputError, ParityError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
