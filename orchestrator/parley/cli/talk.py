"""``parley chat``, ``parley turn`` and ``parley listen``: the conversation in a terminal or on a file."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from parley.assemble import Parley
from parley.cli.common import parley_from
from parley.core.audio import SAMPLE_RATE, load_file
from parley.core.events import (
    BargeIn,
    PartialTranscript,
    SpeechEnded,
    SpeechStarted,
    TextDelta,
    TurnDone,
    TurnFailed,
    Utterance,
    UtteranceIgnored,
)
from parley.core.speech import SpokenChunk
from parley.hear.frames import stream_frames
from parley.speak.files import write_reply
from parley.speak.output import WallClockOutput

# --- chat ------------------------------------------------------------------------------------------


def _format_timings(t) -> str:
    def fmt(v):
        return "-" if v is None else f"{v:.0f} ms"

    return (f"[LLM first token {fmt(t.llm_first_token_ms)} · first audio {fmt(t.first_audio_ms)} · "
            f"total {fmt(t.total_ms)} · {t.audio_seconds:.1f} s speech]")


async def _chat(parley: Parley, out_dir: Path, play: bool) -> None:
    from parley.speak.sound_card import SoundCard

    session = parley.voice_session(WallClockOutput(realtime=False), listen=False)
    await asyncio.to_thread(session.conversation.warm_up)
    card = SoundCard(parley.engines.tts.sample_rate) if play else None
    persona = parley.settings.persona
    print(f"{persona.name} ({persona.role}). Type a message; /reset clears the history, /quit ends.")
    print(f"{persona.name}: {persona.greeting}")
    turn = 0
    # Typed at a terminal, a prompt; read from a pipe, none: every reply line then starts with the name.
    prompt = f"{persona.user_label}> " if sys.stdin.isatty() else ""
    while True:
        try:
            line = await asyncio.to_thread(input, prompt)
        except EOFError:
            break
        line = line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line == "/reset":
            session.reset()
            print("(history cleared)")
            continue
        turn += 1
        print(f"{persona.name}: ", end="", flush=True)
        segments, failed = [], False
        async for event in session.respond(line):
            if isinstance(event, TextDelta):
                print(event.text, end="", flush=True)
            elif isinstance(event, SpokenChunk):
                segments.append(event.speech)
                if card:
                    card.play(event.speech.audio, event.speech.sample_rate)
            elif isinstance(event, TurnFailed):  # the apology follows on the reply's line; the chat goes on
                print(f"(error: {event.error})", file=sys.stderr, flush=True)
                failed = True
            elif isinstance(event, TurnDone):
                print()
                print(_format_timings(event.timings))
                if segments:
                    wav = write_reply(out_dir, segments, parley.engines.visemes, event.timings.to_dict(),
                                      stem=f"turn-{turn:03d}-")
                    print(f"(saved {wav})")
        if failed:
            print()
        if card:
            card.wait()
    await session.close()


def cmd_chat(args) -> int:
    out_dir = Path(args.out) if args.out else Path("out") / time.strftime("chat-%Y%m%d-%H%M%S")
    try:
        asyncio.run(_chat(parley_from(args), out_dir, play=not args.no_play))
    except KeyboardInterrupt:
        print()
    return 0


# --- turn ------------------------------------------------------------------------------------------


async def _voice_turn(parley: Parley, audio, realtime: bool) -> dict:
    session = parley.voice_session(wait_for_partials=not realtime)
    await asyncio.to_thread(session.conversation.warm_up)
    result = {"utterances": [], "ignored": [], "done": None, "segments": [], "barge_ins": [], "failed": []}
    segments = []
    frames = stream_frames(audio, parley.settings.stack.audio_in.frame_ms, realtime=realtime)
    async for event in session.run(frames):
        if isinstance(event, PartialTranscript):
            print(f"  … {event.text}", file=sys.stderr)
        elif isinstance(event, Utterance):
            result["utterances"].append(event)
            print(f"heard [{event.start:.2f}–{event.end:.2f} s]: {event.text}", file=sys.stderr)
        elif isinstance(event, UtteranceIgnored):
            result["ignored"].append(event)
        elif isinstance(event, TurnFailed):
            result["failed"].append(event)
            print(f"error: the reply to {event.user!r} failed: {event.error}", file=sys.stderr)
        elif isinstance(event, BargeIn):
            result["barge_ins"].append(event)
            segments = []
            print(f"(barge-in at {event.at:.2f} s: reply cancelled in {event.cancel_ms:.0f} ms)", file=sys.stderr)
        elif isinstance(event, SpokenChunk):
            segments.append(event.speech)
        elif isinstance(event, TurnDone):
            if not event.timings.interrupted:
                result["done"], result["segments"] = event, segments
            segments = []
    return result


def cmd_turn(args) -> int:
    parley = parley_from(args)
    settings = parley.settings
    audio = load_file(args.audio)
    result = asyncio.run(_voice_turn(parley, audio, args.realtime))
    done = result["done"]
    if done is None:
        if result["failed"]:
            return 1
        if result["ignored"]:
            print(f"{args.audio}: speech was detected but no words were recognised", file=sys.stderr)
        else:
            print(f"{args.audio}: no speech detected in {len(audio) / SAMPLE_RATE:.1f} s of audio", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "transcript.txt").write_text(done.user + "\n")
    (out / "reply.txt").write_text(done.reply + "\n")
    timings = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in done.timings.to_dict().items()}
    timings["realtime"] = args.realtime
    timings["barge_ins"] = len(result["barge_ins"])
    if not result["segments"]:
        (out / "timings.json").write_text(json.dumps(timings, indent=2))
        print(f"{settings.persona.name} gave no spoken reply (empty LLM output)", file=sys.stderr)
        return 1
    write_reply(out, result["segments"], parley.engines.visemes, timings)
    print(f"{settings.persona.user_label}: {done.user}")
    print(f"{settings.persona.name}: {done.reply}")
    print(f"[end of speech → first audio {timings['end_of_speech_to_first_audio_ms']:.0f} ms: "
          f"endpoint {timings['vad_end_ms']:.0f} · ASR {timings['asr_ms']:.0f} · "
          f"LLM first clause {timings['llm_first_chunk_ms']:.0f} · TTS {timings['tts_first_audio_ms']:.0f}]")
    return 0


# --- listen ----------------------------------------------------------------------------------------


async def _listen(parley: Parley, audio, realtime: bool) -> int:
    listener = parley.listener(wait_for_partials=not realtime)
    heard = 0
    async for event in listener.listen(stream_frames(audio, parley.settings.stack.audio_in.frame_ms, realtime)):
        if isinstance(event, SpeechStarted):
            print(f"{event.start:7.2f} s  speech starts")
        elif isinstance(event, PartialTranscript):
            print(f"{event.end:7.2f} s  … {event.text}")
        elif isinstance(event, SpeechEnded):
            print(f"{event.end:7.2f} s  speech ends (endpoint at {event.at:.2f} s)")
        elif isinstance(event, Utterance):
            heard += 1
            text = event.text or "(no words recognised)"
            print(f"{event.end:7.2f} s  » {text}   [ASR {event.asr_ms:.0f} ms after the endpoint, "
                  f"decode {event.decode_ms:.0f} ms]")
    if not heard:
        print(f"no speech detected in {len(audio) / SAMPLE_RATE:.1f} s of audio")
    return 0


def cmd_listen(args) -> int:
    parley = parley_from(args)
    return asyncio.run(_listen(parley, load_file(args.audio), args.realtime))


