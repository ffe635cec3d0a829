"""The acceptance demo, end to end: a real Chromium with a fake microphone talks to `parley serve`.

Everything runs in a fresh network namespace (`unshare -n`) where only loopback exists, and the
server offers only 127.0.0.1 as its ICE address, so the WebRTC media never leaves loopback.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from parley.speak.files import write_wav
from testbed.net import JANUS_ADDRESS, NAMESPACE
from testbed.serve import write_stack
from testbed.speech import silence, speak

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def live(tmp_path_factory, engines, caller):
    folder = tmp_path_factory.mktemp("live")
    wav = folder / "question.wav"
    # Time to connect first, then the question, then quiet while the avatar answers.
    write_wav(wav, np.concatenate([silence(4.0), speak(caller, "Hello! Where is the library?"),
                                   silence(12.0)]), 16000)
    # Janus and nginx-rtmp run inside the test's network namespace on their deploy/ ports. Three
    # browsers, Janus and the RTMP encoder on 2 cores can make the ladder step down (as it should),
    # which would change what the pages show: it is tested on its own (test_ladder*.py).
    config = write_stack(folder, **{"server.ice_addresses": ["127.0.0.1", JANUS_ADDRESS],
                                    "face.ladder.enabled": False,
                                    "broadcast.janus": {"url": "http://127.0.0.1:8088/janus"},
                                    "broadcast.rtmp": {"url": "rtmp://127.0.0.1:1935/live",
                                                       "hls_url": "http://127.0.0.1:8089/hls"}})
    out = folder / "result.json"
    (folder / "media").mkdir()
    driver = [sys.executable, "-m", "tests.e2e.live_driver", "--config", str(config),
              "--wav", str(wav), "--text", "When does the library close?", "--out", str(out),
              "--broadcast", str(folder / "media"),
              # PARLEY_SCREENSHOTS=DIR keeps screenshots of the pages, to look at.
              *(["--screenshots", os.environ["PARLEY_SCREENSHOTS"]] if os.environ.get("PARLEY_SCREENSHOTS") else [])]
    proc = subprocess.run(["unshare", "-n", "sh", "-c", NAMESPACE, "sh", *driver],
                          capture_output=True, text=True, timeout=420, cwd=REPO)
    assert out.exists(), proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert "failure" not in result, result.get("failure", "") + "\n" + result.get("server_log", "")
    return result


def test_a_spoken_question_is_answered_with_audio_and_video(live):
    turn = live["voice_turn"]
    assert "library" in turn["user"].lower() and turn["reply"]
    assert turn["timings"]["end_of_speech_to_first_audio_ms"] > 0
    assert any(c["who"] == "caller" and c["final"] and "library" in c["text"].lower() for c in live["captions"])
    assert live["stats"]["audio"]["packets"] > 100 and live["stats"]["video"]["frames"] > 30


def test_the_callers_own_camera_shows_beside_the_avatar_and_is_not_sent(live):
    camera = live["camera"]
    assert camera["state"] == "on" and camera["width"] > 0 and camera["sent"] == 0


def test_the_pages_run_under_their_content_security_policy(live):
    assert "csp_violations" not in live, live["csp_violations"]


def test_the_mouth_moves_while_the_avatar_speaks(live):
    idle, speaking = np.array(live["idle_mouth"]), np.array(live["speaking_mouth"])
    assert len(idle) > 10 and len(speaking) > 20
    assert np.ptp(speaking) > max(5.0, 3 * np.ptp(idle)), (np.ptp(idle), np.ptp(speaking))


def test_text_mode_answers_typed_messages(live):
    turn = live["text_turn"]
    assert turn["user"] == "When does the library close?" and turn["reply"]
    assert live["errors"] == []


def test_a_caller_leaving_mid_reply_frees_the_session(live):
    assert live["sessions_after_close"] == 0


def test_a_viewer_watches_the_same_stream_through_janus(live):
    assert live["viewer_via"] == "webrtc" and live["viewer_error"] is None
    assert live["viewer_stats"]["video"]["frames"] > 30 and live["viewer_stats"]["audio"]["packets"] > 100
    mouth = np.array(live["viewer_mouth"])
    assert len(mouth) > 20 and np.ptp(mouth) > 5.0, np.ptp(mouth)


def test_a_viewer_can_watch_over_hls_instead(live):
    assert live["hls_via"] == "hls" and live["hls_error"] is None
    assert live["hls_time"] > 0


def test_the_3d_view_draws_the_head_from_viseme_events(live):
    assert live["rung_2d"] == "warp2d"
    view = live["view_3d"]
    assert view["canvas"] and not view["video"] and view["rung"] == "browser3d", view
    mouth = np.array(view["mouth"])
    assert view["frames"] > 30 and mouth.max() > 0.2 and np.ptp(mouth) > 0.2, view


def test_the_conversation_goes_on_when_the_media_server_dies(live):
    assert live["after_janus_died"]["reply"]
    watch = live["watch_after_janus_died"]  # viewers are sent to HLS, told why WebRTC is not offered
    assert watch["webrtc"] is None and "Janus" in watch["webrtc_error"] and watch["hls"].endswith(".m3u8")
