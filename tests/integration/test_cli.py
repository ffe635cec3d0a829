"""The CLI's model, doctor and error paths as a user meets them."""

import json
import subprocess
import sys

from tests.conftest import write_stack


def parley(*args, **kw):
    return subprocess.run([sys.executable, "-m", "parley.cli", *args], capture_output=True, text=True,
                          timeout=300, **kw)


def test_models_list_and_verify():
    listed = parley("models", "list")
    assert listed.returncode == 0
    assert "gemma3-270m" in listed.stdout and "qwen2.5-0.5b-instruct" in listed.stdout and "Apache-2.0" in listed.stdout
    verified = parley("models", "verify")
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.count(": ok") == 4  # LLM, voice, ASR, VAD


def test_verify_and_fetch_fail_clearly_for_a_hub_only_model_offline(tmp_path):
    env = {"PARLEY_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    verified = parley("models", "verify", "qwen2.5-0.5b-instruct", env=env)
    assert verified.returncode == 1 and "not fetched" in verified.stdout
    unknown = parley("models", "fetch", "no-such-model", env=env)
    assert unknown.returncode == 2 and "known:" in unknown.stderr


def test_missing_model_names_the_fix(tmp_path):
    proc = parley("say", "hello", "--out", str(tmp_path / "o"), env={"PARLEY_HOME": str(tmp_path), "PATH": "/usr/bin"})
    assert proc.returncode == 2 and "parley models fetch piper-en_US-joe-medium" in proc.stderr


def test_config_error_is_reported_not_raised(tmp_path):
    proc = parley("--config", str(write_stack(tmp_path, **{"tts.engine": "espeak"})), "say", "hi", "--out", str(tmp_path))
    assert proc.returncode == 2 and "tts.engine" in proc.stderr and "allowed: piper" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_doctor_reports_machine_models_and_ports():
    proc = parley("doctor", "--json")
    assert proc.returncode == 0
    checks = {(c["group"], c["name"]): c for c in json.loads(proc.stdout)}
    assert checks[("models", "gemma3-270m")]["ok"] and ("machine", "cpu") in checks and ("ports", "8080") in checks
    assert "cores" in checks[("machine", "cpu")]["detail"]


def test_say_with_nothing_to_speak():
    proc = parley("say", "...", "--out", "/tmp/parley-nothing")
    assert proc.returncode == 2 and "no words to speak" in proc.stderr and "Traceback" not in proc.stderr


def test_chat_survives_a_message_too_long_for_the_context(tmp_path):
    huge = "Tell me about the campus. " * 700  # far beyond the 2048-token context
    proc = subprocess.run([sys.executable, "-m", "parley.cli", "chat", "--no-play", "--out", str(tmp_path)],
                          input=f"{huge}\nHello!\n", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "(error: the persona prompt and this message need more than" in proc.stderr
    assert "\nAda: Sorry, I can't answer right now." in proc.stdout  # the apology, on the reply's line
    assert proc.stdout.count("LLM first token") == 1  # the next message was answered


def test_chat_prints_each_reply_on_a_line_of_its_own_and_declines_what_it_does_not_know(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "parley.cli", "chat", "--no-play", "--out", str(tmp_path)],
                          input="Who is the dean of engineering?\n/reset\nHello!\n/quit\n", capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    replies = [line for line in proc.stdout.splitlines() if line.startswith("Ada: ")]
    assert replies[1] == ("Ada: I'm sorry, I don't know that. Please ask at Admissions, on the ground floor of the "
                          "Old Building.")
    assert len(replies) == 3 and replies[2].strip() != "Ada:"  # greeting, decline, an answer to "Hello!"
