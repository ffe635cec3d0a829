"""Every model of model_repository/cpu on a real tritonserver, called with tritonclient over gRPC,
checked against what the same code gives in-process."""

import json
import queue
import time

import numpy as np
import pytest

from parley.core.audio import resample
from parley.core.speech import PhonemeTiming, SpeechSegment
from parley.hear.vad import CHUNK, CONTEXT
from parley.speak.visemes import CoarticulatedVisemes, frame_count

grpcclient = pytest.importorskip("tritonclient.grpc")

pytestmark = pytest.mark.triton

SENTENCE = "Where is the library, and when does it close on Sundays?"


@pytest.fixture
def client(triton_server):
    c = grpcclient.InferenceServerClient(triton_server.url)
    yield c
    c.close()


def tensor(name: str, value: np.ndarray):
    datatype = "BYTES" if value.dtype == np.object_ else grpcclient.np_to_triton_dtype(value.dtype)
    t = grpcclient.InferInput(name, list(value.shape), datatype)
    t.set_data_from_numpy(value)
    return t


def text(value: str) -> np.ndarray:
    return np.array([value.encode()], dtype=np.object_)


def infer(client, model: str, **inputs) -> dict[str, np.ndarray]:
    result = client.infer(model, [tensor(k, v) for k, v in inputs.items()])
    return {o.name: result.as_numpy(o.name) for o in result.get_response().outputs}


@pytest.fixture(scope="module")
def spoken(triton_server):
    c = grpcclient.InferenceServerClient(triton_server.url)
    try:
        return infer(c, "tts", TEXT=text(SENTENCE))
    finally:
        c.close()


def test_tts_gives_audio_and_phoneme_timings_that_tile_it(spoken, settings, store):
    from parley.engines.piper_tts import PiperEngine

    audio, rate = spoken["AUDIO"], int(spoken["SAMPLE_RATE"][0])
    starts, ends = spoken["PHONEME_STARTS"], spoken["PHONEME_ENDS"]
    assert audio.dtype == np.float32 and rate == 22050 and len(audio) > rate
    assert spoken["DURATION"][0] == pytest.approx(len(audio) / rate)
    assert starts[0] == 0 and np.allclose(starts[1:], ends[:-1]) and ends[-1] == pytest.approx(len(audio) / rate)
    # The same phonemes as the in-process engine (timings differ: Piper samples its durations).
    local = PiperEngine.from_settings(settings, store).synthesize(SENTENCE)
    assert [p.decode() for p in spoken["PHONEMES"]] == [p.phoneme for p in local.phonemes]


def test_visemes_are_the_in_process_track(client, spoken, settings):
    duration = spoken["DURATION"]
    out = infer(client, "visemes", PHONEMES=spoken["PHONEMES"], PHONEME_STARTS=spoken["PHONEME_STARTS"],
                PHONEME_ENDS=spoken["PHONEME_ENDS"], DURATION=duration)
    served = json.loads(out["VISEME_TRACK"][0])
    phonemes = [PhonemeTiming(p.decode(), float(s), float(e))
                for p, s, e in zip(spoken["PHONEMES"], spoken["PHONEME_STARTS"], spoken["PHONEME_ENDS"], strict=True)]
    segment = SpeechSegment(SENTENCE, spoken["AUDIO"], int(spoken["SAMPLE_RATE"][0]), phonemes)
    local = CoarticulatedVisemes.from_config(settings.stack.visemes).track(segment).to_dict()
    assert served["fps"] == local["fps"] == settings.stack.visemes.fps
    assert served["visemes"] == local["visemes"]
    assert served.keys() == local.keys() and served["curves"].keys() == local["curves"].keys()
    for name, curve in local["curves"].items():
        assert np.allclose(served["curves"][name], curve, atol=1e-3), name


def test_speak_ensemble_gives_speech_and_its_viseme_track(client):
    out = infer(client, "speak", TEXT=text("Hello there."))
    assert set(out) == {"AUDIO", "SAMPLE_RATE", "PHONEMES", "PHONEME_STARTS", "PHONEME_ENDS", "VISEME_TRACK"}
    duration = len(out["AUDIO"]) / out["SAMPLE_RATE"][0]
    track = json.loads(out["VISEME_TRACK"][0])
    assert track["duration"] == pytest.approx(duration, abs=1e-6)
    assert len(track["curves"]["jawOpen"]) == frame_count(duration, track["fps"])
    assert {s["viseme"] for s in track["visemes"]} - {"sil"}


def test_asr_transcribes_the_spoken_sentence_with_and_without_a_prompt(client, spoken):
    audio = resample(spoken["AUDIO"], int(spoken["SAMPLE_RATE"][0]))
    plain = infer(client, "asr", AUDIO=audio)["TEXT"][0].decode()
    prompted = infer(client, "asr", AUDIO=audio, PROMPT=text("library, Sundays"))["TEXT"][0].decode()
    for transcript in (plain, prompted):
        assert "library" in transcript.lower() and "sunday" in transcript.lower()


def test_vad_steps_match_the_in_process_vad(client, spoken, engines):
    audio = np.concatenate([np.zeros(8000, np.float32), resample(spoken["AUDIO"], int(spoken["SAMPLE_RATE"][0]))])
    local = engines.vad().feed(audio)
    h = c = np.zeros((1, 1, 128), np.float32)
    context = np.zeros(CONTEXT, np.float32)
    served = []
    for start in range(0, len(audio) - CHUNK + 1, CHUNK):
        chunk = audio[start : start + CHUNK]
        out = infer(client, "vad", input=np.concatenate([context, chunk])[None, :], h=h, c=c)
        served.append(float(out["speech_probs"][0]))
        h, c, context = out["hn"], out["cn"], chunk[-CONTEXT:]
    assert np.allclose(served, local, atol=1e-5)
    assert max(served[:10]) < 0.5 < max(served)


def test_lipsync_batches_requests_from_many_callers(client, triton_server):
    import onnxruntime

    rng = np.random.default_rng(0)
    requests = [(rng.random((4, 1, 80, 16), np.float32), rng.random((4, 6, 96, 96), np.float32)) for _ in range(8)]
    done: queue.Queue = queue.Queue()
    for i, (audio, face) in enumerate(requests):
        client.async_infer("lipsync", [tensor("audio", audio), tensor("face", face)],
                           lambda result, error, i=i: done.put((i, result, error)))
    results = {}
    for _ in requests:
        i, result, error = done.get(timeout=120)
        assert error is None, error
        results[i] = result.as_numpy("frame")
    session = onnxruntime.InferenceSession(str(triton_server.repository / "lipsync" / "1" / "model.onnx"))
    for i, (audio, face) in enumerate(requests):
        (expected,) = session.run(None, {"audio": audio, "face": face})
        assert results[i].shape == (4, 3, 96, 96) and np.allclose(results[i], expected, atol=1e-4)
    stats = client.get_inference_statistics("lipsync", as_json=True)["model_stats"][0]["batch_stats"]
    assert max(int(s["batch_size"]) for s in stats) > 4  # Triton ran requests from several callers together


def test_the_wav2lip_face_through_triton_draws_what_it_draws_in_process(triton_server, settings, engines):
    """face.runtime: triton: the live face's frame requests go to the lipsync model (batched there with
    other sessions') and come back as the in-process network would draw them."""
    from parley.core.speech import SpokenChunk
    from parley.engines.triton.lipsync import TritonNetwork
    from parley.face.avatars import load_avatar
    from parley.face.network import OnnxNetwork
    from parley.face.warp import WarpFace
    from parley.face.wav2lip.renderer import Wav2LipFace

    warp = WarpFace(load_avatar("portrait"), fps=30)
    served = Wav2LipFace(TritonNetwork(settings.stack.triton.model_copy(update={"url": triton_server.url}),
                                       "lipsync"), warp)
    local = Wav2LipFace(OnnxNetwork(triton_server.repository / "lipsync" / "1" / "model.onnx",
                                    ["CPUExecutionProvider"]), warp)
    speech = engines.tts.synthesize("Good morning.")
    chunk = SpokenChunk(speech, engines.visemes.track(speech))
    for t in (0.1, 0.3):
        a, b = served.frame(t, chunk), local.frame(t, chunk)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert served.network.ready() and "lipsync" in served.network.where


# --- the decoupled LLM ------------------------------------------------------------------------------


class Stream:
    """One gRPC stream to ``llm``: responses in a queue, the final (empty) one included."""

    def __init__(self, url: str) -> None:
        self.client = grpcclient.InferenceServerClient(url)
        self.responses: queue.Queue = queue.Queue()
        self.client.start_stream(callback=lambda result, error: self.responses.put((result, error)))

    def send(self, prompt: dict, max_tokens: int) -> None:
        inputs = [tensor("PROMPT", text(json.dumps(prompt))), tensor("MAX_TOKENS", np.array([max_tokens], np.int32))]
        self.client.async_stream_infer("llm", inputs, enable_empty_final_response=True)

    def next(self, timeout: float = 120):
        result, error = self.responses.get(timeout=timeout)
        if error is not None:
            return None, error
        final = result.get_response().parameters["triton_final_response"].bool_param
        piece = result.as_numpy("TEXT")
        return (piece[0].decode() if piece is not None else None), final

    def collect(self, timeout: float = 120) -> list[str]:
        pieces = []
        while True:
            piece, final = self.next(timeout)
            assert not isinstance(final, Exception), final
            if piece is not None:
                pieces.append(piece)
            if final:
                return pieces

    def close(self, cancel: bool = False) -> None:
        self.client.stop_stream(cancel_requests=cancel)
        self.client.close()


PROMPT = {"text": "Guide: Welcome to the campus tour.\nVisitor: Where is the library?\nGuide:", "stop": ["\nVisitor:"]}


def test_llm_streams_a_reply_piece_by_piece_then_a_final_response(triton_server):
    stream = Stream(triton_server.url)
    try:
        stream.send(PROMPT, 24)
        pieces = stream.collect()
    finally:
        stream.close()
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert "\nVisitor:" not in "".join(pieces)


def test_llm_takes_chat_messages_and_prefill_only_requests(triton_server):
    stream = Stream(triton_server.url)
    try:
        # The default Gemma GGUF is a base model without a chat template: its chat reply may be empty,
        # so this asks only that the request is served to its final response.
        stream.send({"messages": [{"role": "user", "content": "Say hello."}]}, 8)
        assert isinstance(stream.collect(), list)
        stream.send(PROMPT, 0)  # prefill: nothing but the final response
        assert stream.collect() == []
    finally:
        stream.close()


def test_llm_rejects_a_prompt_that_is_not_json_and_keeps_serving(triton_server):
    stream = Stream(triton_server.url)
    try:
        inputs = [tensor("PROMPT", text("not json")), tensor("MAX_TOKENS", np.array([4], np.int32))]
        stream.client.async_stream_infer("llm", inputs, enable_empty_final_response=True)
        _, error = stream.next()
        assert isinstance(error, Exception) and "bad request" in str(error)
        stream.send(PROMPT, 4)
        assert stream.collect()
    finally:
        stream.close()


def test_cancelling_a_reply_stops_the_generation(triton_server):
    endless = {"text": "Count: one, two, three, four, five, six, seven, eight,"}  # no stop sequence
    stream = Stream(triton_server.url)
    stream.send(endless, 1500)
    piece, _ = stream.next()
    assert piece is not None
    stream.close(cancel=True)
    # 1500 tokens take minutes on a CPU: the next request is answered at once only if the first stopped.
    began = time.monotonic()
    after = Stream(triton_server.url)
    try:
        after.send(PROMPT, 0)
        after.collect(timeout=30)
    finally:
        after.close()
    assert time.monotonic() - began < 15
