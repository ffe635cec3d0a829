"""The ``parley`` command: one entry point, its commands grouped by what they are for."""

from __future__ import annotations

import argparse
import sys

from parley.cli.admin import cmd_doctor, cmd_models, cmd_serve
from parley.cli.common import EXIT_USAGE
from parley.cli.speech import cmd_animate, cmd_avatar, cmd_say
from parley.cli.talk import cmd_chat, cmd_listen, cmd_turn
from parley.config import ConfigError
from parley.core.errors import ParleyError


def _with(common: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    class Parser(argparse.ArgumentParser):
        def __init__(self, *args, parents=(), **kwargs) -> None:
            super().__init__(*args, parents=[*parents, common], **kwargs)

    return Parser


def build_parser() -> argparse.ArgumentParser:
    config_help = "stack YAML (default: $PARLEY_CONFIG or configs/cpu.yaml)"
    parser = argparse.ArgumentParser(prog="parley", description="A self-hosted talking avatar.")
    parser.add_argument("--config", help=config_help)
    # --config is also taken after the command (``parley serve --config FILE``); there it wins.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_with(common))

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

    animate = sub.add_parser("animate", help="lip-sync a recording: speech.wav, visemes.json and the face")
    animate.add_argument("audio", help="any audio file (WAV, FLAC, MP3, Opus, a video's sound track), any rate")
    animate.add_argument("--out", required=True, help="output directory")
    animate.add_argument("--avatar", help="a portrait writes video.mp4; a 3D (GLB) avatar plays visemes.json in "
                         "web/avatar3d.html (default: the config's face.avatar)")
    animate.add_argument("--max-minutes", type=float, default=10.0, help="refuse longer recordings (default 10)")
    animate.set_defaults(func=cmd_animate)

    avatar = sub.add_parser("avatar", help="set up avatars")
    avatar_sub = avatar.add_subparsers(dest="avatar_command", required=True)
    init = avatar_sub.add_parser("init", help="one photo → a 2D talking portrait and a textured 3D head")
    init.add_argument("image", help="a frontal portrait of one person, PNG or JPEG")
    init.add_argument("--name", required=True, help="the 2D avatar's name (its folder under avatars/)")
    init.add_argument("--name-3d", help="the 3D avatar's name (default: NAME-3d)")
    init.add_argument("--licence", required=True, help="the image's licence, recorded in the YAML")
    init.add_argument("--voice", help="the voice this person speaks with, a tts model of configs/models.yaml "
                      "(hibari-heart: a woman's; piper-en_US-joe-medium: a man's); without it, the stack's "
                      "tts.default_voice")
    init.add_argument("--enhance", action="store_true",
                      help="upscale the portrait's face 4x with Real-ESRGAN (once, on the CPU; fetches the "
                           "model realesrgan-x4plus): a small face stays sharp at the size a page shows it")
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
