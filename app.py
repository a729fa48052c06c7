"""causal-fingerprint: the Gradio Space (a placeholder page until the ONNX bundle ships)."""
from __future__ import annotations

import os

import gradio as gr

TITLE = "Causal fingerprint: which generative model made this image?"
ABOUT = """
Drop an image to learn which generative model made it, see that model's *causal fingerprint*,
and anonymize the image's source in one click. This implements "Causal Fingerprints of AI
Generative Models" (arXiv 2509.15406).

**Status:** the benchmark (a content-matched zoo of generators) is built; the attribution model
and its ONNX bundle are not shipped yet, so this page cannot analyse images today.
"""


def build_demo() -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(ABOUT)
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
