"""A voice's padding around a chunk cut to a natural pause, its phonemes moved with the audio."""

import numpy as np

from parley.core.speech import PhonemeTiming, SpeechSegment
from parley.speak.pauses import tighten

RATE = 1000


def segment(lead_s, sound_s, tail_s):
    audio = np.concatenate([np.zeros(int(lead_s * RATE)), 0.5 * np.ones(int(sound_s * RATE)),
                            np.zeros(int(tail_s * RATE))]).astype(np.float32)
    end = lead_s + sound_s + tail_s
    phonemes = [PhonemeTiming("_", 0.0, lead_s), PhonemeTiming("a", lead_s, lead_s + sound_s / 2),
                PhonemeTiming("b", lead_s + sound_s / 2, lead_s + sound_s), PhonemeTiming("_", lead_s + sound_s, end)]
    return SpeechSegment("ab", audio, RATE, phonemes, index=3)


def test_padding_is_cut_and_the_phonemes_move_with_the_sound():
    out = tighten(segment(0.3, 1.0, 0.55), lead_s=0.03, tail_s=0.2)
    assert abs(out.duration - (0.03 + 1.0 + 0.2)) < 0.011 and out.index == 3
    assert np.abs(out.audio[: int(0.025 * RATE)]).max() == 0 and out.audio[int(0.035 * RATE)] == 0.5
    names = [p.phoneme for p in out.phonemes]
    assert names == ["_", "a", "b", "_"]
    a = out.phonemes[1]
    assert abs(a.start - 0.03) < 0.011 and abs(a.end - 0.53) < 0.011  # still on its sound
    # Still tiling the audio, end to end.
    assert out.phonemes[0].start == 0.0 and out.phonemes[-1].end == out.duration
    assert all(x.end == y.start for x, y in zip(out.phonemes, out.phonemes[1:]))


def test_speech_without_padding_or_without_sound_is_left_alone():
    tight = segment(0.0, 1.0, 0.0)
    assert tighten(tight) is tight
    silent = SpeechSegment("", np.zeros(500, np.float32), RATE, [])
    assert tighten(silent) is silent
