"""Turn taking on the shared fakes: who owns the history, barge-in, the continuation rule, typed
text. The session is assembled by ``parley.assemble`` as the server assembles it; the audio is fed
in real time, so the avatar's reply really plays (on the wall clock) while the caller speaks."""

import asyncio

import numpy as np
import pytest

from parley.config import load_settings
from parley.events import BargeIn, TextDelta, TurnDone, TurnFailed, Typed, Utterance
from parley.speak.speech import SpokenChunk
from tests.conftest import write_stack
from tests.fakes import ScriptedASR, ScriptedLLM, ToneTTS, fake_parley, silence, speech

LONG_REPLY = " ".join(f"Sentence {i} of a long answer." for i in range(12))  # ~5 s of tone


@pytest.fixture
def stack(tmp_path):
    # No partial decodes: the scripted ASR is asked only at pauses and endpoints.
    return load_settings(write_stack(tmp_path, **{"asr.partial_interval_ms": 0, "turn_taking.continuation_ms": 700}))


async def run_session(session, audio, typed=()):
    from parley.hear.audio import stream_frames

    async def type_later():
        for at, text in typed:
            await asyncio.sleep(at)
            await session.typed(text)

    typing = asyncio.ensure_future(type_later())
    events = [e async for e in session.run(stream_frames(audio, 20, realtime=True))]
    await typing
    return events


def test_an_answered_question_is_committed_once_with_the_whole_reply(stack):
    asr = ScriptedASR({1.0: "Where is the library?"})
    parley = fake_parley(stack, ScriptedLLM("It is in Hartley Hall."), ToneTTS(), asr)
    session = parley.voice_session()
    events = asyncio.run(run_session(session, np.concatenate([speech(1.0), silence(2.5)])))
    done = [e for e in events if isinstance(e, TurnDone)]
    assert len(done) == 1 and done[0].reply == "It is in Hartley Hall."
    history = session.conversation.history.exchanges
    assert [(e.user, e.assistant, e.interrupted) for e in history] == [
        ("Where is the library?", "It is in Hartley Hall.", False)]


def test_barge_in_keeps_only_what_the_caller_heard(stack):
    asr = ScriptedASR({2.0: "Tell me about the campus.", 0.6: "Stop, where is the cafe?"})
    llm = ScriptedLLM(LONG_REPLY)
    parley = fake_parley(stack, llm, ToneTTS(), asr)
    session = parley.voice_session()
    # The reply starts ~0.3 s after the first question ends and plays for seconds: 2 s in, the caller cuts in.
    audio = np.concatenate([speech(2.0), silence(2.0), speech(0.6), silence(2.0)])
    events = asyncio.run(run_session(session, audio))
    barge = [e for e in events if isinstance(e, BargeIn)]
    assert len(barge) == 1 and barge[0].heard and barge[0].cancel_ms < 500
    first, second = session.conversation.history.exchanges
    assert first.user == "Tell me about the campus." and first.interrupted
    assert first.assistant == barge[0].heard and len(first.assistant) < len(LONG_REPLY)
    assert second.user == "Stop, where is the cafe?"
    # The second prompt was built on what was heard, never on the unheard rest of the reply.
    assert "Sentence 11" not in str(llm.prompts[-1])


def test_a_caller_who_cuts_in_at_once_is_answered_once_for_the_whole_sentence(stack):
    asr = ScriptedASR({2.0: "I would like to know", 0.5: "where the library is."})
    llm = ScriptedLLM(LONG_REPLY)
    parley = fake_parley(stack, llm, ToneTTS(delay=0.2), asr)
    session = parley.voice_session()
    # The caller pauses long enough for an endpoint, then goes on before 700 ms of the reply was heard.
    audio = np.concatenate([speech(2.0), silence(0.45), speech(0.5), silence(2.0)])
    events = asyncio.run(run_session(session, audio))
    utterances = [e.text for e in events if isinstance(e, Utterance)]
    assert utterances == ["I would like to know", "where the library is."]
    assert [e for e in events if isinstance(e, BargeIn)] and [e.heard for e in events if isinstance(e, BargeIn)] == [""]
    (exchange,) = session.conversation.history.exchanges
    assert exchange.user == "I would like to know where the library is."


def test_typed_text_cuts_in_and_is_answered(stack):
    parley = fake_parley(stack, ScriptedLLM(LONG_REPLY), ToneTTS(), ScriptedASR({1.0: "Tell me everything."}))
    session = parley.voice_session()
    audio = np.concatenate([speech(1.0), silence(3.5)])
    events = asyncio.run(run_session(session, audio, typed=[(2.5, "Thanks, that is enough.")]))
    kinds = [type(e) for e in events]
    assert Typed in kinds and BargeIn in kinds and kinds.index(Typed) < kinds.index(BargeIn)
    users = [e.user for e in session.conversation.history.exchanges]
    assert users == ["Tell me everything.", "Thanks, that is enough."]


def test_a_failed_turn_is_reported_and_apologised_for_and_leaves_no_history(settings):
    class DeadLLM(ScriptedLLM):
        def stream(self, prompt, max_tokens, cancel):
            raise RuntimeError("out of memory")
            yield  # a generator, like the real engines

    session = fake_parley(settings, DeadLLM(""), ToneTTS()).voice_session(listen=False)

    async def ask():
        events = [e async for e in session.respond("Hello?")]
        await session.close()
        return events

    events = asyncio.run(ask())
    assert type(events[0]) is TurnFailed and "out of memory" in events[0].error
    apology = [e.speech.text for e in events if isinstance(e, SpokenChunk)]
    assert " ".join(apology) == settings.persona.apology
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == settings.persona.apology
    assert session.conversation.history.exchanges == []


def test_text_replies_are_committed_and_reset_forgets_them(settings):
    session = fake_parley(settings, ScriptedLLM("Nine to five."), ToneTTS()).voice_session(listen=False)

    async def chat():
        for question in ("When does it open?", "And on Sunday?"):
            async for _ in session.respond(question):
                pass
        await session.close()

    asyncio.run(chat())
    assert [(e.user, e.assistant) for e in session.conversation.history.exchanges] == [
        ("When does it open?", "Nine to five."), ("And on Sunday?", "Nine to five.")]
    session.reset()
    assert session.conversation.history.exchanges == []
