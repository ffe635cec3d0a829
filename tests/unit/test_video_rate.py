"""The live face's frame rate: full while the avatar speaks, ``idle_fps`` while it is silent, and back
to full the moment a reply's audio is queued."""

import asyncio
import time

from parley.face.avatars import load_avatar
from parley.face.warp import WarpFace
from parley.live.media import VIDEO_CLOCK, AvatarVideoTrack, MediaClock
from tests.unit.test_playout import chunk

SLOT = VIDEO_CLOCK // 30  # one frame at 30 fps, in pts


def track(clock: MediaClock, idle_fps: float | None) -> AvatarVideoTrack:
    return AvatarVideoTrack(clock, WarpFace(load_avatar("portrait"), fps=30), idle_fps=idle_fps)


async def frames_for(video: AvatarVideoTrack, seconds: float) -> list[int]:
    pts, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        pts.append((await video.recv()).pts)
    return pts


def test_a_silent_face_is_sent_at_the_idle_rate_on_the_full_rates_time_line():
    async def main():
        return await frames_for(track(MediaClock(), idle_fps=10), 1.0)

    pts = asyncio.run(main())
    assert 5 <= len(pts) <= 12  # fewer when a loaded machine makes frames late: their slots are skipped
    steps = {b - a for a, b in zip(pts[1:], pts[2:])}
    assert all(step % SLOT == 0 for step in steps) and min(steps) == 3 * SLOT


def test_without_an_idle_rate_the_silent_face_is_sent_at_full_rate():
    async def main():
        return await frames_for(track(MediaClock(), idle_fps=None), 0.5)

    pts = asyncio.run(main())
    assert len(pts) >= 12 and min(b - a for a, b in zip(pts, pts[1:])) == SLOT


def test_queued_audio_brings_the_next_frame_at_once_and_the_full_rate_back():
    async def main():
        clock = MediaClock()
        video = track(clock, idle_fps=2)  # a frame every 15 slots while silent
        await video.recv()
        before = (await video.recv()).pts
        clock.add(chunk("Hello there.", 1.0))  # the next idle frame is half a second away
        queued = time.perf_counter()
        woken = (await video.recv()).pts
        waited = time.perf_counter() - queued
        speaking = [(await video.recv()).pts for _ in range(5)]
        return before, woken, waited, speaking

    before, woken, waited, speaking = asyncio.run(main())
    assert woken - before < 15 * SLOT and waited < 0.25
    steps = [b - a for a, b in zip([woken, *speaking], speaking)]
    assert min(steps) == SLOT and max(steps) < 15 * SLOT  # a late frame's slot may be skipped, never idled
