"""Persona + history + the caller's words → the prompt an LLM engine is given.

Two styles, chosen per model in the registry (and overridable in the stack config):
- ``chat``: system prompt and turns as messages; the engine applies the model's own chat template.
- ``completion``: a few-shot transcript for base models, ending with the avatar's name and a colon;
  the reply is one line, so a newline and the next speaker's label stop it.
The oldest exchanges are dropped (then the few-shot examples) until the prompt fits the context.

The passages retrieved for the question are given right before it ("Facts: ..."), and each few-shot
example is shown with its own, so a base model learns to answer from the line above. Being last,
they leave the persona's prompt and the history a prefix the LLM has already evaluated.
"""

from __future__ import annotations

from collections.abc import Callable

from parley.config import Persona
from parley.core.errors import ParleyError
from parley.core.interfaces import Prompt
from parley.reply.history import Exchange, History
from parley.reply.knowledge import Knowledge, Passage

# Added per chat message for the template's role markers, which count_tokens does not see.
_CHAT_MESSAGE_OVERHEAD = 8
INTERRUPTED_MARK = " —"


class PromptTooLong(ParleyError, ValueError):
    pass


def _said(ex: Exchange) -> str:
    return ex.assistant + (INTERRUPTED_MARK if ex.interrupted else "")


def _with_facts(facts: str, text: str, between: str) -> str:
    return f"{facts}{between}{text}" if facts else text


def facts_line(passages: list[Passage]) -> str:
    return "Facts: " + " ".join(p.text for p in passages) if passages else ""


class PromptBuilder:
    def __init__(self, persona: Persona, style: str, knowledge: Knowledge | None = None) -> None:
        if style not in ("chat", "completion"):
            raise ValueError(f"unknown prompt style {style!r}; allowed: chat, completion")
        self.persona = persona
        self.style = style
        grounded = knowledge is not None and persona.grounding.mode == "strict"
        # Each example with the facts it answers from, found once: the examples teach the format.
        self._example_facts = {e.user: facts_line(knowledge.search(e.user)) if grounded else ""
                               for e in persona.examples}

    def stop(self) -> list[str]:
        if self.style == "chat":
            return list(self.persona.stop)
        p = self.persona
        return ["\n", f"{p.user_label}:", f"{p.name}:", "Facts:", *p.stop]

    def render(self, examples: list[Exchange], past: list[Exchange], user_text: str,
               passages: list[Passage] = ()) -> Prompt:
        p = self.persona
        shown = [(self._example_facts[ex.user], ex) for ex in examples] + [("", ex) for ex in past]
        asked = (facts_line(list(passages)), " ".join(user_text.split()))
        if self.style == "chat":
            messages = [{"role": "system", "content": p.fill(p.system_prompt).strip()}]
            for facts, ex in shown:
                messages.append({"role": "user", "content": _with_facts(facts, ex.user, "\n\n")})
                messages.append({"role": "assistant", "content": _said(ex)})
            messages.append({"role": "user", "content": _with_facts(*asked, "\n\n")})
            return Prompt(messages=messages, stop=self.stop())
        lines = [p.fill(p.preamble).strip(), ""]
        for facts, ex in shown:
            lines.append(_with_facts(facts, f"{p.user_label}: {ex.user}", "\n"))
            lines.append(f"{p.name}: {_said(ex)}")
        lines.append(_with_facts(asked[0], f"{p.user_label}: {asked[1]}", "\n"))
        lines.append(f"{p.name}:")
        return Prompt(text="\n".join(lines), stop=self.stop())

    def build(
        self, history: History, user_text: str, count_tokens: Callable[[str], int], budget: int,
        passages: list[Passage] = (),
    ) -> Prompt:
        """The fullest prompt that fits ``budget`` tokens, dropping the oldest context first."""
        examples = [Exchange(e.user, e.assistant) for e in self.persona.examples]
        past = list(history.exchanges)
        while True:
            prompt = self.render(examples, past, user_text, passages)
            if self._tokens(prompt, count_tokens) <= budget:
                return prompt
            if past:
                past.pop(0)
            elif len(examples) > 1:
                examples.pop(0)
            else:
                raise PromptTooLong(
                    f"the persona prompt and this message need more than {budget} tokens; "
                    "shorten the message or the persona, or raise llm.context_size"
                )

    @staticmethod
    def _tokens(prompt: Prompt, count_tokens: Callable[[str], int]) -> int:
        if prompt.text is not None:
            return count_tokens(prompt.text)
        return sum(count_tokens(m["content"]) + _CHAT_MESSAGE_OVERHEAD for m in prompt.messages)
