"""The openai engine against real local servers: llama-cpp-python's OpenAI-compatible server on the
default GGUF, and servers that fail (down, wrong URL, 500, no stream, stalled)."""

import asyncio
import threading
import time

import pytest

from parley.assemble import Parley
from parley.config import ConfigError, load_settings
from parley.core.errors import EngineUnavailable
from parley.core.events import TextDelta, TurnDone, TurnFailed
from parley.core.interfaces import CancelToken, Prompt
from parley.core.speech import SpokenChunk
from parley.engines.chat_template import TemplateError
from parley.engines.openai_client import ServerError
from parley.engines.openai_compat import OpenAICompatibleEngine
from testbed.net import free_port
from testbed.serve import write_stack
from tests.conftest import DETERMINISTIC
from tests.openai_server import MODEL_ALIAS, broken_server, llama_cpp_server

QUESTION = Prompt(text="Visitor: How do I get to the train station?\nAda:", stop=["\n"])


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, store):
    name = settings.stack.llm.model
    model_file = store.require(name) / settings.registry.get(name, "llm").files[0].name
    with llama_cpp_server(model_file, tmp_path_factory.mktemp("llm-server") / "server.log") as base:
        yield base


def openai_settings(tmp_path, base_url, **edits):
    return load_settings(write_stack(tmp_path, **DETERMINISTIC, **{
        "llm.engine": "openai", "llm.base_url": base_url, "llm.model": MODEL_ALIAS, "llm.timeout_s": 60,
        "llm.prompt_style": "completion", **edits}))


def engine(tmp_path, base_url, **edits) -> OpenAICompatibleEngine:
    settings = openai_settings(tmp_path, base_url, **edits)
    return OpenAICompatibleEngine.from_settings(settings, None)


def test_completion_and_chat_stream_from_the_server(tmp_path, server):
    llm = engine(tmp_path, server)
    assert llm.ready()
    pieces = list(llm.stream(QUESTION, 24, CancelToken()))
    assert len(pieces) > 1 and "".join(pieces).strip() and "\n" not in "".join(pieces)
    chat = Prompt(messages=[{"role": "system", "content": "Answer in one short sentence."},
                            {"role": "user", "content": "What colour is the sky?"}])
    assert "".join(llm.stream(chat, 16, CancelToken())).strip()


def test_a_chat_template_renders_the_chat_as_a_completion(tmp_path, server):
    template = "{% for m in messages %}{{ m.role | capitalize }}: {{ m.content }}\n{% endfor %}Assistant:"
    llm = OpenAICompatibleEngine(openai_settings(tmp_path, server).stack.llm, chat_template=template)
    chat = Prompt(messages=[{"role": "user", "content": "Say hello."}], stop=["\n"])
    assert "".join(llm.stream(chat, 12, CancelToken())).strip()
    with pytest.raises(TemplateError, match="persona chat_template: not a valid Jinja template"):
        OpenAICompatibleEngine(llm.config, chat_template="{% for m in messages %}")


def test_cancelling_closes_the_stream_at_once(tmp_path, server):
    llm = engine(tmp_path, server)
    cancel = CancelToken()
    long_prompt = Prompt(text="Here is a long story about the campus, told slowly:")
    pieces = []
    started = time.monotonic()
    for piece in llm.stream(long_prompt, 400, cancel):
        pieces.append(piece)
        if len(pieces) == 3:
            threading.Timer(0.0, cancel.cancel).start()
    assert 3 <= len(pieces) < 20 and time.monotonic() - started < 30
    # the server is free for the next caller (it stopped generating for the closed stream)
    assert "".join(llm.stream(QUESTION, 8, CancelToken())).strip()


def test_a_grounded_turn_through_the_server(tmp_path, server):
    parley = Parley(openai_settings(tmp_path, server))

    async def ask(question):
        return [e async for e in parley.conversation().reply(question)]

    events = asyncio.run(ask("How often does the bus to the train station run?"))
    done = events[-1]
    assert isinstance(done, TurnDone) and done.grounding in ("answered", "replaced", "added")
    assert any(isinstance(e, SpokenChunk) for e in events) and done.reply
    assert asyncio.run(ask("Who is the dean of engineering?"))[-1].grounding == "declined"
    parley.close()


@pytest.mark.parametrize("kind, error, message", [
    ("down", EngineUnavailable, "cannot reach the LLM server at http://127.0.0.1:[0-9]+/v1 .*set llm.base_url"),
    ("500", ServerError, "answered 500: CUDA out of memory; the server failed"),
    ("json", ServerError, "did not stream its answer .*application/json"),
    ("stall", EngineUnavailable, "did not answer within 1 s"),
])
def test_a_failing_server_is_a_clear_error(tmp_path, kind, error, message):
    if kind == "down":
        llm = engine(tmp_path, f"http://127.0.0.1:{free_port()}/v1")
        assert not llm.ready()
        with pytest.raises(error, match=message):
            list(llm.stream(QUESTION, 8, CancelToken()))
        return
    with broken_server(kind) as base:
        llm = engine(tmp_path, base, **{"llm.timeout_s": 1})
        with pytest.raises(error, match=message):
            list(llm.stream(QUESTION, 8, CancelToken()))


def test_a_wrong_url_says_what_to_check(tmp_path, server):
    llm = engine(tmp_path, server.removesuffix("/v1"))
    with pytest.raises(ServerError, match="answered 404.*check llm.base_url \\(it usually ends in /v1\\)"):
        list(llm.stream(QUESTION, 8, CancelToken()))


def test_the_openai_engine_needs_a_url(tmp_path):
    with pytest.raises(ConfigError, match="llm: .*needs llm.base_url"):
        load_settings(write_stack(tmp_path, **{"llm.engine": "openai"}))


def test_a_session_whose_server_fails_apologises_and_keeps_going(tmp_path):
    with broken_server("500") as base:
        parley = Parley(openai_settings(tmp_path, base))
        parley.warm_up()  # the head start fails with a warning, not an error
        session = parley.voice_session(listen=False)

        async def chat():
            turns = []
            for question in ("How often does the bus run?", "Where is the library?"):
                turns.append([e async for e in session.respond(question)])
            await session.close()
            return turns

        for events in asyncio.run(chat()):
            failed = [e for e in events if isinstance(e, TurnFailed)]
            assert len(failed) == 1 and "answered 500" in failed[0].error
            said = "".join(e.text for e in events if isinstance(e, TextDelta))
            assert said == parley.settings.persona.apology
            assert any(isinstance(e, SpokenChunk) for e in events)
        assert session.history.exchanges == []
        parley.close()
