"""``parley serve``, ``parley models`` and ``parley doctor``: running and looking after a deployment."""

from __future__ import annotations

import json
import sys

from parley.cli.common import EXIT_USAGE, parley_from
from parley.config import ConfigError, Settings
from parley.config.avatar import HEAD_BASE_MODEL
from parley.models.store import ModelFetchError


def cmd_serve(args) -> int:
    from parley.live.serving import serve

    parley = parley_from(args)
    settings = parley.settings
    if args.host and args.host not in ("127.0.0.1", "localhost", "::1") and not settings.stack.server.tls_cert:
        raise ConfigError(f"--host {args.host}: not loopback, so server.tls_cert and server.tls_key must be set "
                          "(browsers only allow the microphone over HTTPS)")
    serve(parley, host=args.host, port=args.port)
    return 0


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
    served_llm = stack.llm.engine == "openai"  # its model lives on its server
    # A served voice lives on its server; the default voice is fetched too, for the avatars made without one.
    voices = [] if stack.tts.engine == "openai" else [stack.tts.voice, *filter(None, [stack.tts.default_voice])]
    turn_model = [stack.turn_taking.turn_model] if stack.turn_taking.turn_model else []
    embedding = [stack.retrieval.embedding] if stack.retrieval.embedding else []
    # The 3D head's base mesh, for `parley avatar init`, where the stack's registry has it.
    head = [HEAD_BASE_MODEL] if HEAD_BASE_MODEL in settings.registry.models else []
    models = [*([] if served_llm else [stack.llm.model]), *voices, stack.tts.align_voice, stack.asr.model,
              stack.vad.model, *turn_model, *embedding, *head]
    return list(dict.fromkeys(models))


def cmd_models(args) -> int:
    parley = parley_from(args)
    settings, store = parley.settings, parley.store
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


def cmd_doctor(args) -> int:
    from parley.cli.doctor import run_checks, stage_checks

    parley = parley_from(args)
    settings = parley.settings
    checks = run_checks(parley.store) + stage_checks(settings)
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
