"""MuseTalk's networks in PyTorch, built from diffusers and transformers with the official parameter
names, so a user's ``models/`` folder (laid out as the MuseTalk repository's) loads unchanged. Used
to export ONNX and in tests; serving runs the ONNX (or TensorRT) models, never this module.

- the generator: a Stable Diffusion UNet (``UNet2DConditionModel``) run once at timestep 0, whose
  8 input channels are the latents of the face with its lower half blanked and of a reference face,
  and which attends to 50 × 384 audio features per video frame;
- sd-vae-ft-mse (``AutoencoderKL``): 256 × 256 RGB faces ↔ 4 × 32 × 32 latents, scaled by the
  VAE's scaling factor (0.18215);
- the encoder of whisper-tiny: the audio, as every encoder layer's hidden states stacked.

The ``TEST_*`` configurations are narrower variants of the same classes for CPU tests only: they
check names, shapes, export and batching, never anything a real checkpoint would do.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch import nn
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from parley.face.musetalk import AUDIO_DIM, AUDIO_TOKENS, WHISPER_FRAMES

# models/musetalk/musetalk.json (v1 and v1.5 share it): SD 1.x's UNet with 8 input channels and
# cross-attention to 384-wide audio tokens.
UNET_CONFIG = {
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": AUDIO_DIM,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 8,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
# models/sd-vae/config.json (stabilityai/sd-vae-ft-mse); its scaling factor is diffusers' default.
VAE_CONFIG = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 256,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
# The encoder half of models/whisper/config.json (openai/whisper-tiny).
WHISPER_CONFIG = {
    "d_model": AUDIO_DIM,
    "encoder_layers": 4,
    "encoder_attention_heads": 6,
    "encoder_ffn_dim": 1536,
    "num_mel_bins": 80,
    "max_source_positions": WHISPER_FRAMES,
}

# Test size only: the same classes, narrower and shallower, so CPU tests run in seconds. Whisper
# keeps its real size: the feature layout (5 hidden states of 384) depends on it, and it is small.
TEST_UNET_CONFIG = {**UNET_CONFIG, "block_out_channels": [32, 64, 64, 64], "layers_per_block": 1}
TEST_VAE_CONFIG = {**VAE_CONFIG, "block_out_channels": [32, 32, 64, 64], "layers_per_block": 1}

UNET_FILES = {"v15": Path("musetalkV15/unet.pth"), "v1": Path("musetalk/pytorch_model.bin")}
VAE_DIR, WHISPER_DIR = Path("sd-vae"), Path("whisper")


def positional_encoding(length: int = AUDIO_TOKENS, d_model: int = AUDIO_DIM) -> torch.Tensor:
    """(1, length, d_model): the sinusoidal encoding MuseTalk adds to the audio tokens (sine on even
    channels, cosine on odd ones, wavelengths up to 10000)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model)
    pe[:, 0::2] = torch.sin(position * frequency)
    pe[:, 1::2] = torch.cos(position * frequency)
    return pe[None]


def _dtype(module: nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


class FrameModel(nn.Module):
    """The per-frame model: ``latents`` (B, 8, 32, 32) and raw ``audio`` (B, 50, 384) Whisper features
    (the positional encoding is added here) → ``frame`` (B, 3, 256, 256), RGB in [0, 1]. One UNet
    step at timestep 0, then the VAE decoder. Inputs and output stay float32 in a half model."""

    def __init__(self, unet: UNet2DConditionModel, vae: AutoencoderKL) -> None:
        super().__init__()
        self.unet, self.vae = unet, vae
        self.register_buffer("pe", positional_encoding(), persistent=False)
        # A tensor on the model's device, not the int 0: diffusers copies a Python number to the device
        # at every call, which a CUDA graph cannot capture.
        self.register_buffer("timestep", torch.zeros((), dtype=torch.long), persistent=False)

    def forward(self, latents: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        dtype = _dtype(self.unet)
        tokens = (audio + self.pe).to(dtype)
        predicted = self.unet(latents.to(dtype), self.timestep, encoder_hidden_states=tokens, return_dict=False)[0]
        image = self.vae.decode(predicted / self.vae.config.scaling_factor, return_dict=False)[0]
        return (image.float() / 2 + 0.5).clamp(0, 1)


class EncoderModel(nn.Module):
    """Per-avatar set-up: ``image`` (B, 3, 256, 256), RGB in [0, 1] → the generator's ``latents``
    (B, 8, 32, 32): the image with its lower half black, then the image itself as the reference, each
    encoded to the mean of the VAE's latent distribution and scaled."""

    def __init__(self, vae: AutoencoderKL) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.to(_dtype(self.vae)) * 2 - 1
        half = x.shape[2] // 2
        masked = torch.cat([x[:, :, :half], torch.full_like(x[:, :, half:], -1.0)], dim=2)
        posterior = self.vae.encode(torch.cat([masked, x]), return_dict=False)[0]
        latents = posterior.mode() * self.vae.config.scaling_factor
        n = image.shape[0]
        return torch.cat([latents[:n], latents[n:]], dim=1).float()


class AudioModel(nn.Module):
    """``mel`` (B, 80, 3000): 30 s of Whisper log-mel → ``features`` (B, 1500, 5, 384): the input to
    the first encoder layer and every layer's output (the last after the final layer norm)."""

    def __init__(self, encoder: WhisperEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        states = self.encoder(mel.to(_dtype(self.encoder)), output_hidden_states=True).hidden_states
        return torch.stack(states, dim=2).float()


@dataclass
class Networks:
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    whisper: WhisperEncoder

    def frame_model(self) -> FrameModel:
        return FrameModel(self.unet, self.vae).eval()

    def encoder_model(self) -> EncoderModel:
        return EncoderModel(self.vae).eval()

    def audio_model(self) -> AudioModel:
        return AudioModel(self.whisper).eval()


def build_unet(config: dict = UNET_CONFIG) -> UNet2DConditionModel:
    return UNet2DConditionModel.from_config(config).eval()


def build_vae(config: dict = VAE_CONFIG) -> AutoencoderKL:
    return AutoencoderKL.from_config(config).eval()


def build_whisper(config: dict = WHISPER_CONFIG) -> WhisperEncoder:
    whisper_config = WhisperConfig(**config)
    # Plain attention: the same numbers as the fused kernels, and a graph every ONNX runtime reads.
    whisper_config._attn_implementation = "eager"
    return WhisperEncoder(whisper_config).eval()


def build(unet_config: dict = UNET_CONFIG, vae_config: dict = VAE_CONFIG) -> Networks:
    """Random weights: the real architecture by default (the ``TEST_*`` configs for CPU tests)."""
    return Networks(build_unet(unet_config), build_vae(vae_config), build_whisper())


def _read_config(path: Path, default: dict) -> dict:
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a JSON model config ({exc})") from None


def _read_state(path: Path) -> dict:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip, safetensors or I/O errors: all mean "not a checkpoint we can read"
        raise ValueError(f"{path}: cannot be read as a PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: holds no state dict")
    return state


def _first(folder: Path, names: list[Path]) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise ValueError(f"{folder}: no {' or '.join(str(n) for n in names)} (the MuseTalk models/ layout)")


def _load(model: nn.Module, state: dict, path: Path, what: str) -> nn.Module:
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # same names, other shapes: a different configuration
        raise ValueError(f"{path} is not a {what} checkpoint: {exc}") from None
    if missing or unexpected:
        raise ValueError(
            f"{path} is not a {what} checkpoint: {len(missing)} tensors missing (e.g. {missing[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
    return model.eval()


def load_unet(folder: Path, version: str = "v15") -> UNet2DConditionModel:
    """The generator of ``folder/musetalkV15/unet.pth`` (v1.5) or ``folder/musetalk/pytorch_model.bin``
    (v1), built from the ``musetalk.json`` beside it (the official one when it is absent)."""
    folder = Path(folder)
    if version not in UNET_FILES:
        raise ValueError(f"unknown MuseTalk version {version!r}: one of {sorted(UNET_FILES)}")
    path = _first(folder, [UNET_FILES[version]])
    state = _read_state(path)
    return _load(build_unet(_read_config(path.parent / "musetalk.json", UNET_CONFIG)), state, path, "MuseTalk UNet")


# Checkpoints saved by diffusers before 0.14 name the VAE's mid-block attention projections the old way.
_OLD_ATTENTION = re.compile(r"^((?:en|de)coder\.mid_block\.attentions\.0)\.(query|key|value|proj_attn)\.")
_NEW_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def load_vae(folder: Path) -> AutoencoderKL:
    """sd-vae-ft-mse from ``folder/sd-vae`` (``diffusion_pytorch_model.bin`` or ``.safetensors``)."""
    vae_dir = Path(folder) / VAE_DIR
    path = _first(Path(folder), [VAE_DIR / "diffusion_pytorch_model.safetensors",
                                 VAE_DIR / "diffusion_pytorch_model.bin"])
    rename = lambda m: f"{m[1]}.{_NEW_ATTENTION[m[2]]}."  # noqa: E731
    state = {_OLD_ATTENTION.sub(rename, k): v for k, v in _read_state(path).items()}
    return _load(build_vae(_read_config(vae_dir / "config.json", VAE_CONFIG)), state, path, "Stable Diffusion VAE")


def load_whisper(folder: Path) -> WhisperEncoder:
    """The encoder of whisper-tiny from ``folder/whisper`` (a transformers checkpoint, with or without
    its decoder)."""
    whisper_dir = Path(folder) / WHISPER_DIR
    path = _first(Path(folder), [WHISPER_DIR / "model.safetensors", WHISPER_DIR / "pytorch_model.bin"])
    config = _read_config(whisper_dir / "config.json", WHISPER_CONFIG)
    encoder = build_whisper({k: config[k] for k in WHISPER_CONFIG if k in config})
    state = {}
    for key, value in _read_state(path).items():
        for prefix in ("model.encoder.", "encoder."):  # WhisperForConditionalGeneration, WhisperModel
            if key.startswith(prefix):
                state[key.removeprefix(prefix)] = value
    if not state:
        raise ValueError(f"{path} is not a Whisper checkpoint: it holds no encoder tensors")
    return _load(encoder, state, path, "Whisper encoder")


def load_checkpoint(folder: Path, version: str = "v15") -> Networks:
    """The three networks from a folder laid out as MuseTalk's ``models/``: ``musetalkV15/`` (or
    ``musetalk/`` for v1), ``sd-vae/`` and ``whisper/``. A ValueError names what is missing or wrong."""
    return Networks(load_unet(folder, version), load_vae(folder), load_whisper(folder))
