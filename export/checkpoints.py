"""Checkpoints: saving, rebuilding a model from one, and where a run starts from (a fresh model, a
phase-1 checkpoint to fine-tune, or a model whose counterfactual branch continues)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from export.config import TrainConfig, saved_config


def save_checkpoint(path: Path, **state) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    temporary.replace(path)


def model_config_for(config: TrainConfig, num_classes: int, reconstructor):
    from export.model import SPACES, ModelConfig

    spaces = ("pixel",) if config.ablation == "residual-only" else SPACES
    latent_channels = reconstructor.model.config.latent_channels
    return ModelConfig(tile=config.tile, num_classes=num_classes, latent_channels=latent_channels,
                       latent_downsample=reconstructor.downsample, spaces=spaces, spectral_trace=config.spectral_trace)


def model_device(model):
    return next(model.parameters()).device


def model_from_source(config: TrainConfig, source: dict):
    """The model of the checkpoint a run starts from, with G's spectral trace gains added when the
    run wants them and the checkpoint predates them."""
    model = model_from_state(source)
    return with_spectral_trace(model) if config.spectral_trace and not model.config.spectral_trace else model


def phase1_start(config: TrainConfig, source: dict | None, num_classes: int, reconstructor):
    """The model phase 1 trains: a fresh one, or (--finetune-from) the `source` checkpoint's, every
    weight trainable, G's trace branch included (phase 2 goes on from it)."""
    from export.model import CausalFingerprintModel
    from runtime.errors import InputError

    fresh = model_config_for(config, num_classes, reconstructor)
    if source is None:
        return CausalFingerprintModel(fresh)
    model = model_from_source(config, source)
    if model.config.spaces != fresh.spaces or model.config.tile != fresh.tile:
        raise InputError(f"{config.finetune_from} has spaces {model.config.spaces} on {model.config.tile}-pixel tiles; "
                         f"this run (--ablation {config.ablation}, --tile {config.tile}) wants {fresh.spaces} on {fresh.tile}")
    return model.requires_grad_(True)


def continued_from(path: str, source: dict | None) -> list[dict]:
    """The chain of checkpoints a run continued (--init-from or --finetune-from `path`), newest
    first, with their settings."""
    if source is None:
        return []
    return [{"checkpoint": path, "train_config": source["train_config"]}, *source.get("continued_from", [])]


def with_spectral_trace(model):
    """The same model with G's spectral trace gains added (zero: it behaves exactly as before)."""
    from export.model import CausalFingerprintModel

    grown = CausalFingerprintModel(replace(model.config, spectral_trace=True))
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not key.startswith("decoder.trace.spectral.") for key in missing):
        raise ValueError(f"cannot add the spectral trace: missing {missing}, unexpected {unexpected}")
    return grown.eval().requires_grad_(False)


def model_from_state(state: dict):
    """The model of a checkpoint dict, in eval mode and frozen."""
    import torch

    from export.model import LATER_BUFFERS, CausalFingerprintModel, ModelConfig

    config = dict(state["model_config"])
    config["spaces"] = tuple(config["spaces"])
    config["decision_spaces"] = tuple(config.get("decision_spaces", ()))
    model = CausalFingerprintModel(ModelConfig(**config))
    expected = model.state_dict()
    weights = {**{key: torch.ones(()) for key in LATER_BUFFERS if key in expected}, **state["model"]}
    model.load_state_dict(weights)
    return model.eval().requires_grad_(False)


def load_model(path: Path):
    """Rebuild a trained model from its checkpoint: (model in eval mode, checkpoint dict)."""
    import torch

    state = torch.load(path, weights_only=False, map_location="cpu")
    return model_from_state(state), state


def load_model_on(path: Path, dataset: Path):
    """A checkpoint ready to be measured on `dataset`: (model, checkpoint dict, its TrainConfig
    with `dataset` in place of the one it trained on, its reconstructor)."""
    from export.reconstructor import load_reconstructor

    model, state = load_model(path)
    config = saved_config(state["train_config"], dataset=str(dataset))
    return model, state, config, load_reconstructor(config.reconstructor or None)
