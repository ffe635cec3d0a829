"""Whether the words heard at a pause sound finished (parley.hear.turn_end)."""

import pytest

from parley.hear.turn_end import looks_finished


@pytest.mark.parametrize("text", [
    "Where is the library?", "What is it for?", "Yes, it is.", "Sorry, what?", "Thank you.",
    "Where are you from?", "Is there a gym on campus?", "When does the library close at the weekend?",
    "I think so.", "Can you help me?", "Can you tell me where Hartley Hall is?",
    "Where do the campus tours leave from?", "Who should I talk to?",
])
def test_finished(text):
    assert looks_finished(text) is True


@pytest.mark.parametrize("text", [
    # Whisper writes a fragment as a sentence: the last word gives it away.
    "Where is the.", "Where is the?", "How do I get to?", "I want to go to the", "Um,", "Where is?",
    "Do you know where", "Can I use the pool and", "The library, the", "Is it open on...",
    # An article said last, before a pause, is often heard as a demonstrative.
    "Can I use that?",  # finished, but reads as unfinished: answered after the long wait
    "How often does this", "Where can I get some", "Can you tell me where?", "M", "",
])
def test_unfinished(text):
    assert looks_finished(text) is False


def test_nothing_to_judge():
    assert looks_finished(None) is None
    # No sentence end: a speaker's comma pause, judged by the plain hangover.
    assert looks_finished("Please tell me about every building on campus, one by one") is None
