"""What an operator watches, in Prometheus's text format (``GET /metrics`` with the operator token).

Counters and histograms are observed as things happen; gauges (sessions, fallbacks, frames skipped)
are read from the server's state when scraped, so they cannot drift from it. The same turns feed the
operator page's last hour (``trends``).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from parley.core.events import TurnDone
from parley.live.trends import Trends

# Stage latencies of a turn, in seconds: TurnTimings (ms) and the key it is read from.
_STAGES = {
    "end_of_speech_to_first_audio": "end_of_speech_to_first_audio_ms",
    "text_to_first_audio": "first_audio_ms",
    "llm_first_token": "llm_first_token_ms",
    "asr_after_endpoint": "asr_ms",
    "tts_first_audio": "tts_first_audio_ms",
}
_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    def __init__(self, state: Callable[[], dict]) -> None:
        """``state()`` gives the scrape-time numbers: sessions, capacity, draining, refused, frames, fallbacks,
        reports and recordings that failed, frames recordings dropped."""
        self.registry = CollectorRegistry()
        self.turns = Counter("parley_turns", "Turns by outcome", ["outcome"], registry=self.registry)
        self.stage = Histogram("parley_stage_seconds", "Latency of each stage of a turn", ["stage"],
                               buckets=_BUCKETS, registry=self.registry)
        self.grounding = Counter("parley_grounded_replies", "Replies by how they kept to the persona's knowledge "
                                 "(answered, declined, quoted, unsure, replaced, added, off)", ["outcome"],
                                 registry=self.registry)
        self.early = Counter("parley_early_replies", "Replies started at the caller's first pause, by whether "
                             "the endpoint confirmed them (used) or not (dropped)", ["outcome"], registry=self.registry)
        self.ladder = Counter("parley_ladder_changes", "Face rung changes, by the rung moved to", ["rung"],
                              registry=self.registry)
        self.trends = Trends()
        self._state = state
        self.registry.register(self)

    def turn_done(self, done: TurnDone) -> None:
        self.turns.labels("interrupted" if done.timings.interrupted else "answered").inc()
        self.grounding.labels(done.grounding).inc()
        self.trends.turn_done(done)
        timings = done.timings.to_dict()
        for stage, key in _STAGES.items():
            if timings.get(key) is not None:
                self.stage.labels(stage).observe(timings[key] / 1000)

    def turn_failed(self) -> None:
        self.turns.labels("failed").inc()

    def early_reply(self, outcome: str) -> None:
        self.early.labels(outcome).inc()

    def collect(self):
        """The scrape-time part (prometheus_client calls this as a custom collector)."""
        state = self._state()
        yield GaugeMetricFamily("parley_sessions", "Live calls", value=state["sessions"])
        yield GaugeMetricFamily("parley_max_sessions", "Calls admitted at most", value=state["max_sessions"])
        yield GaugeMetricFamily("parley_draining", "1 while the server takes no new calls and lets those in "
                                "progress end (after SIGTERM)", value=int(state["draining"]))
        refused = CounterMetricFamily("parley_admissions_refused", "Calls turned away", labels=["reason"])
        for reason, count in state["refused"].items():
            refused.add_metric([reason], count)
        yield refused
        frames = CounterMetricFamily("parley_video_frames", "Video frames of live calls", labels=["state"])
        frames.add_metric(["sent"], state["frames_sent"])
        frames.add_metric(["skipped"], state["frames_skipped"])
        yield frames
        fallbacks = CounterMetricFamily("parley_fallbacks", "Switches of a stage to its backup engine",
                                        labels=["stage"])
        for stage, count in state["fallbacks"].items():
            fallbacks.add_metric([stage], count)
        yield fallbacks
        yield CounterMetricFamily("parley_reports_failed", "Call reports that could not be written (disk full, a "
                                  "folder that cannot be written to); the calls went on", value=state["reports_failed"])
        yield CounterMetricFamily("parley_recordings_failed", "Recordings of consenting callers that could not be "
                                  "written (disk full, a folder that cannot be written to); the calls went on "
                                  "unrecorded", value=state["recordings_failed"])
        yield CounterMetricFamily("parley_recording_dropped", "Media frames left out of recordings because "
                                  "the recorder fell behind (the call was never held up)",
                                  value=state["recording_dropped"])

    def text(self) -> bytes:
        return generate_latest(self.registry)
