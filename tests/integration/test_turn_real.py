"""A whole text turn on the real default models, and a persona swap by config alone."""

import asyncio
import subprocess
import sys

from parley.assemble import Parley
from parley.config import load_settings
from parley.core.events import TextDelta, TurnDone
from parley.core.interfaces import CancelToken
from parley.core.speech import SpokenChunk
from testbed.serve import write_stack
from tests.conftest import CONFIGS


async def collect(agen):
    return [event async for event in agen]


def test_a_turn_streams_text_then_speech_with_visemes(settings, engines):
    conv = Parley(settings, engines=engines).conversation()
    conv.warm_up()
    events = asyncio.run(collect(conv.reply("Hello! Who are you?")))  # small talk: the LLM's
    done = events[-1]
    assert isinstance(done, TurnDone) and done.reply
    spoken = [e for e in events if isinstance(e, SpokenChunk)]
    assert spoken and all(abs(s.visemes.duration - s.speech.duration) < 1e-9 for s in spoken)
    first_delta = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert first_delta < events.index(spoken[0])
    t = done.timings
    assert t.llm_first_token_ms < t.first_audio_ms <= t.total_ms and t.audio_seconds > 0.3
    assert done.reply.strip()


def test_barge_in_cancels_a_real_turn(settings, engines):
    conv = Parley(settings, engines=engines).conversation()

    async def interrupt_after_first_audio():
        token = CancelToken()
        events = []
        async for event in conv.reply("Tell me about every building on campus, one by one.", token):
            events.append(event)
            if isinstance(event, TextDelta) and len(events) == 3:
                token.cancel("barge-in")
        return events

    events = asyncio.run(interrupt_after_first_audio())
    done = events[-1]
    assert done.timings.interrupted
    assert sum(isinstance(e, TextDelta) for e in events) <= 4


def test_persona_swap_is_a_config_edit(tmp_path, engines):
    path = write_stack(tmp_path, persona=str(CONFIGS / "personas" / "tutor.yaml"))
    tutor = load_settings(path)
    conv = Parley(tutor, engines=engines).conversation()
    prompt = conv.generation.prompt(conv.history, "What is speed?")
    assert prompt.text.endswith("Student: What is speed?\nLeo:") and "Hartley Hall" not in prompt.text
    done = asyncio.run(collect(conv.reply("What is speed?")))[-1]
    assert done.reply


def test_chat_command_speaks_and_saves_each_turn(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "parley.cli", "chat", "--no-play", "--out", str(tmp_path)],
        input="Hello!\n/reset\nWhen does the library close?\n", capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("LLM first token") == 2 and "(history cleared)" in proc.stdout
    assert sorted(p.name for p in tmp_path.glob("*speech.wav")) == ["turn-001-speech.wav", "turn-002-speech.wav"]
    assert (tmp_path / "turn-002-visemes.json").is_file() and (tmp_path / "turn-002-timings.json").is_file()
