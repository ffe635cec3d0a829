"""Piper with alignments and the viseme mapping, on the real default voice."""

import json
import subprocess
import sys
import wave

import numpy as np
import pytest

from parley.speak.visemes import viseme_for

SENTENCES = [
    "Hello there, welcome to Northfield University!",
    "The library in Hartley Hall opens at eight in the morning.",
    "Could you tell me where the sports centre is?",
    "Bus twelve leaves the main gate every fifteen minutes.",
    "Photosynthesis turns carbon dioxide and water into glucose.",
    "Unplug the router for thirty seconds, then plug it back in.",
    "Judge the measure of each thing with a vision that's sharp and clear.",
    "Quick zebras jump over the lazy fox; the thin cat vanishes.",
    "Are you ready? Yes, absolutely, let's go!",
    "Reset your password at reset dot brightwater dot example.",
    "The pool, the gym and the squash courts are open to students.",
    "Which way to the cafeteria, please?",
    "My laptop's screen is broken and the keyboard sticks.",
    "Everything's fine now, thank you so much for your help.",
    "Measure, treasure, pleasure, and leisure share a sound.",
    "Should I choose the chips or the cheese sandwich?",
    "Thirty-three thousand three hundred and thirty-three.",
    "Oh, I see: you need Admissions on the ground floor.",
    "Why would you go there, when you could go here?",
    "Yes.",
]


@pytest.fixture(scope="module")
def tts(engines):
    return engines.tts


@pytest.mark.parametrize("text", SENTENCES[:6])
def test_alignments_sum_to_the_audio_length(tts, text):
    seg = tts.synthesize(text)
    total = sum(p.end - p.start for p in seg.phonemes)
    assert total == pytest.approx(seg.duration, abs=0.5 / seg.sample_rate)
    assert seg.phonemes[0].start == 0 and seg.phonemes[-1].end == pytest.approx(seg.duration)
    assert all(a.end == b.start for a, b in zip(seg.phonemes, seg.phonemes[1:]))


def test_multi_sentence_text_keeps_one_clock(tts):
    seg = tts.synthesize(" ".join(SENTENCES[:3]))
    assert seg.phonemes[-1].end == pytest.approx(seg.duration, abs=1e-6)
    assert sum(1 for p in seg.phonemes if p.phoneme == "^") == 3  # Piper made one chunk per sentence


def test_every_phoneme_the_voice_produces_maps_to_a_viseme(tts):
    produced = {p.phoneme for text in SENTENCES for p in tts.synthesize(text).phonemes}
    assert len(produced) > 30
    for symbol in produced:
        viseme_for(symbol)  # raises UnknownPhoneme for a gap in the table


def test_every_symbol_of_the_voice_inventory_maps(tts):
    for symbol in tts.voice.config.phoneme_id_map:
        viseme_for(symbol)


def test_visemes_cover_the_audio_within_a_frame(engines, tts):
    seg = tts.synthesize(SENTENCES[1])
    track = engines.visemes.track(seg)
    assert abs(track.spans[-1].end - seg.duration) < 1 / track.fps
    assert len(track.curves["jawOpen"]) == int(np.ceil(seg.duration * track.fps))
    # The mouth is open where the sound is loud: jaw curve correlates with the audio envelope.
    hop = seg.sample_rate / track.fps
    env = np.array([np.abs(seg.audio[int(i * hop) : int((i + 1) * hop)]).mean() for i in range(len(track.curves["jawOpen"]))])
    assert np.corrcoef(env, track.curves["jawOpen"])[0, 1] > 0.3


def test_say_writes_wav_visemes_and_timings(tmp_path):
    out = tmp_path / "say"
    proc = subprocess.run([sys.executable, "-m", "parley.cli", "say", "Hi, I'm Ada. The library opens at eight.",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with wave.open(str(out / "speech.wav")) as wav:
        rate, frames = wav.getframerate(), wav.getnframes()
    data = json.loads((out / "visemes.json").read_text())
    timings = json.loads((out / "timings.json").read_text())
    duration = frames / rate
    assert data["duration"] == pytest.approx(duration, abs=1e-4)
    assert abs(data["phonemes"][-1]["end"] - duration) < 1 / 30
    assert {"viseme", "start", "end", "weight"} <= set(data["visemes"][0])
    assert {v["viseme"] for v in data["visemes"]} <= {"sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR",
                                                       "aa", "E", "I", "O", "U"}
    assert "jawOpen" in data["curves"] and "viseme_aa" in data["curves"]
    assert timings["tts_first_audio_ms"] > 0 and timings["audio_seconds"] == pytest.approx(duration, abs=1e-3)
