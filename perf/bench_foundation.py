"""Benchmark of the text → speech half of a turn on the default CPU stack.

Measures, on the real default models:
- TTS: time to first audio of a clause, real-time factor;
- LLM: time to first token (cold prompt and with the persona prefilled), decode tokens/s;
- a chat turn: text in → first audio out, streamed (clause by clause) against a baseline measured
  in the same run that waits for the whole reply before speaking it.

Prints a table and writes JSON to perf/results/ (or --out). Usage:
    .venv/bin/python -m perf.bench_foundation [--turns 10] [--config configs/cpu.yaml]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from parley.assemble import Parley
from parley.core.events import TurnDone
from parley.core.interfaces import CancelToken
from parley.reply.history import History
from parley.reply.splitter import ClauseSplitter
from parley.session.conversation import Conversation
from perf.harness import arguments, load, machine, report_path, save, summary

QUESTIONS = [
    "Hello! Who are you?",
    "Where is the library?",
    "When does the library close at weekends?",
    "How do I get to the train station?",
    "Where can I get lunch?",
    "What time do campus tours start?",
    "Can I use the swimming pool?",
    "Where is Admissions?",
    "Is there a bookshop on campus?",
    "How often does the bus run?",
    "Thanks, where is the north car park?",
    "What is in the student centre?",
]
TTS_TEXTS = [
    "Sure.",
    "The library is in Hartley Hall.",
    "Take bus twelve from the main gate; it leaves every fifteen minutes, day and night.",
    "On weekdays the library in Hartley Hall closes at ten in the evening, and at six at weekends, "
    "so plan your study sessions around that, and remember the cafe next door closes earlier.",
]


def bench_tts(tts, repeats: int) -> dict:
    out = {}
    tts.synthesize("Warm up.")
    for text in TTS_TEXTS:
        first_clause = (ClauseSplitter().feed(text + " ") or [text])[0]
        firsts, rtfs = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            tts.synthesize(first_clause)
            firsts.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            seg = tts.synthesize(text)
            rtfs.append((time.perf_counter() - t0) / seg.duration)
        out[f"{len(text.split())} words"] = {
            "first_clause_ms": summary(firsts), "whole_text_rtf": round(statistics.median(rtfs), 4),
            "audio_s": round(seg.duration, 2)}
    return out


def bench_llm(llm, conv: Conversation, repeats: int) -> dict:
    prompt = conv.generation.prompt(conv.history, "Where is the library?")
    cold, warm, rates = [], [], []
    for _ in range(repeats):
        llm.llm.reset()  # forget the evaluated prefix: a cold prompt
        t0 = time.perf_counter()
        next(iter(llm.stream(prompt, 1, CancelToken())))
        cold.append((time.perf_counter() - t0) * 1000)
        conv.warm_up()
        t0 = time.perf_counter()
        n, first = 0, None
        for _ in llm.stream(prompt, 64, CancelToken()):
            n += 1
            first = first or time.perf_counter()
        end = time.perf_counter()
        warm.append((first - t0) * 1000)
        if n > 1:
            rates.append((n - 1) / (end - first))
    return {"prompt_tokens": llm.count_tokens(prompt.text or json.dumps(prompt.messages)),
            "first_token_cold_ms": summary(cold), "first_token_prefilled_ms": summary(warm),
            "decode_tokens_per_s": round(statistics.median(rates), 1) if rates else None}


async def streamed_turn(conv: Conversation, question: str) -> dict:
    async for event in conv.reply(question):
        if isinstance(event, TurnDone):
            return event.timings.to_dict()
    raise RuntimeError("turn ended without TurnDone")


def whole_reply_turn(conv: Conversation, engines, question: str) -> float:
    """Baseline: wait for the complete LLM reply, then synthesise it; ms to first audio."""
    llm_cfg = conv.settings.stack.llm
    t0 = time.perf_counter()
    prompt = conv.generation.prompt(conv.history, question)
    reply = "".join(engines.llm.stream(prompt, llm_cfg.max_tokens, CancelToken()))
    if reply.strip():
        engines.tts.synthesize(reply)
    return (time.perf_counter() - t0) * 1000


def bench_turns(settings, engines, turns: int) -> dict:
    streamed, baseline, rows = [], [], []
    for i in range(turns):
        question = QUESTIONS[i % len(QUESTIONS)]
        # Fresh history each time: every turn starts from the same prefilled persona prompt.
        conv = Parley(settings, engines=engines).conversation(History())
        conv.warm_up()
        timings = asyncio.run(streamed_turn(conv, question))
        conv.history.clear()
        conv.warm_up()
        base_ms = whole_reply_turn(conv, engines, question)
        if timings["first_audio_ms"] is not None:
            streamed.append(timings["first_audio_ms"])
        baseline.append(base_ms)
        rows.append({"question": question, **timings, "baseline_first_audio_ms": round(base_ms, 1)})
    return {"text_to_first_audio_ms": summary(streamed), "baseline_whole_reply_first_audio_ms": summary(baseline),
            "llm_first_token_ms": summary([r["llm_first_token_ms"] for r in rows if r["llm_first_token_ms"]]),
            "turns": rows}


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    parley = load(args)
    settings, engines = parley.settings, parley.engines
    t0 = time.perf_counter()
    engines.get("llm"), engines.get("tts")  # loaded here, on the clock
    load_s = time.perf_counter() - t0
    conv = Parley(settings, engines=engines).conversation()
    result = {
        "machine": machine(),
        "config": {"llm": settings.stack.llm.model, "voice": settings.stack.tts.voice,
                   "persona": settings.persona.name, "prompt_style": settings.prompt_style},
        "engine_load_s": round(load_s, 2),
        "tts": bench_tts(engines.tts, args.repeats),
        "llm": bench_llm(engines.llm, conv, args.repeats),
        "chat_turn": bench_turns(settings, engines, args.turns),
    }

    print(f"engines loaded in {result['engine_load_s']} s  ({result['config']})")
    print("TTS (Piper)                 first clause p50/p95 ms   whole-text RTF")
    for name, r in result["tts"].items():
        print(f"  {name:24}  {r['first_clause_ms']['p50']:7.1f} / {r['first_clause_ms']['p95']:7.1f}"
              f"       {r['whole_text_rtf']:.3f}")
    llm = result["llm"]
    print(f"LLM ({settings.stack.llm.model}, {llm['prompt_tokens']} prompt tokens): first token cold "
          f"p50 {llm['first_token_cold_ms']['p50']} ms, prefilled p50 {llm['first_token_prefilled_ms']['p50']} ms, "
          f"decode {llm['decode_tokens_per_s']} tok/s")
    turn = result["chat_turn"]
    print(f"chat turn, text → first audio over {args.turns} turns: streamed p50 "
          f"{turn['text_to_first_audio_ms']['p50']} ms / p95 {turn['text_to_first_audio_ms']['p95']} ms; "
          f"baseline (whole reply first) p50 {turn['baseline_whole_reply_first_audio_ms']['p50']} ms / p95 "
          f"{turn['baseline_whole_reply_first_audio_ms']['p95']} ms")
    save(result, report_path("foundation", args.out))


if __name__ == "__main__":
    main()
