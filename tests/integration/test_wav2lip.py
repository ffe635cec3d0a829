"""Wav2Lip with random weights of the real architecture: checkpoint layout, ONNX export, parity,
batching, mel features and paste-back. Quality needs the user's weights and is not tested here."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from export.networks.wav2lip import Wav2Lip, load_checkpoint
from parley.face.avatars import load_avatar
from parley.face.wav2lip.mel import frame_windows, melspectrogram

EXPORT = [sys.executable, "export/wav2lip.py"]
# Tensor names as they appear in the official wav2lip.pth / wav2lip_gan.pth (after "module.").
OFFICIAL_KEYS = [
    "face_encoder_blocks.0.0.conv_block.0.weight",
    "face_encoder_blocks.6.1.conv_block.1.running_var",
    "audio_encoder.0.conv_block.0.weight",
    "audio_encoder.12.conv_block.1.num_batches_tracked",
    "face_decoder_blocks.1.0.conv_block.0.weight",
    "face_decoder_blocks.6.2.conv_block.1.bias",
    "output_block.0.conv_block.0.weight",
    "output_block.1.weight",
]


def random_model(seed=0):
    torch.manual_seed(seed)
    model = Wav2Lip()
    for m in model.modules():  # non-trivial batch-norm statistics, as in a trained model
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("w2l")
    model = random_model()
    ckpt = folder / "wav2lip_gan.pth"
    # The official layout: a dict with "state_dict", saved from DataParallel ("module." prefixes).
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "global_step": 1}, ckpt)
    onnx_file = folder / "wav2lip.onnx"
    proc = subprocess.run(EXPORT + ["--checkpoint", str(ckpt), "--out", str(onnx_file)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return model, ckpt, onnx_file


def test_parameter_names_and_size_match_the_official_network():
    state = Wav2Lip().state_dict()
    assert all(k in state for k in OFFICIAL_KEYS)
    assert sum(p.numel() for p in Wav2Lip().parameters()) == 36_298_035


def test_official_checkpoint_layout_loads_unchanged(exported):
    model, ckpt, _ = exported
    loaded = load_checkpoint(ckpt)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_a_wrong_checkpoint_is_refused_clearly(tmp_path):
    bad = tmp_path / "syncnet.pth"
    torch.save({"state_dict": {"face_encoder.0.weight": torch.zeros(1)}}, bad)
    with pytest.raises(ValueError, match="not a Wav2Lip generator checkpoint"):
        load_checkpoint(bad)
    proc = subprocess.run(EXPORT + ["--checkpoint", str(bad), "--out", str(tmp_path / "x.onnx")],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "not a Wav2Lip generator checkpoint" in proc.stderr


def test_onnx_matches_pytorch_at_any_batch(exported):
    import onnxruntime

    model, _, onnx_file = exported
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    audio = rng.uniform(-4, 4, (8, 1, 80, 16)).astype(np.float32)
    face = rng.uniform(0, 1, (8, 6, 96, 96)).astype(np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(audio), torch.from_numpy(face)).numpy()
    (batched,) = session.run(None, {"audio": audio, "face": face})
    singles = np.concatenate([session.run(None, {"audio": audio[i : i + 1], "face": face[i : i + 1]})[0] for i in range(8)])
    assert batched.shape == (8, 3, 96, 96)
    assert np.abs(batched - reference).max() < 1e-4
    assert np.abs(batched - singles).max() < 1e-5


def test_mel_features():
    t = np.arange(16000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    mel = melspectrogram(tone)
    assert mel.shape == (80, 81) and mel.min() >= -4 and mel.max() <= 4
    from parley.face.wav2lip.mel import FMAX, FMIN, _hz_to_mel, _mel_to_hz

    centres = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), 82))[1:-1]
    assert abs(centres[int(np.argmax(mel[:, 40]))] - 1000) < 60  # the peak is in the 1 kHz band
    assert np.allclose(melspectrogram(np.zeros(16000, np.float32)), -4.0)
    windows = frame_windows(mel, fps=25, n_frames=25)
    assert windows.shape == (25, 80, 16) and np.array_equal(windows[1], mel[:, 3:19])  # 80/25 = 3.2 columns a frame


def test_renderer_batches_and_pastes_inside_the_face_box(exported, engines):
    from parley.core.speech import SpokenChunk
    from parley.face.network import OnnxNetwork
    from parley.face.warp import WarpFace
    from parley.face.wav2lip.renderer import Wav2LipFace

    _, _, onnx_file = exported
    renderer = Wav2LipFace(OnnxNetwork(onnx_file, ["CPUExecutionProvider"]), WarpFace(load_avatar("portrait"), fps=25),
                           batch_size=8)
    speech = engines.tts.synthesize("Hello there.")
    frames = list(renderer.frames(SpokenChunk(speech, engines.visemes.track(speech))))
    assert len(frames) == int(np.ceil(speech.duration * 25 - 1e-9))
    x0, y0, x1, y1 = renderer.box
    base = renderer.base.frame(0.0)
    changed = np.abs(frames[0].astype(int) - base.astype(int)).sum(axis=2) > 0
    outside = changed.copy()
    outside[y0:y1, x0:x1] = False
    assert changed[y0:y1, x0:x1].any() and not outside.any()


def test_tensorrt_without_tensorrt_says_where_to_build(exported, tmp_path):
    import shutil

    trtexec = "/usr/src/tensorrt/bin/trtexec"  # where the Triton -py3 image has it, off PATH
    if shutil.which("trtexec") or Path(trtexec).is_file():
        pytest.skip("trtexec is installed: the plan is built for real on this machine")
    _, ckpt, _ = exported
    proc = subprocess.run(EXPORT + ["--checkpoint", str(ckpt), "--out", str(tmp_path / "w.onnx"),
                                    "--tensorrt", str(tmp_path / "w.plan")], capture_output=True, text=True)
    assert proc.returncode != 0 and "--maxShapes=audio:64x1x80x16" in proc.stderr
    assert f"\n  {trtexec} --onnx=" in proc.stderr  # the command to run there, by its full path


def test_export_refuses_a_file_that_is_not_a_checkpoint(tmp_path):
    junk = tmp_path / "wav2lip.pth"
    junk.write_bytes(b"this is not a checkpoint" * 10)
    proc = subprocess.run(EXPORT + ["--checkpoint", str(junk), "--out", str(tmp_path / "x.onnx")],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "cannot be read as a PyTorch checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr
