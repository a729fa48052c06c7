"""Side-by-side evaluation of our model, its ablation and three baselines on the test photos.

    python -m export.evaluate --dataset data/zoo --model export/assets/causal-fingerprint.pt \
        --ablation export/assets/residual-cnn.pt

Writes bench/results/attribution.json and .md, and docs/fingerprint_space.png, docs/confusion.png,
docs/anonymize.png. Every method sees the same test tiles (photos never seen in training).
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np

from export.metrics import TRACE_RATIO, trace_ratio

logger = logging.getLogger(__name__)

FDR_FORMULA = f"FDR = {TRACE_RATIO}, over the fingerprint means f_i of the known-source test tiles"


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    labels = list(range(len(names)))
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
            "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist()}


def method_metrics(probs: np.ndarray, y: np.ndarray, photos: list[str], names: list[str], dataset: Path) -> dict:
    """Tile metrics, plus whole-image accuracy (mean log-probability over every grid tile of one
    test image, as the runtime aggregates) and family accuracy (the source's family, as `dataset`
    records it, right)."""
    metrics = classification_metrics(y, probs.argmax(1), names)
    families = families_of(names, dataset)
    metrics["family_accuracy"] = float((families[probs.argmax(1)] == families[y]).mean())
    truth, predicted = image_predictions(probs, photos, y)
    metrics["image_accuracy"] = float(np.mean(truth == predicted))
    metrics["images"] = len(truth)
    return metrics


def families_of(names: list[str], dataset: Path) -> np.ndarray:
    """The family of each label name, as the dataset's sources record it."""
    from export.trainset import dataset_sources

    sources = dataset_sources(dataset)
    return np.array([sources[n]["family"] for n in names])


def image_predictions(probs: np.ndarray, photos: list[str], y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(true label, predicted label) of each test image (photo, source): the argmax of the mean
    log-probability over its tiles, as the runtime aggregates."""
    groups: dict[tuple[str, int], list[int]] = {}
    for index, key in enumerate(zip(photos, y.tolist())):
        groups.setdefault(key, []).append(index)
    predicted = [int(np.log(np.clip(probs[rows], 1e-12, 1)).mean(0).argmax()) for rows in groups.values()]
    return np.array([label for _, label in groups]), np.array(predicted)


def ours_predict(model, tiles):
    """(probabilities, fingerprint means) of our model's decision on a tile set."""
    from export.train import fingerprints

    outputs = fingerprints(model, tiles)
    return outputs["decision"].exp().numpy(), outputs["mu"]


def head_accuracies(model, outputs: dict, y: np.ndarray) -> dict:
    """Tile accuracy of each head alone (the f head, every space head) and of the decision."""
    accuracies = {"f": float((outputs["logits"].argmax(1).numpy() == y).mean())}
    for index, space in enumerate(model.config.spaces):
        accuracies[space] = float((outputs["space_logits"][:, index].argmax(1).numpy() == y).mean())
    accuracies["decision"] = float((outputs["decision"].argmax(1).numpy() == y).mean())
    accuracies["decision_heads"] = ["f", *model.config.decision_spaces]
    return accuracies


def _strip(tiles, keep):
    """A view of a TileSet restricted to a boolean mask."""
    import torch

    from export.data import TileSet

    index = torch.nonzero(torch.as_tensor(keep)).flatten()
    return TileSet(tiles.x[index], tiles.x_hat[index], tiles.z[index], tiles.z_hat[index],
                   tiles.labels[index], tiles.content[index], [tiles.photos[i] for i in index.tolist()],
                   tiles.names)


def baseline_train_tiles(dataset: Path, labels: list[str], tile: int):
    """(uint8 tiles (N, 3, S, S), labels) the baselines are fitted on: an aligned grid (stride S/4)
    over the clean train photos (noise-correlation needs alignment; all baselines get the same)."""
    import torch

    from export.data import cut_tiles, grid_positions, load_split_images

    xs, ys, _, _ = cut_tiles(load_split_images(dataset, "train", labels), labels, tile, grid_positions(tile, tile // 4))
    return torch.from_numpy(xs).permute(0, 3, 1, 2).contiguous(), ys


def generated_tiles(config, reconstructor, split: str, labels: list[str]):
    """A split's tiles of the known generators on a tile-aligned grid (what anonymization is
    measured on: every pixel once, no "real")."""
    from export.trainset import build_eval_tiles

    tiles = build_eval_tiles(config, reconstructor, split, labels, stride=config.tile)
    return _strip(tiles, tiles.labels.numpy() != labels.index("real"))


def resaved(reconstructor, tiles, pixels):
    """`tiles` with their pixels replaced by `pixels` ((N, 3, S, S) uint8, as a saved image holds
    them), reconstructed anew: what a judge reads of a changed tile."""
    from export.data import make_tileset

    return make_tileset(reconstructor, pixels.permute(0, 2, 3, 1).numpy(), tiles.labels.numpy(),
                        tiles.content.numpy(), tiles.photos, tiles.names)


def tile_psnrs(before: np.ndarray, after: np.ndarray) -> list[float]:
    """PSNR of each pair of uint8 tiles (any layout), 100 dB for an unchanged one."""
    from skimage.metrics import peak_signal_noise_ratio

    return [peak_signal_noise_ratio(a, b, data_range=255) if not np.array_equal(a, b) else 100.0
            for a, b in zip(before, after)]


def image_hit_rate(probs: np.ndarray, y: np.ndarray, photos: list[str], wanted: np.ndarray) -> float:
    """Share of whole images (photo, source) whose mean tile log-probability names `wanted`
    (one label per tile, the same within an image), as the runtime aggregates."""
    groups: dict[tuple[str, int], list[int]] = {}
    for index, key in enumerate(zip(photos, y.tolist())):
        groups.setdefault(key, []).append(index)
    log_probs = np.log(np.clip(probs, 1e-12, 1))
    return float(np.mean([log_probs[rows].mean(0).argmax() == wanted[rows[0]] for rows in groups.values()]))


def anonymization(model, state, reconstructor, tiles, judges: dict, strongest: str, seed: int = 0,
                  unknown_threshold: float | None = None) -> tuple[dict, dict]:
    """Neutral-target anonymization and named counterfactuals of generated tiles, measured through
    the whole pipeline: the result is quantized to uint8 (as a saved PNG), then re-attributed by
    ours and by every other method in `judges` (name -> function from a TileSet to probabilities),
    `strongest` among them (the most accurate baseline) reported on its own too. With the open-set
    rule's `unknown_threshold`: the share of whole images it calls unknown, before and after."""
    import torch
    from skimage.metrics import structural_similarity

    from export.open_set import called_unknown, relative_scores
    from export.tiles import to_pixels
    from export.phase2 import counterfactual
    from runtime.engine import max_change_rms

    labels = state["labels"]
    max_rms = max_change_rms(state["train_config"]["cf_psnr_floor"])
    real = labels.index("real")
    generators = [k for k in range(len(labels)) if k != real]
    protos, neutral = state["prototypes"], state["neutral"]
    rng = np.random.default_rng(seed)
    y = tiles.labels.numpy()
    images = list(dict.fromkeys(zip(tiles.photos, y.tolist())))
    per_image = {key: rng.choice([g for g in generators if g != key[1]]) for key in images}
    named = np.array([per_image[key] for key in zip(tiles.photos, y.tolist())])  # one target per image
    outputs = {"neutral": [], "named": []}
    with torch.no_grad():
        for start in range(0, len(tiles), 128):
            batch = tiles.batch(slice(start, start + 128))
            out = model.encode(*batch)
            for kind, target in (("neutral", neutral.expand(len(out["mu"]), -1)),
                                 ("named", protos[torch.as_tensor(named[start : start + 128])])):
                x_cf, _ = counterfactual(model, batch[0], batch[1], out["mu"], out["content"], target, max_rms)
                outputs[kind].append(to_pixels(x_cf))
    original = tiles.x.permute(0, 2, 3, 1).numpy()
    results = {}
    for kind in outputs:
        x_cf = torch.cat(outputs[kind])
        cf_tiles = resaved(reconstructor, tiles, x_cf)
        probs = ours_predict(model, cf_tiles)[0]
        results[kind] = (x_cf, probs.argmax(1), {name: judge(cf_tiles).argmax(1) for name, judge in judges.items()},
                         probs, cf_tiles)
    x_cf = results["neutral"][0].permute(0, 2, 3, 1).numpy()
    ssim = [structural_similarity(a, b, channel_axis=2, data_range=255) for a, b in zip(original, x_cf)]
    psnr = tile_psnrs(original, x_cf)
    metrics = {
        "tiles": int(len(y)),
        "ssim_mean": float(np.mean(ssim)), "ssim_min": float(np.min(ssim)),
        "psnr_mean": float(np.mean(psnr)), "psnr_min": float(np.min(psnr)),
        "true_source_rate": float(np.mean(results["neutral"][1] == y)),
        "true_source_rate_by_source": {labels[k]: float(np.mean(results["neutral"][1][y == k] == k))
                                       for k in generators if np.any(y == k)},
        "image_true_source_rate": image_hit_rate(results["neutral"][3], y, tiles.photos, y),
        "images": len(images),
        "chance": 1.0 / len(generators),
        "attributed_real_rate": float(np.mean(results["neutral"][1] == real)),
        "judge_weight": float(state["train_config"].get("w_judge", 0.0)),
        "judges": int(state["train_config"].get("judges", 1)),
        "cnn_judges": int(state["train_config"].get("cnn_judges", 0)),
        "true_source_rate_strongest_baseline": float(np.mean(results["neutral"][2][strongest] == y)),
        "strongest_baseline": strongest,
        "true_source_rate_by": {name: float(np.mean(hits == y)) for name, hits in results["neutral"][2].items()},
        "counterfactual_hit_rate": float(np.mean(results["named"][1] == named)),
        "image_counterfactual_hit_rate": image_hit_rate(results["named"][3], y, tiles.photos, named),
        "counterfactual_hit_rate_strongest_baseline": float(np.mean(results["named"][2][strongest] == named)),
        "counterfactual_hit_rate_by": {name: float(np.mean(hits == named)) for name, hits in results["named"][2].items()},
    }
    if unknown_threshold is not None:
        metrics["images_called_unknown"] = {
            kind: called_unknown(relative_scores(model, reconstructor, images)["image_relative"], unknown_threshold)
            for kind, images in (("input", tiles), ("neutral", results["neutral"][4]), ("named", results["named"][4]))}
    return metrics, {"original": original, "anonymized": x_cf}


def run(dataset: Path, model_path: Path, ablation_path: Path | None, output: Path, docs: Path,
        baseline_steps: int = 1500) -> dict:

    from export.augment import ROBUSTNESS, jpeg
    from export.baselines import DctLinear, NoiseCorrelation, PixelCNN
    from export.open_set import calibrate_relative
    from export.checkpoints import load_model, load_model_on
    from export.train import fingerprints
    from export.trainset import build_eval_tiles

    started = time.time()
    model, state, config, reconstructor = load_model_on(model_path, dataset)
    labels, held_out = state["labels"], state["held_out"]
    test = build_eval_tiles(config, reconstructor, "test", labels)
    y = test.labels.numpy()
    result = {"command": " ".join(["python -m export.evaluate"] + sys.argv[1:]), "labels": labels,
              "held_out": held_out, "test_tiles": int(len(y)), "tile": config.tile,
              "test_photos": sorted(set(test.photos)), "platform": platform.platform(), "methods": {}}

    outputs = fingerprints(model, test)
    mu, logits = outputs["mu"], outputs["logits"]
    result["methods"]["causal-fingerprint"] = method_metrics(outputs["decision"].exp().numpy(), y, test.photos,
                                                             labels, dataset)
    result["heads"] = head_accuracies(model, outputs, y)
    judges = {}  # every other method, as a judge of anonymized tiles
    if ablation_path:
        ablation, _ = load_model(ablation_path)
        result["methods"]["residual-cnn"] = method_metrics(ours_predict(ablation, test)[0], y, test.photos, labels,
                                                           dataset)
        judges["residual-cnn"] = lambda tiles: ours_predict(ablation, tiles)[0]

    # Baselines: fitted on aligned grid tiles of the clean train photos (noise-correlation needs
    # alignment; all three get the same tiles).
    train_x, ys = baseline_train_tiles(dataset, labels, config.tile)
    baselines = [DctLinear().fit(train_x, ys), NoiseCorrelation().fit(train_x, ys),
                 PixelCNN(len(labels)).fit(train_x, ys, steps=baseline_steps)]
    for baseline in baselines:
        result["methods"][baseline.name] = method_metrics(baseline.predict_proba(test.x), y, test.photos, labels,
                                                          dataset)
        judges[baseline.name] = lambda tiles, baseline=baseline: baseline.predict_proba(tiles.x)
    strongest = max(baselines, key=lambda b: result["methods"][b.name]["accuracy"]).name

    result["fdr"] = {"value": trace_ratio(mu.numpy(), y), "formula": FDR_FORMULA}
    rule = calibrate_relative(model, reconstructor, config, labels)
    result["open_set"] = open_set(model, state, config, reconstructor, test, mu, logits, held_out, rule=rule)
    result["robustness"] = {}
    for name, perturb in ROBUSTNESS.items():
        tiles = build_eval_tiles(config, reconstructor, "test", labels, perturb=perturb)
        result["robustness"][name] = float((ours_predict(model, tiles)[0].argmax(1) == tiles.labels.numpy()).mean())
    shortcut = build_eval_tiles(config, reconstructor, "test", labels, perturb=lambda im: jpeg(im, 90))
    result["format_shortcut"] = {
        "jpeg90_all_classes_accuracy": float((ours_predict(model, shortcut)[0].argmax(1) == shortcut.labels.numpy()).mean()),
        "clean_accuracy": result["methods"]["causal-fingerprint"]["accuracy"]}
    generated = generated_tiles(config, reconstructor, "test", labels)
    result["anonymization"], examples = anonymization(model, state, reconstructor, generated, judges, strongest,
                                                      unknown_threshold=rule["threshold"])
    result["seconds"] = time.time() - started
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(result))
    figures(result, mu.numpy(), y, examples, generated, docs)
    return result


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """AUROC of a score (higher: more likely unknown), unknown sources as the positives."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.zeros(len(known)), np.ones(len(unknown))], np.r_[known, unknown]))


def open_set_scores(mu, logits, protos, spread) -> dict[str, np.ndarray]:
    """Per-tile "unknown" scores (higher: more likely unknown). The runtime's rule builds on `energy`."""
    import torch

    from export.train import open_set_score, prototype_distance

    logits = torch.as_tensor(logits)
    return {"energy": open_set_score(logits).numpy(),
            "prototype": prototype_distance(torch.as_tensor(mu), protos, spread).numpy(),
            "max_softmax": (1 - torch.softmax(logits, 1).max(1).values).numpy()}


def open_set(model, state, config, reconstructor, known, known_mu, known_logits, held_out, split: str = "test",
             rule: dict | None = None) -> dict:
    """AUROC of "unknown" scores, held-out zoo members (positives) vs known sources, per tile and
    per whole image (mean tile score), for the energy, the runtime's relative score (export.open_set)
    and two others, on the photos of `split` (the split of the `known` tiles); the share of images
    the runtime's rule (`rule`; None: calibrated here) calls unknown; where
    held-out images are named."""
    from export.open_set import calibrate_relative, called_unknown, image_means, relative_scores
    from export.train import fingerprints
    from export.trainset import build_eval_tiles

    if not held_out:
        return {"auroc": None, "note": "no held-out members in this dataset"}
    unknown = build_eval_tiles(config, reconstructor, split, held_out)
    unknown_outputs = fingerprints(model, unknown)
    unknown_mu, unknown_logits = unknown_outputs["mu"], unknown_outputs["logits"]
    protos, spread = state["prototypes"], state["spread"]
    known_scores = open_set_scores(known_mu, known_logits, protos, spread)
    unknown_scores = open_set_scores(unknown_mu, unknown_logits, protos, spread)
    scores = {}
    for name in known_scores:
        known_images = image_means(known_scores[name], known.photos, known.labels.numpy())
        unknown_images = image_means(unknown_scores[name], unknown.photos, unknown.labels.numpy())
        scores[name] = {"tile_auroc": auroc(known_scores[name], unknown_scores[name]),
                        "image_auroc": auroc(known_images, unknown_images)}
    threshold = state["open_set_threshold"]
    named = families_of(state["labels"], config.dataset)
    truth = families_of(held_out, config.dataset)
    probs = unknown_outputs["decision"].exp().numpy()
    image_truth, image_named = image_predictions(probs, unknown.photos, unknown.labels.numpy())
    rule = rule or calibrate_relative(model, reconstructor, config, state["labels"])
    relative = {"known": relative_scores(model, reconstructor, known, logits=known_logits),
                "unknown": relative_scores(model, reconstructor, unknown, logits=unknown_logits)}
    scores["relative"] = {f"{level}_auroc": auroc(relative["known"][f"{level}_relative"],
                                                  relative["unknown"][f"{level}_relative"])
                          for level in ("tile", "image")}
    return {"auroc": scores["energy"]["tile_auroc"], "held_out": held_out, "scores": scores,
            "threshold": threshold, "rule": rule,
            "held_out_named_in_own_family": {
                "tiles": float((named[probs.argmax(1)] == truth[unknown.labels.numpy()]).mean()),
                "images": float((named[image_named] == truth[image_truth]).mean())},
            "known_flagged_unknown": float((known_scores["energy"] > threshold).mean()),
            "unknown_flagged_unknown": float((unknown_scores["energy"] > threshold).mean()),
            "images_called_unknown": {kind: called_unknown(relative[kind]["image_relative"], rule["threshold"])
                                      for kind in relative}}


def markdown(result: dict) -> str:
    lines = ["# Attribution benchmark", "",
             f"Made by `{result['command']}` on {result['test_tiles']} test tiles "
             f"({result['tile']}x{result['tile']}) of photos never seen in training: "
             f"{', '.join(result['test_photos'])}. Classes: {', '.join(result['labels'])}.", "",
             "| method | tile accuracy | tile macro F1 | tile family accuracy | whole-image accuracy |",
             "|---|---|---|---|---|"]
    for name, metrics in result["methods"].items():
        lines.append(f"| {name} | {metrics['accuracy']:.4f} | {metrics['macro_f1']:.4f} | "
                     f"{metrics['family_accuracy']:.4f} | {metrics['image_accuracy']:.4f} ({metrics['images']} images) |")
    if "heads" in result:
        heads = result["heads"]
        singles = ", ".join(f"{name} {value:.4f}" for name, value in heads.items() if name not in ("decision", "decision_heads"))
        lines += ["", f"**Our heads alone (tile accuracy):** {singles}. The decision multiplies the probabilities of "
                  f"{' + '.join(heads['decision_heads'])} (the subset chosen on the validation photos): {heads['decision']:.4f}."]
    lines += ["", f"**Fingerprint separation (FDR):** {result['fdr']['value']:.2f}. {result['fdr']['formula']}.", ""]
    open_set = result["open_set"]
    if open_set.get("auroc") is not None:
        lines += [f"**Open set:** AUROC {open_set['auroc']:.4f} for held-out {', '.join(open_set['held_out'])} vs "
                  f"known sources (tiles, energy score); at the calibrated tile threshold "
                  f"{open_set['unknown_flagged_unknown']:.3f} of unknown tiles and "
                  f"{open_set['known_flagged_unknown']:.3f} of known tiles are flagged"
                  + (f". The app's rule (an image's energy relative to its own reconstruction's, threshold "
                     f"{open_set['rule']['threshold']:.3f} calibrated on known validation images) calls "
                     f"{open_set['images_called_unknown']['unknown']:.3f} of unknown images and "
                     f"{open_set['images_called_unknown']['known']:.3f} of known images unknown"
                     if "rule" in open_set else "")
                  + (f". Named by their nearest known sibling instead, held-out images are put in their own "
                     f"family {open_set['held_out_named_in_own_family']['images']:.3f} of the time "
                     f"({open_set['held_out_named_in_own_family']['tiles']:.3f} of tiles)"
                     if "held_out_named_in_own_family" in open_set else "") + ". Scores: "
                  + "; ".join(f"{name} tile {v['tile_auroc']:.4f}, image {v['image_auroc']:.4f}"
                              for name, v in open_set["scores"].items()) + ".", ""]
    lines += ["**Robustness (our accuracy):** " + ", ".join(f"{k} {v:.4f}" for k, v in result["robustness"].items()), "",
              f"**Format shortcut:** every test image of every class re-saved as JPEG q90: "
              f"{result['format_shortcut']['jpeg90_all_classes_accuracy']:.4f} (clean {result['format_shortcut']['clean_accuracy']:.4f}).", ""]
    a = result["anonymization"]
    lines += ["**Anonymization** (neutral target, generated test tiles, result saved as 8-bit and re-attributed "
              "through the whole pipeline):", "",
              f"- SSIM {a['ssim_mean']:.4f} (min {a['ssim_min']:.4f}), PSNR {a['psnr_mean']:.2f} dB (min {a['psnr_min']:.2f})",
              f"- still attributed to the true source: {a['true_source_rate']:.4f} by ours, "
              f"{a['true_source_rate_strongest_baseline']:.4f} by the strongest baseline ({a['strongest_baseline']}); "
              f"chance {a['chance']:.4f}; attributed to real: {a['attributed_real_rate']:.4f}",
              "- still attributed to the true source, by every other method: "
              + ", ".join(f"{name} {rate:.4f}" for name, rate in a["true_source_rate_by"].items())
              + fooled_in_training(a),
              f"- whole images ({a['images']}, mean tile log-probability as the runtime aggregates): true source "
              f"still named for {a['image_true_source_rate']:.4f}; \"as if made by X\" named X for "
              f"{a['image_counterfactual_hit_rate']:.4f}",
              f"- counterfactual \"as if made by X\" attributed to X: {a['counterfactual_hit_rate']:.4f} by ours, "
              f"{a['counterfactual_hit_rate_strongest_baseline']:.4f} by {a['strongest_baseline']}"]
    if "images_called_unknown" in a:
        called = a["images_called_unknown"]
        lines.append(f"- whole images the app calls \"unknown source\" (its open-set rule): {called['input']:.4f} of "
                     f"the generated inputs, {called['neutral']:.4f} after neutral anonymization, {called['named']:.4f} "
                     f"of the \"as if made by X\" counterfactuals")
    lines.append("")
    return "\n".join(lines)


def fooled_in_training(a: dict) -> str:
    """What the counterfactual phase was trained to fool, as a parenthesis of the report."""
    if not a["judge_weight"]:
        return " (training fooled our heads only)"
    surrogates = [f"{a['judges']} dct-linear surrogate(s) fitted on clean train tiles"]
    if a.get("cnn_judges"):
        surrogates.append(f"{a['cnn_judges']} surrogate(s) each of pixel-cnn and residual-cnn (the pixel-cnn "
                          "network on pixels and on the pixel residual) fitted on the training tiles")
    return (f" (training fooled our heads and {' and '.join(surrogates)}, each fit on its own draw and none of "
            f"them a method measured here, weight {a['judge_weight']:g} per family; no other method)")


def figures(result: dict, mu: np.ndarray, y: np.ndarray, examples: dict, generated, docs: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    docs.mkdir(parents=True, exist_ok=True)
    labels = result["labels"]
    points = LinearDiscriminantAnalysis(n_components=2).fit_transform(mu, y)
    figure, axis = plt.subplots(figsize=(6.5, 5))
    for k, name in enumerate(labels):
        axis.scatter(*points[y == k].T, s=4, label=name, alpha=0.6)
    axis.legend(fontsize=6, markerscale=3)
    axis.set_title(f"Causal fingerprints f of test tiles (LDA), FDR {result['fdr']['value']:.1f}", fontsize=9)
    figure.tight_layout()
    figure.savefig(docs / "fingerprint_space.png", dpi=120)
    plt.close(figure)

    confusion = np.array(result["methods"]["causal-fingerprint"]["confusion"])
    figure, axis = plt.subplots(figsize=(6, 5.2))
    axis.imshow(confusion / confusion.sum(1, keepdims=True).clip(min=1), cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    axis.set_yticks(range(len(labels)), labels, fontsize=7)
    for (i, j), value in np.ndenumerate(confusion):
        if value:
            axis.text(j, i, str(value), ha="center", va="center", fontsize=6)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"Confusion on test tiles, accuracy {result['methods']['causal-fingerprint']['accuracy']:.4f}", fontsize=9)
    figure.tight_layout()
    figure.savefig(docs / "confusion.png", dpi=120)
    plt.close(figure)

    original, anonymized = examples["original"], examples["anonymized"]
    picks = [int(np.nonzero(generated.labels.numpy() == k)[0][len(np.nonzero(generated.labels.numpy() == k)[0]) // 2])
             for k in sorted(set(generated.labels.numpy().tolist()))][:6]
    figure, axes = plt.subplots(3, len(picks), figsize=(1.6 * len(picks), 5))
    for column, index in enumerate(picks):
        difference = np.clip((anonymized[index].astype(int) - original[index].astype(int)) * 10 + 128, 0, 255)
        for row, image in enumerate((original[index], anonymized[index], difference.astype(np.uint8))):
            axes[row, column].imshow(image)
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
        axes[0, column].set_title(labels[int(generated.labels[index])], fontsize=7)
    for row, name in enumerate(("input", "anonymized", "difference x10")):
        axes[row, 0].set_ylabel(name, fontsize=8)
    figure.tight_layout()
    figure.savefig(docs / "anonymize.png", dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    from export.config import PUBLISHED, PUBLISHED_ABLATION

    parser = argparse.ArgumentParser(prog="python -m export.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=Path("data/zoo"))
    parser.add_argument("--model", type=Path, default=PUBLISHED)
    parser.add_argument("--ablation", type=Path, default=PUBLISHED_ABLATION, help="the residual-only ablation")
    parser.add_argument("--output", type=Path, default=Path("bench/results/attribution.json"))
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    parser.add_argument("--baseline-steps", type=int, default=1500)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from runtime.errors import exit_code

    return exit_code(lambda: print(markdown(
        run(args.dataset, args.model, args.ablation, args.output, args.docs, args.baseline_steps))))


if __name__ == "__main__":
    sys.exit(main())
