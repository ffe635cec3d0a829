"""Speech in on the real models: Whisper accuracy, VAD segmentation, endpointing, bad input."""

import asyncio
import subprocess
import sys

import numpy as np
import pytest

from parley.core.events import PartialTranscript, PauseTranscript, SpeechEnded, SpeechStarted, Utterance
from parley.hear.frames import stream_frames
from parley.speak.files import write_wav
from testbed.speech import silence, speak, voiced_bounds, wer

SENTENCES = [
    "Where is the main library on campus?",
    "When does the library close on Saturday evening?",
    "How do I get to the train station from here?",
    "Is there a cafeteria in the student centre?",
    "What time does the campus tour start in the afternoon?",
    "Can I use the swimming pool with my student card?",
    "I forgot my password and cannot log in to my computer.",
    "How do I connect my laptop to the staff wireless network?",
    "My printer will not print anything this morning.",
    "Please tell me how to work out the area of a circle.",
    "What happens to water when it reaches one hundred degrees?",
    "Could you explain photosynthesis in simple words?",
    "The light on my router has turned red again.",
    "How do I reset the router to its factory settings?",
    "Where can I buy books and stationery near the campus?",
    "Which bus goes to the city centre after six in the evening?",
    "I would like to speak to somebody in admissions please.",
    "Thank you very much, that was really helpful.",
    "Is the sports centre open at weekends as well?",
    "Can you recommend a quiet place to study for my exams?",
    "What is the speed of a car that travels sixty miles in one hour?",
    "Good morning, I am looking for the chemistry building.",
]


@pytest.fixture(scope="module")
def listener(parley):
    return parley.listener(wait_for_partials=True)


def listen(listener, audio):
    async def collect():
        return [e async for e in listener.listen(stream_frames(audio))]

    return asyncio.run(collect())


def test_whisper_round_trip_word_error_rate(engines, listener, caller):
    errors = words = 0
    for text in SENTENCES:
        hyp = listener.asr.transcribe(speak(caller, text), listener.prompt)
        e, n = wer(text, hyp)
        errors, words = errors + e, words + n
    assert len(SENTENCES) >= 20
    assert errors / words <= 0.10, f"WER {errors / words:.1%}"


def test_vad_segments_speech_between_silence_and_noise(engines, listener, settings, caller):
    rng = np.random.default_rng(0)
    first, second = speak(caller, SENTENCES[0]), speak(caller, SENTENCES[1])
    noise = (0.01 * rng.standard_normal(16000 * 2)).astype(np.float32)
    audio = np.concatenate([silence(1.0), first, silence(1.0), noise, second, silence(1.0)])
    events = listen(listener, audio)
    utterances = [e for e in events if isinstance(e, Utterance)]
    assert len(utterances) == 2
    offsets = [1.0, 1.0 + len(first) / 16000 + 1.0 + 2.0]
    for utt, clip, offset, text in zip(utterances, (first, second), offsets, SENTENCES):
        start, end = voiced_bounds(clip)
        assert abs(utt.start - (offset + start)) < 0.1 and abs(utt.end - (offset + end)) < 0.1
        assert wer(text, utt.text)[0] <= 1
    # Both sentences sound finished: the endpoint fires the short wait after the last voiced chunk.
    ended = [e for e in events if isinstance(e, SpeechEnded)]
    wait = settings.stack.turn_taking.finished_wait_ms / 1000
    assert all(abs((e.at - e.end) - wait) < 0.04 for e in ended)


def test_a_pause_mid_sentence_is_waited_out_and_the_question_answered_once(engines, listener, settings, caller):
    """The caller stops to think after "the": the words heard at the pause trail off, so the endpoint
    waits (up to turn_taking.unfinished_wait_ms) and the whole question is one utterance; without the
    adaptive endpoint the pause ends the turn."""
    from parley.hear.listener import Listener

    head, tail = speak(caller, "Where is the"), speak(caller, "main library?")
    audio = np.concatenate([silence(1.0), head, silence(0.7), tail, silence(1.5)])
    events = listen(listener, audio)
    utterances = [e for e in events if isinstance(e, Utterance)]
    assert len(utterances) == 1 and wer("Where is the main library?", utterances[0].text)[0] <= 1
    assert not [e for e in events if isinstance(e, PauseTranscript) and "library" not in e.text]

    fixed = settings.stack.turn_taking.model_copy(update={"adaptive_endpoint": False})
    stack = settings.stack
    plain = Listener(listener.vad, listener.asr, stack.vad, stack.asr, listener.prompt, True, turn_taking=fixed)
    assert len([e for e in listen(plain, audio) if isinstance(e, Utterance)]) == 2


def test_partials_then_a_speculative_final(engines, listener, caller):
    events = listen(listener, np.concatenate([silence(0.5), speak(caller, SENTENCES[6]), silence(1.0)]))
    kinds = [type(e) for e in events]
    assert kinds[0] is SpeechStarted and kinds[-1] is Utterance, events
    partials = [e for e in events if isinstance(e, PartialTranscript)]
    assert len(partials) >= 2 and all(p.text for p in partials), events
    final = events[-1]
    assert final.speculative and final.asr_ms < final.decode_ms, events


def test_silence_and_noise_are_not_speech(listener):
    rng = np.random.default_rng(1)
    assert listen(listener, silence(5.0)) == []
    noise = (0.05 * rng.standard_normal(16000 * 5)).astype(np.float32)
    assert not [e for e in listen(listener, noise) if isinstance(e, Utterance) and e.text]


def parley(*args, **kw):
    return subprocess.run([sys.executable, "-m", "parley.cli", *args], capture_output=True, text=True,
                          timeout=600, **kw)


def test_turn_command_answers_a_spoken_question(tmp_path, engines, caller):
    question = tmp_path / "question.wav"
    audio = np.concatenate([silence(0.7), speak(caller, "Hello! Where is the library?"), silence(1.0)])
    write_wav(question, audio, 16000)
    proc = parley("turn", str(question), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    assert "library" in (out / "transcript.txt").read_text().lower()
    assert (out / "reply.txt").read_text().strip() and (out / "speech.wav").is_file()
    import json

    t = json.loads((out / "timings.json").read_text())
    for key in ("vad_end_ms", "asr_ms", "llm_first_chunk_ms", "tts_first_audio_ms", "end_of_speech_to_first_audio_ms"):
        assert t[key] >= 0, key
    assert t["llm_first_token_ms"] is None  # a fact, said as the knowledge words it: no LLM
    total = t["vad_end_ms"] + t["asr_ms"] + t["llm_first_chunk_ms"] + t["tts_first_audio_ms"]
    assert t["end_of_speech_to_first_audio_ms"] == pytest.approx(total, abs=1.0)
    _, true_end = voiced_bounds(audio)
    assert abs(t["speech_end_s"] - true_end) < 0.1


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_turn_on_no_speech_says_so(tmp_path, kind):
    rng = np.random.default_rng(2)
    audio = silence(4.0) if kind == "silence" else (0.05 * rng.standard_normal(16000 * 4)).astype(np.float32)
    path = tmp_path / f"{kind}.wav"
    write_wav(path, audio, 16000)
    proc = parley("turn", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and "no speech detected in 4.0 s of audio" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_turn_on_a_file_that_is_not_audio(tmp_path):
    path = tmp_path / "question.wav"
    path.write_bytes(b"%PDF-1.4 definitely not audio" * 100)
    proc = parley("turn", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "not an audio file" in proc.stderr and "Traceback" not in proc.stderr


def test_turn_on_clipped_audio_still_understands(tmp_path, engines, caller):
    speech = speak(caller, "Where is the swimming pool?")
    clipped = np.clip(speech * 12.0, -1.0, 1.0)
    assert np.mean(np.abs(clipped) >= 0.999) > 0.05  # badly clipped
    path = tmp_path / "clipped.wav"
    write_wav(path, np.concatenate([silence(0.5), clipped, silence(1.0)]), 16000)
    proc = parley("turn", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "pool" in (tmp_path / "out" / "transcript.txt").read_text().lower()


def test_turn_on_a_sixty_second_monologue(tmp_path, engines, caller):
    from testbed.serve import write_stack

    parts, total = [], 0.0
    while total < 60.0:
        for text in SENTENCES:
            clip = speak(caller, text)
            parts += [clip, silence(0.25)]
            total += len(clip) / 16000 + 0.25
            if total >= 60.0:
                break
    path = tmp_path / "monologue.wav"
    write_wav(path, np.concatenate(parts + [silence(1.0)]), 16000)
    config = write_stack(tmp_path, **{"asr.partial_interval_ms": 0})
    proc = parley("--config", str(config), "turn", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    transcript = (tmp_path / "out" / "transcript.txt").read_text()
    # One answer to everything said, though Whisper heard it as several utterances.
    assert len(transcript.split()) > 120 and "library" in transcript.lower() and "exams" in transcript.lower()


def test_listen_command_prints_speech_times_and_transcripts(tmp_path, engines, caller):
    path = tmp_path / "speech.flac"
    spoken = speak(caller, SENTENCES[2])
    onset = 0.6 + voiced_bounds(spoken)[0]  # the voice's own lead-in counts as silence
    audio = np.concatenate([silence(0.6), spoken, silence(1.0)])
    import av

    with av.open(str(path), "w") as container:  # a compressed file at another rate, stereo
        stream = container.add_stream("flac", rate=44100, layout="stereo")
        frame = av.AudioFrame.from_ndarray(audio[None, :].astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = 16000
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=44100)
        for f in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(f):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    proc = parley("listen", str(path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "speech starts" in lines[0] and abs(float(lines[0].split()[0]) - onset) < 0.15
    assert any("…" in line for line in lines)  # partial transcripts
    assert any("speech ends" in line for line in lines)
    final = next(line for line in lines if "»" in line)
    assert wer(SENTENCES[2], final.split("»")[1].split("[")[0])[0] <= 1


def test_an_unsure_transcript_is_decoded_again_in_whispers_own_window(engines, caller):
    """asr.retry_below: a decode whose mean log-probability is below it is done again in the 30 s
    window, and the likelier transcript kept; by default (None) never."""
    engine = engines.asr
    windows = []
    encode, config = engine._encode, engine.config
    engine._encode = lambda features, window_s: windows.append(window_s) or encode(features, window_s)
    audio = speak(caller, "What should I do if I lose my student card?")
    try:
        engine.transcribe(audio)
        assert windows == [config.window_s]
        windows.clear()
        engine.config = config.model_copy(update={"retry_below": 0.0})  # every decode is unsure
        heard = engine.transcribe(audio)
        assert windows == [config.window_s, 30.0]
        assert wer("What should I do if I lose my student card?", heard)[0] <= 1
    finally:
        engine._encode, engine.config = encode, config
