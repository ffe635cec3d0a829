"""llama.cpp on the real Gemma 3 270M GGUF: streaming, stop sequences, cancellation, context."""

import time

import pytest

from parley.config import LLMConfig
from parley.core.interfaces import CancelToken, Prompt
from parley.reply.history import History
from parley.reply.prompt import PromptBuilder


@pytest.fixture(scope="module")
def llm(engines):
    return engines.llm


def completion(settings, llm, text, history=None):
    builder = PromptBuilder(settings.persona, "completion")
    return builder.build(history or History(), text, llm.count_tokens, llm.context_size - 96)


def test_streams_pieces_and_stops_at_the_end_of_the_line(settings, llm):
    pieces = list(llm.stream(completion(settings, llm, "Where can I find the library?"), 96, CancelToken()))
    reply = "".join(pieces)
    assert len(pieces) > 1 and reply.strip()
    assert "\n" not in reply and "Visitor:" not in reply  # stop sequences honoured


def test_cancel_mid_reply_stops_generation(settings, llm):
    prompt = Prompt(text="Count slowly from one to two hundred: one, two, three,", stop=[])
    token = CancelToken()
    pieces, stopped_at = [], None
    for piece in llm.stream(prompt, 400, token):
        pieces.append(piece)
        if len(pieces) == 5:
            token.cancel("barge-in")
            stopped_at = time.perf_counter()
    assert len(pieces) == 5
    assert time.perf_counter() - stopped_at < 0.2
    # The engine is usable again straight after a cancelled generation.
    assert list(llm.stream(prompt, 3, CancelToken()))


def test_count_tokens_uses_the_model_tokenizer(llm):
    assert 0 < llm.count_tokens("Hello world") <= 3
    assert llm.count_tokens("Hartley Hall " * 50) > 50


def test_long_history_is_trimmed_to_the_real_context(settings, llm):
    history = History()
    for i in range(200):
        history.add(f"Tell me fact number {i} about the campus.", "The campus has many buildings and paths. " * 3)
    prompt = completion(settings, llm, "And the pool?", history)
    assert llm.count_tokens(prompt.text) <= llm.context_size - 96
    assert "fact number 199" in prompt.text and "fact number 0 " not in prompt.text
    assert "".join(llm.stream(prompt, 16, CancelToken())).strip()


def test_chat_style_with_an_explicit_chat_format(settings, store):
    """The chat path (messages + the model's chat template) runs through llama.cpp's formatter."""
    from parley.engines.llama_cpp import LlamaCppEngine

    model = store.require("gemma3-270m") / "gemma-3-270m-q4_k_m.gguf"
    engine = LlamaCppEngine(model, LLMConfig(model="gemma3-270m", context_size=1024, seed=1), chat_format="gemma")
    prompt = PromptBuilder(settings.persona, "chat").build(History(), "Hi!", engine.count_tokens, 1024 - 32)
    reply = "".join(engine.stream(prompt, 32, CancelToken()))
    assert reply.strip()
