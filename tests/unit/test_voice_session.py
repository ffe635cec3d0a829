"""Turn taking on the shared fakes: who owns the history, barge-in, the continuation rule, typed
text. The session is assembled by ``parley.assemble`` as the server assembles it; the audio is fed
in real time, so the avatar's reply really plays (on the wall clock) while the caller speaks."""

import asyncio

import numpy as np
import pytest

from parley.config import load_settings
from parley.core.events import (
    BargeIn,
    EarlyReply,
    PauseTranscript,
    TextDelta,
    TurnDone,
    TurnFailed,
    Typed,
    Utterance,
)
from parley.core.speech import SpokenChunk
from testbed.serve import write_stack
from tests.fakes import ScriptedASR, ScriptedLLM, ScriptedTurnModel, ToneTTS, fake_parley, silence, speech

LONG_REPLY = " ".join(f"Sentence {i} of a long answer." for i in range(12))  # ~5 s of tone


@pytest.fixture
def stack(tmp_path):
    # No partial decodes: the scripted ASR is asked only at pauses and endpoints.
    return load_settings(write_stack(tmp_path, **{"asr.partial_interval_ms": 0, "turn_taking.continuation_ms": 700}))


async def run_session(session, audio, typed=()):
    from parley.hear.frames import stream_frames

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


def _head(prompt):
    """A prompt without its last question: what the next prompt can share with it."""
    if prompt.messages is not None:
        return prompt.messages[:-1]
    return prompt.text.rsplit("\n", 2)[0]


def test_the_next_prompt_is_prefilled_with_the_answered_exchange_while_the_caller_listens(settings):
    llm = ScriptedLLM("Nine to five.")
    session = fake_parley(settings, llm, ToneTTS()).voice_session(listen=False)

    async def chat():
        async for _ in session.respond("When does it open?"):
            pass
        await asyncio.sleep(0.05)  # the prefill runs beside the reply's playback
        async for _ in session.respond("And on Sunday?"):
            pass
        await session.close()

    asyncio.run(chat())
    after_first = llm.prefilled[0]
    # Prefilled before the exchange was committed, it already holds it; the next reply shares all of it.
    assert "Nine to five." in str(_head(after_first)) and "When does it open?" in str(_head(after_first))
    assert _head(after_first) == _head(llm.prompts[1])


def test_no_prefill_when_a_reply_is_waiting_for_the_llm(settings):
    import threading

    from parley.reply.history import Exchange

    llm = ScriptedLLM("Nine to five.")
    parley = fake_parley(settings, llm, ToneTTS())
    conversation = parley.conversation()
    llm_threads = parley.engines.executor("llm")
    release = threading.Event()

    async def busy_llm():
        running = asyncio.ensure_future(llm_threads.run(release.wait))
        queued = asyncio.ensure_future(llm_threads.run(lambda: None))
        await asyncio.sleep(0.05)
        await conversation.prepare_next(Exchange("When does it open?", "Nine to five."))
        release.set()
        await asyncio.gather(running, queued)

    asyncio.run(busy_llm())
    assert llm.prefilled == []


def test_an_early_reply_starts_at_the_pause_and_plays_when_the_endpoint_confirms_it(stack):
    asr = ScriptedASR({1.0: "Where is the library?"})
    llm = ScriptedLLM("It is in Hartley Hall.")
    session = fake_parley(stack, llm, ToneTTS(), asr).voice_session()
    events = asyncio.run(run_session(session, np.concatenate([speech(1.0), silence(2.5)])))
    kinds = [type(e) for e in events]
    assert kinds.index(PauseTranscript) < kinds.index(Utterance) < kinds.index(SpokenChunk)  # held till then
    assert [e.outcome for e in events if isinstance(e, EarlyReply)] == ["used"]
    (done,) = [e for e in events if isinstance(e, TurnDone)]
    extra = done.timings.extra
    assert extra["early_reply"] == 1.0 and extra["early_reply_head_start_ms"] > 0
    assert len(llm.prompts) == 1  # one reply, started early, not a second one at the endpoint
    assert [(e.user, e.assistant) for e in session.conversation.history.exchanges] == [
        ("Where is the library?", "It is in Hartley Hall.")]


def test_an_early_reply_is_dropped_without_a_trace_when_the_caller_goes_on(stack):
    asr = ScriptedASR({1.2: "I would like to know", 2.2: "I would like to know where the library is."})
    llm = ScriptedLLM("It is in Hartley Hall.", delay=0.05)
    session = fake_parley(stack, llm, ToneTTS(), asr).voice_session()
    audio = np.concatenate([speech(1.0), silence(0.2), speech(0.8), silence(2.5)])
    events = asyncio.run(run_session(session, audio))
    early = [(e.outcome, e.reason) for e in events if isinstance(e, EarlyReply)]
    assert early[0] == ("dropped", "the caller went on")
    assert [e.user for e in events if isinstance(e, TurnDone)] == ["I would like to know where the library is."]
    assert all(e.text != "I would like to know" for e in events if isinstance(e, TextDelta))
    assert [e.user for e in session.conversation.history.exchanges] == ["I would like to know where the library is."]


def test_without_early_replies_the_reply_starts_at_the_endpoint(tmp_path):
    stack = load_settings(write_stack(tmp_path, **{"asr.partial_interval_ms": 0, "turn_taking.early_reply": False}))
    session = fake_parley(stack, ScriptedLLM("Hello."), ToneTTS(), ScriptedASR({1.0: "Hi."})).voice_session()
    events = asyncio.run(run_session(session, np.concatenate([speech(1.0), silence(2.0)])))
    assert not [e for e in events if isinstance(e, EarlyReply)]
    (done,) = [e for e in events if isinstance(e, TurnDone)]
    assert done.timings.extra["early_reply"] == 0.0


def test_an_early_replys_first_audio_counts_only_what_was_left_at_the_endpoint():
    from parley.core.events import TurnTimings
    from parley.session.voice import voice_timings

    utterance = Utterance("Hi.", 0.0, 1.0, 1.3, asr_ms=0.0, decode_ms=90.0, speculative=True)
    done = TurnDone(user="Hi.", reply="Hello.", timings=TurnTimings(first_chunk_ms=350.0, first_audio_ms=380.0))
    late = voice_timings(utterance, done, head_start_ms=200.0)
    assert late["end_of_speech_to_first_audio_ms"] == pytest.approx(300 + 180)
    assert late["llm_first_chunk_ms"] == 150.0 and late["tts_first_audio_ms"] == 30.0
    ready = voice_timings(utterance, done, head_start_ms=500.0)  # all done before the endpoint
    assert ready["end_of_speech_to_first_audio_ms"] == pytest.approx(300)


def test_a_barge_in_does_not_wait_for_a_voice_stuck_in_a_long_synthesis(stack):
    asr = ScriptedASR({2.0: "Tell me about the campus.", 0.6: "Stop, where is the cafe?"})
    tts = ToneTTS(delay=1.5)  # every clause takes 1.5 s: the next one is in flight while one plays
    session = fake_parley(stack, ScriptedLLM(LONG_REPLY), tts, asr).voice_session()
    audio = np.concatenate([speech(2.0), silence(2.2), speech(0.6), silence(4.0)])
    events = asyncio.run(run_session(session, audio))
    (barge,) = [e for e in events if isinstance(e, BargeIn)]
    assert barge.cancel_ms < 600  # not the rest of the 1.5 s synthesis
    # Nothing of the cut reply is spoken after the cut: the next chunk is the new question's answer.
    question = next(i for i, e in enumerate(events) if isinstance(e, Utterance) and "cafe" in e.text)
    assert not [e for e in events[events.index(barge): question] if isinstance(e, SpokenChunk)]
    assert "cafe" in [e for e in events if isinstance(e, TurnDone)][-1].user


def test_the_end_of_turn_model_holds_a_pause_whose_words_only_look_finished(stack):
    """Whisper ends "What should I" with a question mark, so the word rules take it as finished; the
    end-of-turn model doubts it, so the pause is waited out and the whole question answered once."""
    audio = np.concatenate([speech(1.0), silence(0.7), speech(1.0), silence(2.0)])
    heard = {1.0: "What should I?", 2.4: "What should I bring to the open day?"}

    def utterances(turn_model):
        asr = ScriptedASR(heard)
        session = fake_parley(stack, ScriptedLLM("A pen."), ToneTTS(), asr, turn_model=turn_model).voice_session()
        events = asyncio.run(run_session(session, audio))
        early = [(e.outcome, e.reason) for e in events if isinstance(e, EarlyReply)]
        answered = [e.user for e in session.conversation.history.exchanges]
        return early, [e.text for e in events if isinstance(e, Utterance)], answered

    doubting = ScriptedTurnModel({"What should I?": 0.001})
    early, heard_as, answered = utterances(doubting)
    assert heard_as == answered == ["What should I bring to the open day?"]
    assert early[0] == ("dropped", "the caller went on")  # started on the fragment, never played
    assert doubting.read[0] == "What should I?"
    for rules_alone in (None, ScriptedTurnModel({})):  # no model, or one sure of every text
        early, heard_as, answered = utterances(rules_alone)
        assert heard_as[0] == "What should I?" and len(heard_as) == 2
