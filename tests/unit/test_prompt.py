import pytest

from parley.reply.history import History
from parley.reply.prompt import INTERRUPTED_MARK, PromptBuilder, PromptTooLong


def words(text):
    return len(text.split())


@pytest.fixture
def persona(settings):
    return settings.persona


def test_completion_prompt_is_a_few_shot_transcript(persona):
    prompt = PromptBuilder(persona, "completion").build(History(), "Where is the gym?", words, 10_000)
    assert prompt.messages is None
    assert prompt.text.endswith("Visitor: Where is the gym?\nAda:")
    assert "Hartley Hall" in prompt.text  # in an example (the facts come with the question: test_grounding)
    assert f"Visitor: {persona.examples[0].user}\nAda: {persona.examples[0].assistant}" in prompt.text
    assert "\n" in prompt.stop and "Visitor:" in prompt.stop


def test_chat_prompt_has_system_examples_history_and_user(persona):
    history = History()
    history.add("Hi", "Hello! How can I help?")
    prompt = PromptBuilder(persona, "chat").build(history, "Where is the gym?", words, 10_000)
    roles = [m["role"] for m in prompt.messages]
    assert roles[0] == "system" and roles[-1] == "user" and roles.count("assistant") == len(persona.examples) + 1
    assert "answer in one to three" in prompt.messages[0]["content"]  # the persona's system prompt
    assert prompt.text is None and "\n" not in prompt.stop


def test_trimming_drops_oldest_history_first(persona):
    builder = PromptBuilder(persona, "completion")
    history = History()
    for i in range(30):
        history.add(f"question number {i}", f"answer number {i} " + "blah " * 20)
    full = words(builder.build(history, "last one", words, 100_000).text)
    prompt = builder.build(history, "last one", words, full - 30)
    assert "question number 0" not in prompt.text and "question number 29" in prompt.text
    assert persona.examples[0].user in prompt.text  # examples survive while history can go
    assert words(prompt.text) <= full - 30


def test_trimming_then_drops_examples_then_refuses(persona):
    builder = PromptBuilder(persona, "completion")
    base = builder.build(History(), "hi", words, 100_000)
    smaller = builder.build(History(), "hi", words, words(base.text) - 5)
    assert persona.examples[0].user not in smaller.text and persona.examples[-1].user in smaller.text
    with pytest.raises(PromptTooLong, match="context_size"):
        builder.build(History(), "hi", words, 10)


def test_interrupted_replies_are_marked(persona):
    history = History()
    history.add("Tell me everything", "Well, first the library", interrupted=True)
    prompt = PromptBuilder(persona, "completion").build(history, "Stop. Where is lunch?", words, 10_000)
    assert f"Ada: Well, first the library{INTERRUPTED_MARK}\n" in prompt.text


def test_history_is_bounded():
    history = History(max_exchanges=3)
    for i in range(5):
        history.add(str(i), str(i))
    assert [e.user for e in history.exchanges] == ["2", "3", "4"]
