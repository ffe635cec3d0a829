"""MuseTalk with random weights: the real networks' parameter names and shapes (built on the meta
device, so no memory), the official folder layout, ONNX export and parity, batching, the audio
features and the renderer.

Export, parity and the renderer use the TEST-SIZE UNet and VAE (``TEST_UNET_CONFIG``,
``TEST_VAE_CONFIG``: the same diffusers classes, narrower and shallower), because the real UNet is
too big for CPU tests; Whisper is real-size. Quality needs the user's weights and is not tested here.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from parley.core.speech import SpeechSegment, SpokenChunk, VisemeTrack
from parley.face.avatars import load_avatar
from parley.face.musetalk import AUDIO_ONNX, ENCODER_ONNX, FRAME_ONNX
from parley.face.musetalk.features import frame_windows, log_mel, whisper_features


@pytest.fixture(scope="module")
def net():
    """export.networks.musetalk (diffusers and transformers)."""
    from export.networks import musetalk

    return musetalk


EXPORT = [sys.executable, "export/musetalk.py"]
# Tensors of the official checkpoints (musetalkV15/unet.pth, sd-vae, whisper-tiny) and their shapes.
OFFICIAL_UNET = {
    "conv_in.weight": (320, 8, 3, 3),
    "time_embedding.linear_1.weight": (1280, 320),
    "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight": (320, 384),
    "down_blocks.2.attentions.1.transformer_blocks.0.attn1.to_q.weight": (1280, 1280),
    "mid_block.attentions.0.transformer_blocks.0.attn2.to_v.weight": (1280, 384),
    "up_blocks.3.attentions.2.proj_out.weight": (320, 320, 1, 1),
    "conv_out.weight": (4, 320, 3, 3),
}
OFFICIAL_VAE = {
    "encoder.conv_in.weight": (128, 3, 3, 3),
    "encoder.mid_block.attentions.0.to_q.weight": (512, 512),
    "quant_conv.weight": (8, 8, 1, 1),
    "post_quant_conv.weight": (4, 4, 1, 1),
    "decoder.up_blocks.3.resnets.2.conv2.weight": (128, 128, 3, 3),
    "decoder.conv_out.weight": (3, 128, 3, 3),
}
OFFICIAL_WHISPER = {
    "conv1.weight": (384, 80, 3),
    "embed_positions.weight": (1500, 384),
    "layers.3.fc1.weight": (1536, 384),
    "layer_norm.weight": (384,),
}


def test_the_real_networks_have_the_official_names_and_shapes(net):
    with torch.device("meta"):
        unet, vae = net.build_unet(net.UNET_CONFIG), net.build_vae(net.VAE_CONFIG)
    whisper = net.build_whisper()
    for model, official in ((unet, OFFICIAL_UNET), (vae, OFFICIAL_VAE), (whisper, OFFICIAL_WHISPER)):
        state = model.state_dict()
        assert {k: tuple(state[k].shape) for k in official} == official
    assert sum(p.numel() for p in unet.parameters()) == 849_947_844  # 3.4 GB in float32
    assert sum(p.numel() for p in vae.parameters()) == 83_653_863
    assert vae.config.scaling_factor == 0.18215


def test_positional_encoding_is_sine_on_even_and_cosine_on_odd_channels(net):
    pe = net.positional_encoding()[0]
    assert pe.shape == (50, 384)
    seven = torch.tensor(7.0)
    assert torch.allclose(pe[7, 0], torch.sin(seven)) and torch.allclose(pe[7, 1], torch.cos(seven))
    assert torch.allclose(pe[3, 382], torch.sin(torch.tensor(3 / 10000 ** (382 / 384))))


def save_official_layout(folder, networks, net):
    """Test-size random networks saved as MuseTalk's models/ folder is laid out."""
    (folder / "musetalkV15").mkdir()
    (folder / "musetalkV15" / "musetalk.json").write_text(json.dumps(net.TEST_UNET_CONFIG))
    torch.save(networks.unet.state_dict(), folder / "musetalkV15" / "unet.pth")
    (folder / "sd-vae").mkdir()
    (folder / "sd-vae" / "config.json").write_text(json.dumps(net.TEST_VAE_CONFIG))
    # sd-vae-ft-mse's .bin predates diffusers' renaming of the mid-block attention projections.
    old_names = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    vae_state = {}
    for key, value in networks.vae.state_dict().items():
        for new, old in old_names.items():
            key = key.replace(f"attentions.0.{new}.", f"attentions.0.{old}.")
        vae_state[key] = value
    torch.save(vae_state, folder / "sd-vae" / "diffusion_pytorch_model.bin")
    (folder / "whisper").mkdir()
    (folder / "whisper" / "config.json").write_text(json.dumps({"d_model": 384, "encoder_layers": 4,
        "encoder_attention_heads": 6, "encoder_ffn_dim": 1536, "num_mel_bins": 80, "max_source_positions": 1500,
        "decoder_layers": 4}))
    # openai/whisper-tiny is a WhisperForConditionalGeneration checkpoint: encoder and decoder.
    whisper_state = {f"model.encoder.{k}": v for k, v in networks.whisper.state_dict().items()}
    whisper_state["model.decoder.embed_tokens.weight"] = torch.zeros(4, 384)
    torch.save(whisper_state, folder / "whisper" / "pytorch_model.bin")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, net):
    torch.manual_seed(0)
    networks = net.build(net.TEST_UNET_CONFIG, net.TEST_VAE_CONFIG)
    models = tmp_path_factory.mktemp("models")
    save_official_layout(models, networks, net)
    out = tmp_path_factory.mktemp("onnx")
    proc = subprocess.run(EXPORT + ["--models", str(models), "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return networks, models, out


def test_the_official_layout_loads_unchanged(exported, net):
    networks, models, _ = exported
    loaded = net.load_checkpoint(models)
    for name in ("unet", "vae", "whisper"):
        original, state = getattr(networks, name), getattr(loaded, name).state_dict()
        assert all(torch.equal(state[k], v) for k, v in original.state_dict().items())


def test_wrong_folders_and_files_are_refused_clearly(exported, net, tmp_path):
    _, models, _ = exported
    with pytest.raises(ValueError, match="musetalk/pytorch_model.bin"):
        net.load_checkpoint(models, version="v1")
    (tmp_path / "musetalkV15").mkdir()
    (tmp_path / "musetalkV15" / "musetalk.json").write_text(json.dumps(net.TEST_UNET_CONFIG))
    torch.save({"face_encoder_blocks.0.0.conv_block.0.weight": torch.zeros(1)}, tmp_path / "musetalkV15" / "unet.pth")
    with pytest.raises(ValueError, match="not a MuseTalk UNet checkpoint: .* missing .* 1 unexpected"):
        net.load_checkpoint(tmp_path)
    (tmp_path / "musetalkV15" / "unet.pth").write_bytes(b"not a checkpoint" * 10)
    proc = subprocess.run(EXPORT + ["--models", str(tmp_path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "cannot be read as a PyTorch checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_onnx_matches_pytorch_and_a_batch_equals_single_calls(exported):
    import onnxruntime

    networks, _, out = exported
    session = lambda name: onnxruntime.InferenceSession(str(out / name), providers=["CPUExecutionProvider"])  # noqa: E731
    rng = np.random.default_rng(1)
    latents = rng.standard_normal((3, 8, 32, 32)).astype(np.float32)
    audio = rng.standard_normal((3, 50, 384)).astype(np.float32)
    frame = session(FRAME_ONNX)
    with torch.no_grad():
        reference = networks.frame_model()(torch.from_numpy(latents), torch.from_numpy(audio)).numpy()
    (batched,) = frame.run(None, {"latents": latents, "audio": audio})
    singles = np.concatenate([frame.run(None, {"latents": latents[i : i + 1], "audio": audio[i : i + 1]})[0]
                              for i in range(3)])
    assert batched.shape == (3, 3, 256, 256) and batched.min() >= 0 and batched.max() <= 1
    assert np.abs(batched - reference).max() < 1e-4
    assert np.abs(batched - singles).max() < 1e-5

    image = rng.uniform(0, 1, (3, 3, 256, 256)).astype(np.float32)
    with torch.no_grad():
        reference = networks.encoder_model()(torch.from_numpy(image)).numpy()
    (encoded,) = session(ENCODER_ONNX).run(None, {"image": image})
    assert encoded.shape == (3, 8, 32, 32) and np.abs(encoded - reference).max() < 1e-4

    mel = rng.uniform(-1, 1, (1, 80, 3000)).astype(np.float32)
    with torch.no_grad():
        reference = networks.audio_model()(torch.from_numpy(mel)).numpy()
    (features,) = session(AUDIO_ONNX).run(None, {"mel": mel})
    assert features.shape == (1, 1500, 5, 384) and np.abs(features - reference).max() < 1e-3


def test_a_model_over_the_protobuf_limit_keeps_its_weights_in_one_data_file(net, tmp_path, monkeypatch):
    import importlib.util

    import onnxruntime

    spec = importlib.util.spec_from_file_location("export_musetalk", "export/musetalk.py")
    export = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export)
    monkeypatch.setattr(export, "PROTOBUF_LIMIT", 1)  # as if every model were over 2 GB
    model = torch.nn.Linear(384, 4).eval()
    export.export_onnx(model, {"audio": torch.randn(2, 384)}, "out", tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]
    x = np.ones((3, 384), np.float32)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"audio": x})
    with torch.no_grad():
        assert np.allclose(y, model(torch.from_numpy(x)).numpy(), atol=1e-5)


def test_log_mel_matches_transformers_whisper_feature_extractor():
    from transformers import WhisperFeatureExtractor

    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * 2.3)) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    reference = WhisperFeatureExtractor()(audio, sampling_rate=16000, return_tensors="np").input_features[0]
    assert np.abs(log_mel(audio) - reference).max() < 1e-4


def test_features_are_trimmed_and_windowed_as_the_official_inference():
    class Positions:  # a stand-in encoder: each Whisper frame's features hold its position
        def __call__(self, mel):
            return np.broadcast_to(np.arange(1500, dtype=np.float32)[None, :, None, None] + 1, (len(mel), 1500, 5, 384))

    features = whisper_features(np.zeros(16000 * 31, np.float32), Positions())  # two 30 s segments
    assert features.shape == (1550, 5, 384) and features[1500, 0, 0] == 1 and features[1549, 0, 0] == 50
    windows = frame_windows(features, fps=25, indices=[0, 3, 773])
    assert windows.shape == (3, 50, 384)
    frames = windows[:, ::5, 0]  # the Whisper frame of each token group (5 hidden states each)
    assert list(frames[0]) == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]  # 4 frames of zeros, then frames 0–5
    assert list(frames[1]) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]  # frames 2–11: 2 video frames each side
    assert list(frames[2][-4:]) == [49, 50, 0, 0]  # zeros past the end
    assert frame_windows(features, fps=30, indices=[3])[0, ::5, 0][0] == 2  # 50/30 a frame, still 4 of padding


def speech(seconds=0.5):
    t = np.arange(int(22050 * seconds)) / 22050
    audio = (0.4 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    return SpeechSegment("ah", audio, 22050, [])


def test_the_renderer_batches_and_pastes_inside_the_face_box(exported):
    from parley.face.musetalk.renderer import MuseTalkFace
    from parley.face.warp import WarpFace

    _, _, out = exported
    base = WarpFace(load_avatar("portrait"), fps=25)
    face = MuseTalkFace.from_folder(out, base, providers=["CPUExecutionProvider"], batch_size=4, loop_s=0.4)
    assert face.latents.shape == (10, 8, 32, 32)
    segment = speech()
    chunk = SpokenChunk(segment, VisemeTrack(fps=25, duration=segment.duration, spans=[], curves={}))
    frames = list(face.frames(chunk))
    assert len(frames) == 13 and all(f.shape == (face.size, face.size, 3) and f.dtype == np.uint8 for f in frames)
    x0, y0, x1, y1 = face.box
    changed = np.abs(frames[0].astype(int) - face.loop[0].astype(int)).sum(axis=2) > 0
    outside = changed.copy()
    outside[y0:y1, x0:x1] = False
    assert changed[y0:y1, x0:x1].any() and not outside.any()

    # One frame at a time draws what the batch drew; the loop plays back and forth past its end.
    assert np.abs(face.frame(11 / 25, chunk).astype(int) - frames[11]).max() <= 1
    assert np.array_equal(face.frame(11 / 25), face.loop[8]) and np.array_equal(face.frame(0.0), face.loop[0])
    # The life clock picks the head (loop frame 9 at 30 s and at 9/25 s), the chunk clock the mouth.
    later = face.frame(30.0, chunk, chunk_t=3 / 25)
    assert np.array_equal(later, face.frame(9 / 25, chunk, chunk_t=3 / 25))
    assert not np.array_equal(later, face.frame(9 / 25, chunk))
