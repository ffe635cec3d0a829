from parley.config import LadderConfig
from parley.live.ladder import Ladder


def feed(ladder, start, seconds, late_ms, rate=50):
    changes = []
    for i in range(int(seconds * rate)):
        if (rung := ladder.observe("video", late_ms, start + i / rate)) is not None:
            changes.append(rung)
    return changes


def test_steady_lateness_steps_down_one_rung_at_a_time_to_the_lowest():
    ladder = Ladder(LadderConfig(step_down_after_s=2, late_ms=40))
    assert feed(ladder, 0, 1.9, 80) == []
    assert feed(ladder, 1.9, 0.2, 80) == ["browser3d"]
    assert feed(ladder, 2.1, 4.5, 80) == ["audio"]
    assert feed(ladder, 6.6, 10, 80) == []  # nothing below the lowest rung
    assert ladder.changes[0][2].startswith("100% of video late")


def test_occasional_late_frames_do_not_step_down():
    ladder = Ladder(LadderConfig(step_down_after_s=2, late_ms=40))
    for i in range(500):
        assert ladder.observe("video", 80 if i % 3 == 0 else 5, i / 50) is None


def test_on_time_media_steps_back_up_to_the_top_and_no_further():
    ladder = Ladder(LadderConfig(step_down_after_s=2, step_up_after_s=10, late_ms=40))
    feed(ladder, 0, 2.1, 80)
    assert ladder.rung == "browser3d"
    assert feed(ladder, 2.1, 9.8, 0) == []
    assert feed(ladder, 11.9, 0.4, 0) == ["warp2d"]
    assert feed(ladder, 12.3, 30, 0) == []


def test_a_rung_that_fails_again_right_after_a_step_up_waits_twice_as_long():
    ladder = Ladder(LadderConfig(step_down_after_s=2, step_up_after_s=10, late_ms=40))
    feed(ladder, 0, 2.1, 80)  # down at 2.1
    feed(ladder, 2.1, 10.1, 0)  # up at 12.1
    assert feed(ladder, 12.2, 2.1, 80) == ["browser3d"]  # down again at 14.2
    assert feed(ladder, 14.3, 15, 0) == []  # a 10 s wait is no longer enough
    assert feed(ladder, 29.3, 6, 0) == ["warp2d"]  # 20 s after 14.2


def test_the_callers_chosen_view_caps_the_ladder():
    ladder = Ladder(LadderConfig(step_up_after_s=5))
    assert ladder.set_top("browser3d", 0) == "browser3d"
    assert feed(ladder, 0, 60, 0) == []
    assert ladder.set_top("warp2d", 60) is None
    assert feed(ladder, 60, 6, 0) == ["warp2d"]


def test_a_disabled_ladder_never_moves():
    ladder = Ladder(LadderConfig(enabled=False, step_down_after_s=1))
    assert feed(ladder, 0, 10, 500) == []


def test_late_video_steps_down_even_while_the_audio_is_on_time():
    ladder = Ladder(LadderConfig(step_down_after_s=1, late_ms=40))
    changes = []
    for i in range(150):
        t = i / 50
        rendering = ladder.rung == "warp2d"  # off that rung no video is rendered, so none is late
        changes += [r for r in (ladder.observe("audio", 0, t),
                                ladder.observe("video", 90, t) if i % 2 and rendering else None) if r]
    assert changes == ["browser3d"]
