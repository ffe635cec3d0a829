from parley.config import VADConfig
from parley.events import SpeechEnded, SpeechPaused, SpeechStarted
from parley.hear.endpoint import Endpointer

CHUNK = 0.032


def run(probs, **cfg):
    ep = Endpointer(VADConfig(**cfg), CHUNK)
    events = []
    for i, p in enumerate(probs):
        events += ep.update(p, round((i + 1) * CHUNK, 6))
    return ep, events


def test_speech_needs_min_duration_and_clicks_are_ignored():
    _, events = run([0, 0.9, 0, 0, 0.9, 0.9, 0.9, 0.9, 0], min_speech_ms=96)
    assert events[0] == SpeechStarted(start=4 * CHUNK, at=round(7 * CHUNK, 6))
    assert len([e for e in events if isinstance(e, SpeechStarted)]) == 1


def test_pause_then_endpoint_after_the_hangover():
    probs = [0.9] * 10 + [0.1] * 20
    _, events = run(probs, hangover_ms=320, min_speech_ms=64)
    kinds = [type(e) for e in events]
    assert kinds == [SpeechStarted, SpeechPaused, SpeechEnded]
    paused, ended = events[1], events[2]
    assert paused.end == ended.end == round(10 * CHUNK, 6)
    assert abs(ended.at - ended.end - 0.320) < 1e-6


def test_hysteresis_keeps_quiet_word_endings_in_speech():
    # 0.4 is below threshold (0.5) but above neg_threshold (0.35): still speech.
    probs = [0.9] * 5 + [0.4] * 15 + [0.1] * 20
    _, events = run(probs, hangover_ms=320, min_speech_ms=64)
    assert isinstance(events[-1], SpeechEnded) and abs(events[-1].end - 20 * CHUNK) < 1e-6


def test_speech_resuming_within_the_hangover_continues_the_utterance():
    probs = [0.9] * 5 + [0.1] * 5 + [0.9] * 5 + [0.1] * 20
    _, events = run(probs, hangover_ms=320, min_speech_ms=64)
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(starts) == 1 and len(ends) == 1 and len([e for e in events if isinstance(e, SpeechPaused)]) == 2
    assert abs(ends[0].start - 0) < 1e-9 and abs(ends[0].end - 15 * CHUNK) < 1e-6


def test_flush_closes_open_speech_and_nothing_else():
    ep, events = run([0.9] * 10, min_speech_ms=64)
    assert ep.in_speech
    (ended,) = ep.flush(now=0.5)
    assert ended.at == 0.5 and not ep.in_speech and ep.flush(now=0.6) == []


def test_silence_and_low_noise_produce_nothing():
    assert run([0.0, 0.2, 0.3, 0.1] * 50)[1] == []


def test_neg_threshold_above_threshold_is_a_config_error():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="neg_threshold"):
        VADConfig(threshold=0.4, neg_threshold=0.6)



def test_paused_is_true_only_between_a_quiet_chunk_and_the_endpoint():
    ep, _ = run([0.9] * 5, min_speech_ms=64)
    assert ep.in_speech and not ep.paused
    ep.update(0.1, 0.2)
    assert ep.paused
    ep.update(0.9, 0.232)
    assert not ep.paused
