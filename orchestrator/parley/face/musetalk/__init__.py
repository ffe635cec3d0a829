"""MuseTalk for GPU machines: its Whisper audio features and a renderer that batches frames over the
exported networks (export/networks/musetalk.py holds them in PyTorch). The code is MIT (TMElyralab);
the weights are the user's to bring.

The shapes every part agrees on are here, so serving never imports PyTorch to learn them.
"""

FACE = 256  # the generator's face crop, in pixels
LATENT = FACE // 8  # the VAE's latent side
AUDIO_TOKENS = 50  # per video frame: 10 Whisper frames (0.2 s) × 5 hidden states, one token each
AUDIO_DIM = 384  # whisper-tiny's width, and the UNet's cross_attention_dim
MEL_FRAMES = 3000  # the 30 s of log-mel Whisper's encoder always takes
WHISPER_FRAMES = 1500  # encoder positions for those 30 s (50 a second)

# What export/musetalk.py writes to its folder.
FRAME_ONNX = "musetalk_frame.onnx"  # latents, audio → frame: per video frame
ENCODER_ONNX = "musetalk_vae_encoder.onnx"  # image → latents: per avatar, at start-up
AUDIO_ONNX = "musetalk_audio.onnx"  # mel → features: per chunk of speech
