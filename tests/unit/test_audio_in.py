import wave

import numpy as np
import pytest

from parley.core.audio import AudioDecodeError, load_file, resample
from parley.hear.frames import frames
from parley.speak.files import write_wav


def tone(rate, seconds=1.0, freq=440.0, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.repeat(mono[:, None], channels, axis=1)


def write_pcm(path, audio, rate):
    pcm = (audio * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def peak_hz(audio, rate=16000):
    spectrum = np.abs(np.fft.rfft(audio))
    return np.fft.rfftfreq(len(audio), 1 / rate)[np.argmax(spectrum)]


@pytest.mark.parametrize("rate,channels", [(8000, 1), (22050, 1), (44100, 2), (48000, 2), (16000, 1)])
def test_any_rate_and_channels_become_16k_mono(tmp_path, rate, channels):
    path = tmp_path / "in.wav"
    write_pcm(path, tone(rate, channels=channels), rate)
    audio = load_file(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16000) <= 64  # one second, whatever the input rate
    assert abs(peak_hz(audio) - 440) < 3  # a wrong ratio would shift the pitch


def test_compressed_formats_decode(tmp_path):
    wav = tmp_path / "in.wav"
    write_pcm(wav, tone(44100, channels=2), 44100)
    flac = tmp_path / "in.flac"
    import av

    with av.open(str(wav)) as src, av.open(str(flac), "w") as dst:
        stream = dst.add_stream("flac", rate=44100)
        for frame in src.decode(audio=0):
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    assert abs(peak_hz(load_file(flac)) - 440) < 3


def test_in_memory_resampling_matches():
    audio = resample(tone(22050)[:, 0].astype(np.float32), 22050)
    assert abs(len(audio) - 16000) <= 64 and abs(peak_hz(audio) - 440) < 3


def test_not_audio_is_a_clear_error(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("these are meeting notes, not audio\n" * 20)
    with pytest.raises(AudioDecodeError, match="notes.wav: not an audio file"):
        load_file(text)
    with pytest.raises(AudioDecodeError, match="no such file"):
        load_file(tmp_path / "missing.wav")


def test_truncated_wav_still_decodes_what_is_there(tmp_path):
    path = tmp_path / "cut.wav"
    write_wav(path, tone(16000)[:, 0].astype(np.float32), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert 0 < len(load_file(path)) <= 8000 + 64


def test_frames_are_fixed_size_and_padded():
    out = list(frames(np.ones(16000 + 100, np.float32), frame_ms=20))
    assert len(out) == 51 and all(len(f) == 320 for f in out) and out[-1][100:].sum() == 0
