"""From the TTS model's phoneme timings to mouth shapes.

Phonemes are espeak-ng IPA symbols, one code point each as Piper emits them. Each maps to one of the
15 Oculus / Ready Player Me visemes. Stress marks (ˈ ˌ) carry audio time of their own in Piper; that
time belongs to the syllable they precede. Length marks and diacritics (ː ʲ ˞ …) extend the phoneme
before them. Glottal sounds (h, ʔ) have no lip shape of their own and take the next phoneme's.

Coarticulation: each viseme ramps in before its phoneme starts and out after it ends, so that
neighbouring shapes overlap the way real lips anticipate the next sound. Per frame the viseme weights
are normalised to sum to at most 1, so linear morph-target mixing never over-opens the mouth.
"""

from __future__ import annotations

import numpy as np

from parley.core.errors import ParleyError
from parley.core.speech import PhonemeTiming, SpeechSegment, VisemeSpan, VisemeTrack

VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")

_GROUPS = {
    "PP": "pbmɓʙʘ",
    "FF": "fvɱⱱʋɸβ",
    "TH": "θð",
    "DD": "tdɖɗʈɾɽɺɬɮ",
    "kk": "kgɡɠɢʛqxɣχʁʀɴŋcɟʄǀǁǂǃ",
    "CH": "ʃʒɕʑʂʐçʝ",
    "SS": "sz",
    "nn": "nlɲɳɭʎʟɫ",
    "RR": "rɹɻ",
    "aa": "aɑæɐʌɶ",
    "E": "eɛəɚɜɘɞεɤ",
    "I": "iɪɨjᵻɯɰ",
    "O": "oɔɒɵœ",
    "U": "uʊwʉyʏʍɥø",
}
PHONEME_TO_VISEME: dict[str, str] = {p: v for v, chars in _GROUPS.items() for p in chars}
# Pauses, sentence marks and Piper's begin/end/pad symbols: the mouth rests.
SILENT = set(" !\"#$'(),-.:;?^_0123456789↓↑↗↘→“”…—")
# Marks that belong to the phoneme after them (stress) or before them (length, diacritics).
MODIFIES_NEXT = set("ˈˌ")
MODIFIES_PREVIOUS = set("ːˑʰʲ˞ˤ\u0303\u0327\u0329\u032a\u032f")
# Glottal and pharyngeal sounds shape the throat, not the lips.
TRANSPARENT = set("hɦʔħʕʜʢʡɧ")

# How far each viseme's own shape shows: tongue-only consonants move the lips less than vowels.
_INTENSITY = {"sil": 0.0, "PP": 1.0, "FF": 0.9, "TH": 0.8, "DD": 0.6, "kk": 0.5, "CH": 0.9, "SS": 0.8,
              "nn": 0.6, "RR": 0.8, "aa": 1.0, "E": 0.9, "I": 0.9, "O": 1.0, "U": 1.0}
_UNSTRESSED_VOWEL = 0.8
_VOWELS = {"aa", "E", "I", "O", "U"}

# ARKit blendshapes for renderers without viseme targets (and to drive the jaw of those with them).
ARKIT_SHAPES = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmile", "mouthRollLower")
ARKIT_MIX = {
    "PP": {"mouthClose": 0.6, "mouthPucker": 0.1},
    "FF": {"jawOpen": 0.1, "mouthRollLower": 0.6},
    "TH": {"jawOpen": 0.15},
    "DD": {"jawOpen": 0.2},
    "kk": {"jawOpen": 0.25},
    "CH": {"jawOpen": 0.15, "mouthFunnel": 0.6},
    "SS": {"jawOpen": 0.08, "mouthSmile": 0.3},
    "nn": {"jawOpen": 0.2},
    "RR": {"jawOpen": 0.15, "mouthPucker": 0.35},
    "aa": {"jawOpen": 0.7},
    "E": {"jawOpen": 0.4, "mouthSmile": 0.3},
    "I": {"jawOpen": 0.25, "mouthSmile": 0.5},
    "O": {"jawOpen": 0.5, "mouthFunnel": 0.6},
    "U": {"jawOpen": 0.25, "mouthPucker": 0.8},
}


class UnknownPhoneme(ParleyError, ValueError):
    pass


def viseme_for(phoneme: str) -> str | None:
    """The viseme of one phoneme symbol; None for modifiers and glottals, which borrow a neighbour's."""
    if phoneme in PHONEME_TO_VISEME:
        return PHONEME_TO_VISEME[phoneme]
    if phoneme in SILENT:
        return "sil"
    if phoneme in MODIFIES_NEXT or phoneme in MODIFIES_PREVIOUS or phoneme in TRANSPARENT:
        return None
    raise UnknownPhoneme(f"no viseme for phoneme {phoneme!r} (U+{ord(phoneme[0]):04X})")


def phoneme_spans(phonemes: list[PhonemeTiming]) -> list[VisemeSpan]:
    """Merge modifiers into the phonemes they modify and give each resulting span its viseme."""
    spans: list[list] = []  # [viseme or None, start, end, stressed]
    pending_stress: tuple[float, float] | None = None
    for p in phonemes:
        if p.phoneme in MODIFIES_NEXT:
            start = pending_stress[0] if pending_stress else p.start
            pending_stress = (start, p.end)
            continue
        if p.phoneme in MODIFIES_PREVIOUS and spans:
            spans[-1][2] = p.end
            continue
        viseme = viseme_for(p.phoneme)
        start, stressed = p.start, False
        if pending_stress:
            start, stressed, pending_stress = pending_stress[0], True, None
        spans.append([viseme, start, p.end, stressed])
    if pending_stress and spans:
        spans[-1][2] = pending_stress[1]
    # Glottals take the next span's shape (or the previous one's at the end of a phrase).
    for i in range(len(spans) - 1, -1, -1):
        if spans[i][0] is None:
            nxt = spans[i + 1][0] if i + 1 < len(spans) else None
            prev = spans[i - 1][0] if i > 0 else None
            spans[i][0] = nxt or prev or "sil"
    out: list[VisemeSpan] = []
    for viseme, start, end, stressed in spans:
        weight = _INTENSITY[viseme]
        if viseme in _VOWELS and not stressed:
            weight *= _UNSTRESSED_VOWEL
        if out and out[-1].viseme == viseme:  # one shape held across two phonemes
            prev = out.pop()
            start, weight = prev.start, max(prev.weight, weight)
        out.append(VisemeSpan(viseme=viseme, start=round(start, 5), end=round(end, 5), weight=round(weight, 3)))
    return out


def _envelope(times: np.ndarray, start: float, end: float, ramp: float) -> np.ndarray:
    """1 inside [start, end], ramping linearly to 0 over ``ramp`` seconds either side."""
    if ramp <= 0:
        return ((times >= start) & (times < end)).astype(np.float64)
    rise = np.clip((times - (start - ramp)) / ramp, 0.0, 1.0)
    fall = np.clip(((end + ramp) - times) / ramp, 0.0, 1.0)
    return np.minimum(rise, fall)


def frame_count(duration: float, fps: float) -> int:
    """Frames that show ``duration`` seconds at ``fps``: every started frame period counts."""
    return max(1, int(np.ceil(duration * fps - 1e-9)))


def blend_curves(spans: list[VisemeSpan], duration: float, fps: float, ramp: float,
                 lead: float = 0.0) -> dict[str, list[float]]:
    """Curves sampled at each frame; a frame shows the mouth of the sound ``lead`` seconds ahead."""
    n_frames = frame_count(duration, fps)
    times = np.arange(n_frames) / fps + lead
    weights = {v: np.zeros(n_frames) for v in VISEMES}
    for span in spans:
        if span.viseme != "sil":
            weights[span.viseme] += span.weight * _envelope(times, span.start, span.end, ramp)
    total = sum(weights[v] for v in VISEMES[1:])
    scale = np.where(total > 1.0, 1.0 / np.maximum(total, 1e-9), 1.0)
    for v in VISEMES[1:]:
        weights[v] *= scale
    weights["sil"] = np.clip(1.0 - sum(weights[v] for v in VISEMES[1:]), 0.0, 1.0)
    curves = {f"viseme_{v}": weights[v] for v in VISEMES}
    for shape in ARKIT_SHAPES:
        curves[shape] = sum(weights[v] * amount.get(shape, 0.0) for v, amount in ARKIT_MIX.items())
    return {name: np.round(values, 4).tolist() for name, values in curves.items()}


class CoarticulatedVisemes:
    """The default ``VisemeMapper``."""

    def __init__(self, fps: float = 30.0, coarticulation_ms: float = 40.0, lead_ms: float = 0.0) -> None:
        self.fps = fps
        self.ramp = coarticulation_ms / 1000.0
        self.lead = lead_ms / 1000.0

    @classmethod
    def from_config(cls, config) -> "CoarticulatedVisemes":
        """From the stack's ``visemes`` section (a ``parley.config.VisemeConfig``)."""
        return cls(config.fps, config.coarticulation_ms, config.lead_ms)

    def track(self, speech: SpeechSegment) -> VisemeTrack:
        spans = phoneme_spans(speech.phonemes)
        return VisemeTrack(
            fps=self.fps,
            duration=speech.duration,
            spans=spans,
            curves=blend_curves(spans, speech.duration, self.fps, self.ramp, self.lead),
        )
