"""The in-process voices (Piper's joe, hibari's heart) with their exact phoneme timings, and the
viseme mapping, on the real voice models."""

import gzip
import json
import subprocess
import sys
import wave
from pathlib import Path

import hibari
import numpy as np
import onnx
import pytest

from parley.config import TTSConfig
from parley.core.interfaces import Cancelled, CancelToken
from parley.engines.hibari_tts import MISAKI_TO_IPA, HibariEngine
from parley.engines.piper_tts import PiperEngine
from parley.models.store import HIBARI_DURATIONS, ModelFetchError, _prepare_hibari_durations
from parley.speak.visemes import viseme_for
from testbed.serve import write_stack

VOICES = {"piper-en_US-joe-medium": PiperEngine, "hibari-heart": HibariEngine}

SENTENCES = [
    "Hello there, welcome to Northfield University!",
    "The library in Hartley Hall opens at eight in the morning.",
    "Could you tell me where the sports centre is?",
    "Bus twelve leaves the main gate every fifteen minutes.",
    "Photosynthesis turns carbon dioxide and water into glucose.",
    "Unplug the router for thirty seconds, then plug it back in.",
    "Judge the measure of each thing with a vision that's sharp and clear.",
    "Quick zebras jump over the lazy fox; the thin cat vanishes.",
    "Are you ready? Yes, absolutely, let's go!",
    "Reset your password at reset dot brightwater dot example.",
    "The pool, the gym and the squash courts are open to students.",
    "Which way to the cafeteria, please?",
    "My laptop's screen is broken and the keyboard sticks.",
    "Everything's fine now, thank you so much for your help.",
    "Measure, treasure, pleasure, and leisure share a sound.",
    "Should I choose the chips or the cheese sandwich?",
    "Thirty-three thousand three hundred and thirty-three.",
    "Oh, I see: you need Admissions on the ground floor.",
    "Why would you go there, when you could go here?",
    "Yes.",
]


def voice(store, name: str, **settings):
    settings = {"noise_scale": 0.0, "noise_w_scale": 0.0, "seed": 0, **settings}
    return VOICES[name](store.require(name), TTSConfig(voice=name, **settings))


@pytest.fixture(scope="module", params=list(VOICES))
def tts(request, store):
    return voice(store, request.param)


@pytest.fixture(scope="module")
def piper(store):
    return voice(store, "piper-en_US-joe-medium")


@pytest.fixture(scope="module")
def heart(store):
    return voice(store, "hibari-heart")


@pytest.mark.parametrize("text", SENTENCES[:6])
def test_alignments_sum_to_the_audio_length(tts, text):
    seg = tts.synthesize(text)
    total = sum(p.end - p.start for p in seg.phonemes)
    assert total == pytest.approx(seg.duration, abs=0.5 / seg.sample_rate)
    assert seg.phonemes[0].start == 0 and seg.phonemes[-1].end == pytest.approx(seg.duration)
    assert all(a.end == b.start for a, b in zip(seg.phonemes, seg.phonemes[1:]))


def test_multi_sentence_text_keeps_one_clock(tts):
    seg = tts.synthesize(" ".join(SENTENCES[:3]))
    assert seg.phonemes[-1].end == pytest.approx(seg.duration, abs=1e-6)
    # Each voice synthesises a sentence at a time, each starting with its begin (or pad) symbol.
    starts = sum(1 for p in seg.phonemes if p.phoneme in "^_") - (isinstance(tts, HibariEngine) and 3)
    assert starts == 3


def test_every_phoneme_the_voice_produces_maps_to_a_viseme(tts):
    produced = {p.phoneme for text in SENTENCES for p in tts.synthesize(text).phonemes}
    assert len(produced) > 30
    for symbol in produced:
        viseme_for(symbol)  # raises UnknownPhoneme for a gap in the table


def test_every_symbol_of_the_voice_inventory_maps(piper):
    for symbol in piper.voice.config.phoneme_id_map:
        viseme_for(symbol)


def test_every_symbol_hibaris_lexicons_use_maps(heart):
    """hibari's alphabet is misaki's; every symbol its lexicons spell words with has a mouth shape."""
    assets = Path(hibari.__file__).parent / "assets"
    used = set()
    for name in ("lexicon_us_gold.json.gz", "lexicon_us_silver.json.gz"):
        for entry in json.loads(gzip.open(assets / name).read()).values():
            for spelling in (entry.values() if isinstance(entry, dict) else [entry]):
                used |= set(spelling or "")
    used &= set(heart.vocab)
    assert len(used) > 40
    for symbol in used:
        for ipa in MISAKI_TO_IPA.get(symbol, symbol):
            viseme_for(ipa)


def test_hibari_diphthongs_glide_between_two_mouth_shapes(heart):
    seg = heart.synthesize("I know.")  # aɪ, oʊ
    phonemes = [p.phoneme for p in seg.phonemes]
    assert "aɪ" in "".join(phonemes) and "oʊ" in "".join(phonemes)
    glide = phonemes.index("a")
    assert seg.phonemes[glide].end == seg.phonemes[glide + 1].start


def test_hibari_speaks_the_words_it_is_given(heart, engines):
    from parley.core.audio import resample

    seg = heart.synthesize("Where is the library?")
    assert seg.sample_rate == 24000
    heard = engines.asr.transcribe(resample(seg.audio, seg.sample_rate, 16000))
    assert "library" in heard.lower()


def test_hibari_is_the_same_audio_for_the_same_seed(store):
    a, b = (voice(store, "hibari-heart", seed=7).synthesize("Good morning.") for _ in range(2))
    assert np.array_equal(a.audio, b.audio)


def test_hibari_stops_between_sentences_when_cancelled(heart):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        heart.synthesize("One. Two. Three.", cancel)


def test_the_prepared_hibari_voice_outputs_its_durations(store, tmp_path):
    prepared = onnx.load(str(store.require("hibari-heart") / "hibari.onnx"))
    assert HIBARI_DURATIONS in [o.name for o in prepared.graph.output]
    # Preparing twice changes nothing; a graph without the duration node is refused, by name.
    (tmp_path / "hibari.onnx").write_bytes((store.require("hibari-heart") / "hibari.onnx").read_bytes())
    _prepare_hibari_durations(tmp_path, None)
    assert [o.name for o in onnx.load(str(tmp_path / "hibari.onnx")).graph.output].count(HIBARI_DURATIONS) == 1
    graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g",
                                   [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    onnx.save(onnx.helper.make_model(graph), str(tmp_path / "hibari.onnx"))
    with pytest.raises(ModelFetchError, match="no /Clip node"):
        _prepare_hibari_durations(tmp_path, None)


def test_visemes_cover_the_audio_within_a_frame(engines, tts):
    seg = tts.synthesize(SENTENCES[1])
    track = engines.visemes.track(seg)
    assert abs(track.spans[-1].end - seg.duration) < 1 / track.fps
    assert len(track.curves["jawOpen"]) == int(np.ceil(seg.duration * track.fps))
    # The mouth is open where the sound is loud: jaw curve correlates with the audio envelope.
    hop = seg.sample_rate / track.fps
    env = np.array([np.abs(seg.audio[int(i * hop) : int((i + 1) * hop)]).mean() for i in range(len(track.curves["jawOpen"]))])
    assert np.corrcoef(env, track.curves["jawOpen"])[0, 1] > 0.3


@pytest.mark.parametrize("edits, rate", [({}, 24000), ({"tts.voice": "piper-en_US-joe-medium"}, 22050)])
def test_say_speaks_with_the_avatars_voice_unless_the_stack_names_one(tmp_path, edits, rate):
    proc = subprocess.run([sys.executable, "-m", "parley.cli", "--config", str(write_stack(tmp_path, **edits)), "say",
                           "Hello.", "--avatar", "portrait", "--out", str(tmp_path / "say")],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    with wave.open(str(tmp_path / "say" / "speech.wav")) as wav:
        assert wav.getframerate() == rate
    assert (tmp_path / "say" / "video.mp4").stat().st_size > 1000


def test_say_writes_wav_visemes_and_timings(tmp_path):
    out = tmp_path / "say"
    proc = subprocess.run([sys.executable, "-m", "parley.cli", "say", "Hi, I'm Ada. The library opens at eight.",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with wave.open(str(out / "speech.wav")) as wav:
        rate, frames = wav.getframerate(), wav.getnframes()
    data = json.loads((out / "visemes.json").read_text())
    timings = json.loads((out / "timings.json").read_text())
    duration = frames / rate
    assert data["duration"] == pytest.approx(duration, abs=1e-4)
    assert abs(data["phonemes"][-1]["end"] - duration) < 1 / 30
    assert {"viseme", "start", "end", "weight"} <= set(data["visemes"][0])
    assert {v["viseme"] for v in data["visemes"]} <= {"sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR",
                                                       "aa", "E", "I", "O", "U"}
    assert "jawOpen" in data["curves"] and "viseme_aa" in data["curves"]
    assert timings["tts_first_audio_ms"] > 0 and timings["audio_seconds"] == pytest.approx(duration, abs=1e-3)
