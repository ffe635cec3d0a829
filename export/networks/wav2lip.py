"""The Wav2Lip generator in PyTorch, with parameter names that match the official checkpoints
(``wav2lip.pth``, ``wav2lip_gan.pth``), so a user's file loads unchanged. Used to export ONNX and
in tests; serving runs the ONNX (or TensorRT) model, never this module.

Inputs: ``audio`` (B, 1, 80, 16), a mel window; ``face`` (B, 6, 96, 96), the target face with its
lower half blanked stacked with a reference face, BGR (as OpenCV reads frames, which is how the
official model was trained) in [0, 1]. Output: (B, 3, 96, 96), BGR in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn


class Conv2d(nn.Module):
    def __init__(self, cin, cout, kernel_size, stride, padding, residual=False):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x):
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class Conv2dTranspose(nn.Module):
    def __init__(self, cin, cout, kernel_size, stride, padding, output_padding=0):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding), nn.BatchNorm2d(cout)
        )
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv_block(x))


def _res(channels: int, count: int) -> list[nn.Module]:
    return [Conv2d(channels, channels, 3, 1, 1, residual=True) for _ in range(count)]


class Wav2Lip(nn.Module):
    def __init__(self):
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(Conv2d(6, 16, 7, 1, 3)),  # 96x96
            nn.Sequential(Conv2d(16, 32, 3, 2, 1), *_res(32, 2)),  # 48
            nn.Sequential(Conv2d(32, 64, 3, 2, 1), *_res(64, 3)),  # 24
            nn.Sequential(Conv2d(64, 128, 3, 2, 1), *_res(128, 2)),  # 12
            nn.Sequential(Conv2d(128, 256, 3, 2, 1), *_res(256, 2)),  # 6
            nn.Sequential(Conv2d(256, 512, 3, 2, 1), *_res(512, 1)),  # 3
            nn.Sequential(Conv2d(512, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0)),  # 1
        ])
        self.audio_encoder = nn.Sequential(
            Conv2d(1, 32, 3, 1, 1), *_res(32, 2),
            Conv2d(32, 64, 3, (3, 1), 1), *_res(64, 2),
            Conv2d(64, 128, 3, 3, 1), *_res(128, 2),
            Conv2d(128, 256, 3, (3, 2), 1), *_res(256, 1),
            Conv2d(256, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0),
        )
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(Conv2d(512, 512, 1, 1, 0)),
            nn.Sequential(Conv2dTranspose(1024, 512, 3, 1, 0), *_res(512, 1)),  # 3
            nn.Sequential(Conv2dTranspose(1024, 512, 3, 2, 1, 1), *_res(512, 2)),  # 6
            nn.Sequential(Conv2dTranspose(768, 384, 3, 2, 1, 1), *_res(384, 2)),  # 12
            nn.Sequential(Conv2dTranspose(512, 256, 3, 2, 1, 1), *_res(256, 2)),  # 24
            nn.Sequential(Conv2dTranspose(320, 128, 3, 2, 1, 1), *_res(128, 2)),  # 48
            nn.Sequential(Conv2dTranspose(160, 64, 3, 2, 1, 1), *_res(64, 2)),  # 96
        ])
        self.output_block = nn.Sequential(Conv2d(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1, 1, 0), nn.Sigmoid())

    def forward(self, audio: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        features = []
        x = face
        for block in self.face_encoder_blocks:
            x = block(x)
            features.append(x)
        x = self.audio_encoder(audio)
        for block in self.face_decoder_blocks:
            x = torch.cat((block(x), features.pop()), dim=1)
        return self.output_block(x)


def load_checkpoint(path, map_location="cpu") -> Wav2Lip:
    """A Wav2Lip with the weights of an official checkpoint (DataParallel ``module.`` prefixes too)."""
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # pickle, zip or I/O errors: all mean "not a checkpoint we can read"
        raise ValueError(f"{path}: cannot be read as a PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a Wav2Lip generator checkpoint: it holds no state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = Wav2Lip()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path} is not a Wav2Lip generator checkpoint: {len(missing)} tensors missing "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
    return model.eval()
