"""The ``parley`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from parley.config import ConfigError, Settings, load_settings
from parley.errors import ParleyError
from parley.models.store import ModelFetchError, ModelStore

EXIT_USAGE = 2


def _settings(args) -> Settings:
    return load_settings(args.config)


def _store(settings: Settings) -> ModelStore:
    return ModelStore(settings.registry)


# --- say ---------------------------------------------------------------------------------------


def cmd_say(args) -> int:
    from parley.engines import engine_class
    from parley.speak.files import write_reply
    from parley.reply.splitter import ClauseSplitter
    from parley.speak.visemes import CoarticulatedVisemes

    settings = _settings(args)
    text = " ".join(args.text).strip()
    if not text:
        print("parley say: nothing to say; give the text as an argument", file=sys.stderr)
        return EXIT_USAGE
    tts = engine_class("tts", settings.stack.tts.engine).from_settings(settings, _store(settings))
    mapper = CoarticulatedVisemes.from_config(settings.stack.visemes)
    splitter = ClauseSplitter(settings.stack.splitter)
    chunks = splitter.feed(text) + splitter.flush()
    if not chunks:
        print(f"parley say: no words to speak in {text!r}", file=sys.stderr)
        return EXIT_USAGE
    t0 = time.perf_counter()
    segments, first_audio_ms = [], None
    for chunk in chunks:
        segments.append(tts.synthesize(chunk))
        first_audio_ms = first_audio_ms or (time.perf_counter() - t0) * 1000
    total_ms = (time.perf_counter() - t0) * 1000
    audio_s = sum(s.duration for s in segments)
    timings = {
        "tts_first_audio_ms": round(first_audio_ms, 1),
        "tts_total_ms": round(total_ms, 1),
        "audio_seconds": round(audio_s, 3),
        "real_time_factor": round(total_ms / 1000 / audio_s, 4),
        "chunks": len(chunks),
    }
    wav = write_reply(Path(args.out), segments, mapper, timings)
    print(f"{wav} ({audio_s:.2f} s of speech; first audio in {first_audio_ms:.0f} ms)")
    if args.avatar:
        from parley.face.avatars import GLBAvatar, load_avatar

        avatar = load_avatar(args.avatar)
        if isinstance(avatar, GLBAvatar):
            # The browser renders it: the viseme timeline written above is what it plays.
            print(f"3D avatar {avatar.name}: open web/avatar3d.html?glb=<{avatar.model_path}>"
                  f"&visemes=<{Path(args.out) / 'visemes.json'}>&audio=<{wav}> from a web server")
        else:
            video = _write_video(Path(args.out), segments, mapper, avatar)
            print(f"{video} ({avatar.name})")
    return 0


def _write_video(out_dir: Path, segments, mapper, avatar) -> Path:
    from parley.face.warp import PortraitRenderer
    from parley.speak.files import join_speech
    from parley.face.video import frames_on_clock, write_mp4

    speech = join_speech(segments)
    track = mapper.track(speech)
    renderer = PortraitRenderer(avatar, fps=track.fps)
    path = out_dir / "video.mp4"
    write_mp4(path, (frame for _, frame in frames_on_clock(renderer, track)), track.fps, speech.audio,
              speech.sample_rate)
    return path


def cmd_avatar(args) -> int:
    from parley.face.avatars import AvatarError, init_portrait

    try:
        path = init_portrait(Path(args.image), args.name, args.licence,
                             **({"out_root": Path(args.out_root)} if args.out_root else {}))
    except AvatarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{path} (use it with --avatar {args.name})")
    return 0


# --- chat --------------------------------------------------------------------------------------


def _format_timings(t) -> str:
    def fmt(v):
        return "-" if v is None else f"{v:.0f} ms"

    return (f"[LLM first token {fmt(t.llm_first_token_ms)} · first audio {fmt(t.first_audio_ms)} · "
            f"total {fmt(t.total_ms)} · {t.audio_seconds:.1f} s speech]")


async def _chat(settings: Settings, out_dir: Path, play: bool) -> None:
    from parley.speak.sound_card import Player
    from parley.reply.conversation import Conversation, build_engines

    engines = build_engines(settings, _store(settings))
    conversation = Conversation(settings, engines)
    await asyncio.to_thread(conversation.warm_up)
    player = Player(engines.tts.sample_rate) if play else None
    persona = settings.persona
    print(f"{persona.name} ({persona.role}). Type a message; /reset clears the history, /quit ends.")
    print(f"{persona.name}: {persona.greeting}")
    turn = 0
    while True:
        try:
            line = await asyncio.to_thread(input, f"{persona.user_label}> ")
        except EOFError:
            break
        line = line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line == "/reset":
            conversation.history.clear()
            print("(history cleared)")
            continue
        turn += 1
        print(f"{persona.name}: ", end="", flush=True)
        try:
            await _chat_turn(conversation, line, engines, player, out_dir, turn)
        except ParleyError as exc:  # this turn failed; the conversation goes on
            print(f"\n(error: {exc})")
        if player:
            player.wait()


async def _chat_turn(conversation, line: str, engines, player, out_dir: Path, turn: int) -> None:
    from parley.events import SpokenChunk, TextDelta, TurnDone
    from parley.speak.files import write_reply

    segments = []
    async for event in conversation.reply(line):
        if isinstance(event, TextDelta):
            print(event.text, end="", flush=True)
        elif isinstance(event, SpokenChunk):
            segments.append(event.speech)
            if player:
                player.play(event.speech.audio, event.speech.sample_rate)
        elif isinstance(event, TurnDone):
            print()
            print(_format_timings(event.timings))
            if segments:
                wav = write_reply(out_dir, segments, engines.visemes, event.timings.to_dict(),
                                  stem=f"turn-{turn:03d}-")
                print(f"(saved {wav})")


def cmd_chat(args) -> int:
    settings = _settings(args)
    out_dir = Path(args.out) if args.out else Path("out") / time.strftime("chat-%Y%m%d-%H%M%S")
    try:
        asyncio.run(_chat(settings, out_dir, play=not args.no_play))
    except KeyboardInterrupt:
        print()
    return 0


# --- turn / listen ------------------------------------------------------------------------------


def _load_audio(path: str):
    from parley.hear.audio import load_file

    return load_file(path)


async def _voice_turn(settings: Settings, audio, realtime: bool) -> dict:
    from parley.hear.audio import stream_frames
    from parley.events import (BargeIn, PartialTranscript, SpokenChunk, TurnDone, TurnFailed, Utterance,
                               UtteranceIgnored)
    from parley.hear.listener import build_listener
    from parley.reply.conversation import Conversation, build_engines
    from parley.reply.voice_session import VoiceSession

    store = _store(settings)
    conversation = Conversation(settings, build_engines(settings, store))
    await asyncio.to_thread(conversation.warm_up)
    listener = build_listener(settings, store, wait_for_partials=not realtime)
    session = VoiceSession(conversation, listener, settings.stack.turn_taking)
    result = {"utterances": [], "ignored": [], "done": None, "segments": [], "barge_ins": [], "failed": []}
    segments = []
    frames = stream_frames(audio, settings.stack.audio_in.frame_ms, realtime=realtime)
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
    from parley.speak.files import write_reply
    from parley.speak.visemes import CoarticulatedVisemes

    settings = _settings(args)
    audio = _load_audio(args.audio)
    result = asyncio.run(_voice_turn(settings, audio, args.realtime))
    done = result["done"]
    if done is None:
        if result["failed"]:
            return 1
        if result["ignored"]:
            print(f"{args.audio}: speech was detected but no words were recognised", file=sys.stderr)
        else:
            print(f"{args.audio}: no speech detected in {len(audio) / 16000:.1f} s of audio", file=sys.stderr)
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
    visemes = CoarticulatedVisemes.from_config(settings.stack.visemes)
    write_reply(out, result["segments"], visemes, timings)
    print(f"{settings.persona.user_label}: {done.user}")
    print(f"{settings.persona.name}: {done.reply}")
    print(f"[end of speech → first audio {timings['end_of_speech_to_first_audio_ms']:.0f} ms: "
          f"endpoint {timings['vad_end_ms']:.0f} · ASR {timings['asr_ms']:.0f} · "
          f"LLM first clause {timings['llm_first_chunk_ms']:.0f} · TTS {timings['tts_first_audio_ms']:.0f}]")
    return 0


async def _listen(settings: Settings, audio, realtime: bool) -> int:
    from parley.hear.audio import stream_frames
    from parley.events import PartialTranscript, SpeechEnded, SpeechStarted, Utterance
    from parley.hear.listener import build_listener

    listener = build_listener(settings, _store(settings), wait_for_partials=not realtime)
    heard = 0
    async for event in listener.listen(stream_frames(audio, settings.stack.audio_in.frame_ms, realtime)):
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
        print(f"no speech detected in {len(audio) / 16000:.1f} s of audio")
    return 0


def cmd_listen(args) -> int:
    settings = _settings(args)
    audio = _load_audio(args.audio)
    return asyncio.run(_listen(settings, audio, args.realtime))


# --- serve -------------------------------------------------------------------------------------


def cmd_serve(args) -> int:
    from parley.live.app import serve

    settings = _settings(args)
    if args.host and args.host not in ("127.0.0.1", "localhost", "::1") and not settings.stack.server.tls_cert:
        raise ConfigError(f"--host {args.host}: not loopback, so server.tls_cert and server.tls_key must be set "
                          "(browsers only allow the microphone over HTTPS)")
    serve(settings, _store(settings), host=args.host, port=args.port)
    return 0


# --- models ------------------------------------------------------------------------------------


def _progress():
    last = {"name": None, "pct": -1}
    tty = sys.stderr.isatty()

    def report(name: str, done: int, total: int | None) -> None:
        pct = int(done * 100 / total) if total else -1
        if name != last["name"]:
            last.update(name=name, pct=-1)
            if not tty:
                print(f"  {name} ...", file=sys.stderr)
        if tty and pct != last["pct"]:
            size = f"{done / 1e6:.0f}/{total / 1e6:.0f} MB" if total else f"{done / 1e6:.0f} MB"
            end = "\n" if total and done >= total else ""
            print(f"\r  {name}: {pct:3d}% {size}", end=end, file=sys.stderr, flush=True)
        last["pct"] = pct

    return report


def _selected(args, settings: Settings) -> list[str]:
    if args.all:
        return settings.registry.names()
    if args.names:
        return args.names
    stack = settings.stack
    return [stack.llm.model, stack.tts.voice, stack.asr.model, stack.vad.model]


def cmd_models(args) -> int:
    settings = _settings(args)
    store = _store(settings)
    if args.action == "list":
        for name, entry in settings.registry.models.items():
            state = store.state(name)
            status = "fetched" if state.ok else ("broken" if state.fetched else "-")
            size = sum(f.size or 0 for f in entry.files) / 1e6
            sources = ",".join(s.kind for s in entry.sources)
            print(f"{name:26} {entry.kind:4} {size:7.0f} MB  {status:8} {sources:12} {entry.license}")
        return 0
    names = _selected(args, settings)
    unknown = [n for n in names if n not in settings.registry.models]
    if unknown:
        print(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(settings.registry.names())}",
              file=sys.stderr)
        return EXIT_USAGE
    failed = 0
    for name in names:
        if args.action == "fetch":
            print(f"{name}:", file=sys.stderr)
            try:
                path = store.fetch(name, progress=_progress(), force=args.force)
                print(f"{name}: ok ({path})")
            except ModelFetchError as exc:
                print(f"{name}: FAILED\n{exc}", file=sys.stderr)
                failed += 1
        else:
            state = store.state(name, check_hashes=True)
            if state.ok:
                print(f"{name}: ok ({state.path})")
            else:
                failed += 1
                why = "; ".join(state.problems) or f"not fetched (run `parley models fetch {name}`)"
                print(f"{name}: FAILED: {why}")
    return 1 if failed else 0


# --- doctor ------------------------------------------------------------------------------------


def cmd_doctor(args) -> int:
    from parley.cli.doctor import run_checks

    settings = _settings(args)
    checks = run_checks(_store(settings))
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
        return 0
    group = None
    for c in checks:
        if c.group != group:
            group = c.group
            print(f"{group}:")
        print(f"  {'ok ' if c.ok else ' - '} {c.name:22} {c.detail}")
    print(f"config: {settings.path} (llm {settings.stack.llm.model}, voice {settings.stack.tts.voice}, "
          f"persona {settings.persona.name})")
    return 0


# --- entry point -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description="A self-hosted talking avatar.")
    parser.add_argument("--config", help="stack YAML (default: $PARLEY_CONFIG or configs/cpu.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve_cmd = sub.add_parser("serve", help="the live avatar: web app + WebRTC on http://127.0.0.1:8080")
    serve_cmd.add_argument("--host", help="bind address (default: server.host in the config)")
    serve_cmd.add_argument("--port", type=int, help="port (default: server.port in the config; 0 picks one)")
    serve_cmd.set_defaults(func=cmd_serve)

    say = sub.add_parser("say", help="speak TEXT: write speech.wav, visemes.json, timings.json")
    say.add_argument("text", nargs="+")
    say.add_argument("--out", required=True, help="output directory")
    say.add_argument("--avatar", help="a portrait avatar also writes video.mp4; a 3D (GLB) avatar is checked and "
                     "played by web/avatar3d.html from visemes.json (name under avatars/ or a YAML path)")
    say.set_defaults(func=cmd_say)

    avatar = sub.add_parser("avatar", help="set up avatars")
    avatar_sub = avatar.add_subparsers(dest="avatar_command", required=True)
    init = avatar_sub.add_parser("init", help="find the face in a portrait and write its avatar.yaml")
    init.add_argument("image", help="a frontal portrait, PNG or JPEG")
    init.add_argument("--name", required=True, help="the avatar's name (its folder under avatars/)")
    init.add_argument("--licence", required=True, help="the image's licence, recorded in the YAML")
    init.add_argument("--out-root", help="where avatar folders go (default: the repository's avatars/)")
    init.set_defaults(func=cmd_avatar)

    chat = sub.add_parser("chat", help="a text conversation with the persona, spoken")
    chat.add_argument("--out", help="where each turn's WAV and visemes go (default: out/chat-TIME)")
    chat.add_argument("--no-play", action="store_true", help="do not play replies on the sound card")
    chat.set_defaults(func=cmd_chat)

    turn = sub.add_parser("turn", help="one spoken turn on a recording: VAD, ASR, LLM, TTS, visemes")
    turn.add_argument("audio", help="the question: any audio file (WAV, FLAC, MP3, …), any rate")
    turn.add_argument("--out", required=True, help="output directory")
    turn.add_argument("--realtime", action="store_true", help="feed the audio at wall-clock speed")
    turn.set_defaults(func=cmd_turn)

    listen = sub.add_parser("listen", help="print the speech and transcripts heard in a recording")
    listen.add_argument("audio")
    listen.add_argument("--realtime", action="store_true", help="feed the audio at wall-clock speed")
    listen.set_defaults(func=cmd_listen)

    models = sub.add_parser("models", help="list, fetch or verify models")
    models.add_argument("action", choices=["list", "fetch", "verify"])
    models.add_argument("names", nargs="*", help="model names (default: those the config uses)")
    models.add_argument("--all", action="store_true", help="every model in the registry")
    models.add_argument("--force", action="store_true", help="fetch again even if present")
    models.set_defaults(func=cmd_models)

    doctor = sub.add_parser("doctor", help="what this machine has: CPU/GPU, models, ports, tools")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
    except ParleyError as exc:
        print(f"error: {exc}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
