"""Grounded answers: does each shipped persona answer from its facts, and decline what they do not say?

For every persona, the questions of a set are asked one by one, each on a fresh history (a
follow-up item: its turns in one conversation, the last one judged), twice in the same run:
grounded (the persona as shipped) and an ungrounded baseline (the same persona with every fact in
its prompt, as before grounding, no retrieval and no check). The sets: ``own`` (perf/answers/
<persona>.yaml, the project's, tuned on), ``dev`` and ``test`` (the two halves of perf/answers/
heldout/<persona>.yaml, written before tuning; only ``dev`` is for tuning), ``fresh`` and ``probe``
(perf/answers/fresh/ and probe/<persona>.yaml, each written before tuning on it, after the one before;
for tuning) and ``unseen`` (perf/answers/unseen/<persona>.yaml: a second set nobody tunes on, the size
of a ``test`` half, written by a session that did not tune and never read by one that does). Each reply
is classed:
- a question whose answer is in the facts: right (the reply contains an expected answer, none of the
  item's wrong ones, and a yes or no of the true polarity), wrong (a wrong fact: one of the item's
  wrong answers, or the opposite yes or no), declined, or missed (none of these);
- a question the facts do not answer: declined (the persona's decline line, or a reply that says it
  does not know), deflected (only a passage of the persona's own knowledge was said), wrong (one of
  the item's wrong answers) or invented (anything else: something the persona was never told).
It prints, per persona and in all, the four outcomes that matter (right fact, right decline, wrong
fact, invented) with the rest, and text → first audio (p50, p95), and saves them with every reply
under perf/results/.

    .venv/bin/python -m perf.bench_answers [--set own|dev|fresh|probe|test|unseen] [--personas campus-guide tutor] [--seed 1]
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
from parley.reply.knowledge import Knowledge, answer_units
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


def polarity(reply: str) -> str | None:
    """The yes or no a reply opens with, if any."""
    m = re.match(r"\W*(yes|yeah|yep|sure|no|nope)\b", reply, re.IGNORECASE)
    return None if m is None else "no" if m.group(1).lower() in ("no", "nope") else "yes"


def classify(reply: str, grounding: str, persona, knowledge: Knowledge, item: dict) -> str:
    decline_line = persona.decline in reply
    declined = decline_line or bool(DOES_NOT_KNOW.search(reply))
    wrong = any(contains(reply, w) for w in item.get("wrong") or [])
    if item["expect"] is not None:
        if decline_line:  # its own words may name an item's answer or a wrong one ("Admissions")
            return "declined"
        said = polarity(reply)
        if wrong or ("answer" in item and said is not None and said != item["answer"]):
            return "wrong"
        return "right" if any(contains(reply, e) for e in item["expect"]) else "declined" if declined else "missed"
    if declined:
        return "declined"
    if wrong:
        return "wrong"
    if grounding in ("quoted", "replaced", "added") and _only_known(reply, persona, knowledge):
        return "deflected"
    return "invented"


def _only_known(reply: str, persona, knowledge: Knowledge) -> bool:
    """The reply says only what the persona knows: a passage, or a sentence or clause of one, said as
    it is (in the persona's fallback template)."""
    head, _, tail = persona.fallback.partition("{passage}")
    said = reply.removeprefix(head.strip()).removesuffix(tail.strip()).strip()
    return any(said in answer_units(p.text) or said == p.text for p in knowledge.passages)


def items(name: str, which: str) -> list[dict]:
    """The set's items as {turns, expect (None: not in the facts), wrong, answer?}."""
    if which == "own":
        questions = yaml.safe_load((SETS / f"{name}.yaml").read_text())
        return ([{"turns": [i["q"]], "expect": i["expect"], "wrong": []} for i in questions["in_facts"]]
                + [{"turns": [q], "expect": None, "wrong": []} for q in questions["not_in_facts"]])
    if which in ("fresh", "probe", "unseen"):
        half = yaml.safe_load((SETS / which / f"{name}.yaml").read_text())
    else:
        half = yaml.safe_load((SETS / "heldout" / f"{name}.yaml").read_text())[which]
    out = []
    for inside, listed in ((True, half["in_facts"]), (False, half["not_in_facts"])):
        for i in listed:
            out.append({"turns": i.get("turns") or [i["q"]], "expect": i["expect"] if inside else None,
                        "wrong": i.get("wrong") or [], "kind": i.get("kind"),
                        **({"answer": i["answer"]} if "answer" in i else {})})
    return out


async def ask(parley: Parley, turns: list[str]) -> tuple[TurnDone, list[str]]:
    """Each turn in one conversation, the history as the caller heard it; the last turn's TurnDone."""
    conversation, replies = parley.conversation(), []
    for question in turns:
        async for event in conversation.reply(question):
            if isinstance(event, TurnDone):
                conversation.history.add(question, event.reply)
                replies.append(event.reply)
                done = event
    return done, replies


def run_persona(name: str, which: str, seed: int, default, modes_wanted: list[str], quiet: bool) -> dict:
    persona = load_persona(REPO_CONFIGS / "personas" / f"{name}.yaml")
    stack = default.stack.model_copy(update={"llm": default.stack.llm.model_copy(update={"seed": seed})})
    modes = {mode: p for mode, p in (("grounded", persona), ("baseline", baseline(persona))) if mode in modes_wanted}
    avatars = {mode: Parley(default.model_copy(update={"stack": stack, "persona": p})) for mode, p in modes.items()}
    for parley in avatars.values():
        parley.warm_up()
    rows = []
    for item in items(name, which):
        for mode, parley in avatars.items():  # interleaved: both see the same machine state
            done, replies = asyncio.run(ask(parley, item["turns"]))
            verdict = classify(done.reply, done.grounding, persona, parley.knowledge, item)
            rows.append({"persona": name, "mode": mode, "turns": item["turns"], "kind": item.get("kind"),
                         "in_facts": item["expect"] is not None, "verdict": verdict, "grounding": done.grounding,
                         "replies": replies, "reply": done.reply,
                         "first_audio_ms": round(done.timings.first_audio_ms or 0.0, 1)})
            if not quiet:
                print(f"  [{mode:8}] {verdict:9} {item['turns']!r}: {done.reply}", flush=True)
    for parley in avatars.values():
        parley.close()
    return {"rows": rows}


def summary(rows: list[dict]) -> dict:
    out = {}
    for mode in sorted({r["mode"] for r in rows}):
        mine = [r for r in rows if r["mode"] == mode]
        inside = [r for r in mine if r["in_facts"]]
        outside = [r for r in mine if not r["in_facts"]]
        latency = [r["first_audio_ms"] for r in mine if r["first_audio_ms"]]
        count = lambda rows, verdict: sum(r["verdict"] == verdict for r in rows)  # noqa: E731
        out[mode] = {
            "in_facts": len(inside), "right": count(inside, "right"), "wrong_in_facts": count(inside, "wrong"),
            "in_facts_declined": count(inside, "declined"), "missed": count(inside, "missed"),
            "not_in_facts": len(outside), "declined": count(outside, "declined"),
            "deflected": count(outside, "deflected"), "wrong_not_in_facts": count(outside, "wrong"),
            "invented": count(outside, "invented"),
            "first_audio_p50_ms": percentile(latency, 50, 1),
            # nearest rank, as this benchmark has always reported it
            "first_audio_p95_ms": percentile(latency, 95, 1, method="higher"),
            "first_audio_p50_in_facts_ms": percentile(
                [r["first_audio_ms"] for r in inside if r["first_audio_ms"]] or [0.0], 50, 1),
        }
    return out


def line(label: str, s: dict) -> str:
    return (f"{label}: right fact {s['right']}/{s['in_facts']}, right decline {s['declined']}/{s['not_in_facts']}, "
            f"WRONG FACT {s['wrong_in_facts'] + s['wrong_not_in_facts']}, INVENTED {s['invented']} "
            f"(in facts: declined {s['in_facts_declined']}, missed {s['missed']}; not in facts: deflected "
            f"{s['deflected']}); text → first audio p50 {s['first_audio_p50_ms']} ms "
            f"p95 {s['first_audio_p95_ms']} ms (in facts p50 {s['first_audio_p50_in_facts_ms']} ms)")


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--personas", nargs="*", default=sorted(p.stem for p in SETS.glob("*.yaml")))
    parser.add_argument("--seed", type=int, default=1, help="the LLM's seed (the default stack samples)")
    parser.add_argument("--set", dest="which", choices=("own", "dev", "fresh", "probe", "test", "unseen"),
                        default="own",
                        help="own: the project's questions; dev, test: the held-out halves (tune on dev only); "
                             "fresh, probe: a second and a third set to tune on; unseen: a second test set, "
                             "written by a session that does not tune (counts only: --quiet)")
    parser.add_argument("--modes", nargs="*", choices=("grounded", "baseline"), default=["grounded", "baseline"])
    parser.add_argument("--quiet", action="store_true", help="print no reply (for the test half: no peeking)")
    args = parser.parse_args()
    default = load(args).settings
    rows = []
    for name in args.personas:
        print(f"{name}:", flush=True)
        rows += run_persona(name, args.which, args.seed, default, args.modes, args.quiet)["rows"]
    result = {"personas": {}, "all": summary(rows), "rows": rows, "machine": machine(),
              "settings": {"personas": args.personas, "seed": args.seed, "set": args.which}}
    for name in args.personas:
        result["personas"][name] = summary([r for r in rows if r["persona"] == name])
    print()
    for name, modes in result["personas"].items():
        for mode, s in modes.items():
            print(line(f"{name} {mode}", s))
    for mode, s in result["all"].items():
        print(line(f"ALL {mode}", s))
    if set(result["all"]) != {"grounded", "baseline"}:
        return save(result, report_path(f"answers-{args.which}", args.out))
    grounded, base = result["all"]["grounded"], result["all"]["baseline"]
    for key, label in (("first_audio_p50_ms", "all questions"), ("first_audio_p50_in_facts_ms", "in facts")):
        if grounded[key] and base[key]:
            print(f"grounded text → first audio p50 vs baseline ({label}): {grounded[key] / base[key] - 1:+.1%}")
    save(result, report_path(f"answers-{args.which}", args.out))


if __name__ == "__main__":
    main()
