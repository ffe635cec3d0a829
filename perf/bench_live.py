"""Live latency measured in the browser: spoken turns through `parley serve` and real Chromium.

The fake microphone plays N questions (Piper speech, each followed by quiet while the avatar
answers). In the page, Web Audio measures the level of the microphone track and of the avatar's
incoming audio every 10 ms, and requestVideoFrameCallback measures the mouth region of every
decoded video frame. From those, per turn:
- end of speech → first avatar audio: the microphone's last loud moment → the avatar's first sound;
- end of speech → first moving-mouth frame: → the first frame whose mouth differs from the idle face;
- video frame rate received (decoded frames a second) while the avatar spoke, and over the whole run
  (the silent face is sent at ``face.idle_fps``).
The server's own account (end of speech → first audio sent, on its clocks) is printed beside them,
with where the cores went: every thread's CPU and run-queue wait over the call and over the
slowest waits (perf/cpu_use.py), and how much of the avatar's audio Chrome had to conceal.

Everything runs in a fresh network namespace where only loopback exists, as the e2e tests do.

    .venv/bin/python -m perf.bench_live [--turns 10] [--config STACK.yaml] [--set asr.partial_interval_ms=0]
    .venv/bin/python -m perf.bench_live --wavs DIR     # any folder of recordings instead

With ``--wavs DIR``, the questions are the recordings in DIR (WAV, FLAC, MP3, Opus…, any rate), in
name order, each with what it says in a ``.txt`` beside it if there is one (then the word error rate
of what the server heard is reported too). Without it, the questions are spoken by Piper's voice
(the callers' voice in the tests; the avatar speaks with its own). The run ends with one line:
``first audio p50 N ms p95 N ms, first moving mouth p50 N ms, video N fps`` (while it spoke).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import yaml

from perf.bench_speech_in import QUESTIONS
from perf.cpu_use import CpuSampler
from perf.harness import REPO, arguments, load, percentile, percentiles, report_path, save

LOUD = 0.01  # RMS: the fake microphone's speech and the avatar's voice are far above this
GAP_S = 11.0  # quiet after each question, for the answer
OPERATOR = os.environ.setdefault("PARLEY_OPERATOR_TOKEN", "bench-live")  # the server under test inherits it

INSTRUMENT = """([x0, y0, x1, y1]) => {
  const pc = window.parleyState.pc;
  const ctx = new AudioContext();
  const level = (track) => {
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    return () => {
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const x of buf) sum += x * x;
      return Math.sqrt(sum / buf.length);
    };
  };
  const mic = level(pc.getSenders().find((s) => s.track && s.track.kind === "audio").track);
  const out = level(pc.getReceivers().find((r) => r.track.kind === "audio").track);
  const bench = (window.parleyBench = { mic: [], out: [], frames: [] });
  setInterval(() => {
    const t = performance.now();
    bench.mic.push([t, mic()]);
    bench.out.push([t, out()]);
  }, 10);
  const video = document.getElementById("avatar");
  // Only the mouth's box is copied out of each frame: the instrument must not load the cores it measures.
  const canvas = new OffscreenCanvas(x1 - x0, y1 - y0);
  const c2d = canvas.getContext("2d", { willReadFrequently: true });
  const onFrame = (now) => {
    const sx = video.videoWidth / 512, sy = video.videoHeight / 512;  // the box is on the 512-pixel face
    c2d.drawImage(video, x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy, 0, 0, x1 - x0, y1 - y0);
    const d = c2d.getImageData(0, 0, x1 - x0, y1 - y0).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    bench.frames.push([now, sum / (d.length / 4)]);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}"""


def speech_ends(mic: np.ndarray, min_speech_ms: float = 300, gap_ms: float = 600) -> list[float]:
    """Times (page clock, ms) at which the microphone's speech ended."""
    loud = mic[mic[:, 1] > LOUD, 0]
    ends, start = [], None
    for prev, t in zip(np.concatenate([[-1e9], loud[:-1]]), loud):
        if t - prev > gap_ms:
            if start is not None and prev - start >= min_speech_ms:
                ends.append(prev)
            start = t
    if start is not None and loud.size and loud[-1] - start >= min_speech_ms:
        ends.append(float(loud[-1]))
    return ends


def media_path(end: float, first_audio: float | None, events: list) -> dict:
    """Where one turn's time went, from the page's clock: ``events`` are [page ms, type, at, end] as
    the page received them (app.js). The server's endpoint event says how long it waited in silence
    (``at - end``, its audio clock); the rest between the caller's last word and that event is the way
    in. The first ``chunk_playing`` (sent as the reply's first audio leaves the server) splits the
    server's reply from the way out."""
    ended = next((e for e in events if e[1] == "speech_ended" and e[0] > end), None)
    if ended is None or first_audio is None:
        return {}
    playing = next((e for e in events if e[1] == "chunk_playing" and e[0] >= ended[0]), None)
    wait = (ended[2] - ended[3]) * 1000
    out = {"way_in_ms": ended[0] - end - wait, "endpoint_wait_ms": wait}
    if playing is not None and playing[0] <= end + first_audio:
        out |= {"reply_after_endpoint_ms": playing[0] - ended[0], "way_out_ms": end + first_audio - playing[0]}
    return out


def analyse(bench: dict, events: list | None = None) -> dict:
    mic, out, frames = (np.array(bench[k]) for k in ("mic", "out", "frames"))
    turns = []
    for end in speech_ends(mic):
        before = out[(out[:, 0] > end - 300) & (out[:, 0] <= end)]
        if before.size and before[:, 1].max() > LOUD:
            continue  # the avatar was still talking: not a clean turn to time
        after = out[(out[:, 0] > end) & (out[:, 1] > LOUD)]
        idle = frames[(frames[:, 0] > end - 1500) & (frames[:, 0] <= end), 1]
        later = frames[frames[:, 0] > end]
        moving = later[np.abs(later[:, 1] - np.median(idle)) > 4.0] if idle.size else later[:0]
        first_audio = float(after[0, 0] - end) if after.size else None
        turns.append({"end_of_speech": end, "first_audio_ms": first_audio,
                      "first_moving_mouth_ms": float(moving[0, 0] - end) if moving.size else None,
                      **media_path(end, first_audio, events or [])})
    span_s = (frames[-1, 0] - frames[0, 0]) / 1000 if len(frames) > 1 else 0
    return {"turns": turns, "fps_received": (len(frames) - 1) / span_s if span_s else 0.0,
            "fps_speaking": frame_rate(frames, speaking_spans(out))}


def speaking_spans(out: np.ndarray, gap_ms: float = 300) -> list[tuple[float, float]]:
    """When the avatar's audio was loud in the page (page clock, ms), pauses under ``gap_ms`` bridged."""
    loud = out[out[:, 1] > LOUD, 0]
    spans: list[list[float]] = []
    for t in loud:
        if spans and t - spans[-1][1] <= gap_ms:
            spans[-1][1] = t
        else:
            spans.append([t, t])
    return [(a, b) for a, b in spans if b > a]


def frame_rate(frames: np.ndarray, spans: list[tuple[float, float]]) -> float:
    """Frames a second received within ``spans``."""
    seconds = sum(b - a for a, b in spans) / 1000
    count = sum(int(((frames[:, 0] >= a) & (frames[:, 0] <= b)).sum()) for a, b in spans)
    return count / seconds if seconds else 0.0


AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".webm"}


def questions(turns: int, wavs: Path | None, store) -> list[tuple[np.ndarray, str | None]]:
    """(16 kHz audio, what it says or None) for each question."""
    from parley.config import TTSConfig
    from parley.core.audio import load_file
    from parley.engines.piper_tts import PiperEngine
    from testbed.speech import speak

    if wavs is not None:
        files = sorted(p for p in wavs.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        if not files:
            raise SystemExit(f"{wavs}: no recordings ({', '.join(sorted(AUDIO_SUFFIXES))})")
        texts = [p.with_suffix(".txt") for p in files]
        return [(load_file(p), t.read_text().strip() if t.is_file() else None) for p, t in zip(files, texts)]
    caller = PiperEngine(store.require("piper-en_US-joe-medium"), TTSConfig(voice="piper-en_US-joe-medium"))
    return [(speak(caller, question), question) for question in QUESTIONS[:turns]]


def answered(turns: list[dict]) -> list[str]:
    """The words each answer was given: a turn the caller cut off soon after a pause, to go on with
    their sentence, is carried into the next one (``turn_taking.continuation_ms``), which answers both."""
    def carried(turn: dict, after: dict | None) -> bool:
        return after is not None and turn["timings"].get("interrupted") and after["user"].startswith(turn["user"])

    return [turn["user"] for turn, after in zip(turns, [*turns[1:], None]) if not carried(turn, after)]


def run_in_namespace(turns: int, parley, stack_file: Path, overrides: list[str], wavs: Path | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    from parley.face.avatars import load_avatar
    from parley.face.warp import WarpFace
    from parley.speak.files import write_wav
    from testbed.chromium import chromium_args, wait_until
    from testbed.serve import start_serve, write_stack
    from testbed.speech import silence

    folder = Path(tempfile.mkdtemp(prefix="parley-bench-live-"))
    asked = questions(turns, wavs, parley.store)
    turns = len(asked)
    parts = [silence(4)]
    for audio, _ in asked:
        parts += [audio, silence(GAP_S)]
    seconds = sum(len(p) for p in parts) / 16000
    wav = folder / "questions.wav"
    write_wav(wav, np.concatenate(parts), 16000)
    edits = {"server.ice_addresses": ["127.0.0.1"]}
    for override in overrides:  # dotted.key=yaml value
        dotted, _, value = override.partition("=")
        edits[dotted] = yaml.safe_load(value)
    config = write_stack(folder, stack_file, **edits)

    with (folder / "server.log").open("w") as log:
        server, port = start_serve(config, log)
    cpu = CpuSampler(server.pid)
    cpu.start()
    try:
        box = list(WarpFace(load_avatar("portrait")).mouth_box)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=chromium_args(wav))
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.click("#start")
            wait_until(page, "window.parleyState.connected", 30_000)
            page.evaluate(INSTRUMENT, box)
            heard_from = time.monotonic()
            page_now = page.evaluate("performance.now()") / 1000
            page_to_monotonic = (heard_from + time.monotonic()) / 2 - page_now
            page.wait_for_timeout(int((seconds + 2.5 * turns) * 1000))
            heard_until = time.monotonic()
            bench = page.evaluate("window.parleyBench")
            server_turns = page.evaluate("window.parleyState.turns")
            events = page.evaluate("window.parleyState.events")
            inbound = page.evaluate("""async () => {
              const stats = await window.parleyState.pc.getStats();
              for (const s of stats.values()) {
                if (s.type === "inbound-rtp" && s.kind === "audio") return s;
              }
              return null;
            }""")
            stats = urllib.request.Request(f"http://127.0.0.1:{port}/api/stats",
                                           headers={"Authorization": f"Bearer {OPERATOR}"})
            health = json.loads(urllib.request.urlopen(stats).read())
            browser.close()
    finally:
        server.terminate()
        server.wait(15)
        cpu.stop()
    result = analyse(bench, events)
    result["cpu"] = cpu_use(cpu, result["turns"], page_to_monotonic, (heard_from, heard_until))
    if inbound and inbound.get("jitterBufferEmittedCount"):
        # Chrome's jitter buffer: the mean time a received sample waited there before playing.
        result["jitter_buffer_ms"] = 1000 * inbound["jitterBufferDelay"] / inbound["jitterBufferEmittedCount"]
    if inbound and inbound.get("totalSamplesReceived"):
        # Samples Chrome had to invent because the audio was late or lost: glitches the caller hears.
        result["concealed"] = inbound.get("concealedSamples", 0) / inbound["totalSamplesReceived"]
    result["server_turns"] = [t["timings"] for t in server_turns]
    result["heard"] = answered(server_turns)
    result["said"] = [text for _, text in asked]
    result["server"] = health
    return result


def cpu_use(cpu: CpuSampler, turns: list[dict], page_to_monotonic: float, call: tuple[float, float]) -> dict:
    """The CPU by thread group over the measured call, and
    over each timed turn's wait from end of speech to first audio (what ran while the caller waited,
    and who waited for a core)."""
    waits = []
    for turn in turns:
        if turn["first_audio_ms"] is not None:
            t0 = page_to_monotonic + turn["end_of_speech"] / 1000
            window = cpu.between(t0, t0 + turn["first_audio_ms"] / 1000)
            waits.append({"first_audio_ms": turn["first_audio_ms"], **window})
    return {"run": cpu.between(*call), "waits": waits}


def print_cpu(cpu: dict) -> None:
    run = cpu["run"]
    if not run:
        return
    seconds = run["window_ms"] / 1000
    print(f"  CPU over the run ({seconds:.0f} s, in cores): " + ", ".join(
        f"{name} {use['cpu_ms'] / 1000 / seconds:.2f}" for name, use in list(run["threads"].items())[:8]))
    waits = [w for w in cpu["waits"] if w.get("threads")]
    slow = sorted(waits, key=lambda w: -w["first_audio_ms"])[:max(1, len(waits) // 5)]
    if not slow:
        return
    total: dict[str, list[float]] = {}
    for w in slow:
        for name, use in w["threads"].items():
            acc = total.setdefault(name, [0.0, 0.0])
            acc[0] += use["cpu_ms"]
            acc[1] += use["wait_ms"]
    span = sum(w["window_ms"] for w in slow) / 1000
    print(f"  while callers waited longest ({len(slow)} turns, {span:.1f} s; cores used, cores' worth waiting): "
          + ", ".join(f"{name} {run_ms / 1000 / span:.2f}/{wait_ms / 1000 / span:.2f}"
                      for name, (run_ms, wait_ms) in sorted(total.items(), key=lambda kv: -kv[1][0])[:10]))


def ms(value: float | None) -> str:
    """Milliseconds for the table; "-" where no turn gave one."""
    return "-" if value is None else f"{value:.0f}"


def report(result: dict, turns: int) -> dict:
    audio = [t["first_audio_ms"] for t in result["turns"] if t["first_audio_ms"] is not None]
    mouth = [t["first_moving_mouth_ms"] for t in result["turns"] if t["first_moving_mouth_ms"] is not None]
    server = [t["end_of_speech_to_first_audio_ms"] for t in result["server_turns"]
              if "end_of_speech_to_first_audio_ms" in t]
    summary = {
        "turns_asked": turns, "turns_timed": len(result["turns"]), "answered": len(result["server_turns"]),
        "browser_first_audio_ms": percentiles(audio, None),
        "browser_first_moving_mouth_ms": percentiles(mouth, None),
        "server_first_audio_ms": percentiles(server, None),
        "fps_received": result["fps_received"],
        "fps_speaking": result.get("fps_speaking"),
    }
    print(f"{summary['turns_timed']} of {turns} turns timed in the browser ({summary['answered']} answered)")
    for name in ("browser_first_audio_ms", "browser_first_moving_mouth_ms", "server_first_audio_ms"):
        print(f"  end of speech → {name:32s} p50 {ms(summary[name]['p50']):>7}  p95 {ms(summary[name]['p95']):>7}")
    print(f"  video received: {summary['fps_speaking']:.1f} frames/s while the avatar spoke, "
          f"{summary['fps_received']:.1f} over the whole call")
    parts = ("way_in_ms", "endpoint_wait_ms", "reply_after_endpoint_ms", "way_out_ms")
    split = [t for t in result["turns"] if all(k in t for k in parts)]
    if split:
        summary["media_path_p50_ms"] = {k: percentile([t[k] for t in split], 50) for k in parts}
        summary["jitter_buffer_ms"] = result.get("jitter_buffer_ms")
        print(f"  where it went (p50 of {len(split)} turns): " + ", ".join(
            f"{k.removesuffix('_ms').replace('_', ' ')} {v:.0f} ms" for k, v in summary["media_path_p50_ms"].items())
            + (f"; Chrome's jitter buffer {result['jitter_buffer_ms']:.0f} ms a sample"
               if result.get("jitter_buffer_ms") else ""))
    if result.get("concealed") is not None:
        summary["concealed"] = result["concealed"]
        print(f"  avatar audio concealed by Chrome (late or lost): {result['concealed']:.2%} of samples")
    if result.get("cpu"):
        print_cpu(result["cpu"])
    said = [t for t in result.get("said", []) if t]
    if said and len(said) == len(result["said"]):
        from testbed.speech import wer

        pairs = list(zip(result["said"], result["heard"]))
        edits, words = map(sum, zip(*(wer(a, b) for a, b in pairs))) if pairs else (0, 0)
        summary["wer"] = edits / words if words else None
        print(f"  what the server heard: WER {summary['wer']:.1%} over {len(pairs)} answered questions")
    print(f"first audio p50 {ms(summary['browser_first_audio_ms']['p50'])} ms "
          f"p95 {ms(summary['browser_first_audio_ms']['p95'])} ms, first moving mouth p50 "
          f"{ms(summary['browser_first_moving_mouth_ms']['p50'])} ms, video {summary['fps_speaking']:.0f} fps")
    return summary


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one stack setting for this run, e.g. asr.partial_interval_ms=0")
    parser.add_argument("--wavs", type=Path, help="a folder of recordings to ask (a .txt beside each: its words)")
    args = parser.parse_args()
    if args.wavs is not None and not args.wavs.is_dir():
        parser.error(f"--wavs {args.wavs}: not a folder")
    if os.environ.get("PARLEY_BENCH_NAMESPACE") != "1":
        from parley.config import default_config_path
        from testbed.net import NAMESPACE

        env = {**os.environ, "PARLEY_BENCH_NAMESPACE": "1", "PYTHONPATH": str(REPO)}
        config = (args.config or default_config_path()).resolve()
        forwarded = ["--turns", str(args.turns), "--config", str(config), "--out", str(args.out.resolve())]
        forwarded += [f"--set={s}" for s in args.set]
        forwarded += ["--wavs", str(args.wavs.resolve())] if args.wavs else []
        sys.exit(subprocess.call(["unshare", "-n", "sh", "-c", NAMESPACE, "sh", sys.executable, "-m", "perf.bench_live",
                                  *forwarded], env=env))
    result = run_in_namespace(args.turns, load(args), args.config, args.set, args.wavs)
    summary = report(result, len(result["said"]))
    summary["settings"] = args.set
    save({"summary": summary, **result}, report_path("live", args.out))


if __name__ == "__main__":
    main()
