"""The parts of the GPU variant's Python models that need no GPU: the `llm` model's text handling
(streamed token ids become pieces that never split a character or show part of a stop sequence)
and what the `asr` model sends its Whisper engine (the prompt faster-whisper would make)."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.triton

ROOT = Path(__file__).resolve().parents[2]
GPU = ROOT / "model_repository" / "gpu"


def load_model(name: str):
    """model_repository/gpu/NAME/1/model.py, imported as the Python backend's stub imports it."""
    pytriton = importlib.util.find_spec("pytriton")
    if pytriton is None:
        pytest.skip("nvidia-pytriton (the triton extra) is not installed")
    # The Python backend's own utils module, which the stub puts on model.py's path.
    sys.path.insert(0, str(Path(pytriton.submodule_search_locations[0]) / "tritonserver/backends/python"))
    try:
        spec = importlib.util.spec_from_file_location(f"gpu_{name}", GPU / name / "1" / "model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.pop(0)


def initialized(module, name: str):
    """Its TritonPythonModel, initialised with the committed config as Triton passes it."""
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2 as mc

    config = text_format.Parse((GPU / name / "config.pbtxt").read_text(), mc.ModelConfig())
    model = module.TritonPythonModel()
    model.initialize({"model_config": json.dumps(json_format.MessageToDict(config, preserving_proto_field_name=True))})
    return model


@pytest.fixture(scope="module")
def llm_model():
    return load_model("llm")


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


def test_asr_sends_whisper_the_prompt_and_features_faster_whisper_makes(settings, store):
    from faster_whisper.tokenizer import Tokenizer

    from parley.engines.faster_whisper import FasterWhisperEngine

    model = initialized(load_model("asr"), "asr")
    whisper = FasterWhisperEngine.from_settings(settings, store).model
    tokenizer = Tokenizer(whisper.hf_tokenizer, whisper.model.is_multilingual, task="transcribe", language="en")
    audio = np.random.default_rng(0).uniform(-0.3, 0.3, 16000 * 3).astype(np.float32)
    vocabulary = "library, Sundays"

    inputs = model.engine_inputs(audio, vocabulary)
    expected = whisper.get_prompt(tokenizer, tokenizer.encode(" " + vocabulary), without_timestamps=True)
    assert inputs["decoder_input_ids"].tolist() == [expected]
    assert model.engine_inputs(audio, None)["decoder_input_ids"].tolist() == [
        whisper.get_prompt(tokenizer, [], without_timestamps=True)]
    features = inputs["encoder_input_features"]
    assert features.shape == (1, 3000, 80) and features.dtype == np.float16
    reference = whisper.feature_extractor(audio)
    assert np.allclose(features[0, : reference.shape[1]].T, reference, atol=1e-2)
    assert inputs["encoder_output_lengths"].tolist() == [[1500]]
    # Capped as the CPU engine caps it, with the penalty its config declares.
    assert inputs["request_output_len"].tolist() == [[16 + 8 * 3]]
    assert inputs["repetition_penalty"].dtype == np.float32


def test_asr_transcribes_audio_over_30_s_window_by_window_and_drops_repeats(settings, store):
    model = initialized(load_model("asr"), "asr")
    heard = []

    def decode(audio, prompt):
        heard.append(len(audio))
        return "Where is the library?"

    model.decode = decode
    assert model.transcribe(np.zeros(16000 * 65, np.float32), None) == "Where is the library?"
    assert heard == [16000 * 30, 16000 * 30, 16000 * 5]


def test_whispers_decoder_is_built_for_the_longest_prompt_asr_sends(settings, store):
    """A prompt longer than the engine's --max_input_len is refused by TensorRT-LLM: the asr model keeps
    the vocabulary prompt's last tokens, and the build takes the longest prompt that leaves."""
    import re

    import tokenizers
    from faster_whisper.tokenizer import Tokenizer

    script = (ROOT / "export" / "trtllm" / "build_whisper.sh").read_text()
    built = int(re.search(r"^max_prompt=(\d+)$", script, re.MULTILINE).group(1))
    assert '--max_input_len "$max_prompt"' in script.split('--checkpoint_dir "$checkpoint/decoder"')[1]
    model = initialized(load_model("asr"), "asr")
    hf = tokenizers.Tokenizer.from_file(str(store.require("whisper-tiny.en") / "tokenizer.json"))
    vocabulary = ", ".join(f"Hall {n}" for n in range(1000))  # far more than any prompt keeps
    longest = 0
    for multilingual in (False, True):  # English-only models have one start token, the others three
        model.tokenizer = Tokenizer(hf, multilingual, task="transcribe", language="en")
        longest = max(longest, len(model.prompt_ids(vocabulary)))
    assert longest == built
