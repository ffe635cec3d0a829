"""What retrieval by meaning costs on a large knowledge base: start-up and each question.

A handbook of --passages made-up passages (rooms, services, hours: realistic lengths, no meaning to
test) is indexed three times: by words alone (BM25: the baseline, measured in the same run), by words
and meaning with an empty embedding cache (the first start), and again with the cache the first one
left (every later start). Then --questions questions are matched (``Knowledge.match``) and answered
(``Knowledge.answer``) against each index. Prints and saves start-up seconds and per-question
milliseconds (p50, p95).

    .venv/bin/python -m perf.bench_retrieval [--passages 3000] [--questions 100]
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from parley.engines.embedder import EmbeddingCache, SentenceEmbedder
from parley.reply.knowledge import Knowledge, Passage
from perf.harness import arguments, load, machine, percentiles, report_path, save

BUILDINGS = ["Hartley Hall", "the Old Building", "the Civic Centre", "the Science Park", "North Wing", "the Annex"]
SERVICES = ["the printing room", "the careers office", "the language lab", "the prayer room", "the post room",
            "the nursery", "the lost property desk", "the IT help point", "the chaplaincy", "the music practice rooms"]
DAYS = ["on weekdays", "at weekends", "on Mondays and Thursdays", "every day", "during term"]


def handbook(n: int, seed: int = 0) -> list[Passage]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        service, building = rng.choice(SERVICES), rng.choice(BUILDINGS)
        start, end = rng.randint(7, 11), rng.randint(15, 22)
        out.append(Passage(f"Room {100 + i} in {building} holds {service}, open {start} am to {end - 12} pm "
                           f"{rng.choice(DAYS)}; ask for extension {4000 + rng.randint(0, 999)} if it is closed.",
                           "handbook.md"))
    return out


def questions(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    forms = ["Where is {s}?", "When is {s} open?", "Is {s} open {d}?", "How do I reach {s}?"]
    return [rng.choice(forms).format(s=rng.choice(SERVICES), d=rng.choice(DAYS)) for _ in range(n)]


def timed_index(passages: list[Passage], embed) -> tuple[Knowledge, float]:
    start = time.perf_counter()
    knowledge = Knowledge(passages, embed=embed)
    return knowledge, time.perf_counter() - start


def per_question(knowledge: Knowledge, asked: list[str]) -> dict:
    took = []
    for question in asked:
        start = time.perf_counter()
        passages, _ = knowledge.match(question)
        if passages:
            knowledge.answer(question, passages)
        took.append((time.perf_counter() - start) * 1000)
    return percentiles(took, 2, "question_ms_p{}")


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--passages", type=int, default=3000)
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args()
    parley = load(args)
    name = parley.settings.stack.retrieval.embedding or "minilm-l6-int8"
    embedder = SentenceEmbedder.from_store(parley.store, name)
    passages, asked = handbook(args.passages), questions(args.questions)
    result = {"machine": machine(), "passages": len(passages), "questions": len(asked), "model": name}
    with tempfile.TemporaryDirectory() as folder:
        embedder.cache = EmbeddingCache(name, Path(folder))
        for label, embed in (("words", None), ("meaning_cold", embedder.embed), ("meaning_cached", embedder.embed)):
            if label == "meaning_cached":
                embedder.cache = EmbeddingCache(name, Path(folder))  # a new start: read from disk
            knowledge, seconds = timed_index(passages, embed)
            result[label] = {"start_s": round(seconds, 2), **per_question(knowledge, asked)}
            print(f"{label:15} start {seconds:7.2f} s   per question p50 {result[label]['question_ms_p50']} ms "
                  f"p95 {result[label]['question_ms_p95']} ms", flush=True)
        result["cache_mb"] = round(embedder.cache.path.stat().st_size / 1e6, 1)
    save(result, report_path("retrieval", args.out))


if __name__ == "__main__":
    main()
