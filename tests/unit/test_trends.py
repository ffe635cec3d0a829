"""The operator's last hour: one entry a minute, quiet minutes included, the wait for the first audio
(from the end of speech when spoken) at p50 and p95, replies by grounding; nothing older than an hour."""

from parley.core.events import TurnDone, TurnTimings
from parley.live.metrics import Metrics
from parley.live.trends import MINUTES, Trends


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def turn(first_audio_ms, spoken_ms=None, grounding="answered") -> TurnDone:
    extra = {"end_of_speech_to_first_audio_ms": spoken_ms} if spoken_ms is not None else {}
    return TurnDone("", "", TurnTimings(first_audio_ms=first_audio_ms, extra=extra), grounding=grounding)


def test_each_minute_keeps_its_waits_and_grounding_for_an_hour():
    clock = Clock(6000.0)  # minute 100
    trends = Trends(clock)
    for ms in (300, 100, 200, 400):
        trends.turn_done(turn(ms))
    trends.turn_done(turn(50, spoken_ms=900, grounding="declined"))  # the caller waited from their last word
    clock.now += 120
    hour = trends.last_hour()
    assert len(hour) == MINUTES and hour[-1]["start"] == 6120 and hour[-1]["turns"] == 0
    busy = hour[-3]
    assert busy["start"] == 6000 and busy["turns"] == 5
    assert busy["wait_p50_ms"] == 300 and busy["wait_p95_ms"] == 900
    assert busy["grounding"] == {"answered": 4, "declined": 1}
    assert hour[-2]["wait_p50_ms"] is None
    clock.now += MINUTES * 60
    assert all(m["turns"] == 0 for m in trends.last_hour())


def test_the_metrics_feed_the_trends_with_the_turns_they_count():
    metrics = Metrics(lambda: {})
    metrics.turn_done(turn(250, grounding="quoted"))
    assert metrics.trends.last_hour()[-1]["grounding"] == {"quoted": 1}
    assert metrics.registry.get_sample_value("parley_grounded_replies_total", {"outcome": "quoted"}) == 1.0
