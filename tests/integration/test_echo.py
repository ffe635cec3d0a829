"""The avatar's own voice coming back through the caller's microphone does not cut the avatar off;
the caller's voice does. Real Piper speech, real Silero VAD."""

import asyncio

import numpy as np
import pytest

from parley.core.events import SpeechStarted
from parley.hear.echo import EchoGuard
from testbed.speech import silence, speak

FRAME = 320  # 20 ms at 16 kHz
DELAY = 9  # frames (180 ms): network, jitter buffer, loudspeaker, microphone and back


@pytest.fixture(scope="module")
def avatar_voice(engines):
    return np.concatenate([silence(0.3), speak(engines.tts, "The library is open until ten tonight, and the "
                                                            "reading room on the second floor is quiet."),
                           silence(0.5)])


@pytest.fixture(scope="module")
def caller_voice(caller):
    return speak(caller, "Sorry, where can I park my car?")


def frames(audio):
    return [audio[i : i + FRAME] for i in range(0, len(audio) - FRAME + 1, FRAME)]


def guarded(sent, heard, guard):
    """Mic frames as the guard passes them, the avatar's frame i going out as mic frame i arrives."""
    out = []
    for i, mic in enumerate(frames(heard)):
        if i < len(sent) // FRAME:
            guard.sent(sent[i * FRAME : (i + 1) * FRAME], 16000)
        out.append(guard.filter(mic))
    return out


def echo_of(voice, gain=0.4, seed=0):
    noise = np.random.default_rng(seed).normal(0, 0.003, len(voice) + DELAY * FRAME).astype(np.float32)
    return np.concatenate([np.zeros(DELAY * FRAME, np.float32), gain * voice]) + noise


def voiced(frames_in, level=0.01):
    return [i for i, f in enumerate(frames_in) if np.abs(f).max() > level]


def test_the_avatars_own_voice_is_silenced(avatar_voice):
    heard = echo_of(avatar_voice)
    out = guarded(avatar_voice, heard, EchoGuard())
    loud = voiced(frames(heard))
    silenced = [i for i in loud if not out[i].any()]
    assert len(silenced) >= 0.9 * len(loud), (len(silenced), len(loud))


def test_the_callers_voice_gets_through_while_the_avatar_talks(avatar_voice, caller_voice):
    heard = np.zeros(len(avatar_voice), np.float32)
    heard[8000 : 8000 + len(caller_voice)] = caller_voice[: len(heard) - 8000]
    out = guarded(avatar_voice, heard, EchoGuard())
    loud = voiced(frames(heard))
    passed = [i for i in loud if out[i].any()]
    assert len(passed) >= 0.9 * len(loud), (len(passed), len(loud))


def _speech_started(parley, mic_frames) -> bool:
    listener = parley.listener(wait_for_partials=True)

    async def run():
        async def source():
            for f in mic_frames:
                yield f
        return [e async for e in listener.listen(source())]

    return any(isinstance(e, SpeechStarted) for e in asyncio.run(run()))


def test_echo_starts_no_speech_in_the_listener_unless_the_guard_is_off(parley, avatar_voice):
    heard = echo_of(avatar_voice, gain=0.6)
    assert _speech_started(parley, frames(heard))  # unguarded, the echo is taken as speech
    assert not _speech_started(parley, guarded(avatar_voice, heard, EchoGuard()))
