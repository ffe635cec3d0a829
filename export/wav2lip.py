"""Export Wav2Lip to ONNX with a dynamic batch axis (and a TensorRT plan where TensorRT exists).

    python export/wav2lip.py --checkpoint wav2lip_gan.pth --out wav2lip.onnx [--tensorrt wav2lip.plan]
    python export/wav2lip.py --random-weights --out wav2lip-random.onnx   # tests and benchmarks only

The checkpoint is yours: Wav2Lip's weights are for research use and are not shipped here. Random
weights have the real architecture, so they measure speed, shapes and batching truthfully, never
quality. Needs PyTorch (``pip install torch==2.13.0``); serving needs only onnxruntime.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import torch

# Run as a script, Python puts export/ first on sys.path: the repo root above it holds export.networks.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from export.networks.wav2lip import Wav2Lip, load_checkpoint  # noqa: E402

OPSET = 17


def export_onnx(model: Wav2Lip, out: Path) -> None:
    audio, face = torch.rand(2, 1, 80, 16), torch.rand(2, 6, 96, 96)
    torch.onnx.export(
        model, (audio, face), str(out), input_names=["audio", "face"], output_names=["frame"],
        dynamic_axes={"audio": {0: "batch"}, "face": {0: "batch"}, "frame": {0: "batch"}},
        opset_version=OPSET, dynamo=False,
    )


# Where NVIDIA's TensorRT and Triton images keep trtexec: not on PATH in the Triton -py3 image.
TRTEXEC = Path("/usr/src/tensorrt/bin/trtexec")


def find_trtexec() -> str | None:
    return shutil.which("trtexec") or (str(TRTEXEC) if TRTEXEC.is_file() else None)


def build_tensorrt(onnx_file: Path, plan: Path, max_batch: int, fp16: bool) -> None:
    """Build a plan with trtexec (in NVIDIA's TensorRT and Triton containers); needs a GPU."""
    trtexec = find_trtexec()
    shapes = lambda b: f"audio:{b}x1x80x16,face:{b}x6x96x96"  # noqa: E731
    cmd = [trtexec or str(TRTEXEC), f"--onnx={onnx_file}", f"--saveEngine={plan}", f"--minShapes={shapes(1)}",
           f"--optShapes={shapes(max(1, max_batch // 2))}", f"--maxShapes={shapes(max_batch)}"]
    if fp16:
        cmd.append("--fp16")
    if trtexec is None:
        sys.exit(f"trtexec (TensorRT) is neither on PATH nor at {TRTEXEC} here: run on the GPU machine in the "
                 "image that will serve the plan (parley-triton-gpu-media), or put TensorRT's bin/ on PATH:\n  "
                 + " ".join(cmd))
    subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="wav2lip.pth or wav2lip_gan.pth")
    source.add_argument("--random-weights", action="store_true", help="the architecture with random weights")
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--tensorrt", type=Path, help="also build this TensorRT plan (GPU machines)")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--fp16", action="store_true")
    args = parser.parse_args()

    if args.checkpoint:
        try:
            model = load_checkpoint(args.checkpoint)
        except (ValueError, RuntimeError, OSError) as exc:
            sys.exit(f"error: {exc}")
    else:
        torch.manual_seed(0)
        model = Wav2Lip().eval()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(model, args.out)
    print(f"wrote {args.out}")
    if args.tensorrt:
        build_tensorrt(args.out, args.tensorrt, args.max_batch, args.fp16)
        print(f"wrote {args.tensorrt}")


if __name__ == "__main__":
    main()
