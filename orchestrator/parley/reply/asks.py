"""What kind of answer a question asks for, and whether a sentence gives one.

"How much is the bus fare?" asks for a price; a sentence about the bus with no price in it is about
the right thing and still no answer. A question that asks for a duration, a price, a time of day or
a count is only answered by a sentence that holds one: one that does not is said as a guess.
"""

from __future__ import annotations

import re

_NUMBER = (r"\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
           r"forty|fifty|sixty|ninety|a hundred|a few|several")
_COUNT = rf"{_NUMBER}|an?|half an?"
_UNIT = r"(?:second|minute|hour|day|week|month|year|working day|business day)s?"
_CLOCK = r"\b\d{1,2}(?::\d\d)?\s*(?:am|pm|a\.m\.|p\.m\.)|\b\d{1,2}:\d\d\b|\bo'clock\b|\bnoon\b|\bmidnight\b"

# Each kind: what a question that asks for it says, and what a sentence that gives it holds.
_KINDS: dict[str, tuple[re.Pattern, re.Pattern]] = {
    "duration": (re.compile(r"\bhow long\b|\bhow many (?:seconds|minutes|hours|days|weeks)\b", re.I),
                 re.compile(rf"\b(?:{_COUNT})\s+{_UNIT}\b|{_CLOCK}|\bovernight\b|\bstraight away\b", re.I)),
    "price": (re.compile(r"\bhow much (?:is|are|does|do|will|would|did|to|for)\b|\b(?:cost|costs|price|fare|fee|"
                         r"fees|charge|pay|paid)\b", re.I),
              re.compile(r"[£$€¥]\s*\d|\b\d+(?:\.\d+)?\s*(?:pounds|dollars|euros|pence|cents|p)\b|\bfree\b"
                         r"|\b(?:costs?|charged?|price|fee)\b", re.I)),
    "clock": (re.compile(r"\bwhat time\b|\b(?:when|until when|how late|how early)\b.*\b(?:open|opens|close|"
                         r"closes|shut|shuts|start|starts|leave|leaves|run|runs)\b", re.I),
              re.compile(rf"{_CLOCK}|\b(?:every|each)\s+(?:{_COUNT})\s+{_UNIT}\b", re.I)),
    "count": (re.compile(r"\bhow many\b", re.I),
              re.compile(rf"\b(?:{_NUMBER})\b|\bno\b", re.I)),
}


def asked_kind(question: str) -> str | None:
    """The kind of answer ``question`` asks for ("duration", "price", "clock", "count"), or None."""
    for kind, (asks, _) in _KINDS.items():
        if asks.search(question):
            return kind
    return None


def gives(text: str, kind: str | None) -> bool:
    """Whether ``text`` holds an answer of ``kind`` (always, for a question of no particular kind)."""
    return kind is None or bool(_KINDS[kind][1].search(text))


_WEEKDAY = re.compile(r"\b(?:weekdays?|mondays?|tuesdays?|wednesdays?|thursdays?|fridays?|mon|tue|tues|wed|thu|thur|"
                      r"thurs|fri)\b", re.I)
_WEEKEND = re.compile(r"\b(?:weekends?|saturdays?|sundays?|sat|sun)\b", re.I)
_TIME = re.compile(rf"{_CLOCK}|\b\d")  # where a conjunct's hours begin
_JOINT = re.compile(r"(?:,\s*|\s+)(?:and|but|while)\s+|;\s*")  # where a sentence's conjuncts meet


def days_asked(text: str) -> set[str]:
    """Which part of the week ``text`` names: "weekday", "weekend", both or neither."""
    return {name for name, days in (("weekday", _WEEKDAY), ("weekend", _WEEKEND)) if days.search(text)}


def cut_to_days(sentence: str, question: str) -> str:
    """``sentence`` without its conjuncts about the other part of the week than the one ``question``
    asks about: "… on weekdays and 10 am to 6 pm at weekends" asked about a Thursday loses the
    weekend's hours, asked about a Sunday the weekdays' ("… open 10 am to 6 pm at weekends"). Said
    whole, the other days' hours are a wrong answer waiting to be misheard. The first conjunct names
    the subject, so only its times go, and only when a later conjunct tells the days asked about."""
    asked = days_asked(question)
    if len(asked) != 1:
        return sentence
    body = sentence.rstrip(".!? ")
    joints = list(_JOINT.finditer(body))
    spans = list(zip([0] + [j.end() for j in joints], [j.start() for j in joints] + [len(body)]))
    told = [days_asked(body[start:end]) for start, end in spans]
    other = [bool(t) and not t & asked for t in told]
    head, joined = body[: spans[0][1]], True
    first_time = _TIME.search(head)
    if other[0] and first_time and any(t & asked for t in told[1:]):
        head, joined = head[: first_time.start()], False  # "…, open " + the asked days' hours
    elif not any(other[1:]):
        return sentence
    out = head
    for n in range(1, len(spans)):
        if not other[n]:
            out += body[spans[n - 1][1] if joined else spans[n][0] : spans[n][1]]
            joined = True
    return out.rstrip(" ,") + "."
