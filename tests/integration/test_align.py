"""The aligner: phoneme timings for speech that came without them, measured against voices that time
their own phonemes exactly."""

import numpy as np
import pytest

from parley.config import TTSConfig
from parley.core.audio import resample
from parley.core.speech import SpeechSegment
from parley.engines.hibari_tts import HibariEngine
from parley.engines.piper_tts import PiperEngine
from parley.speak.align import MAX_WARP_S, Aligner, AlignmentError, Words

PIPER, HIBARI = "piper-en_US-joe-medium", "hibari-heart"
TEXT = "You can borrow up to ten books at a time from the main desk."


@pytest.fixture(scope="module")
def aligner(settings, store):
    return Aligner.of(settings, store)


def exact(store, name, **settings):
    engine = PiperEngine if name == PIPER else HibariEngine
    return engine(store.require(name), TTSConfig(voice=name, noise_scale=0.0, noise_w_scale=0.0, seed=0, **settings))


def mouth(engines, segment: SpeechSegment) -> np.ndarray:
    return np.array(engines.visemes.track(segment).curves["jawOpen"])


@pytest.mark.parametrize("pace", [0.8, 1.25])
def test_recovers_a_voices_own_timings_at_another_pace(aligner, store, pace):
    truth = exact(store, PIPER, length_scale=pace).synthesize(TEXT)
    aligned = aligner.align(truth.audio, truth.sample_rate, TEXT)
    assert [p.phoneme for p in aligned.phonemes] == [p.phoneme for p in truth.phonemes]
    error = np.abs(np.array([p.start for p in aligned.phonemes]) - [p.start for p in truth.phonemes])
    assert error.mean() < 0.025  # a frame of video is 33 ms
    assert all(a.end <= b.start + 1e-9 for a, b in zip(aligned.phonemes, aligned.phonemes[1:]))


def test_another_voices_mouth_follows_its_own_exact_timings(aligner, store, engines):
    truth = exact(store, HIBARI).synthesize(TEXT)
    aligned = aligner.align(truth.audio, truth.sample_rate, TEXT)
    assert aligned.audio is not None and aligned.sample_rate == truth.sample_rate
    want, got = mouth(engines, truth), mouth(engines, aligned)
    assert np.corrcoef(want, got)[0, 1] > 0.6


def test_speech_between_silences_is_placed_where_it_is_said(aligner, store):
    said = exact(store, PIPER).synthesize("Good morning.")
    rate = said.sample_rate
    audio = np.concatenate([np.zeros(rate), said.audio, np.zeros(2 * rate)]).astype(np.float32)
    aligned = aligner.align_words(audio, rate, [Words(1.0, 1.0 + said.duration, "Good morning.")])
    assert aligned.duration == pytest.approx(3 + said.duration, abs=1e-3)
    assert 1.0 <= aligned.phonemes[0].start and aligned.phonemes[-1].end <= 1.0 + said.duration + 1e-6


def test_nothing_said_gives_no_phonemes_and_a_closed_mouth(aligner, engines):
    quiet = np.zeros(24000 * 2, np.float32)
    aligned = aligner.align_words(quiet, 24000, [])
    assert aligned.phonemes == [] and aligned.duration == 2.0
    assert max(mouth(engines, aligned)) == 0.0


def test_too_long_a_piece_is_refused_by_name(aligner):
    audio = np.zeros(int(24000 * (MAX_WARP_S + 1)), np.float32)
    with pytest.raises(AlignmentError, match=f"at most {MAX_WARP_S:.0f} s"):
        aligner.align(audio, 24000, "Hello.")


def test_whisper_finds_the_sentences_and_none_in_silence_or_music(engines, store):
    said = exact(store, HIBARI).synthesize("The library opens at nine. The pool closes at eight.")
    speech = resample(said.audio, said.sample_rate)
    audio = np.concatenate([np.zeros(16000), speech, np.zeros(16000)])
    sentences = engines.asr.sentences(audio)
    assert sentences and "library" in " ".join(w.text for w in sentences).lower()
    assert 0.5 <= sentences[0].start and sentences[-1].end <= len(audio) / 16000 + 0.1
    assert engines.asr.sentences(np.zeros(16000 * 5, np.float32)) == []
    t = np.arange(16000 * 6) / 16000
    chords = sum(np.sin(2 * np.pi * f * t) for f in (220, 277, 330)) * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * t)))
    assert engines.asr.sentences((0.1 * chords).astype(np.float32)) == []
