"""Benchmark of Whisper's accuracy against its time: the 10 s window (greedy, or a beam), a retry in
Whisper's own 30 s window only when the first decode is unsure (``asr.retry_below``), and the 30 s
window always.

Questions spoken by Piper's joe at three paces and by hibari's heart, each decoded as the listener
hands it over (0.2 s of audio before the speech, a chunk after) with the persona's prompt. Thresholds
are chosen on a development set (the questions of bench_speech_in and bench_endpoint) and then
checked on questions held out from that choice (bench_endpoint's held-out set and the test sentences).

    .venv/bin/python -m perf.bench_asr
"""

from __future__ import annotations

import os
import time

import numpy as np

from parley.engines.faster_whisper import FasterWhisperEngine
from perf.bench_endpoint import HELD_OUT, voices
from perf.bench_endpoint import QUESTIONS as PAUSED
from perf.bench_endpoint import spoken as trimmed
from perf.bench_speech_in import QUESTIONS
from perf.harness import arguments, load, percentiles, report_path, save
from testbed.speech import silence, wer

DEV = list(dict.fromkeys(QUESTIONS + [q.replace("| ", "") for q in PAUSED]))
TEST = [q.replace("| ", "") for q in HELD_OUT] + [
    "What should I do if I lose my student card?",
    "Which bus goes to the city centre?",
    "How much does it cost to print a page?",
    "Is there a quiet place to study after nine?",
    "Where can I leave my bicycle overnight?",
    "Who runs the campus radio station?",
]


def clips(engine_by_voice: dict, sentences: list[str]) -> list[tuple[str, np.ndarray]]:
    out = []
    for engine in engine_by_voice.values():
        for text in sentences:
            audio = trimmed(engine, text)
            out.append((text, np.concatenate([silence(0.2), audio, silence(0.032)])))
    return out


def run(engine: FasterWhisperEngine, items, prompt: str, **config) -> dict:
    base = engine.config
    engine.config = base.model_copy(update=config)
    retried = 0
    encode = engine._encode

    def counting(features, window_s):
        nonlocal retried
        retried += window_s != engine.config.window_s
        return encode(features, window_s)

    engine._encode = counting
    try:
        edits = words = 0
        times = []
        for text, audio in items:
            t0 = time.perf_counter()
            heard = engine.transcribe(audio, prompt)
            times.append((time.perf_counter() - t0) * 1000)
            e, n = wer(text, heard)
            edits, words = edits + e, words + n
    finally:
        engine.config, engine._encode = base, encode
    return {"wer": round(edits / words, 4), **percentiles(times, 1, "ms_p{}"),
            "ms_mean": round(float(np.mean(times)), 1), "retried": retried, "n": len(items)}


def main() -> None:
    args = arguments(__doc__).parse_args()
    parley = load(args)
    engine = parley.engines.asr
    prompt = parley.asr_prompt()
    speakers = voices(parley.store)
    sets = {"dev": clips(speakers, DEV), "test": clips(speakers, TEST)}
    off = {"retry_below": None}
    variants = {
        "10 s, greedy (baseline)": off,
        "10 s, beam 5": {**off, "beam_size": 5},
        "10 s, retry in 30 s below -0.2": {"retry_below": -0.2},
        "10 s, retry in 30 s below -0.3": {"retry_below": -0.3},
        "10 s, retry in 30 s below -0.5": {"retry_below": -0.5},
        "10 s, retry in 30 s below -0.7": {"retry_below": -0.7},
        "30 s, greedy": {**off, "window_s": 30.0},
    }
    results = {}
    for set_name, items in sets.items():
        for name, config in variants.items():
            results[f"{set_name}: {name}"] = r = run(engine, items, prompt, **config)
            print(f"{set_name:4} {name:32} WER {r['wer']:.1%}  ms p50 {r['ms_p50']:.0f} p95 {r['ms_p95']:.0f} "
                  f"mean {r['ms_mean']:.0f}  retried {r['retried']}/{r['n']}", flush=True)
    report = {"conditions": {"voices": list(speakers), "dev_sentences": len(DEV), "test_sentences": len(TEST),
                             "asr": parley.settings.stack.asr.model, "cores": os.cpu_count()},
              "results": results}
    save(report, report_path("asr", args.out))


if __name__ == "__main__":
    main()
