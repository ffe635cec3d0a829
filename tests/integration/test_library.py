"""The embedding example in docs/interfaces.md runs as written, on the real default models."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from parley.speak.files import write_wav
from testbed.speech import silence, speak

REPO = Path(__file__).resolve().parents[2]


def example() -> str:
    text = (REPO / "docs" / "interfaces.md").read_text()
    section = text[text.index("## Embedding Parley"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_documented_example_answers_a_spoken_question(engines, tmp_path, caller):
    code = example()
    assert len(code.splitlines()) <= 25
    question = speak(caller, "Where is the library?")
    write_wav(tmp_path / "question.wav", np.concatenate([silence(0.5), question, silence(1.5)]), 16000)
    code = code.replace('"configs/cpu.yaml"', repr(str(REPO / "configs" / "cpu.yaml")))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"where(?:'s| is) the library\W* -> \w", proc.stdout, re.I), proc.stdout
    assert "'type': 'utterance'" in proc.stdout and "Exchange(user=" in proc.stdout
