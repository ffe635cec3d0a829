"""Writing a spoken reply to disk: speech.wav, visemes.json and timings.json."""

from __future__ import annotations

import json
import wave
from dataclasses import asdict
from pathlib import Path

import numpy as np

from parley.core.interfaces import VisemeMapper
from parley.core.speech import PhonemeTiming, SpeechSegment


def join_speech(segments: list[SpeechSegment]) -> SpeechSegment:
    """One segment for the whole reply, phoneme timings shifted onto its single clock."""
    if not segments:
        raise ValueError("nothing was spoken")
    rate = segments[0].sample_rate
    phonemes: list[PhonemeTiming] = []
    offset = 0.0
    for seg in segments:
        phonemes.extend(PhonemeTiming(p.phoneme, p.start + offset, p.end + offset) for p in seg.phonemes)
        offset += seg.duration
    audio = np.concatenate([s.audio for s in segments]).astype(np.float32)
    return SpeechSegment(" ".join(s.text for s in segments), audio, rate, phonemes)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())


def write_reply(out_dir: Path, segments: list[SpeechSegment], mapper: VisemeMapper, timings: dict,
                stem: str = "") -> Path:
    """Write ``{stem}speech.wav``, ``{stem}visemes.json`` and ``{stem}timings.json``; return the WAV."""
    out_dir.mkdir(parents=True, exist_ok=True)
    speech = join_speech(segments)
    track = mapper.track(speech)
    wav_path = out_dir / f"{stem}speech.wav"
    write_wav(wav_path, speech.audio, speech.sample_rate)
    visemes = {
        "text": speech.text,
        "sample_rate": speech.sample_rate,
        "duration": speech.duration,
        "phonemes": [asdict(p) for p in speech.phonemes],
        **track.to_dict(),
    }
    (out_dir / f"{stem}visemes.json").write_text(json.dumps(visemes, ensure_ascii=False))
    (out_dir / f"{stem}timings.json").write_text(json.dumps(timings, indent=2))
    return wav_path
