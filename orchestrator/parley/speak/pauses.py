"""The silence a voice puts around each chunk, cut to what speech needs.

Voices pad every chunk with silence (hibari about 0.3 s before and 0.55 s after each clause): before
the first chunk that is dead air the caller waits through after the reply is ready, and between
chunks it makes a pause of almost a second where people leave a fraction of that. The audio is cut
and the phoneme timings moved with it, so the mouth and the captions stay on the sound.
"""

from __future__ import annotations

import numpy as np

from parley.core.speech import PhonemeTiming, SpeechSegment

LEAD_S = 0.03  # kept before the first sound: the onset of its consonant
TAIL_S = 0.2  # kept after the last: with the next chunk's lead, the pause between clauses
QUIET = 0.02  # a 10 ms frame this far below the chunk's loudest frame is silence


def tighten(speech: SpeechSegment, lead_s: float = LEAD_S, tail_s: float = TAIL_S) -> SpeechSegment:
    """``speech`` with at most ``lead_s`` of silence before its first sound and ``tail_s`` after its
    last, its phonemes moved and clipped to the audio that is left (so they still tile it)."""
    audio, rate = speech.audio, speech.sample_rate
    frame = max(1, rate // 100)
    n = len(audio) // frame
    if n == 0:
        return speech
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > QUIET * rms.max()) if rms.max() > 0 else np.empty(0, int)
    if loud.size == 0:
        return speech
    start = max(0, loud[0] * frame - int(lead_s * rate))
    end = min(len(audio), (loud[-1] + 1) * frame + int(tail_s * rate))
    if start == 0 and end == len(audio):
        return speech
    offset, duration = start / rate, (end - start) / rate
    phonemes = []
    for p in speech.phonemes:
        s, e = max(0.0, p.start - offset), min(duration, p.end - offset)
        if e > s:
            phonemes.append(PhonemeTiming(p.phoneme, s, e))
    if phonemes:  # the spans still tile the audio: the first from 0, the last to its end
        phonemes[0] = PhonemeTiming(phonemes[0].phoneme, 0.0, phonemes[0].end)
        phonemes[-1] = PhonemeTiming(phonemes[-1].phoneme, phonemes[-1].start, duration)
    return SpeechSegment(speech.text, np.ascontiguousarray(audio[start:end]), rate, phonemes, speech.index)
