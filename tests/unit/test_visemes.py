import numpy as np
import pytest

from parley.core.speech import PhonemeTiming, SpeechSegment
from parley.speak.visemes import (
    PHONEME_TO_VISEME,
    VISEMES,
    CoarticulatedVisemes,
    UnknownPhoneme,
    blend_curves,
    phoneme_spans,
    viseme_for,
)


def timings(symbols, step=0.1):
    return [PhonemeTiming(p, i * step, (i + 1) * step) for i, p in enumerate(symbols)]


def test_each_phoneme_has_one_viseme_and_names_are_the_standard_15():
    assert set(PHONEME_TO_VISEME.values()) <= set(VISEMES) - {"sil"}
    assert VISEMES == ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")


def test_core_english_mapping():
    assert [viseme_for(p) for p in "pbmfvθðtdkgʃʒszlnɹ"] == [
        "PP", "PP", "PP", "FF", "FF", "TH", "TH", "DD", "DD", "kk", "kk", "CH", "CH", "SS", "SS", "nn", "nn", "RR"]
    assert [viseme_for(p) for p in "æɛɪɔʊ"] == ["aa", "E", "I", "O", "U"]


def test_unknown_symbol_is_an_error():
    with pytest.raises(UnknownPhoneme):
        viseme_for("☃")


def test_stress_belongs_to_the_next_vowel_and_length_to_the_previous():
    spans = phoneme_spans(timings(["^", "b", "ˈ", "i", "ː", "$"]))
    assert [s.viseme for s in spans] == ["sil", "PP", "I", "sil"]
    vowel = spans[2]
    assert vowel.start == pytest.approx(0.2) and vowel.end == pytest.approx(0.5)
    assert vowel.weight == 0.9  # stressed: full intensity


def test_unstressed_vowels_are_weaker():
    stressed = phoneme_spans(timings(["ˈ", "ɑ"]))[0]
    unstressed = phoneme_spans(timings(["ɑ"]))[0]
    assert unstressed.weight < stressed.weight


def test_glottals_take_the_next_shape_and_repeats_merge():
    spans = phoneme_spans(timings(["h", "u", "ʊ", " "]))
    assert [(s.viseme, s.start, s.end) for s in spans] == [("U", 0.0, 0.3), ("sil", 0.3, 0.4)]


def test_spans_tile_the_timeline():
    spans = phoneme_spans(timings(list("^həlˈoʊ wˈɜːld$")))
    assert spans[0].start == 0 and spans[-1].end == pytest.approx(1.5)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(spans, spans[1:]))


def test_curves_are_normalised_and_silence_is_closed():
    spans = phoneme_spans(timings(["aa"[0], "ɔ", "u", " ", " ", " "], step=0.05))
    curves = blend_curves(spans, 0.3, 100, ramp=0.04)
    visemes = np.array([curves[f"viseme_{v}"] for v in VISEMES])
    assert np.allclose(visemes.sum(axis=0), 1.0, atol=1e-3)
    assert curves["viseme_sil"][-1] == 1.0 and curves["jawOpen"][-1] == 0.0
    assert max(curves["jawOpen"]) <= 0.7 + 1e-6  # never beyond the widest single viseme


def test_coarticulation_anticipates_the_next_shape():
    spans = phoneme_spans(timings([" ", "p", " "], step=0.2))
    with_ramp = blend_curves(spans, 0.6, 100, ramp=0.05)["viseme_PP"]
    without = blend_curves(spans, 0.6, 100, ramp=0.0)["viseme_PP"]
    assert with_ramp[17] > 0 and without[17] == 0  # 30 ms before the /p/ starts


def test_track_length_matches_audio():
    seg = SpeechSegment("x", np.zeros(22050, dtype=np.float32), 22050, timings(["^", "ɑ", "$"], 1 / 3))
    track = CoarticulatedVisemes(fps=30).track(seg)
    assert track.duration == 1.0 and len(track.curves["jawOpen"]) == 30
