"""A reply's words: the question → passages → the sentence that answers, or prompt → LLM → clauses → the check.

With grounding on (the persona's, by default), the question is first matched against the persona's
knowledge (``Generation.plan``); a follow-up ("and on Sunday?", "where is that?") is matched with
the question before it. Nothing matched, and the decline line is said without asking the LLM. A
model that does not restate facts (``Settings.restate_facts``: the small default one) never words a
fact itself: the sentence of the knowledge that answers the question is said as written, at once,
and the LLM makes only small talk (a greeting, thanks). A match that is only a guess (by meaning,
not close) is said that way by any model, with the persona's ``unsure`` line. A model that may
restate facts writes the
answer from the passages (passages that only touch on the question are said as they are), and each
clause it writes is checked before it is said (``Generation.write``, in the LLM's thread); one that
states something its passages do not back is replaced by the best passage
(``parley.reply.grounding``). Clauses go to the speaker through ``parley.core.clauses.Clauses``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from parley.config import Settings
from parley.core.clauses import Clauses
from parley.core.events import TurnTimings
from parley.core.interfaces import CancelToken, LLMEngine, Prompt
from parley.reply.asks import asked_kind, gives
from parley.reply.grounding import Grounding
from parley.reply.history import History
from parley.reply.knowledge import Knowledge, Passage
from parley.reply.prompt import PromptBuilder
from parley.reply.splitter import ClauseSplitter

log = logging.getLogger("parley.reply")

# A question that leans on the one before it: it opens with "and" or "what about", or points back
# ("is there" only asks whether something exists).
_FOLLOW_UP = re.compile(r"^\W*(and|what about|how about|so|also|then)\b|\b(it|its|that|they|them|those|this|one)\b"
                        r"|(?<!\bis )(?<!\bare )\bthere\b", re.IGNORECASE)
# A question this short that matches nothing alone is taken as a follow-up too ("Will I have to pay?"),
# its match a guess.
_SHORT_WORDS = 8


@dataclass
class Plan:
    """What a reply is made of before a word of it is written. ``outcome`` is the grounding outcome
    (see ``TurnDone``); it changes while the LLM writes when a clause is replaced."""

    user_text: str
    passages: list[Passage]
    grounding: Grounding | None
    outcome: str
    script: str | None = None  # said as it is, without the LLM
    prompt: Prompt | None = None  # for the LLM


class Generation:
    """The persona's words for one caller: reads the history, never writes it."""

    def __init__(self, settings: Settings, knowledge: Knowledge, llm: Callable[[], LLMEngine]) -> None:
        self.settings = settings
        self.knowledge = knowledge
        self._load_llm = llm  # loaded on first use: a reply said without the LLM does not load it
        self.grounded = settings.persona.grounding.mode == "strict"
        self.restates = settings.restate_facts
        self.prompts = PromptBuilder(settings.persona, settings.prompt_style, knowledge)

    @property
    def llm(self) -> LLMEngine:
        """The stack's LLM, loaded if no reply has needed it yet."""
        return self._load_llm()

    def prompt(self, history: History, user_text: str, passages: list[Passage] = ()) -> Prompt:
        llm = self.llm
        budget = llm.context_size - self.settings.stack.llm.max_tokens
        return self.prompts.build(history, user_text, llm.count_tokens, budget, passages)

    def clauses(self, text: str) -> list[str]:
        splitter = ClauseSplitter(self.settings.stack.splitter)
        return splitter.feed(text) + splitter.flush()

    def _instead(self, passages: list[Passage]) -> str:
        """What is said when the LLM's words cannot be: the best passage, or the decline line."""
        persona = self.settings.persona
        return persona.fallback.format(passage=passages[0].text) if passages else persona.decline

    def plan(self, user_text: str, history: History) -> Plan:
        """Retrieval and the choice between the LLM and a line said as it is."""
        if not self.grounded:
            return Plan(user_text, [], None, "off", prompt=self.prompt(history, user_text))
        persona = self.settings.persona
        topic, (passages, sure) = self._look_up(user_text, history)
        plan = Plan(user_text, passages, Grounding(persona, topic, passages), "answered")
        if not passages:  # nothing known matches: decline, unless there is no subject ("thanks!")
            if self.knowledge.asks_for_facts(user_text):
                plan.outcome, plan.script = "declined", persona.decline
            else:
                plan.prompt = self.prompt(history, user_text)  # small talk
            return plan
        answer = self.knowledge.answer(user_text, passages, topic)
        # About the right thing but not what was asked ("how much?" and no price in it), or not which
        # of its kind ("a green light" when the knowledge has a red one and a white one): a guess.
        sure = sure and gives(answer, asked_kind(user_text)) and self.knowledge.names_which(topic, answer)
        if not self.restates or not sure:  # the sentence that answers, as the knowledge words it
            plan.outcome, plan.script = ("quoted", persona.fallback) if sure else ("unsure", persona.unsure)
            plan.script = plan.script.format(passage=answer)
        elif self.knowledge.coverage(topic, passages) < persona.grounding.llm_min_coverage:
            plan.outcome, plan.script = "quoted", self._instead(passages)  # they only touch on it: say them
        if plan.script is None:
            plan.prompt = self.prompt(history, user_text, passages)
        return plan

    def _look_up(self, user_text: str, history: History) -> tuple[str, tuple[list[Passage], bool]]:
        """What to look up and what it matched: the question, or, for a follow-up, the question joined
        to the one before it ("And on Sunday?" after a question about the library)."""
        before = history.exchanges[-1].user if history.exchanges else None
        joined = f"{before} {user_text}" if before else user_text
        if before and _FOLLOW_UP.search(user_text):
            return joined, self.knowledge.match(joined)
        found = self.knowledge.match(user_text)
        if not found[0] and before and len(user_text.split()) <= _SHORT_WORDS:
            # Maybe a follow-up in few words ("Sundays too?"), maybe a new subject the knowledge does
            # not cover ("I'm starving, anywhere to eat?"): what the question before matches is a guess.
            return joined, (self.knowledge.match(joined)[0], False)
        return user_text, found

    async def recite(self, plan: Plan, out: Clauses) -> None:
        """Say ``plan.script`` (on the event loop: no LLM)."""
        try:
            for text in self.clauses(plan.script):
                await out.say_now(text)
        finally:
            await out.end_now()

    def write(self, plan: Plan, out: Clauses, cancel: CancelToken, timings: TurnTimings,
              ms: Callable[[], float]) -> None:
        """The LLM writes the reply, clause by clause, each checked before it is said (blocking: run in
        the LLM's thread). Stops between tokens once ``cancel`` is set."""
        timings.llm_started_ms = ms()
        splitter = ClauseSplitter(self.settings.stack.splitter)
        pieces = self.llm.stream(plan.prompt, self.settings.stack.llm.max_tokens, cancel)
        try:
            for piece in pieces:
                if timings.llm_first_token_ms is None:
                    timings.llm_first_token_ms = ms()
                timings.tokens += 1
                if not self._checked(plan, splitter.feed(piece), out):
                    return
            if (self._checked(plan, splitter.flush(), out) and plan.passages
                    and not plan.grounding.uses(" ".join(out.said))):
                plan.outcome = "added"  # an answer that used none of what it was given
                for text in self.clauses(self._instead(plan.passages)):
                    out.say(text)
        finally:
            pieces.close()  # stops the engine decoding (a replaced reply is not read to its end)
            timings.llm_done_ms = ms()
            out.end()

    def _checked(self, plan: Plan, texts: list[str], out: Clauses) -> bool:
        """Say the clauses until one is not backed; then what is said instead, and False."""
        for text in texts:
            problem = plan.grounding.check(text) if plan.grounding is not None else None
            if problem is not None:
                log.info("not said (%s): %r; said instead: the %s", problem, text,
                         "passage" if plan.passages else "decline line")
                plan.outcome = "replaced"
                for instead in self.clauses(self._instead(plan.passages)):
                    out.say(instead)
                return False
            out.say(text)
        return True
