"""The GPU `llm` model's text handling (its engine needs a GPU; this part does not): streamed token
ids become text pieces that never split a character or show part of a stop sequence."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.triton

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def llm_model():
    pytriton = importlib.util.find_spec("pytriton")
    if pytriton is None:
        pytest.skip("nvidia-pytriton (the triton extra) is not installed")
    # The Python backend's own utils module, as the stub provides it to model.py.
    sys.path.insert(0, str(Path(pytriton.submodule_search_locations[0]) / "tritonserver/backends/python"))
    try:
        spec = importlib.util.spec_from_file_location("gpu_llm", ROOT / "model_repository/gpu/llm/1/model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.pop(0)


@pytest.fixture(scope="module")
def tokenizer(store):
    """A real byte-level BPE tokenizer (Whisper's), whose decode takes skip_special_tokens as HF's does."""
    import tokenizers

    return tokenizers.Tokenizer.from_file(str(store.require("whisper-tiny.en") / "tokenizer.json"))


def stream(llm_model, tokenizer, text: str, stop: list[str]) -> tuple[list[str], bool]:
    pieces = llm_model.Pieces(tokenizer, stop)
    out = []
    for token in tokenizer.encode(text, add_special_tokens=False).ids:
        out.append(pieces.add([token]))
        if pieces.stopped:
            break
    return [p for p in out if p], pieces.stopped


def test_pieces_add_up_to_the_text_and_never_split_a_character(llm_model, tokenizer):
    text = "The café opens at nine 😊 and closes at five."
    pieces, stopped = stream(llm_model, tokenizer, text, [])
    assert "".join(pieces) == text and not stopped and len(pieces) > 5
    assert not any("\ufffd" in p for p in pieces)


def test_a_stop_sequence_ends_the_reply_and_none_of_it_is_shown(llm_model, tokenizer):
    pieces, stopped = stream(llm_model, tokenizer, "Turn left at the fountain.\nVisitor: thanks", ["\nVisitor:"])
    assert stopped and "".join(pieces) == "Turn left at the fountain."
    assert not any("\n" in p for p in pieces)


def test_text_held_back_as_a_possible_stop_is_sent_when_the_reply_ends(llm_model, tokenizer):
    text = "See you at the gate.\nVis"
    pieces = llm_model.Pieces(tokenizer, ["\nVisitor:"])
    shown = "".join(pieces.add([t]) for t in tokenizer.encode(text, add_special_tokens=False).ids)
    assert shown == "See you at the gate." and not pieces.stopped
    assert shown + pieces.finish() == text


def test_stop_words_list_is_the_backend_layout(llm_model, tokenizer):
    words = ["\nVisitor:", "###"]
    encode = lambda word: tokenizer.encode(word, add_special_tokens=False).ids  # noqa: E731
    ids = [encode(w) for w in words]
    out = llm_model.stop_words_list(encode, words)
    flat = ids[0] + ids[1]
    assert out.shape == (1, 2, len(flat)) and out.dtype == np.int32
    assert out[0, 0].tolist() == flat
    assert out[0, 1].tolist() == [len(ids[0]), len(flat)] + [-1] * (len(flat) - 2)
