"""The two SpeechOutputs: the wall-clock model and the live media clock."""

import time

import numpy as np

from parley.core.speech import PhonemeTiming, SpeechSegment, SpokenChunk, VisemeTrack
from parley.live.media import FRAME, RATE, MediaClock
from parley.speak.output import WallClockOutput


def chunk(text, seconds, rate=16000):
    speech = SpeechSegment(text, np.full(int(seconds * rate), 0.1, np.float32), rate, [PhonemeTiming("a", 0, seconds)])
    return SpokenChunk(speech, VisemeTrack(30, seconds, [], {"jawOpen": [0.5] * int(seconds * 30)}))


def test_media_playout_hears_what_was_sent():
    playout = MediaClock()
    playout.add(chunk("old reply.", 0.1))
    for _ in range(10):
        playout.next_audio()
    mark = playout.mark()
    playout.add(chunk("First part,", 0.1))
    playout.add(chunk("second part.", 0.1))
    assert playout.speaking and playout.heard(mark) == ("", 0.0)
    for _ in range(7):  # 140 ms: all of the first chunk and some of the second
        playout.next_audio()
    text, seconds = playout.heard(mark)
    assert text == "First part, second part." and abs(seconds - 0.14) < 0.005
    assert playout.mouth()[1] > 0  # the video follows the audio into the second chunk
    playout.flush()
    assert not playout.speaking and np.all(playout.next_audio() == 0)
    assert playout.heard(mark)[0] == "First part, second part."  # flushing does not unhear


def test_media_playout_is_silent_when_idle_and_counts_samples():
    playout = MediaClock()
    assert np.all(playout.next_audio() == 0) and playout.samples_sent == FRAME and playout.mouth() is None
    assert RATE == 48000


def test_wall_clock_playout_models_back_to_back_chunks():
    playout = WallClockOutput()
    mark = playout.mark()
    playout.add(chunk("One.", 0.15))
    playout.add(chunk("Two.", 0.15))
    assert playout.speaking
    time.sleep(0.05)
    text, seconds = playout.heard(mark)
    assert text == "One." and 0.04 < seconds < 0.1
    playout.flush()
    assert not playout.speaking
    time.sleep(0.2)
    assert playout.heard(mark)[0] == "One."  # the flushed chunk never plays
