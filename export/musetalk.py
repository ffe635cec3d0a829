"""Export MuseTalk to three ONNX models with a dynamic batch axis, for ``parley.face.musetalk``.

    python export/musetalk.py --models models/ --out musetalk-onnx/ [--version v1] [--fp16]
    python export/musetalk.py --random-weights --out musetalk-random/   # tests and benchmarks only
    python export/musetalk.py --random-weights --test-size --out DIR    # CPU tests only: a narrow UNet and VAE

``--models`` is a folder laid out as MuseTalk's ``models/`` (musetalkV15/unet.pth or
musetalk/pytorch_model.bin with their musetalk.json, sd-vae/, whisper/): the weights are yours and
are not shipped here. Written to ``--out``:

- musetalk_frame.onnx: ``latents`` (B, 8, 32, 32), ``audio`` (B, 50, 384) → ``frame`` (B, 3, 256, 256),
  RGB in [0, 1] (the UNet at timestep 0, positional encoding included, then the VAE decoder);
- musetalk_vae_encoder.onnx: ``image`` (B, 3, 256, 256), RGB in [0, 1] → ``latents`` (B, 8, 32, 32);
- musetalk_audio.onnx: ``mel`` (B, 80, 3000) → ``features`` (B, 1500, 5, 384).

A model over 2 GB (the real UNet in float32) keeps its weights in ``NAME.onnx.data`` beside it.
``--fp16`` stores half-precision weights and computes in half (for GPUs); inputs and outputs stay
float32. Random weights have the real architecture, so they measure speed, shapes and batching
truthfully, never quality. Needs PyTorch, diffusers and transformers; serving needs only onnxruntime.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import onnx
import torch

from parley.face.musetalk import AUDIO_DIM, AUDIO_ONNX, AUDIO_TOKENS, ENCODER_ONNX, FACE, FRAME_ONNX, LATENT, MEL_FRAMES

# Run as a script, Python puts export/ first on sys.path: the repo root above it holds export.networks.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from export.networks.musetalk import TEST_UNET_CONFIG, TEST_VAE_CONFIG, Networks, build, load_checkpoint  # noqa: E402

OPSET = 17
PROTOBUF_LIMIT = 2 * 1024**3  # one ONNX protobuf cannot hold more


def export_onnx(model: torch.nn.Module, inputs: dict[str, torch.Tensor], output: str, out: Path) -> None:
    """Export with a dynamic batch axis; weights go to one ``.data`` file beside it when too large."""
    names = [*inputs, output]
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        staged = Path(tmp) / out.name
        with torch.no_grad():
            torch.onnx.export(
                model, tuple(inputs.values()), str(staged), input_names=list(inputs), output_names=[output],
                dynamic_axes={name: {0: "batch"} for name in names}, opset_version=OPSET, dynamo=False,
            )
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())
        proto = onnx.load(str(staged))  # the exporter may have spread large weights over many files
        data = out.with_name(out.name + ".data")
        data.unlink(missing_ok=True)
        onnx.save_model(proto, str(out), save_as_external_data=size >= PROTOBUF_LIMIT,
                        all_tensors_to_one_file=True, location=data.name)


def export_all(networks: Networks, out: Path, fp16: bool = False) -> None:
    if fp16:
        for module in (networks.unet, networks.vae, networks.whisper):
            module.half()
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(networks.frame_model(), {"latents": torch.randn(2, 8, LATENT, LATENT),
                                         "audio": torch.randn(2, AUDIO_TOKENS, AUDIO_DIM)},
                "frame", out / FRAME_ONNX)
    export_onnx(networks.encoder_model(), {"image": torch.rand(2, 3, FACE, FACE)}, "latents", out / ENCODER_ONNX)
    export_onnx(networks.audio_model(), {"mel": torch.randn(2, 80, MEL_FRAMES)}, "features", out / AUDIO_ONNX)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--models", type=Path, help="a folder laid out as MuseTalk's models/")
    source.add_argument("--random-weights", action="store_true", help="the architecture with random weights")
    parser.add_argument("--version", choices=["v15", "v1"], default="v15", help="which UNet of --models")
    parser.add_argument("--test-size", action="store_true",
                        help="TESTS ONLY, with --random-weights: a narrow UNet and VAE of the same classes")
    parser.add_argument("--out", type=Path, required=True, help="folder for the ONNX files")
    parser.add_argument("--fp16", action="store_true")
    args = parser.parse_args()
    if args.test_size and not args.random_weights:
        parser.error("--test-size builds random test networks: use it with --random-weights")

    if args.models:
        try:
            networks = load_checkpoint(args.models, args.version)
        except (ValueError, OSError) as exc:
            sys.exit(f"error: {exc}")
    else:
        torch.manual_seed(0)
        networks = build(TEST_UNET_CONFIG, TEST_VAE_CONFIG) if args.test_size else build()
    export_all(networks, args.out, args.fp16)
    print(f"wrote {FRAME_ONNX}, {ENCODER_ONNX} and {AUDIO_ONNX} to {args.out}")


if __name__ == "__main__":
    main()
