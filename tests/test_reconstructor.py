"""The diffusion reconstructor: the embedded one, and pretrained ones through from_pretrained
(a local folder, and a Hub repo id resolved offline from a local Hub cache: no network)."""
import json

import pytest
import torch
from diffusers import AutoencoderKL, AutoencoderTiny

from conftest import offline_hub_cache
from export.reconstructor import EMBEDDED_DIR, load_reconstructor
from runtime.errors import InputError


def _tiny_kl() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                         up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
                         layers_per_block=1)


def test_embedded_reconstructor_is_a_trained_autoencoder_kl():
    reconstructor = load_reconstructor()
    assert reconstructor.kind == "AutoencoderKL" and reconstructor.source == str(EMBEDDED_DIR)
    training = json.loads((EMBEDDED_DIR / "training.json").read_text())
    assert training["steps"] >= 1000
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    y = reconstructor.reconstruct(x)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert torch.equal(y, reconstructor.reconstruct(x)), "reconstruction must be deterministic"


def test_from_pretrained_local_folder(tmp_path):
    _tiny_kl().save_pretrained(tmp_path / "vae")
    reconstructor = load_reconstructor(tmp_path / "vae")
    assert reconstructor.kind == "AutoencoderKL" and reconstructor.downsample == 2
    assert reconstructor.reconstruct(torch.zeros(2, 3, 16, 16)).shape == (2, 3, 16, 16)


def test_from_pretrained_subfolder_and_tiny_autoencoder(tmp_path):
    AutoencoderTiny(encoder_block_out_channels=(8, 8), decoder_block_out_channels=(8, 8),
                    num_encoder_blocks=(1, 1), num_decoder_blocks=(1, 1)).save_pretrained(tmp_path / "repo" / "vae")
    reconstructor = load_reconstructor(tmp_path / "repo", subfolder="vae")
    assert reconstructor.kind == "AutoencoderTiny"
    assert reconstructor.reconstruct(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 16, 16)


def test_hub_repo_id_resolves_through_huggingface_hub_offline(tmp_path, monkeypatch):
    saved = tmp_path / "saved"
    _tiny_kl().save_pretrained(saved)
    offline_hub_cache(tmp_path, monkeypatch, "someone/tiny-vae", saved)
    reconstructor = load_reconstructor("someone/tiny-vae")
    assert reconstructor.kind == "AutoencoderKL"
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.allclose(reconstructor.reconstruct(x), load_reconstructor(saved).reconstruct(x))


def test_a_folder_that_is_not_an_autoencoder_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    with pytest.raises(InputError, match="UNet2DModel"):
        load_reconstructor(tmp_path)
    with pytest.raises(InputError, match="config.json"):
        load_reconstructor(tmp_path / "..", subfolder="nothing-here")
