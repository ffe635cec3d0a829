"""The turn's plumbing (ordering, concurrency, cancellation, failures) with scripted engines.

These engines obey the same Protocols as the real ones but are deterministic and fast, so every
ordering and cancellation path can be checked; tests/integration runs the same turn on real models.
"""

import asyncio
import threading
import time

import pytest

from parley.assemble import Engines, Parley
from parley.core.events import TextChunk, TextDelta, TurnDone
from parley.core.interfaces import LLMEngine, TTSEngine
from parley.core.speech import SpokenChunk
from tests.fakes import ScriptedLLM, ToneTTS, fake_parley, ungrounded


def conversation(settings, llm, tts):
    assert isinstance(llm, LLMEngine) and isinstance(tts, TTSEngine)
    return fake_parley(settings, llm, tts).conversation()


async def collect(agen, stop_after=None):
    events = []
    async for event in agen:
        events.append(event)
        if stop_after and stop_after(event):
            break
    return events


REPLY = "Sure, the library is in Hartley Hall. It opens at eight. The cafe is next door, by the lake."


def test_events_flow_in_order_and_the_conversation_leaves_the_history_to_the_session(settings):
    conv = conversation(settings, ScriptedLLM(REPLY), ToneTTS())
    events = asyncio.run(collect(conv.reply("Where is the library?")))
    deltas = "".join(e.text for e in events if isinstance(e, TextDelta))
    chunks = [e.text for e in events if isinstance(e, TextChunk)]
    spoken = [e for e in events if isinstance(e, SpokenChunk)]
    done = events[-1]
    assert deltas == REPLY and " ".join(chunks) == REPLY
    assert [s.speech.text for s in spoken] == chunks and [s.speech.index for s in spoken] == list(range(len(chunks)))
    assert isinstance(done, TurnDone) and done.reply == REPLY and not done.timings.interrupted
    t = done.timings
    assert 0 <= t.llm_first_token_ms <= t.first_audio_ms <= t.total_ms and t.tokens == len(REPLY.split())
    assert conv.history.exchanges == []  # the voice session commits what was heard


def test_first_audio_arrives_before_the_llm_finishes(settings):
    conv = conversation(settings, ScriptedLLM(REPLY, delay=0.03), ToneTTS())
    events = asyncio.run(collect(conv.reply("Where?")))
    t = events[-1].timings
    assert t.first_audio_ms < t.llm_done_ms


def test_cancel_mid_reply_stops_llm_and_tts(settings):
    llm, tts = ScriptedLLM(REPLY * 5, delay=0.02), ToneTTS(delay=0.01)
    conv = conversation(settings, llm, tts)

    async def barge_in():
        from parley.core.interfaces import CancelToken

        token = CancelToken()
        events = []
        async for event in conv.reply("Tell me everything", token):
            events.append(event)
            if isinstance(event, SpokenChunk):
                token.cancel("barge-in")
        return events

    started = time.perf_counter()
    events = asyncio.run(barge_in())
    assert time.perf_counter() - started < 2.0
    done = events[-1]
    assert done.timings.interrupted and llm.produced < len(REPLY.split()) * 5
    spoken = [e.speech.text for e in events if isinstance(e, SpokenChunk)]
    assert done.reply == " ".join(spoken) and tts.spoken[: len(spoken)] == spoken


def test_closing_the_stream_cancels_the_turn(settings):
    llm = ScriptedLLM(REPLY * 5, delay=0.02)
    conv = conversation(settings, llm, ToneTTS())

    async def consume_one():
        agen = conv.reply("Tell me everything")
        async for event in agen:
            if isinstance(event, SpokenChunk):
                break
        await agen.aclose()

    asyncio.run(consume_one())
    assert llm.produced < len(REPLY.split()) * 5


def test_tts_failure_stops_the_llm_and_is_raised(settings):
    llm = ScriptedLLM(REPLY * 5, delay=0.01)
    conv = conversation(settings, llm, ToneTTS(fail_on="eight"))
    with pytest.raises(RuntimeError, match="voice model crashed"):
        asyncio.run(collect(conv.reply("Where?")))
    assert llm.produced < len(REPLY.split()) * 5


def test_llm_failure_is_raised_and_nothing_hangs(settings):
    class BrokenLLM(ScriptedLLM):
        def stream(self, prompt, max_tokens, cancel):
            yield "Sure, the library is"
            raise RuntimeError("llama.cpp died")

    conv = conversation(settings, BrokenLLM(""), ToneTTS())
    with pytest.raises(RuntimeError, match="llama.cpp died"):
        asyncio.run(asyncio.wait_for(collect(conv.reply("Where?")), 5))


def test_slow_tts_applies_back_pressure_to_the_llm(settings):
    """With TTS far slower than the LLM, the LLM thread blocks on the bounded chunk queue."""
    sentences = " ".join(f"Sentence number {i} is here." for i in range(20))
    llm = ScriptedLLM(sentences)
    tts = ToneTTS(delay=0.05)
    conv = conversation(settings, llm, tts)
    progress = []

    async def watch():
        async for event in conv.reply("Count"):
            if isinstance(event, SpokenChunk) and event.speech.index == 0:
                progress.append(llm.produced)

    asyncio.run(watch())
    assert progress[0] < llm.produced  # the LLM had not run to the end when the first audio came out


def test_concurrent_conversations_do_not_cross_talk(settings):
    async def both():
        a = conversation(settings, ScriptedLLM("Alpha one. Alpha two.", 0.01), ToneTTS())
        b = conversation(settings, ScriptedLLM("Bravo one. Bravo two.", 0.01), ToneTTS())
        ra, rb = await asyncio.gather(collect(a.reply("a")), collect(b.reply("b")))
        return a, b, ra[-1], rb[-1]

    a, b, da, db = asyncio.run(both())
    assert da.reply == "Alpha one. Alpha two." and db.reply == "Bravo one. Bravo two."
    assert threading.active_count() < 50


def test_a_failing_viseme_mapper_stops_the_turn_without_hanging(settings):
    class BrokenMapper:
        def track(self, speech):
            raise ValueError("no viseme for phoneme '☃'")

    sentences = " ".join(f"Sentence number {i} is here." for i in range(20))
    llm = ScriptedLLM(sentences)
    engines = Engines.given(settings, llm=llm, tts=ToneTTS(), visemes=BrokenMapper())
    conv = Parley(ungrounded(settings), engines=engines).conversation()
    with pytest.raises(ValueError, match="no viseme"):
        asyncio.run(asyncio.wait_for(collect(conv.reply("Count")), 5))
    assert llm.produced < len(sentences.split())


def test_voice_session_reports_a_failed_turn_and_keeps_listening(settings):
    from parley.core.events import TurnFailed, Utterance
    from parley.session.voice import VoiceSession

    class FlakyLLM(ScriptedLLM):
        calls = 0

        def stream(self, prompt, max_tokens, cancel):
            FlakyLLM.calls += 1
            if FlakyLLM.calls == 1:
                raise RuntimeError("llama.cpp died")
            yield from super().stream(prompt, max_tokens, cancel)

    class TwoUtterances:
        """Stands in for the Listener: two questions, well apart."""

        async def listen(self, frames):
            for i, text in enumerate(["First question?", "Second question?"]):
                yield Utterance(text, i * 5.0, i * 5.0 + 1, i * 5.0 + 1.4, 0.0, 1.0, True)
                await asyncio.sleep(0.3)

    conv = conversation(settings, FlakyLLM("Here is the answer."), ToneTTS())
    session = VoiceSession(conv, TwoUtterances(), settings.stack.turn_taking)

    async def run():
        return [e async for e in session.run(None)]

    events = asyncio.run(asyncio.wait_for(run(), 10))
    failed = [e for e in events if isinstance(e, TurnFailed)]
    done = [e for e in events if isinstance(e, TurnDone)]
    assert len(failed) == 1 and "llama.cpp died" in failed[0].error and failed[0].user == "First question?"
    assert len(done) == 1 and done[0].reply == "Here is the answer."


def test_a_reply_waiting_for_the_shared_llm_is_cancelled_at_once(settings):
    """Another session holds the LLM: cancelling this turn does not wait for that one to finish."""
    from parley.core.interfaces import CancelToken

    slow = ScriptedLLM(REPLY * 20, delay=0.05)
    parley = fake_parley(settings, slow, ToneTTS())
    busy, waiting = parley.conversation(), parley.conversation()

    async def scenario():
        first = asyncio.ensure_future(collect(busy.reply("Tell me everything")))
        await asyncio.sleep(0.3)  # the first turn is generating
        token = CancelToken()
        second = asyncio.ensure_future(collect(waiting.reply("And the cafe?", token)))
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        token.cancel("barge-in")
        events = await asyncio.wait_for(second, 5)
        cancel_s = time.perf_counter() - started
        first_events = await first
        return events, cancel_s, first_events

    events, cancel_s, first_events = asyncio.run(scenario())
    assert cancel_s < 0.5 and events[-1].timings.interrupted and events[-1].reply == ""
    assert isinstance(first_events[-1], TurnDone) and not first_events[-1].timings.interrupted
    assert len(slow.prompts) == 1  # the cancelled reply never reached the LLM


def test_a_full_llm_queue_fails_the_turn_with_a_busy_message(tmp_path):
    from parley.config import load_settings
    from parley.core.threads import Busy
    from testbed.serve import write_stack

    settings = load_settings(write_stack(tmp_path, **{"llm.max_waiting": 1}))
    parley = fake_parley(settings, ScriptedLLM(REPLY * 20, delay=0.05), ToneTTS())

    async def scenario():
        first = asyncio.ensure_future(collect(parley.conversation().reply("One")))
        await asyncio.sleep(0.2)
        second = asyncio.ensure_future(collect(parley.conversation().reply("Two")))  # waits: the queue is full now
        await asyncio.sleep(0.1)
        with pytest.raises(Busy, match="try again"):
            await collect(parley.conversation().reply("Three"))
        await asyncio.gather(first, second)

    asyncio.run(asyncio.wait_for(scenario(), 30))
