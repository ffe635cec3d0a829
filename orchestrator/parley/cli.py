"""The ``parley`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from parley.config import ConfigError, Settings, load_settings
from parley.modelstore import ModelFetchError, ModelMissing, ModelStore

EXIT_USAGE = 2


def _settings(args) -> Settings:
    return load_settings(args.config)


def _store(settings: Settings) -> ModelStore:
    return ModelStore(settings.registry)


# --- say ---------------------------------------------------------------------------------------


def cmd_say(args) -> int:
    from parley.engines import engine_class
    from parley.outputs import write_reply
    from parley.splitter import ClauseSplitter
    from parley.visemes import CoarticulatedVisemes

    settings = _settings(args)
    text = " ".join(args.text).strip()
    if not text:
        print("parley say: nothing to say; give the text as an argument", file=sys.stderr)
        return EXIT_USAGE
    tts = engine_class("tts", settings.stack.tts.engine).from_settings(settings, _store(settings))
    mapper = CoarticulatedVisemes(settings.stack.visemes.fps, settings.stack.visemes.coarticulation_ms)
    splitter = ClauseSplitter(settings.stack.splitter)
    chunks = splitter.feed(text) + splitter.flush()
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
    return 0


# --- chat --------------------------------------------------------------------------------------


def _format_timings(t) -> str:
    def fmt(v):
        return "-" if v is None else f"{v:.0f} ms"

    return (f"[LLM first token {fmt(t.llm_first_token_ms)} · first audio {fmt(t.first_audio_ms)} · "
            f"total {fmt(t.total_ms)} · {t.audio_seconds:.1f} s speech]")


async def _chat(settings: Settings, out_dir: Path, play: bool) -> None:
    from parley.events import SpokenChunk, TextDelta, TurnDone
    from parley.outputs import write_reply
    from parley.playback import Player
    from parley.turn import Conversation, build_engines

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
        if player:
            player.wait()


def cmd_chat(args) -> int:
    settings = _settings(args)
    out_dir = Path(args.out) if args.out else Path("out") / time.strftime("chat-%Y%m%d-%H%M%S")
    try:
        asyncio.run(_chat(settings, out_dir, play=not args.no_play))
    except KeyboardInterrupt:
        print()
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
    # By default: what this stack uses, plus the ASR model the speech-in stage needs.
    used = [settings.stack.llm.model, settings.stack.tts.voice]
    return used + [n for n in settings.registry.names("asr") if n not in used][:1]


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
    from parley.doctor import run_checks

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

    say = sub.add_parser("say", help="speak TEXT: write speech.wav, visemes.json, timings.json")
    say.add_argument("text", nargs="+")
    say.add_argument("--out", required=True, help="output directory")
    say.set_defaults(func=cmd_say)

    chat = sub.add_parser("chat", help="a text conversation with the persona, spoken")
    chat.add_argument("--out", help="where each turn's WAV and visemes go (default: out/chat-TIME)")
    chat.add_argument("--no-play", action="store_true", help="do not play replies on the sound card")
    chat.set_defaults(func=cmd_chat)

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
    except ModelMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
