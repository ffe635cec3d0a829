"""``parley say`` and ``parley avatar``: speech and faces written to files."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from parley.cli.common import EXIT_USAGE, parley_from
from parley.core.audio import AudioDecodeError
from parley.core.speech import SpokenChunk
from parley.reply.splitter import ClauseSplitter
from parley.speak.files import join_speech, write_reply


def cmd_say(args) -> int:
    parley = parley_from(args)
    settings = parley.settings
    text = " ".join(args.text).strip()
    if not text:
        print("parley say: nothing to say; give the text as an argument", file=sys.stderr)
        return EXIT_USAGE
    splitter = ClauseSplitter(settings.stack.splitter)
    chunks = splitter.feed(text) + splitter.flush()
    if not chunks:
        print(f"parley say: no words to speak in {text!r}", file=sys.stderr)
        return EXIT_USAGE
    avatar = parley.avatar() if args.avatar else None
    tts, mapper = parley.engines.tts, parley.engines.visemes
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
    out = Path(args.out)
    wav = write_reply(out, segments, mapper, timings)
    print(f"{wav} ({audio_s:.2f} s of speech; first audio in {first_audio_ms:.0f} ms)")
    if avatar is not None:
        _write_face(parley, avatar, out, join_speech(segments), wav)
    return 0


def cmd_animate(args) -> int:
    from parley.speak.align import Aligner
    from parley.speak.recording import RecordingError, load_recording, timed_speech

    parley = parley_from(args)
    avatar = parley.avatar()
    try:
        audio = load_recording(args.audio, args.max_minutes * 60)
    except (RecordingError, AudioDecodeError) as exc:
        print(f"parley animate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    t0 = time.perf_counter()
    speech = timed_speech(audio, parley.asr_with_times(), Aligner.of(parley.settings, parley.store))
    timings = {"align_ms": round((time.perf_counter() - t0) * 1000, 1), "audio_seconds": round(speech.duration, 3),
               "words": len(speech.text.split())}
    out = Path(args.out)
    wav = write_reply(out, [speech], parley.engines.visemes, timings)
    if speech.phonemes:
        print(f"{wav} ({speech.duration:.2f} s; heard: {speech.text!r})")
    else:
        print(f"{wav}: no speech found in {args.audio} ({speech.duration:.1f} s); the mouth stays closed",
              file=sys.stderr)
    _write_face(parley, avatar, out, speech, wav)
    return 0


def _write_face(parley, avatar, out: Path, speech, wav: Path) -> None:
    """The face for ``speech``: a video for a portrait; a 3D (GLB) avatar plays visemes.json in the browser."""
    if avatar.kind == "glb":
        print(f"3D avatar {avatar.name}: open web/avatar3d.html?glb=<{avatar.model_path}>"
              f"&visemes=<{out / 'visemes.json'}>&audio=<{wav}> from a web server")
        return
    from parley.face.video import write_mp4

    chunk = SpokenChunk(speech, parley.engines.visemes.track(speech))
    face = parley.face(avatar)
    video = out / "video.mp4"
    write_mp4(video, face.frames(chunk), face.fps, speech.audio, speech.sample_rate)
    print(f"{video} ({avatar.name}, face: {parley.settings.stack.face.engine})")


def cmd_avatar(args) -> int:
    from parley.config.avatar import REPO_AVATARS
    from parley.config.loader import voice_for
    from parley.face.avatars import AvatarError
    from parley.face.make.init import init_avatars

    out_root = Path(args.out_root) if args.out_root else REPO_AVATARS
    # Checked before anything is made, so a voice the stack cannot play writes no avatar.
    voice = voice_for(args.config, args.voice, out_root / args.name / "avatar.yaml", "--voice")
    base, note = head_base(args.config)
    try:
        upscaler = _upscaler(args.config) if args.enhance else None
        portrait, head = init_avatars(Path(args.image), args.name, args.licence, out_root, voice=args.voice,
                                      name_3d=args.name_3d, upscaler=upscaler, base=base)
    except AvatarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # An avatar is found by name only under the repository's avatars/; elsewhere by its file.
    ref = (lambda p: p.parent.name) if out_root.resolve() == REPO_AVATARS.resolve() else str
    print(f"{portrait} (2D: --avatar {ref(portrait)}, face.avatar)")
    print(f"{head} (3D: --avatar {ref(head)}, face.avatar3d; {note})")
    print(_voice_note(voice, f"{portrait} and {head}"))
    return 0


def head_base(config) -> tuple[Path | None, str]:
    """The wheel the 3D head is built on, or none when it is not fetched, with what the user gets."""
    from parley.config import load_settings
    from parley.config.avatar import HEAD_BASE_MODEL
    from parley.models.store import ModelStore

    store = ModelStore(load_settings(config).registry)
    state = store.state(HEAD_BASE_MODEL)
    if state.ok:
        entry = store.registry.get(HEAD_BASE_MODEL)
        return state.path / entry.files[0].name, "a whole head on the MakeHuman base mesh"
    return None, (f"the MakeHuman base mesh is not fetched, so a face-mesh head without ears, hair or neck; "
                  f"`parley models fetch {HEAD_BASE_MODEL}` and run this again for a whole head")


def _upscaler(config) -> Path:
    """The folder of ``--enhance``'s model, fetched now if need be (``AvatarError`` naming the fix)."""
    from parley.config import load_settings
    from parley.face.make.enhance import upscaler
    from parley.models.store import ModelStore

    return upscaler(ModelStore(load_settings(config).registry))


def _voice_note(voice, files: str) -> str:
    """Which voice the new avatars speak with on the stack, and how to choose another."""
    own = f"--voice VOICE, or voice: VOICE in {files}"
    why, other = {
        "default": (f"the avatar names none, so {voice.key}", f"another: {own}"),
        "avatar": (f"--voice, written in {files}", "another: voice: VOICE there"),
        "stack": (f"{voice.key}, every avatar's on that stack", f"the avatar's own: remove it there, then {own}"),
    }[voice.source]
    return f"voice: {voice.name} ({why}); {other}; voices: {', '.join(voice.known)}"
