"""The same model in torch eager and in ONNX Runtime, side by side in one run, as ratios.

    python bench/latency.py [--bundle weights] [--checkpoint export/assets/causal-fingerprint.pt]
                            [--size 512] [--repeats 7] [--reference-tiles K]
                            [--compare-reference-tiles K ...] [--output bench/results/latency.json]

Both paths share the runtime's tiling and numpy post-processing, so only the model compute
differs. End to end = attribute + fingerprint of one image (one analysis, as `Engine.fingerprint`
returns both). An analysis is two passes through the graphs (the image's tiles, then their 8-bit
reconstructions for the open-set rule): `onnxruntime_one_pass` is the first alone;
`onnxruntime_jpeg_file` is the same image as JPEG file bytes (decoded, and its reconstructions
re-saved with the file's tables); `onnxruntime_spinning` is the runtime with its sessions' idle
worker threads left to spin (ONNX Runtime's default; the runtime turns it off);
`onnxruntime_reference_K` (`--compare-reference-tiles`) caps the second pass at K tiles instead of
the manifest's open_set.reference_tiles (`--reference-tiles` replaces that cap everywhere).
`graph_seconds_per_call` times each graph on the image's first 64 tiles (a pass calls the
reconstructor's encoder twice). Throughput =
tiles/s through reconstructor + fingerprint encoder at batch 64.
Runs interleaved (torch, ORT, torch, ORT...) with a short pause after each, so that no run's idle
threads spin into the next, and reports medians, so machine noise hits both.
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from report import command_line, write_result  # noqa: E402  (bench/, beside this script)

TARGETS = {"cpu": {"ort_over_torch_max": 0.7, "attribute_512_seconds_max": 0.5},
           "cuda": {"attribute_fingerprint_1024_seconds_max": 0.030, "ort_over_torch_max": 1.0}}
TARGET_SIZE = {"cpu": 512, "cuda": 1024}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class TorchEngine:
    """The runtime Engine's steps with the torch model in place of the ONNX sessions."""

    def __init__(self, engine, checkpoint: Path, device: str):
        import torch

        from export.reconstructor import load_reconstructor
        from export.checkpoints import load_model

        self.torch = torch
        self.engine = engine
        self.device = torch.device(device)
        self.model, state = load_model(checkpoint)
        self.model.to(self.device)
        self.reconstructor = load_reconstructor(state["train_config"]["reconstructor"] or None)
        self.reconstructor.model.to(self.device)

    def run_tiles(self, x: np.ndarray) -> dict[str, np.ndarray]:
        torch = self.torch
        parts = []
        with torch.inference_mode():
            for start in range(0, len(x), 64):
                xb = torch.from_numpy(x[start : start + 64]).to(self.device)
                z = self.reconstructor.encode(xb)
                x_hat = self.reconstructor.decode(z).clamp(-1, 1)
                out = self.model.encode(xb, x_hat, z, self.reconstructor.encode(x_hat))
                parts.append({"mu": out["mu"].cpu().numpy(), "content": out["content"].cpu().numpy(),
                              "logits": out["logits"].cpu().numpy(), "x_hat": x_hat.cpu().numpy(),
                              "decision": out["decision"].cpu().numpy(),
                              "space_logits": torch.stack(list(out["space_logits"].values()), 1).cpu().numpy()})
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    def decode(self, f: np.ndarray, c: np.ndarray, r: np.ndarray | None = None) -> np.ndarray:
        as_tensor = lambda a: self.torch.from_numpy(a).to(self.device)  # noqa: E731
        with self.torch.inference_mode():
            return self.model.decode(as_tensor(f), as_tensor(c), None if r is None else as_tensor(r)).cpu().numpy()


def patched(engine, torch_engine):
    """A copy of `engine` whose graph calls go to torch (same tiling and post-processing)."""
    import copy

    clone = copy.copy(engine)
    clone.run_tiles = torch_engine.run_tiles
    clone.decode = torch_engine.decode
    return clone


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def large_photo(engine, sample: np.ndarray, args) -> dict:
    """A large camera-sized JPEG attributed with every tile (no max_tiles) and with `args.max_tiles`
    tiles spread evenly over it, side by side: seconds, tiles, coverage, and whether they agree."""
    import copy
    import dataclasses

    from PIL import Image

    from runtime.engine import Engine

    width, height = args.large
    image = np.tile(sample, (height // sample.shape[0] + 1, width // sample.shape[1] + 1, 1))[:height, :width]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=92)
    data = buffer.getvalue()
    variants = {}
    for name, cap in (("every_tile", None), ("spread", args.max_tiles)):
        manifest = copy.deepcopy(engine.bundle.manifest)
        manifest["tile"]["max_tiles"] = cap
        variants[name] = Engine(dataclasses.replace(engine.bundle, manifest=manifest), engine.graphs)
    answers = {name: variant.attribute(data) for name, variant in variants.items()}
    seconds = side_by_side({name: lambda variant=variant: variant.attribute(data) for name, variant in variants.items()},
                           args.large_repeats)
    return {"size": f"{width}x{height}", "jpeg_quality": 92, "seconds": seconds,
            "tiles": {name: len(answer["tiles"]["positions"]) for name, answer in answers.items()},
            "coverage": {name: answer["tiles"]["coverage"] for name, answer in answers.items()},
            "same_verdict_and_label": all(answers["spread"][key] == answers["every_tile"][key] for key in ("verdict", "label")),
            "spread_over_every_tile": seconds["spread"] / seconds["every_tile"]}


def side_by_side(runs: dict, repeats: int, pause: float = 0.05) -> dict:
    """Interleave the named callables `repeats` times, `pause` seconds (untimed) after each; median
    seconds of each."""
    samples = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            samples[name] += timed(fn, 1)
            time.sleep(pause)
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv=None) -> int:
    from export.config import PUBLISHED
    from runtime.engine import Engine

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", default=str(ROOT / "weights"))
    parser.add_argument("--checkpoint", type=Path, default=PUBLISHED)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-tiles", type=int, default=256)
    parser.add_argument("--reference-tiles", type=int, default=None,
                        help="instead of the manifest's open_set.reference_tiles (what a lower cap would cost)")
    parser.add_argument("--compare-reference-tiles", type=int, nargs="+", default=[], metavar="K",
                        help="also time attribute with these caps, side by side with the runtime's")
    parser.add_argument("--large", type=int, nargs=2, default=[4000, 3000], metavar=("WIDTH", "HEIGHT"),
                        help="the large photo (a JPEG file) attributed with every tile and with max_tiles spread tiles")
    parser.add_argument("--large-repeats", type=int, default=3)
    parser.add_argument("--max-tiles", type=int, default=512, help="the spread tiles of the large photo's second run")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "latency.json")
    args = parser.parse_args(argv)

    import onnxruntime
    import torch
    from PIL import Image

    caps = ([args.reference_tiles] if args.reference_tiles is not None else []) + args.compare_reference_tiles
    if any(cap < 1 for cap in caps):
        print(f"error: reference tile caps must be at least 1, got {caps}", file=sys.stderr)
        return 2
    engine, spinning = (Engine.load(args.bundle, device=args.device, spinning=spin) for spin in (False, True))
    for candidate in (engine, spinning):
        candidate.reference_tiles = args.reference_tiles or candidate.reference_tiles
    capped = {cap: Engine(engine.bundle, engine.graphs) for cap in args.compare_reference_tiles}
    for cap, candidate in capped.items():
        candidate.reference_tiles = cap
    reference = TorchEngine(engine, args.checkpoint, args.device)
    torch_engine = patched(engine, reference)
    sample = np.asarray(Image.open(ROOT / "tests" / "data" / "samples" / "ldm-kl--coffee.png").convert("RGB"))
    image = np.tile(sample, (args.size // sample.shape[0] + 1, args.size // sample.shape[1] + 1, 1))[: args.size, : args.size]
    rng = np.random.default_rng(0)
    tiles = rng.uniform(-1, 1, (args.batch_tiles, 3, engine.bundle.tile, engine.bundle.tile)).astype(np.float32)

    # warm-up (session init, allocator, torch's first-call costs), then agreement check
    for candidate in (engine, torch_engine, spinning):
        candidate.fingerprint(image)
    agree = engine.attribute(image)["label"] == torch_engine.attribute(image)["label"]

    end_to_end = side_by_side({"torch": lambda: torch_engine.fingerprint(image),
                               "onnxruntime": lambda: engine.fingerprint(image)}, args.repeats)
    image_tiles = engine.analyze(image).x
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=90)
    jpeg_file = buffer.getvalue()
    attribute = side_by_side({"torch": lambda: torch_engine.attribute(image),
                              "onnxruntime": lambda: engine.attribute(image),
                              "onnxruntime_one_pass": lambda: engine.run_tiles(image_tiles),
                              "onnxruntime_jpeg_file": lambda: engine.attribute(jpeg_file),
                              "onnxruntime_spinning": lambda: spinning.attribute(image),
                              **{f"onnxruntime_reference_{cap}": lambda candidate=candidate: candidate.attribute(image)
                                 for cap, candidate in capped.items()}}, args.repeats)
    graphs, first = engine.graphs, image_tiles[:64]
    z = graphs["reconstructor_encoder"].run(x=first)["z"]
    x_hat = graphs["reconstructor_decoder"].run(z=z)["x_hat"]
    z_hat = graphs["reconstructor_encoder"].run(x=x_hat)["z"]
    per_graph = side_by_side({"reconstructor_encoder": lambda: graphs["reconstructor_encoder"].run(x=first),
                              "reconstructor_decoder": lambda: graphs["reconstructor_decoder"].run(z=z),
                              "fingerprint_encoder": lambda: graphs["fingerprint_encoder"].run(
                                  x=first, x_hat=x_hat, z=z, z_hat=z_hat)}, args.repeats)
    batch = side_by_side({"torch": lambda: reference.run_tiles(tiles),
                          "onnxruntime": lambda: engine.run_tiles(tiles)}, max(3, args.repeats // 2))
    large = large_photo(engine, sample, args)
    ratio = end_to_end["onnxruntime"] / end_to_end["torch"]
    targets = TARGETS[args.device]
    result = {
        "command": command_line("latency.py", argv),
        "device": {"kind": args.device, "cpu": cpu_name(), "cpu_count": os.cpu_count(),
                   "provider": engine.provider, "platform": platform.platform(),
                   "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None},
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "image": f"{args.size}x{args.size}",
        "tiles_per_image": len(engine.analyze(image).positions),
        "reference_tiles": engine.reference_tiles,
        "same_label_torch_vs_onnx": agree,
        "end_to_end_seconds": end_to_end,
        "attribute_seconds": attribute,
        "graph_seconds_per_call": {"tiles": len(first), **per_graph},
        "ort_over_torch_end_to_end": ratio,
        "ort_over_torch_attribute": attribute["onnxruntime"] / attribute["torch"],
        "attribute_over_one_pass": attribute["onnxruntime"] / attribute["onnxruntime_one_pass"],
        "jpeg_file_over_pixels": attribute["onnxruntime_jpeg_file"] / attribute["onnxruntime"],
        "spinning_over_runtime": attribute["onnxruntime_spinning"] / attribute["onnxruntime"],
        "throughput_tiles_per_second": {name: args.batch_tiles / seconds for name, seconds in batch.items()},
        "large_photo": large,
        "targets": targets,
    }
    target_size = TARGET_SIZE[args.device]
    if args.size != target_size:
        result["meets_targets"] = None
        result["note"] = f"the {args.device} targets are for a {target_size}x{target_size} image"
    elif args.device == "cpu":
        result["meets_targets"] = {"ort_over_torch": ratio <= targets["ort_over_torch_max"],
                                   "attribute_seconds": attribute["onnxruntime"] <= targets["attribute_512_seconds_max"]}
    else:
        result["meets_targets"] = {"ort_over_torch": ratio <= targets["ort_over_torch_max"],
                                   "attribute_fingerprint_seconds": end_to_end["onnxruntime"]
                                   <= targets["attribute_fingerprint_1024_seconds_max"]}
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
