"""Benchmark of the adaptive endpoint: callers who stop to think mid-sentence are not answered, and
finished questions are answered sooner.

Questions spoken by two voices (Piper's joe, the callers' voice, at three paces; hibari's heart) are
heard by the listener (VAD, endpoint, Whisper) twice each: whole, and with the caller pausing
``--pause`` seconds at a hesitation point ("Where is the | main library?"). Sets: the questions the
rules of parley.hear.turn_end were tuned on; questions written afterwards and held out; a second
held-out set written before the end-of-turn model was tried; short finished turns ("Thank you."),
heard whole only. Three variants on the same audio: ``fixed`` (the wait is always vad.hangover_ms,
the baseline), ``rules`` (turn_taking.adaptive_endpoint: the wait follows the words heard at the
pause) and ``rules + model`` (and turn_taking.turn_model's veto). For each:

- cut at the pause: paused questions whose pause ended the turn (the reply would have started), and
  what was heard at those pauses;
- endpoint wait: silence after the last word before the endpoint, on whole questions (p50, p95);
- WER of what was heard against what was said;
- the end-of-turn model's time per pause (it is not on the audio clock below).

Input is fed faster than real time with the pause's words judged at the audio time they would be
live (``wait_for_partials``), so times are on the audio clock and the decode counts as instant.

    .venv/bin/python -m perf.bench_endpoint [--pause 0.7]
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import numpy as np

from parley.assemble import Parley
from parley.config import TTSConfig
from parley.core.events import SpeechEnded, Utterance
from parley.engines.hibari_tts import HibariEngine
from parley.engines.piper_tts import PiperEngine
from parley.hear.frames import stream_frames
from parley.hear.listener import Listener
from perf.harness import arguments, load, percentiles, report_path, save
from testbed.speech import silence, speak, voiced_bounds, wer

# "|" is where the caller stops to think.
QUESTIONS = [
    "Where is the | main library?",
    "When does the | library close at the weekend?",
    "How do I get to | the train station?",
    "Where can I get some | lunch on campus?",
    "What time do the | campus tours start?",
    "Can I use the | swimming pool?",
    "Where is the | admissions office?",
    "Is there a | bookshop near here?",
    "How often does the | bus to the station run?",
    "Do I need a | card for the sports centre?",
    "Is the library open on | Sunday?",
    "Can you tell me where | Hartley Hall is?",
    "What is next to the | north car park?",
    "I would like to | join a campus tour.",
    "Where do the campus tours | leave from?",
    "Um, | where is the main gate?",
]
# Written after the rules of parley.hear.turn_end were tuned on QUESTIONS, and not tuned on: how they
# fare on questions they were not fitted to.
HELD_OUT = [
    "Could you show me the | way to the lecture theatre?",
    "Is there a | cash machine in the student centre?",
    "What should I | bring to the open day?",
    "Where does the | shuttle bus stop?",
    "Are the | labs open in the evening?",
    "How far is it to | the science building?",
    "I am looking for | the international office.",
    "Which building is the | music department in?",
    "Can visitors park | near the main gate?",
    "Is the | cafe in the library open now?",
    "Who do I ask about | student housing?",
    "Where can I | print my documents?",
]
# Written before the end-of-turn model (turn_taking.turn_model) was tried, and never tuned on.
HELD_OUT_2 = [
    "Where is the | nearest bus stop?",
    "Can I borrow | a laptop from the library?",
    "What time does the | canteen open?",
    "Is there | wifi in the halls?",
    "How do I | apply for a parking permit?",
    "Where should I | go to register?",
    "Do you know if the | gym is open today?",
    "Who is in charge of | the chemistry lab?",
    "Can students | bring guests to the bar?",
    "When is the | next open day?",
    "I need to find | the exam hall.",
    "Where are the | lockers for students?",
]
# Short finished turns, heard whole only: what the end-of-turn model costs where it doubts them.
SHORT = ["Thank you.", "Yes, please.", "No.", "Okay.", "Hello.", "Goodbye.", "That's great, thanks.",
         "Sorry?"]
SILENCE_S = 1.0


def voices(store) -> dict:
    joe = "piper-en_US-joe-medium"
    piper = {pace: PiperEngine(store.require(joe), TTSConfig(voice=joe, length_scale=pace, noise_scale=0.0,
                                                              noise_w_scale=0.0)) for pace in (0.85, 1.0, 1.2)}
    heart = "hibari-heart"
    out = {f"piper joe x{pace}": engine for pace, engine in piper.items()}
    out["hibari heart"] = HibariEngine(store.require(heart), TTSConfig(voice=heart, engine="hibari", seed=0))
    return out


def spoken(engine, text: str) -> np.ndarray:
    """The voice saying ``text``, without the silence a voice puts around it (the pause is ours)."""
    audio = speak(engine, text)
    start, end = voiced_bounds(audio)
    return audio[int(start * 16000) : int(end * 16000)]


def clips(engine, pause_s: float, questions: list[str]) -> list[tuple[str, str, np.ndarray]]:
    """(kind, text, 16 kHz audio) for each question, whole and paused."""
    out = []
    for question in questions:
        if "|" not in question:
            out.append(("whole", question, np.concatenate([silence(SILENCE_S), spoken(engine, question),
                                                           silence(1.5)])))
            continue
        head, tail = (part.strip() for part in question.split("|"))
        text = f"{head} {tail}"
        out.append(("whole", text, np.concatenate([silence(SILENCE_S), spoken(engine, text), silence(1.5)])))
        out.append(("paused", text, np.concatenate([silence(SILENCE_S), spoken(engine, head), silence(pause_s),
                                                    spoken(engine, tail), silence(1.5)])))
    return out


async def hear(listener: Listener, audio: np.ndarray) -> list:
    return [e async for e in listener.listen(stream_frames(audio))]


class Timed:
    """The end-of-turn model, timed."""

    def __init__(self, model) -> None:
        self.model, self.ms = model, []

    def probability(self, text: str) -> float:
        t0 = time.perf_counter()
        try:
            return self.model.probability(text)
        finally:
            self.ms.append((time.perf_counter() - t0) * 1000)


VARIANTS = {"fixed": (False, False), "rules": (True, False), "rules + model": (True, True)}


def run_variant(parley: Parley, all_clips: dict, variant: str) -> dict:
    stack = parley.settings.stack
    adaptive, model = VARIANTS[variant]
    turn_taking = stack.turn_taking.model_copy(update={"adaptive_endpoint": adaptive})
    timed = Timed(parley.engines.turn_model) if model else None
    listener = Listener(parley.engines.vad(), parley.engines.asr, stack.vad, stack.asr, parley.asr_prompt(),
                        True, parley.engines.executor("asr"), turn_taking, timed)
    cut = paused = 0
    waits, errors, words = [], 0, 0
    per_voice, missed = {}, []
    for voice, items in all_clips.items():
        voice_cut = 0
        for kind, text, audio in items:
            events = asyncio.run(hear(listener, audio))
            utterances = [e for e in events if isinstance(e, Utterance)]
            heard = " ".join(u.text for u in utterances)
            e, n = wer(text, heard)
            errors, words = errors + e, words + n
            if kind == "paused":
                paused += 1
                if len(utterances) > 1:
                    cut += 1
                    voice_cut += 1
                    missed.append(f"{voice}: {utterances[0].text.strip()}")
            else:
                ended = [e for e in events if isinstance(e, SpeechEnded)]
                waits += [(x.at - x.end) * 1000 for x in ended[-1:]]
        per_voice[voice] = voice_cut
    return {"cut_at_pause": cut, "paused_questions": paused, "cut_by_voice": per_voice, "missed": missed,
            "endpoint_wait_ms": {**percentiles(waits), "n": len(waits)},
            "wer": round(errors / words, 4),
            **({"turn_model_ms": {**percentiles(timed.ms), "n": len(timed.ms)}} if timed and timed.ms else {})}


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--pause", type=float, default=0.7, help="seconds the caller stops to think")
    args = parser.parse_args()
    parley = load(args)
    engines = voices(parley.store)
    results = {}
    sets = (("tuned on", QUESTIONS), ("held out", HELD_OUT), ("held out 2", HELD_OUT_2), ("short", SHORT))
    for questions_name, questions in sets:
        all_clips = {name: clips(engine, args.pause, questions) for name, engine in engines.items()}
        for name in VARIANTS:
            t0 = time.perf_counter()
            run = run_variant(parley, all_clips, name) | {"seconds": round(time.perf_counter() - t0, 1)}
            results[f"{questions_name}, {name}"] = run
            print(questions_name, name, json.dumps(run), flush=True)
    stack = parley.settings.stack
    report = {
        "conditions": {"pause_s": args.pause, "questions": len(QUESTIONS), "held_out": len(HELD_OUT),
                       "held_out_2": len(HELD_OUT_2), "short": len(SHORT),
                       "turn_model": stack.turn_taking.turn_model, "turn_model_min": stack.turn_taking.turn_model_min,
                       "voices": list(engines),
                       "hangover_ms": stack.vad.hangover_ms, "finished_wait_ms": stack.turn_taking.finished_wait_ms,
                       "unfinished_wait_ms": stack.turn_taking.unfinished_wait_ms, "asr": stack.asr.model,
                       "cores": os.cpu_count()},
        "results": results,
    }
    save(report, report_path("endpoint", args.out))


if __name__ == "__main__":
    main()
