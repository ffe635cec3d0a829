"""The voices and the aligner: how fast each voice starts speaking, and how well speech without timings
is timed.

Voices (Piper's joe, hibari's heart, and an OpenAI-compatible server, the tests' speech_server, whose
audio is aligned here): time to the first clause's audio (p50, p95) over short first clauses, and the
real-time factor of longer sentences.

Aligner, against truths that are exact (each voice times its own phonemes):
- Piper's audio at three paces, with its sampling noise on (so durations differ from the reference's):
  mean phoneme-boundary error, mouth-opening (jawOpen) correlation and the mouth's offset;
- hibari's audio (another voice than the reference, and another phoneme alphabet): word-boundary
  error, mouth correlation and offset against hibari's own timings.
The baseline, measured in the same run on the same audio: Whisper's word timestamps with each word's
phonemes spread evenly inside it. The offset is the lag (10 ms steps) that best matches the aligned
mouth to the true one.

    .venv/bin/python -m perf.bench_voices [--repeats 3]
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from parley.config import TTSConfig
from parley.core.audio import resample
from parley.core.speech import PhonemeTiming, SpeechSegment
from parley.engines import engine_class
from parley.engines.openai_tts import OpenAITTSEngine
from parley.speak.align import Aligner
from parley.speak.visemes import CoarticulatedVisemes
from perf.harness import arguments, load, machine, percentiles, report_path, save
from testbed.openai_server import speech_server

FIRST_CLAUSES = ["Hello, I'm Ada.", "The library is in Hartley Hall,", "Sure, I can help with that.",
                 "Bus twelve leaves the main gate", "I'm sorry, I don't know that.", "Good question!",
                 "Tours start at ten,", "You can find it on the second floor,"]
SENTENCES = ["Hello there, the library opens at nine thirty on weekdays.",
             "You can borrow up to ten books at a time from the main desk.",
             "The cafeteria on the second floor serves lunch until two.",
             "Please bring your student card when you visit the sports centre.",
             "What time does the gym close tonight?",
             "Where can I find the chemistry building?",
             "Unplug the router for thirty seconds, then plug it back in.",
             "Measure, treasure, pleasure and leisure share a sound.",
             "Should I choose the chips or the cheese sandwich?",
             "Photosynthesis turns carbon dioxide and water into glucose."]
PACES = (0.85, 1.0, 1.2)
MOUTH = CoarticulatedVisemes(fps=100, coarticulation_ms=40)  # 10 ms steps, to see offsets under a frame


def bench_voice(tts, repeats: int) -> dict:
    tts.synthesize("Warm up.")
    first = []
    for _ in range(repeats):
        for clause in FIRST_CLAUSES:
            t0 = time.perf_counter()
            tts.synthesize(clause)
            first.append((time.perf_counter() - t0) * 1000)
    spent = audio = 0.0
    for text in SENTENCES:
        t0 = time.perf_counter()
        audio += tts.synthesize(text).duration
        spent += time.perf_counter() - t0
    return {**percentiles(first, 1, "first_clause_p{}_ms"), "real_time_factor": round(spent / audio, 4)}


def whisper_words_baseline(whisper, reference, audio: np.ndarray, rate: int, text: str) -> SpeechSegment | None:
    """Whisper's word times, each word's phonemes (the reference voice's) spread evenly inside it; None
    when Whisper heard another number of words than the reference says."""
    said = reference.synthesize(text)
    words, current = [], []
    for p in said.phonemes:
        if p.phoneme == " " and current:
            words.append(current)
            current = []
        elif p.phoneme not in " ^$_":
            current.append(p.phoneme)
    if current:
        words.append(current)
    segments, _ = whisper.model.transcribe(resample(audio, rate), word_timestamps=True, beam_size=1,
                                           condition_on_previous_text=False, language="en")
    heard = [w for s in segments for w in s.words]
    if len(heard) != len(words):
        return None
    phonemes = []
    for word, symbols in zip(heard, words):
        if phonemes:  # the gap between two words, as the voices mark it
            phonemes.append(PhonemeTiming(" ", phonemes[-1].end, max(phonemes[-1].end, word.start)))
        step = (word.end - word.start) / len(symbols)
        phonemes += [PhonemeTiming(s, word.start + i * step, word.start + (i + 1) * step)
                     for i, s in enumerate(symbols)]
    return SpeechSegment(text, audio, rate, phonemes)


def mouth_match(truth: SpeechSegment, aligned: SpeechSegment) -> tuple[float, float]:
    """(correlation of the jawOpen curves, the lag in ms that matches them best)."""
    want = np.array(MOUTH.track(truth).curves["jawOpen"])
    got = np.array(MOUTH.track(aligned).curves["jawOpen"])
    n = min(len(want), len(got))
    want, got = want[:n], got[:n]
    lags = range(-15, 16)
    scores = [np.corrcoef(want[max(0, -k): n - max(0, k)], got[max(0, k): n - max(0, -k)])[0, 1] for k in lags]
    return float(np.corrcoef(want, got)[0, 1]), 10.0 * lags[int(np.nanargmax(scores))]


def boundary_error_ms(truth: SpeechSegment, aligned: SpeechSegment) -> float | None:
    """Mean error of the phoneme starts; None where the phonemes differ (another voice's alphabet, or
    Whisper heard another number of words)."""
    want = [(p.phoneme, p.start) for p in truth.phonemes if p.phoneme not in " ^$_"]
    got = [(p.phoneme, p.start) for p in aligned.phonemes if p.phoneme not in " ^$_"]
    if [w for w, _ in want] != [g for g, _ in got]:
        return None
    return float(np.mean(np.abs(np.array([t for _, t in want]) - [t for _, t in got])) * 1000)


def word_error_ms(truth: SpeechSegment, aligned: SpeechSegment) -> float | None:
    """Mean error of the gaps between words (the middle of each space symbol); None if the counts differ."""
    want = [(p.start + p.end) / 2 for p in truth.phonemes if p.phoneme == " "]
    got = [(p.start + p.end) / 2 for p in aligned.phonemes if p.phoneme == " "]
    if len(want) != len(got) or not want:
        return None
    return float(np.mean(np.abs(np.array(want) - got)) * 1000)


def summarise(rows: list[dict]) -> dict:
    out = {}
    for method in ("aligner", "whisper_words"):
        mine = [r[method] for r in rows if r[method] is not None]
        errors = [m["boundary_ms"] for m in mine if m.get("boundary_ms") is not None]
        word_errors = [m["word_ms"] for m in mine if m.get("word_ms") is not None]
        out[method] = {
            "utterances": len(mine), "of": len(rows),
            "boundary_error_mean_ms": round(statistics.mean(errors), 1) if errors else None,
            "word_error_mean_ms": round(statistics.mean(word_errors), 1) if word_errors else None,
            "mouth_correlation_mean": round(statistics.mean(m["correlation"] for m in mine), 3) if mine else None,
            "mouth_offset_median_ms": statistics.median(m["offset_ms"] for m in mine) if mine else None,
            "mouth_offset_max_abs_ms": max(abs(m["offset_ms"]) for m in mine) if mine else None,
        }
    align_ms = [r["align_ms_per_audio_s"] for r in rows]
    out["aligner"]["ms_per_audio_second"] = round(statistics.mean(align_ms), 1)
    return out


def bench_aligner(aligner, whisper, reference, truths) -> dict:
    rows = []
    for truth in truths:
        t0 = time.perf_counter()
        aligned = aligner.align(truth.audio, truth.sample_rate, truth.text)
        spent = time.perf_counter() - t0
        row = {"text": truth.text, "align_ms_per_audio_s": spent * 1000 / truth.duration}
        baseline = whisper_words_baseline(whisper, reference, truth.audio, truth.sample_rate, truth.text)
        for method, got in (("aligner", aligned), ("whisper_words", baseline)):
            if got is None:
                row[method] = None
                continue
            correlation, offset = mouth_match(truth, got)
            row[method] = {"boundary_ms": boundary_error_ms(truth, got), "word_ms": word_error_ms(truth, got),
                           "correlation": correlation, "offset_ms": offset}
        rows.append(row)
    return {"summary": summarise(rows), "rows": rows}


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    parley = load(args)
    settings, store = parley.settings, parley.store

    def voice(name: str, **edits):
        engine = settings.registry.get(name, "tts").engine
        return engine_class("tts", engine)(store.require(name), TTSConfig(voice=name, **edits))

    aligner = Aligner.of(settings, store)
    result = {"voices": {}, "machine": machine()}
    for name in ("piper-en_US-joe-medium", "hibari-heart"):
        print(f"voice {name} ...", flush=True)
        result["voices"][name] = bench_voice(voice(name), args.repeats)
    with speech_server() as base:
        print("voice: OpenAI-compatible server (hibari behind /v1/audio/speech), aligned here ...", flush=True)
        served = OpenAITTSEngine(TTSConfig(engine="openai", base_url=base, voice="heart"), aligner)
        result["voices"]["openai-server (aligned)"] = bench_voice(served, args.repeats)

    whisper = engine_class("asr", "faster_whisper").from_settings(settings, store)
    reference = aligner.reference
    print("aligner on Piper's audio (3 paces, sampling noise on) ...", flush=True)
    piper_truths = [voice("piper-en_US-joe-medium", length_scale=pace).synthesize(text)
                    for pace in PACES for text in SENTENCES]
    result["aligner_piper"] = bench_aligner(aligner, whisper, reference, piper_truths)
    print("aligner on hibari's audio (another voice) ...", flush=True)
    heart = voice("hibari-heart", seed=0)
    result["aligner_hibari"] = bench_aligner(aligner, whisper, reference, [heart.synthesize(t) for t in SENTENCES])

    print()
    print(f"{'voice':40s} {'first clause p50':>17s} {'p95':>8s} {'RTF':>8s}")
    for name, r in result["voices"].items():
        print(f"{name:40s} {r['first_clause_p50_ms']:>14.1f} ms {r['first_clause_p95_ms']:>5.1f} ms "
              f"{r['real_time_factor']:>8.4f}")
    print()
    print(f"{'aligner':16s} {'method':14s} {'n':>6s} {'phoneme err':>12s} {'word err':>9s} {'mouth r':>8s} "
          f"{'offset p50':>11s} {'|offset| max':>13s}")

    def ms(value):
        return f"{value:.1f} ms" if value is not None else "-"

    for part in ("aligner_piper", "aligner_hibari"):
        for method, s in result[part]["summary"].items():
            print(f"{part:16s} {method:14s} {s['utterances']:>3d}/{s['of']:<2d} {ms(s['boundary_error_mean_ms']):>12s} "
                  f"{ms(s['word_error_mean_ms']):>9s} "
                  f"{s['mouth_correlation_mean'] or 0:>8.3f} {s['mouth_offset_median_ms'] or 0:>8.0f} ms "
                  f"{s['mouth_offset_max_abs_ms'] or 0:>10.0f} ms")
    print(f"aligner cost: {result['aligner_piper']['summary']['aligner']['ms_per_audio_second']} ms per second "
          "of audio (reference voice + warp)")
    save(result, report_path("voices", args.out))


if __name__ == "__main__":
    main()
