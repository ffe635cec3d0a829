"""The engine for OpenAI-compatible TTS servers, against a real local one (testbed/openai_server.py's
speech_server: the hibari package's own voice behind /v1/audio/speech) and ones that fail."""

import asyncio
import threading
import time

import numpy as np
import pytest

from parley.assemble import Parley
from parley.config import ConfigError, load_settings
from parley.config.stack import TTSConfig
from parley.core.errors import EngineUnavailable
from parley.core.events import TurnDone, TurnFailed
from parley.core.interfaces import Cancelled, CancelToken
from parley.core.speech import SpokenChunk
from parley.engines.hibari_tts import HibariEngine
from parley.engines.openai_client import ServerError
from parley.engines.openai_tts import decode_audio
from testbed.net import free_port
from testbed.openai_server import _encode, speech_server
from testbed.serve import write_stack
from tests.conftest import DETERMINISTIC
from tests.fakes import ScriptedLLM, fake_parley

TEXT = "The library opens at nine thirty on weekdays."


@pytest.fixture(scope="module")
def server():
    with speech_server() as base:
        yield base


def served(tmp_path, base, **edits):
    return load_settings(write_stack(tmp_path, **{**DETERMINISTIC, "tts.engine": "openai", "tts.base_url": base,
                                                  "tts.voice": "heart", **edits}))


def test_served_speech_comes_aligned_with_the_mouth_where_the_sound_is(tmp_path, server, store, engines):
    tts = Parley(served(tmp_path, server)).engines.tts
    speech = tts.synthesize(TEXT)
    assert speech.sample_rate == tts.sample_rate == 24000 and speech.duration > 1.5
    assert speech.phonemes and speech.phonemes[-1].end <= speech.duration + 1e-6
    # The server's voice is hibari's: its own exact timings are the truth for the mouth.
    truth = HibariEngine(store.require("hibari-heart"), TTSConfig(voice="hibari-heart", seed=0)).synthesize(TEXT)
    want = np.array(engines.visemes.track(truth).curves["jawOpen"])
    got = np.array(engines.visemes.track(speech).curves["jawOpen"])
    n = min(len(want), len(got))
    assert np.corrcoef(want[:n], got[:n])[0, 1] > 0.6


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "opus"])
def test_any_format_a_server_sends_is_decoded_at_the_engines_rate(fmt):
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)).astype(np.float32)
    audio = decode_audio(_encode(tone, 22050, fmt), 24000, "test")
    assert abs(len(audio) - 24000) < 24000 * 0.05 and np.abs(audio).max() > 0.2


def test_a_voice_session_speaks_through_the_server(tmp_path, server):
    settings = served(tmp_path, server)
    parley = fake_parley(settings, llm=ScriptedLLM("Welcome to the campus. The library opens at nine."),
                         tts=Parley(settings).engines.tts)
    session = parley.voice_session(listen=False)

    async def turn():
        events = [e async for e in session.respond("Hello?")]
        await session.close()
        return events

    events = asyncio.run(turn())
    chunks = [e for e in events if isinstance(e, SpokenChunk)]
    assert len(chunks) >= 1 and all(c.speech.phonemes and max(c.visemes.curves["jawOpen"]) > 0.2 for c in chunks)
    assert isinstance(events[-1], TurnDone)


def test_a_session_whose_voice_server_fails_says_why_and_keeps_going(tmp_path):
    with speech_server("500") as base:
        settings = served(tmp_path, base)
        parley = fake_parley(settings, llm=ScriptedLLM("The library opens at nine."), tts=Parley(settings).engines.tts)
        session = parley.voice_session(listen=False)

        async def chat():
            turns = [[e async for e in session.respond(q)] for q in ("Hello?", "Are you there?")]
            await session.close()
            return turns

        for events in asyncio.run(chat()):
            failed = [e for e in events if isinstance(e, TurnFailed)]
            assert len(failed) == 1 and "TTS server" in failed[0].error and "answered 500" in failed[0].error
        assert session.history.exchanges == []


@pytest.mark.parametrize("kind, error, message", [
    ("down", EngineUnavailable, "cannot reach the TTS server at .*set tts.base_url"),
    ("500", ServerError, "answered 500: out of memory; the server failed"),
    ("html", ServerError, "sent [0-9]+ bytes that are not audio"),
    ("stall", EngineUnavailable, "did not answer within 1 s \\(tts.timeout_s\\)"),
])
def test_a_failing_server_is_a_clear_error(tmp_path, kind, error, message):
    if kind == "down":
        tts = Parley(served(tmp_path, f"http://127.0.0.1:{free_port()}/v1")).engines.tts
        assert not tts.ready()
        with pytest.raises(error, match=message):
            tts.synthesize(TEXT)
        return
    with speech_server(kind) as base:
        with pytest.raises(error, match=message):
            Parley(served(tmp_path, base, **{"tts.timeout_s": 1})).engines.tts.synthesize(TEXT)


def test_a_voice_the_server_lacks_is_named(tmp_path, server):
    tts = Parley(served(tmp_path, server, **{"tts.voice": "alloy"})).engines.tts
    with pytest.raises(ServerError, match="answered 400: unknown voice 'alloy'"):
        tts.synthesize(TEXT)


def test_cancelling_a_waiting_request_returns_at_once(tmp_path):
    with speech_server("stall") as base:
        tts = Parley(served(tmp_path, base)).engines.tts
        cancel = CancelToken()
        threading.Timer(0.3, cancel.cancel).start()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            tts.synthesize(TEXT, cancel)
        assert time.monotonic() - started < 2


def test_the_openai_engine_needs_a_url_and_a_voice(tmp_path):
    with pytest.raises(ConfigError, match="tts: .*needs tts.base_url.*and tts.voice"):
        load_settings(write_stack(tmp_path, **{"tts.engine": "openai"}))
