from parley.config import VADConfig
from parley.core.events import SpeechEnded, SpeechPaused, SpeechStarted
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


def endpoint_after(verdicts: dict[int, str], turn_taking=None) -> float:
    """Seconds of silence before the endpoint, with the listener's verdicts given at silent chunk k."""
    from parley.config import TurnTakingConfig

    ep = Endpointer(VADConfig(hangover_ms=320, min_speech_ms=64), CHUNK,
                    turn_taking or TurnTakingConfig(finished_wait_ms=192, unfinished_wait_ms=960))
    t = 0.0
    for _ in range(10):
        t = round(t + CHUNK, 6)
        ep.update(0.9, t)
    for k in range(100):
        if k in verdicts:
            ep.judge(verdicts[k])
        t = round(t + CHUNK, 6)
        ended = [e for e in ep.update(0.1, t) if isinstance(e, SpeechEnded)]
        if ended:
            return round(ended[0].at - ended[0].end, 3)
    raise AssertionError("no endpoint")


def test_the_wait_follows_the_words_heard_at_the_pause():
    assert endpoint_after({}) == 0.32  # nothing judged: the hangover
    assert endpoint_after({1: "pending", 3: "finished"}) == 0.192  # finished: the short wait
    assert endpoint_after({1: "pending", 3: "unfinished"}) == 0.96  # trails off: the long wait, no more
    assert endpoint_after({1: "pending"}) == 0.96  # a decode that never ends cannot hold the turn
    assert endpoint_after({1: "pending", 20: "finished"}) == round(21 * CHUNK, 3)  # decided late: ends at once


def test_the_fixed_endpoint_ignores_verdicts():
    from parley.config import TurnTakingConfig

    fixed = TurnTakingConfig(adaptive_endpoint=False)
    assert endpoint_after({1: "pending", 3: "unfinished"}, fixed) == 0.32


def test_speech_resuming_forgets_the_verdict():
    from parley.config import TurnTakingConfig

    ep = Endpointer(VADConfig(hangover_ms=320, min_speech_ms=64), CHUNK, TurnTakingConfig())
    for i in range(5):
        ep.update(0.9, round((i + 1) * CHUNK, 6))
    ep.update(0.1, round(6 * CHUNK, 6))
    ep.judge("unfinished")
    assert ep.verdict == "unfinished"
    ep.update(0.9, round(7 * CHUNK, 6))
    assert ep.verdict == "unknown"
    ep.judge("finished")  # not paused: nothing to judge
    assert ep.verdict == "unknown"
