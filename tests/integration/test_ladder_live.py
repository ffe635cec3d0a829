"""The ladder driven by the real media tracks: a face that cannot be rendered on time stops being
sent as video (the browser draws it), while the audio goes on."""

import asyncio
import time

from parley.config import LadderConfig
from parley.face.avatars import load_avatar
from parley.face.fallback import FallbackFace
from parley.face.warp import WarpFace
from parley.live.ladder import Ladder
from parley.live.media import AvatarAudioTrack, AvatarVideoTrack, MediaClock


def run_tracks(ladder: Ladder, seconds: float, face=None, fallback=None, playout=None):
    playout = playout or MediaClock()
    face = face or WarpFace(load_avatar("portrait"), fps=30)
    video = AvatarVideoTrack(playout, FallbackFace(face, fallback) if fallback is not None else face,
                             on_late=lambda ms: ladder.observe("video", ms, time.perf_counter()),
                             rendering=lambda: ladder.rung in ("lipsync", "warp2d"))
    audio = AvatarAudioTrack(playout, on_late=lambda ms: ladder.observe("audio", ms, time.perf_counter()))
    frames: list[tuple[float, str]] = []

    async def pull(track, out):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            await track.recv()
            out.append((time.perf_counter(), ladder.rung))

    async def main():
        packets: list = []
        await asyncio.gather(pull(video, frames), pull(audio, packets))
        return packets

    return frames, asyncio.run(main())


def test_a_lipsync_network_that_fails_is_drawn_with_the_warp_and_steps_the_face_down(engines):
    """face.runtime: triton with no Triton there: every speaking frame falls back to the warp at once
    (the mouth still moves) and counts as late, so the ladder leaves the lipsync rung."""
    from parley.config import TritonConfig
    from parley.core.speech import SpokenChunk
    from parley.engines.triton.lipsync import TritonNetwork
    from parley.face.wav2lip.renderer import Wav2LipFace
    from testbed.net import free_port

    warp = WarpFace(load_avatar("portrait"), fps=30)
    face = Wav2LipFace(TritonNetwork(TritonConfig(url=f"127.0.0.1:{free_port()}"), "lipsync"), warp)
    playout = MediaClock()
    speech = engines.tts.synthesize("Where is the library? It is across the square, next to the cafe.")
    playout.add(SpokenChunk(speech, engines.visemes.track(speech)))
    ladder = Ladder(LadderConfig(step_down_after_s=0.5, lowest="warp2d"), "lipsync")
    frames, packets = run_tracks(ladder, 2.0, face, warp, playout)
    assert [c[1] for c in ladder.changes] == ["warp2d"] and "of video late" in ladder.changes[0][2]
    assert len(frames) >= 40 and len(packets) >= 90


def test_late_frames_step_the_face_down_to_the_browser_and_video_becomes_stills():
    # Any render time counts as late here, so the real renderer is "too slow".
    ladder = Ladder(LadderConfig(step_down_after_s=0.5, late_ms=0.001, lowest="browser3d"))
    frames, packets = run_tracks(ladder, 3.0)
    assert ladder.rung == "browser3d" and ladder.changes[0][1] == "browser3d"
    rendered = [t for t, rung in frames if rung == "warp2d"]
    stills = [t for t, rung in frames if rung == "browser3d"]
    assert len(rendered) >= 10
    assert 3 <= len(stills) <= 6  # two a second
    assert len(packets) >= 140  # the audio kept its 50 packets a second


def test_frames_on_time_keep_the_video():
    ladder = Ladder(LadderConfig(step_down_after_s=0.5, late_ms=500))
    frames, _ = run_tracks(ladder, 2.0)
    assert ladder.changes == [] and len(frames) >= 50
