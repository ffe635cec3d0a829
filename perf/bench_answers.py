"""Grounded answers: does each shipped persona answer from its facts, and decline what they do not say?

For every persona, the questions in perf/answers/<persona>.yaml are asked one by one, each on a fresh
history, twice in the same run: grounded (the persona as shipped) and an ungrounded baseline (the
same persona with every fact in its prompt, as before grounding, no retrieval and no check). Each
reply is classed:
- a question whose answer is in the facts: answered (the reply contains an expected answer),
  declined, or missed;
- a question the facts do not answer: declined (the persona's decline line, or a reply that says it
  does not know), deflected (only a passage of the persona's own knowledge was said) or invented
  (anything else: the reply states something the persona was never told).
It prints, per persona and in all, those counts and text → first audio (p50, p95), and saves them
with every reply under perf/results/.

    .venv/bin/python -m perf.bench_answers [--personas campus-guide tutor] [--seed 1]
"""

from __future__ import annotations

import asyncio
import re

import yaml

from parley.assemble import Parley
from parley.config import REPO_CONFIGS
from parley.config.loader import load_persona
from parley.config.persona import Grounding
from parley.core.events import TurnDone
from parley.reply.knowledge import Knowledge
from parley.reply.words import numbers
from perf.harness import REPO, arguments, load, machine, percentile, report_path, save

SETS = REPO / "perf" / "answers"
DOES_NOT_KNOW = re.compile(r"\b(don't know|do not know|not sure|no information|can't help|cannot help|"
                           r"don't have|do not have|I'm afraid)\b", re.IGNORECASE)


def baseline(persona):
    """The persona before grounding: every fact in its prompt, no retrieval, no check."""
    facts = "\nThe facts:\n{knowledge}\n"
    return persona.model_copy(update={
        "grounding": Grounding(mode="off"),
        "preamble": persona.preamble.rstrip() + facts, "system_prompt": persona.system_prompt.rstrip() + facts})


def contains(reply: str, expected: str) -> bool:
    if re.fullmatch(r"[\d.]+", expected):
        return expected in numbers(reply)
    return expected.lower() in reply.lower()


def classify(reply: str, grounding: str, persona, knowledge: Knowledge, expect: list[str] | None) -> str:
    declined = persona.decline in reply or bool(DOES_NOT_KNOW.search(reply))
    if expect is not None:
        return "answered" if any(contains(reply, e) for e in expect) else "declined" if declined else "missed"
    if declined:
        return "declined"
    fallback = persona.fallback.split("{passage}")[0].strip()
    rest = reply.replace(fallback, "").strip()
    if grounding in ("quoted", "replaced", "added") and reply.startswith(fallback) and any(
            rest == p.text for p in knowledge.passages):
        return "deflected"
    return "invented"


async def ask(parley: Parley, question: str) -> TurnDone:
    async for event in parley.conversation().reply(question):
        if isinstance(event, TurnDone):
            return event
    raise RuntimeError("the turn ended without TurnDone")


def run_persona(name: str, seed: int, default) -> dict:
    questions = yaml.safe_load((SETS / f"{name}.yaml").read_text())
    persona = load_persona(REPO_CONFIGS / "personas" / f"{name}.yaml")
    stack = default.stack.model_copy(update={"llm": default.stack.llm.model_copy(update={"seed": seed})})
    modes = {"grounded": persona, "baseline": baseline(persona)}
    avatars = {mode: Parley(default.model_copy(update={"stack": stack, "persona": p})) for mode, p in modes.items()}
    for parley in avatars.values():
        parley.warm_up()
    asked = [(item["q"], item["expect"]) for item in questions["in_facts"]]
    asked += [(q, None) for q in questions["not_in_facts"]]
    rows = []
    for question, expect in asked:
        for mode, parley in avatars.items():  # interleaved: both see the same machine state
            done = asyncio.run(ask(parley, question))
            verdict = classify(done.reply, done.grounding, persona, parley.knowledge, expect)
            rows.append({"persona": name, "mode": mode, "question": question, "in_facts": expect is not None,
                         "verdict": verdict, "grounding": done.grounding, "reply": done.reply,
                         "first_audio_ms": round(done.timings.first_audio_ms or 0.0, 1)})
            print(f"  [{mode:8}] {verdict:9} {question!r}: {done.reply}", flush=True)
    for parley in avatars.values():
        parley.close()
    return {"rows": rows}


def summary(rows: list[dict]) -> dict:
    out = {}
    for mode in ("grounded", "baseline"):
        mine = [r for r in rows if r["mode"] == mode]
        inside = [r for r in mine if r["in_facts"]]
        outside = [r for r in mine if not r["in_facts"]]
        latency = [r["first_audio_ms"] for r in mine if r["first_audio_ms"]]
        out[mode] = {
            "in_facts": len(inside), "answered": sum(r["verdict"] == "answered" for r in inside),
            "in_facts_declined": sum(r["verdict"] == "declined" for r in inside),
            "not_in_facts": len(outside), "declined": sum(r["verdict"] == "declined" for r in outside),
            "deflected": sum(r["verdict"] == "deflected" for r in outside),
            "invented": sum(r["verdict"] == "invented" for r in outside),
            "first_audio_p50_ms": percentile(latency, 50, 1),
            # nearest rank, as this benchmark has always reported it
            "first_audio_p95_ms": percentile(latency, 95, 1, method="higher"),
            # the questions the LLM answers in both modes (a decline skips the LLM: it is quicker)
            "first_audio_p50_in_facts_ms": percentile(
                [r["first_audio_ms"] for r in inside if r["first_audio_ms"]] or [0.0], 50, 1),
        }
    return out


def line(label: str, s: dict) -> str:
    return (f"{label}: answered {s['answered']}/{s['in_facts']} in facts ({s['in_facts_declined']} declined); "
            f"not in facts: declined {s['declined']}, deflected {s['deflected']}, invented {s['invented']} of "
            f"{s['not_in_facts']}; text → first audio p50 {s['first_audio_p50_ms']} ms "
            f"p95 {s['first_audio_p95_ms']} ms (in facts p50 {s['first_audio_p50_in_facts_ms']} ms)")


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--personas", nargs="*", default=sorted(p.stem for p in SETS.glob("*.yaml")))
    parser.add_argument("--seed", type=int, default=1, help="the LLM's seed (the default stack samples)")
    args = parser.parse_args()
    default = load(args).settings
    rows = []
    for name in args.personas:
        print(f"{name}:", flush=True)
        rows += run_persona(name, args.seed, default)["rows"]
    result = {"personas": {}, "all": summary(rows), "rows": rows, "machine": machine(),
              "settings": {"personas": args.personas, "seed": args.seed}}
    for name in args.personas:
        result["personas"][name] = summary([r for r in rows if r["persona"] == name])
    print()
    for name, modes in result["personas"].items():
        for mode, s in modes.items():
            print(line(f"{name} {mode}", s))
    for mode, s in result["all"].items():
        print(line(f"ALL {mode}", s))
    grounded, base = result["all"]["grounded"], result["all"]["baseline"]
    for key, label in (("first_audio_p50_ms", "all questions"), ("first_audio_p50_in_facts_ms", "in facts")):
        if grounded[key] and base[key]:
            print(f"grounded text → first audio p50 vs baseline ({label}): {grounded[key] / base[key] - 1:+.1%}")
    save(result, report_path("answers", args.out))


if __name__ == "__main__":
    main()
