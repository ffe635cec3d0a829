"""The Triton engines with no server at the address: config checks, the fallback adapter's switch to
the in-process engine, and how a reply cut off mid-stream is continued. Against a real server:
tests/served."""

import logging
import socket

import pytest

from parley.assemble import Parley
from parley.config import ConfigError, load_settings
from parley.core.errors import EngineUnavailable
from parley.core.interfaces import CancelToken, Prompt
from parley.engines import engine_class
from parley.engines.llama_cpp import continuation, model_template
from parley.engines.triton.llm import load_tokenizer
from parley.models.store import ModelStore
from testbed.serve import write_stack


def closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def triton_stack(tmp_path, **triton):
    section = {"url": f"127.0.0.1:{closed_port()}", "probe_interval_s": 0.2, "connect_timeout_s": 0.5, **triton}
    path = write_stack(tmp_path, **{"tts.engine": "triton", "tts.voice": "piper-en_US-joe-medium",
                                    "asr.engine": "triton", "triton": section})
    return load_settings(path)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("url", "http://127.0.0.1:8001", "triton.url: expected host:port"),
        ("url", "127.0.0.1", "triton.url: expected host:port"),
        ("fallback", ["tts", "gpu"], "triton.fallback: expected true, false or a list of stages from asr, llm, tts"),
        ("probe_interval_s", 0, "triton.probe_interval_s: Input should be greater than 0"),
    ],
)
def test_bad_triton_settings_name_the_key(tmp_path, key, value, expected):
    path = write_stack(tmp_path, **{f"triton.{key}": value})
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_fallback_true_false_and_lists(tmp_path):
    assert triton_stack(tmp_path, fallback=True).stack.triton.fallback == ("asr", "llm", "tts")
    assert triton_stack(tmp_path, fallback=False).stack.triton.fallback == ()
    assert triton_stack(tmp_path, fallback=["asr", "tts"]).stack.triton.fallback == ("asr", "tts")


def test_unreachable_triton_speaks_and_listens_in_process(tmp_path, caplog):
    settings = triton_stack(tmp_path)
    store = ModelStore(settings.registry)
    engines = Parley(settings, store).engines
    with caplog.at_level(logging.WARNING, logger="parley"):
        tts, asr = engines.tts, engines.asr
    lines = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("tts: Triton not ready at 127.0.0.1:") and "in-process piper" in m for m in lines)
    assert any(m.startswith("asr: Triton not ready") and "in-process faster_whisper" in m for m in lines)
    assert not tts.switch.on_primary and not asr.switch.on_primary

    local = engine_class("tts", "piper").from_settings(settings, store)  # a fresh voice: the same noise
    speech = tts.synthesize("The library opens at nine.")
    assert speech.audio.shape == local.synthesize("The library opens at nine.").audio.shape
    assert tts.sample_rate == local.sample_rate == speech.sample_rate
    from parley.core.audio import resample

    assert "library" in asr.transcribe(resample(speech.audio, speech.sample_rate)).lower()
    engines.close()


def test_without_fallback_a_failure_names_the_stage_and_server(tmp_path):
    settings = triton_stack(tmp_path, fallback=["asr"])
    tts = Parley(settings).engines.tts  # no fallback: the Triton engine itself
    with pytest.raises(EngineUnavailable) as err:
        tts.synthesize("Hello.")
    assert str(err.value).startswith(f"tts: Triton at {settings.stack.triton.url} failed (")


@pytest.fixture(scope="module")
def tokenizer(settings, store):
    entry = settings.registry.get(settings.stack.llm.model, "llm")
    return load_tokenizer(store.require(settings.stack.llm.model) / entry.files[0].name)


def test_a_completion_reply_continues_from_what_was_said(tokenizer):
    prompt = Prompt(text="Visitor: Hi\nAda:", stop=["\n"])
    continued = continuation(prompt, " Hello, I am", model_template(tokenizer, None))
    assert continued == Prompt(text="Visitor: Hi\nAda: Hello, I am", stop=["\n"])


def test_a_chat_reply_without_a_template_continues_as_the_assistant(tokenizer):
    # The shipped GGUF has no chat template in its metadata (llama.cpp then uses the registry's format).
    assert "tokenizer.chat_template" not in tokenizer.metadata and model_template(tokenizer, None) is None
    prompt = Prompt(messages=[{"role": "user", "content": "Hi"}])
    assert continuation(prompt, "Hello, I am", None).messages[-1] == {"role": "assistant", "content": "Hello, I am"}


def test_unreachable_triton_llm_counts_and_streams_as_in_process(tmp_path):
    path = write_stack(tmp_path, **{"llm.engine": "triton", "llm.temperature": 0.0,
                                    "triton": {"url": f"127.0.0.1:{closed_port()}"}})
    settings = load_settings(path)
    llm = Parley(settings).engines.llm
    local = llm.switch.backup
    text = "Hartley Hall opens at 8 am; the café — and the library — close at 10 pm."
    assert llm.count_tokens(text) == local.count_tokens(text) and llm.context_size == local.context_size
    prompt = Prompt(text="Visitor: Where is the library?\nAda:", stop=["\n"])
    assert "".join(llm.stream(prompt, 12, CancelToken())) == "".join(local.stream(prompt, 12, CancelToken()))
    llm.close()


def test_an_llm_without_fallback_fails_the_turn_with_a_message(tmp_path):
    path = write_stack(tmp_path, **{"llm.engine": "triton",
                                    "triton": {"url": f"127.0.0.1:{closed_port()}", "fallback": False}})
    settings = load_settings(path)
    llm = Parley(settings).engines.llm
    assert not hasattr(llm, "switch")  # the Triton engine itself, no fallback
    llm.prefill(Prompt(text="Hi"))  # only a head start: skipped, with a warning
    with pytest.raises(EngineUnavailable, match="^llm: Triton at 127.0.0.1:[0-9]+ failed"):
        list(llm.stream(Prompt(text="Hi"), 4, CancelToken()))


def test_a_chat_reply_continues_in_the_models_own_template(settings, store):
    entry = settings.registry.get(settings.stack.llm.model, "llm")
    tokenizer = load_tokenizer(store.require(settings.stack.llm.model) / entry.files[0].name)
    # A GGUF that carries a chat template (as instruction-tuned ones do) renders the chat with it.
    tokenizer.metadata["tokenizer.chat_template"] = (
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    prompt = Prompt(messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                    stop=["<|user|>"])
    continued = continuation(prompt, "Hello, I am", model_template(tokenizer, None))
    assert continued.messages is None
    assert continued.text == "<|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>Hello, I am"
    assert continued.stop[0] == "<|user|>"
