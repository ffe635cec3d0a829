"""Barge-in on the real stack, in real time: the caller talks over the avatar."""

import asyncio
import time

import numpy as np

from parley.core.events import BargeIn, SpeechStarted, TurnDone, Utterance
from parley.core.speech import SpokenChunk
from parley.hear.frames import stream_frames
from testbed.speech import silence, speak


def run_session(parley, audio, interruption=None, after_first_audio=0.9):
    """Play ``audio`` in real time; with ``interruption``, then wait until the avatar's first audio
    has played for ``after_first_audio`` seconds and speak over it (robust to a slow machine)."""
    session = parley.voice_session()
    session.conversation.warm_up()
    first_audio = asyncio.Event()

    async def microphone():
        async for frame in stream_frames(audio, realtime=True):
            yield frame
        if interruption is None:
            return
        quiet = np.zeros(320, np.float32)  # a live microphone keeps sending (near) silence
        deadline = time.perf_counter() + 30
        while not first_audio.is_set() and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
            yield quiet
        for _ in range(int(after_first_audio / 0.02)):
            await asyncio.sleep(0.02)
            yield quiet
        async for frame in stream_frames(interruption, realtime=True):
            yield frame

    async def collect():
        events = []
        async for event in session.run(microphone()):
            if isinstance(event, SpokenChunk):
                first_audio.set()
            events.append((time.perf_counter(), event))
        return events

    return session.conversation, asyncio.run(collect())


def test_speaking_over_the_reply_cancels_it_within_300_ms(parley, engines, caller):
    question = speak(caller, "Please tell me about every building on campus, one by one, in detail.")
    interruption = speak(caller, "Sorry, stop. Where is the pool?")
    audio = np.concatenate([silence(0.5), question, silence(0.6)])
    conversation, events = run_session(parley, audio,
                                       np.concatenate([interruption, silence(1.5)]))
    kinds = [type(e) for _, e in events]
    barge = next(e for _, e in events if isinstance(e, BargeIn))
    assert barge.cancel_ms < 300
    # The barge-in follows the caller's second SpeechStarted, and the first turn was over by then
    # (generated, and cut off while playing) or ended as interrupted.
    barge_index = kinds.index(BargeIn)
    started = [i for i, k in enumerate(kinds) if k is SpeechStarted]
    assert started[1] < barge_index
    first_done = kinds.index(TurnDone)
    assert first_done < barge_index or events[first_done][1].timings.interrupted
    # The history keeps what the caller heard, marked as interrupted, then the new question's answer.
    exchanges = conversation.history.exchanges
    assert exchanges[0].interrupted and exchanges[0].assistant == barge.heard and barge.heard
    assert "pool" in exchanges[-1].user.lower() and not exchanges[-1].interrupted
    assert sum(1 for k in kinds if k is Utterance) == 2


def test_a_pause_mid_question_gives_one_answer_to_the_whole_question(parley, engines, caller):
    first = speak(caller, "Where is the library")
    second = speak(caller, "and when does it close on Sunday?")
    # Long enough for an endpoint (and maybe the start of a reply), too short for a real answer.
    audio = np.concatenate([silence(0.5), first, silence(0.5), second, silence(1.5)])
    conversation, events = run_session(parley, audio)
    # A reply to the first half may have started (and been dropped at once); the last one answers all.
    done = [e for _, e in events if isinstance(e, TurnDone)]
    user = done[-1].user.lower()
    assert "library" in user and "sunday" in user
    assert len(conversation.history.exchanges) == 1 and not conversation.history.exchanges[0].interrupted
    spoken = [e for _, e in events if isinstance(e, SpokenChunk)]
    assert spoken
