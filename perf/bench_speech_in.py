"""Benchmark of a full spoken turn: end of the caller's speech → first reply audio.

20 spoken questions (made by the Piper voice, the callers' voice, with silence around them) go
through the whole stack: VAD, endpoint, Whisper, LLM, TTS (the avatar's voice). Runs over the same
questions:
- ``fast``: input fed as fast as the stages allow, timings on the audio clock (see docs);
- ``fast, no speculative ASR``: the baseline, Whisper starts only at the endpoint;
- ``realtime, early reply``: input paced at wall-clock speed with partial transcripts on, as a live
  caller, the reply started at the first pause (``turn_taking.early_reply``);
- ``realtime, early reply, no end-of-turn model``: the pause's words judged by the word rules alone
  (what turn_taking.turn_model costs in time);
- ``realtime, no early reply``: its baseline, the reply started at the endpoint.
Also the barge-in cancel latency: a turn cancelled while it generates, time until it has stopped.

    .venv/bin/python -m perf.bench_speech_in [--questions 20] [--no-realtime]
"""

from __future__ import annotations

import asyncio
import statistics
import time

import numpy as np

from parley.assemble import Parley
from parley.config import TTSConfig
from parley.core.events import TurnDone
from parley.core.interfaces import CancelToken
from parley.core.speech import SpokenChunk
from parley.engines.piper_tts import PiperEngine
from parley.hear.frames import stream_frames
from parley.reply.history import History
from parley.session.voice import VoiceSession
from perf.harness import arguments, load, machine, report_path, save, summary
from testbed.speech import silence, speak

QUESTIONS = [
    "Hello, who are you?",
    "Where is the main library?",
    "When does the library close at the weekend?",
    "How do I get to the train station?",
    "Where can I get some lunch on campus?",
    "What time do the campus tours start?",
    "Can I use the swimming pool?",
    "Where is the admissions office?",
    "Is there a bookshop near here?",
    "How often does the bus to the station run?",
    "Where is the north car park?",
    "What can I find in the student centre?",
    "Do I need a card for the sports centre?",
    "Is the library open on Sunday?",
    "Where do the campus tours leave from?",
    "Can you help me find Hartley Hall?",
    "What is next to the north car park?",
    "Is there a gym on campus?",
    "When is the last campus tour of the day?",
    "Thank you, where is the main gate?",
]
STAGES = ["vad_end_ms", "asr_ms", "llm_first_chunk_ms", "tts_first_audio_ms"]


async def one_turn(settings, engines, listener, audio, realtime, early_reply=True) -> dict | None:
    conversation = Parley(settings, engines=engines).conversation(History())
    await asyncio.to_thread(conversation.warm_up)
    turn_taking = settings.stack.turn_taking.model_copy(update={"early_reply": early_reply})
    session = VoiceSession(conversation, listener, turn_taking)  # a fresh history each turn
    result = None
    async for event in session.run(stream_frames(audio, settings.stack.audio_in.frame_ms, realtime)):
        if isinstance(event, TurnDone) and not event.timings.interrupted:
            result = {"question": event.user, **event.timings.to_dict()}
    return result


def run_variant(settings, engines, store, clips, realtime, speculative=True, early_reply=True,
                turn_model=True) -> dict:
    listener = Parley(settings, store, engines).listener(wait_for_partials=not realtime)
    listener.asr_config = listener.asr_config.model_copy(update={"speculative": speculative})
    if not turn_model:
        listener.turn_model = None
    rows = []
    for clip in clips:
        row = asyncio.run(one_turn(settings, engines, listener, clip, realtime, early_reply and speculative))
        if row and row.get("end_of_speech_to_first_audio_ms") is not None:
            rows.append(row)
    total = [r["end_of_speech_to_first_audio_ms"] for r in rows]
    mean_total = statistics.fmean(total)
    return {
        "end_of_speech_to_first_audio_ms": summary(total),
        "stages_ms": {s: summary([r[s] for r in rows]) for s in STAGES},
        "stage_share": {s: round(statistics.fmean(r[s] for r in rows) / mean_total, 3) for s in STAGES},
        "asr_decode_ms": summary([r["asr_decode_ms"] for r in rows]),
        "turns": rows,
    }


def bench_cancel(settings, engines, trials: int) -> dict:
    """Cancel a generating turn at its first audio; ms until the turn has fully stopped."""
    latencies = []

    async def trial(question):
        conversation = Parley(settings, engines=engines).conversation(History())
        token = CancelToken()
        cancelled_at = None
        async for event in conversation.reply(question, token):
            if isinstance(event, SpokenChunk) and cancelled_at is None:
                cancelled_at = time.perf_counter()
                token.cancel("barge-in")
            elif isinstance(event, TurnDone) and cancelled_at is not None:
                return (time.perf_counter() - cancelled_at) * 1000
        return None

    for i in range(trials):
        ms = asyncio.run(trial("Tell me about every building on campus, one after another, in detail. "
                               + QUESTIONS[i % len(QUESTIONS)]))
        if ms is not None:
            latencies.append(ms)
    return summary(latencies)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--no-realtime", action="store_true")
    args = parser.parse_args()

    parley = load(args)
    settings, store, engines = parley.settings, parley.store, parley.engines
    clips = []
    caller = PiperEngine(store.require("piper-en_US-joe-medium"), TTSConfig(voice="piper-en_US-joe-medium"))
    for text in QUESTIONS[: args.questions]:
        # the caller's voice: Piper's, not the avatar's
        clips.append(np.concatenate([silence(0.5), speak(caller, text), silence(1.5)]))

    result = {"machine": machine(),
              "config": {"llm": settings.stack.llm.model, "asr": settings.stack.asr.model,
                         "hangover_ms": settings.stack.vad.hangover_ms},
              "runs": {}}
    variants = [("fast", False, True, True, True), ("fast, no speculative ASR (baseline)", False, False, False, True)]
    if not args.no_realtime:
        variants += [("realtime, partials on, early reply", True, True, True, True),
                     ("realtime, early reply, no end-of-turn model", True, True, True, False),
                     ("realtime, no early reply (baseline)", True, True, False, True)]
    for name, realtime, speculative, early, turn_model in variants:
        result["runs"][name] = run_variant(settings, engines, store, clips, realtime, speculative, early, turn_model)
        used = [r.get("early_reply", 0.0) for r in result["runs"][name]["turns"]]
        result["runs"][name]["early_replies_used"] = int(sum(used))
    result["barge_in_cancel_ms"] = bench_cancel(settings, engines, trials=10)

    print(f"end of speech → first audio over {args.questions} spoken questions ({result['config']})")
    print(f"  {'run':40} {'p50':>7} {'p95':>7}   " + "  ".join(f"{s.removesuffix('_ms'):>18}" for s in STAGES))
    for name, run in result["runs"].items():
        t = run["end_of_speech_to_first_audio_ms"]
        shares = "  ".join(f"{run['stages_ms'][s]['p50']:8.0f} ms ({run['stage_share'][s]:4.0%})" for s in STAGES)
        print(f"  {name:40} {t['p50']:7.0f} {t['p95']:7.0f}   {shares}")
    c = result["barge_in_cancel_ms"]
    print(f"barge-in: turn stopped {c['p50']} ms (p50) / {c['p95']} ms (p95) after cancel")
    save(result, report_path("speech-in", args.out))


if __name__ == "__main__":
    main()
