"""causal-fingerprint: the Gradio Space. A thin layer over the runtime API (`runtime.Engine`).

    python app.py          # honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
    BUNDLE_REPO=owner/name BUNDLE_REVISION=<commit> python app.py   # a bundle from the Hub
"""
from __future__ import annotations

import csv
import html
import io
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

# Uploads and gradio's copies of our outputs go to a private folder that is removed at exit
# (gradio's own age-based clean-up runs only while the app serves). A GRADIO_TEMP_DIR set by
# the caller is kept.
UPLOADS = tempfile.TemporaryDirectory(prefix="causal-fingerprint-uploads-")
os.environ.setdefault("GRADIO_TEMP_DIR", UPLOADS.name)

import gradio as gr  # noqa: E402  (reads GRADIO_TEMP_DIR)
import numpy as np
import pandas as pd
from gradio.components.annotated_image import AnnotatedImageData, Annotation
from gradio.data_classes import FileData

from runtime import NEUTRAL, Engine, InputError
from runtime.intake import MAX_FILE_BYTES, save_png
from runtime.provenance import disagreement, read_file_provenance

logger = logging.getLogger("app")

TITLE = "Causal fingerprint: which generative model made this image?"
THIS_IMAGE = "this image"
FINGERPRINT_CAPTIONS = {
    "fingerprint": "G(f, c0): the trace of this image's source decoded on a neutral scene, less what every "
                   "known source's trace shares (grey: nothing). Compare it with the known sources' below.",
    "residual": "What the reconstructor cannot explain in this image: where a generator's traces, and some fine "
                "texture, are left.",
    "spectrum": "The residual's frequencies, the centre being the lowest. Bright points away from the centre "
                "(circled) are periodic patterns, such as the grid an upsampling layer leaves.",
    "space": "Each known source's prototype (coloured) and this image (the black star) on the plane of the "
             "prototypes' two main axes: the nearer a prototype, the more alike the fingerprints.",
}
CSS = """
.prob-row {display: flex; align-items: center; gap: 8px; margin: 2px 0; font-size: 0.9em}
.prob-name {flex: 0 0 45%; overflow-wrap: anywhere}
.prob-bar {flex: 1; background: var(--background-fill-secondary); height: 12px; border-radius: 3px}
.prob-bar span {display: block; height: 100%; border-radius: 3px}
.prob-value {flex: 0 0 4.5em; text-align: right; font-variant-numeric: tabular-nums}
#examples .caption-label, #source-fingerprints .caption-label {white-space: normal; max-width: 94%; opacity: 0.9}
"""
EXAMPLES = Path(__file__).parent / "examples"
CONCURRENCY = int(os.environ.get("APP_CONCURRENCY", "2"))
# Uploads (gradio's cache) and the files we write are removed once older than this.
TEMP_MAX_AGE_S = int(os.environ.get("APP_TEMP_MAX_AGE_S", "900"))
CITATION = """```bibtex
@article{causalfingerprints2025,
  title   = {Causal Fingerprints of AI Generative Models},
  journal = {arXiv preprint arXiv:2509.15406},
  year    = {2025}
}
```"""


class Downloads:
    """Files we hand to the browser (every picture we show, anonymized PNGs, batch CSV/JSON), in
    one private temporary folder; files older than `max_age` seconds are removed at each write, the
    folder at exit. Pictures go out as files rather than arrays because gradio writes an array's
    PNG in place at a path named by its content: two answers with the same picture at once (the
    same example clicked twice, or two tile masks alike) could send one of them a half-written
    file ("Too little data for declared Content-Length" under bench/load.py). A file we hand over
    is copied into gradio's cache under a temporary name and renamed into place."""

    def __init__(self, max_age: float = TEMP_MAX_AGE_S):
        self.folder = tempfile.TemporaryDirectory(prefix="causal-fingerprint-")
        self.max_age = max_age

    def sweep(self) -> None:
        """Remove the files older than `max_age` (run at every request)."""
        now = time.time()
        for old in Path(self.folder.name).iterdir():
            try:
                if now - old.stat().st_mtime > self.max_age:
                    shutil.rmtree(old, ignore_errors=True)
            except FileNotFoundError:  # another request's sweep removed it first
                continue

    def path(self, name: str) -> Path:
        self.sweep()
        folder = Path(self.folder.name) / uuid.uuid4().hex
        folder.mkdir()
        return folder / name

    def png(self, array: np.ndarray, name: str) -> str:
        """A PNG of an RGB or RGBA uint8 array, with no metadata at all (no text chunks, EXIF, XMP
        or ICC profile)."""
        path = self.path(name)
        save_png(array, path)
        return str(path)

    def text(self, content: str, name: str) -> str:
        path = self.path(name)
        path.write_text(content)
        return str(path)


class TileMap(gr.AnnotatedImage):
    """gr.AnnotatedImage shown from PNG files we wrote (see Downloads): takes (image path,
    [(mask path, label)]) where gr.AnnotatedImage takes arrays and writes them itself."""

    @classmethod
    def get_block_name(cls) -> str:
        return "annotatedimage"  # the browser renders it as the built-in component

    def postprocess(self, value):
        if value is None:
            return None
        image, masks = value
        return AnnotatedImageData(image=FileData(path=image),
                                  annotations=[Annotation(image=FileData(path=mask), label=label) for mask, label in masks])


class ImageInput(gr.Image):
    """gr.Image that hands the uploaded file to the runtime's intake untouched: its raw bytes
    (metadata kept for provenance, our size limits applied) and our error message for a bad file,
    where gr.Image would decode it with its own rules first."""

    @classmethod
    def get_block_name(cls) -> str:
        return "image"  # the browser renders it as the built-in image component

    def preprocess(self, payload):
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return super().preprocess(payload)


# ---------------------------------------------------------------- formatting (plain data -> widgets)
def verdict_markdown(result: dict, engine: Engine) -> str:
    """The answer's headline first, then the closest known source and the evidence."""
    head = f"### {result['headline']}"
    if result["verdict"] == "generated":
        head += f"\nFamily: **{result['family']}**"
    elif result["verdict"] == "unknown":
        open_set = result["open_set"]
        head += (f"\nClosest known source: {result['display_name']}; the model is less sure of it than of its own "
                 f"reconstruction (score {open_set['score']:.2f}, threshold {open_set['threshold']:.2f}).")
    elif result["verdict"] == "inconclusive":
        # no lean is named: "leans toward GAN X" on a camera photo would read as the accusation withheld
        head += ("\nNo source is named: the evidence lies between this bundle's bars for a camera photo and for "
                 "a generator.")
    stated = (f"Probability that a generator made it **{result['p_generated']:.1%}**"
              if result["verdict"] == "inconclusive" else
              f"Confidence **{result['confidence']:.1%}** (probability of this answer)")
    coverage = result["tiles"]["coverage"]
    read = f"{len(result['tiles']['positions'])} tiles" + (
        f", spread evenly over {coverage:.0%} of the image (a large photo: faster, a little less evidence)"
        if coverage < 1 else "")
    notes = [f"{stated} over {read}",
             f"{result['image_size'][1]}x{result['image_size'][0]} px"]
    if result["padded"]:
        notes.append(f"padded to one {result['tiles']['size']}-px tile (smaller than a tile)")
    saved_as = result["open_set"]["reference_saved_as"]
    if saved_as != "8-bit":
        notes.append(f"{saved_as}: its reconstruction is saved the same way before they are compared")
    return head + "\n\n" + " · ".join(notes)


def provenance_markdown(provenance: dict) -> str:
    """Metadata evidence, kept apart from the fingerprint verdict."""
    lines = [f"**Provenance metadata** (separate evidence, easy to strip or forge): {provenance['summary']}"]
    for item in provenance["items"][:8]:
        value = item["value"].replace("\n", " ")
        lines.append(f"- {item['kind']} `{item['field']}`: {value[:120]} — *{item['suggests']}*")
    c2pa_info = provenance.get("c2pa") or {}
    if "error" in c2pa_info:
        lines.append(f"- C2PA: {c2pa_info['error']}")
    return "\n".join(lines)


# One colour per source, the same in the probability bars, the tile map and the fingerprint space.
PALETTE = ("#4c9a2a", "#1f77b4", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f", "#393b79", "#ad494a", "#637939", "#843c39", "#7b4173")
THIS_IMAGE_COLOUR = "#000000"


def source_colours(engine: Engine) -> dict[str, str]:
    """display name -> colour, in the bundle's label order (the real class first)."""
    return {label.display_name: PALETTE[k % len(PALETTE)] for k, label in enumerate(engine.labels)}


def probability_bars(result: dict, engine: Engine) -> str:
    """The sources' probabilities as horizontal bars, most likely first, each with its full name."""
    names = {label.name: label.display_name for label in engine.labels}
    colours = source_colours(engine)
    rows = []
    for name, p in sorted(result["probabilities"].items(), key=lambda item: -item[1]):
        shown = names[name]
        rows.append(f'<div class="prob-row"><span class="prob-name">{html.escape(shown)}</span>'
                    f'<span class="prob-bar"><span style="width:{100 * p:.1f}%;background:{colours[shown]}"></span></span>'
                    f'<span class="prob-value">{p:.1%}</span></div>')
    return '<div class="prob-bars" aria-label="Probability of each source">' + "".join(rows) + "</div>"


def scope_markdown(engine: Engine) -> str:
    """What the bundle knows and does not, for the first screen (the list itself folds away)."""
    known = ", ".join(label.display_name for label in engine.labels if label.name in engine.generators)
    return (f"**This Space knows {len(engine.generators)} small demo generators trained in this repository**, and "
            "camera photos. **It has never seen** Stable Diffusion, Midjourney, DALL·E, Flux or any other generator "
            "people use: an image from one is at best \"not made by any source this Space knows\". To go further, run "
            "it with a bundle trained on their images (`BUNDLE_REPO`; the README shows how to make one from folders "
            f"of images).\n<details><summary>The {len(engine.generators)} generators it knows</summary>{html.escape(known)}"
            "</details>")


def tile_map(image: np.ndarray, result: dict, engine: Engine, downloads: Downloads):
    """(image, [(mask, display name)]) as PNG files for TileMap: each tile coloured by its source.
    A mask is what gr.AnnotatedImage would write: the source's colour, half opaque on its tiles."""
    height, width = image.shape[:2]
    size = result["tiles"]["size"]
    names = {label.name: label.display_name for label in engine.labels}
    masks = {}
    colours = source_colours(engine)
    for (top, left), label in zip(result["tiles"]["positions"], result["tiles"]["labels"]):
        mask = masks.setdefault(label, np.zeros((max(height, size), max(width, size), 4), np.uint8))
        colour = colours[names[label]].lstrip("#")
        mask[top : top + size, left : left + size] = (*(int(colour[i : i + 2], 16) for i in (0, 2, 4)), 127)
    return (downloads.png(image, "image.png"),
            [(downloads.png(mask[:height, :width], f"mask-{k}.png"), names[label])
             for k, (label, mask) in enumerate(masks.items())])


def mark_peaks(spectrum: np.ndarray, peaks: list[list[int]]) -> np.ndarray:
    """The grey spectrum as RGB with a red ring around each peak."""
    from PIL import Image, ImageDraw

    picture = Image.fromarray(spectrum).convert("RGB")
    draw = ImageDraw.Draw(picture)
    radius = max(4, min(spectrum.shape) // 40)
    for row, column in peaks:
        draw.ellipse((column - radius, row - radius, column + radius, row + radius), outline=(230, 30, 30), width=2)
    return np.asarray(picture)


def space_figure(embedding: dict, engine: Engine):
    """Each source's prototype, coloured and named, and this image (a black star) on the plane of
    the prototypes' two main axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = source_colours(engine)
    figure, axis = plt.subplots(figsize=(7, 4.8))
    for label in engine.labels:
        x, y = embedding["prototypes"][label.name]
        axis.scatter(x, y, s=70, color=colours[label.display_name], label=label.display_name, zorder=2)
    axis.scatter(*embedding["image"], s=260, marker="*", color=THIS_IMAGE_COLOUR, label=THIS_IMAGE, zorder=3)
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_xlabel("first axis of the prototypes")
    axis.set_ylabel("second axis")
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8, frameon=False)
    figure.tight_layout()
    plt.close(figure)
    return figure


def upscale(picture: np.ndarray, factor: int = 4) -> np.ndarray:
    return np.kron(picture, np.ones((factor, factor, 1), dtype=np.uint8)) if picture.ndim == 3 else picture


def summary_row(result: dict) -> dict:
    """One batch row, the answer first; as on the Attribution tab, an inconclusive answer names no source."""
    named = result["verdict"] != "inconclusive"
    return {"verdict": result["verdict"], "source": result["display_name"] if named else "",
            "confidence": round(result["confidence"], 4) if named else "", "unknown": result["unknown"],
            "headline": result["headline"], "label": result["label"] if named else "",
            "p_generated": round(result["p_generated"], 4), "family": result["family"] if named else ""}


def load_examples() -> list[dict]:
    """The captioned examples (examples/examples.json, made by python -m export.examples), with paths."""
    entries = json.loads((EXAMPLES / "examples.json").read_text())
    return [{**entry, "path": str(EXAMPLES / entry["file"])} for entry in entries]


# ---------------------------------------------------------------- the app
def build_demo(engine: Engine) -> gr.Blocks:
    downloads = Downloads()
    generators = {label.display_name: label.name for label in engine.labels if label.name in engine.generators}
    manifest = engine.bundle.manifest

    def call(method, image_path, *args):
        """Run an engine method on an uploaded file; a bad file becomes a readable gr.Error."""
        downloads.sweep()
        if not image_path:
            raise gr.Error("Upload or paste an image first.")
        try:
            return method(image_path, *args)
        except InputError as error:
            raise gr.Error(str(error).replace(str(image_path), Path(image_path).name)) from error

    def attribute(image_path):
        analysis = call(engine.analyze, image_path, None, True)  # as engine.attribute reads it
        result = engine.verdict(analysis)
        image = analysis.image[: result["image_size"][0], : result["image_size"][1]]
        provenance = call(read_file_provenance, image_path)
        evidence = provenance_markdown(provenance)
        conflict = disagreement(result["verdict"], provenance)
        if conflict:
            evidence = f"**Metadata and pixels disagree.** {conflict}\n\n{evidence}"
        return (verdict_markdown(result, engine), evidence, probability_bars(result, engine),
                tile_map(image, result, engine, downloads), {**result, "provenance": provenance})

    def fingerprint(image_path):
        result = call(engine.fingerprint, image_path)
        plain = {"attribution": result["attribution"], "embedding": result["embedding"],
                 "spectrum_peaks": result["spectrum_peaks"]}
        pictures = [downloads.png(picture, f"{name}.png") for name, picture in
                    (("fingerprint", upscale(result["fingerprint"])), ("residual", result["residual"]),
                     ("spectrum", mark_peaks(result["spectrum"], result["spectrum_peaks"])))]
        return (*pictures, space_figure(result["embedding"], engine), plain)

    def anonymize(image_path, target_display=None, psnr_floor_db=None):
        target = generators.get(target_display, NEUTRAL) if target_display else NEUTRAL
        result = call(engine.anonymize, image_path, target, psnr_floor_db)
        png = downloads.png(result["image"], "anonymized.png")
        shown_input = downloads.png(result["input"], "input.png")
        psnr = "identical" if result["psnr"] is None else f"{result['psnr']:.2f} dB"
        metrics = (f"**SSIM** {result['ssim']:.4f} · **PSNR** {psnr} (floor {result['psnr_floor_db']:g} dB) · "
                   f"target: {'neutral (no known generator)' if target == NEUTRAL else target_display}")
        if not result["changed"]:
            metrics = f"**{result['note']}**"
        elif result["after"]["unknown"]:
            metrics += (f"\n\nAfter: **unknown source**: no known generator fits it (closest: "
                        f"{result['after']['display_name']}).")
        before, after = result["before"], result["after"]
        if before["verdict"] == after["verdict"] == "generated" and after["label"] == before["label"]:
            metrics += ("\n\n**Warning:** the source is still recognised after anonymization: this model's "
                        "counterfactual removes only part of the fingerprint (see About for the measured rate). "
                        "A lower PSNR floor makes a stronger change.")
        comparison = pd.DataFrame([{"image": "input", **summary_row(result["before"])},
                                   {"image": "anonymized", **summary_row(result["after"])}])
        plain = {key: result[key] for key in ("target", "psnr_floor_db", "ssim", "psnr", "changed", "note", "provider",
                                              "seconds")}
        plain["before"], plain["after"] = summary_row(result["before"]), summary_row(result["after"])
        return (shown_input, png), metrics, comparison, png, plain

    def batch(paths, progress=gr.Progress()):
        if not paths:
            raise gr.Error("Choose one or more image files.")
        rows = []
        for path in progress.tqdm(paths, desc="attributing"):
            name = Path(path).name
            try:
                rows.append({"file": name, **summary_row(engine.attribute(path)), "error": ""})
            except InputError as error:
                rows.append({"file": name, "error": str(error).replace(str(path), name)})
        table = pd.DataFrame(rows).fillna("")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(table.columns))
        writer.writeheader()
        writer.writerows(table.to_dict("records"))
        return (table, downloads.text(buffer.getvalue(), "attribution.csv"),
                downloads.text(json.dumps(rows, indent=1), "attribution.json"), rows)

    examples = load_examples()
    colours = source_colours(engine)
    names = {label.name: label.display_name for label in engine.labels}
    with gr.Blocks(title=TITLE, delete_cache=(max(10, TEMP_MAX_AGE_S // 3), TEMP_MAX_AGE_S)) as demo:
        gr.Markdown(f"# {TITLE}\nDrop an image: the model names the generator whose *causal fingerprint* "
                    "it carries, shows that fingerprint, and can remove it in one click.")
        gr.Markdown(scope_markdown(engine), elem_id="scope")
        with gr.Row():
            with gr.Column(scale=1):
                image = ImageInput(type="filepath", label="Image", sources=["upload", "clipboard"])
                with gr.Row():
                    attribute_button = gr.Button("Attribute", variant="primary")
                    fingerprint_button = gr.Button("Fingerprint")
                    anonymize_button = gr.Button("Anonymize")
                with gr.Accordion("Anonymization options", open=False):
                    target = gr.Dropdown(choices=list(generators), value=None, label="Counterfactual \"as if made by "
                                         "X\" (empty: neutral anonymization)")
                    low, high = engine.psnr_floor_range_db
                    strength = gr.Slider(low, high, value=engine.psnr_floor_db, step=0.5,
                                         label="Strength: PSNR floor in dB (lower: stronger, more visible; "
                                               f"{engine.psnr_floor_db:g} is what the model was trained at)")
            with gr.Column(scale=2):
                with gr.Tabs() as tabs:
                    with gr.Tab("Attribution", id="attribution"):
                        verdict = gr.Markdown()
                        provenance = gr.Markdown()
                        probabilities = gr.HTML(label="Probabilities")
                        tiles = TileMap(label="Local attribution (tiles coloured by source)", color_map=colours)
                        attribution_json = gr.JSON(label="Attribution (plain data)", visible=False)
                    with gr.Tab("Fingerprint", id="fingerprint"):
                        with gr.Row():
                            with gr.Column(min_width=160):
                                fingerprint_picture = gr.Image(label="This image's causal fingerprint", format="png")
                                gr.Markdown(FINGERPRINT_CAPTIONS["fingerprint"])
                            with gr.Column(min_width=160):
                                residual_picture = gr.Image(label="Residual x - R(x)", format="png")
                                gr.Markdown(FINGERPRINT_CAPTIONS["residual"])
                            with gr.Column(min_width=160):
                                spectrum_picture = gr.Image(label="Residual spectrum", format="png")
                                gr.Markdown(FINGERPRINT_CAPTIONS["spectrum"])
                        gr.Gallery(value=[(downloads.png(upscale(picture), f"{name}.png"), names[name])
                                          for name, picture in engine.source_fingerprints().items()],
                                   label="Every known source's fingerprint, to compare", columns=5, height="auto",
                                   allow_preview=False, elem_id="source-fingerprints")
                        space = gr.Plot(label="Fingerprint space")
                        gr.Markdown(FINGERPRINT_CAPTIONS["space"])
                        fingerprint_json = gr.JSON(visible=False)
                    with gr.Tab("Anonymize", id="anonymize"):
                        slider = gr.ImageSlider(label="Input | anonymized", type="filepath")
                        anonymize_metrics = gr.Markdown()
                        comparison = gr.Dataframe(label="Attribution before and after")
                        download = gr.File(label="Download (PNG, all metadata removed)")
                        anonymize_json = gr.JSON(visible=False)
                    with gr.Tab("Batch", id="batch"):
                        files = gr.File(file_count="multiple", type="filepath", label="Images")
                        batch_button = gr.Button("Attribute all")
                        table = gr.Dataframe(label="Results")
                        with gr.Row():
                            csv_file = gr.File(label="CSV")
                            json_file = gr.File(label="JSON")
                        batch_json = gr.JSON(visible=False)
                    with gr.Tab("About", id="about"):
                        gr.Markdown(about_markdown(engine, manifest))
        gallery = gr.Gallery(value=[(e["path"], e["caption"]) for e in examples], label="Examples: pick one, then a "
                             "button above (each is captioned with what made it)", columns=6, height="auto",
                             allow_preview=False, elem_id="examples")
        gr.Markdown(f"<small>Running on **{engine.provider.replace('ExecutionProvider', '')}** · bundle "
                    f"`{engine.bundle.describe()}` · commit `{manifest.get('provenance', {}).get('commit', '?')[:10]}`</small>")

        def pick_example(selected: gr.SelectData):
            return examples[selected.index]["path"]

        gallery.select(pick_example, None, image, api_visibility="private")
        for button, tab in ((attribute_button, "attribution"), (fingerprint_button, "fingerprint"),
                            (anonymize_button, "anonymize")):  # each button shows its own result
            button.click(lambda tab=tab: gr.Tabs(selected=tab), None, tabs, api_visibility="private", queue=False)
        attribute_button.click(attribute, image, [verdict, provenance, probabilities, tiles, attribution_json],
                               api_name="attribute")
        fingerprint_button.click(fingerprint, image, [fingerprint_picture, residual_picture, spectrum_picture, space,
                                                      fingerprint_json], api_name="fingerprint")
        anonymize_button.click(anonymize, [image, target, strength], [slider, anonymize_metrics, comparison, download,
                                                            anonymize_json], api_name="anonymize")
        batch_button.click(batch, files, [table, csv_file, json_file, batch_json], api_name="batch")
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)


def about_markdown(engine: Engine, manifest: dict) -> str:
    families: dict[str, list[str]] = {}
    for label in engine.labels:
        families.setdefault(label.family, []).append(label.display_name)
    known = "\n".join(f"- **{family}**: {', '.join(names)}" for family, names in families.items())
    figures = manifest.get("benchmark") or {}
    lines = [f"- {key.replace('_', ' ')}: {value:.4f}" if isinstance(value, float) else f"- {key.replace('_', ' ')}: {value}"
             for key, value in figures.items() if not isinstance(value, dict)]
    anonymization = figures.get("anonymization")
    if anonymization:
        lines.append(f"- anonymization: SSIM {anonymization['ssim_mean']:.3f}, PSNR {anonymization['psnr_mean']:.1f} dB; "
                     f"the true source is still found on {anonymization['true_source_rate']:.1%} of tiles "
                     f"by this model"
                     + (f", {anonymization['true_source_rate_strongest_baseline']:.1%} by the strongest baseline "
                        f"({anonymization['strongest_baseline']})" if "strongest_baseline" in anonymization else "")
                     + f" (chance {anonymization['chance']:.1%})")
    return f"""
### What this bundle knows
{known}

### Benchmark (from the bundle's manifest)
{chr(10).join(lines) or "- (no figures in this bundle)"}

### Limits
- A closed world: the model knows only the sources above. An image from any other generator is
  flagged "unknown source" when the model is less sure of it than of its own reconstruction (mean
  tile energy minus the reconstruction's, above a threshold calibrated on known sources); a close
  relative of a known model is still often attributed to it.
- Attribution is statistical evidence, not proof. Heavy JPEG, resizing or editing weakens it.
  A JPEG or lossy WebP is compared with its reconstruction saved the same way (as its file says,
  or as its pixels show for a JPEG saved again as PNG), so a re-save seldom passes for an unknown
  source, but lossy compression also hides most unknown sources. A JPEG resized before it was
  saved again shows no JPEG history and is often called an unknown source.
- Provenance metadata (C2PA, EXIF, PNG text) is a separate kind of evidence; anonymization removes it.
- Anonymization is trained against this model's heads and DCT-spectrum detectors. It is not a
  guarantee against every detector: one trained on the same sources (a CNN on raw pixels, say)
  may still name the source (the benchmark's strongest baseline, above). A stronger setting
  changes more and hides more.

### Method and citation
Implements "Causal Fingerprints of AI Generative Models" (arXiv 2509.15406): a residual against a
frozen diffusion reconstructor, projected to several spaces, decoupled into a source fingerprint f
and a content code c; anonymization replaces G(f, c, r) by G(f_target, c, r), where r is the
image's own residual, read by the decoder's pixel-aligned trace branch.
{CITATION}
"""


def load_engine() -> Engine:
    """The bundle named by BUNDLE_REPO / BUNDLE_REVISION, else the shipped `weights/`."""
    return Engine.load(os.environ.get("BUNDLE_REPO") or None, os.environ.get("BUNDLE_REVISION") or None)


demo = build_demo(load_engine())


def exit_on_sigterm(_signum, _frame) -> None:
    """Spaces and process managers stop the app with SIGTERM: exit normally, so the temporary
    folders (downloads, gradio's cache clean-up) are removed."""
    sys.exit(0)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size=MAX_FILE_BYTES,
        show_error=True,
        css=CSS,
    )
