"""Write perf_analyzer's --input-data files (perf/triton_inputs/MODEL.json) from Parley's own engines.

    .venv/bin/python -m perf.make_triton_inputs

Requests look like a conversation's: the persona's real prompt for `llm`, reply sentences for `tts`
and `speak`, Piper's phoneme timings of one for `visemes`, and Piper speaking a question, at 16 kHz,
for `asr` and `vad`. `lipsync` needs no file: Wav2Lip's cost does not depend on the pixels, so the
sweep sends perf_analyzer's random data (fixed shapes).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from parley.config import REPO_CONFIGS, load_settings
from parley.core.audio import resample
from parley.engines.piper_tts import PiperEngine
from parley.engines.triton.llm import load_tokenizer
from parley.hear.vad import CHUNK, CONTEXT
from parley.models.store import ModelStore
from parley.reply.history import History
from parley.reply.prompt import PromptBuilder

OUT = Path(__file__).parent / "triton_inputs"
REPLIES = [
    "The library is open until ten tonight.",
    "You can find the cafeteria on the ground floor of the student centre, next to the bookshop.",
    "Sure.",
]
QUESTION = "Where can I get a coffee near the main lecture hall?"


def _text(value: str) -> dict:
    return {"content": [value], "shape": [1]}


def _fp32(values: np.ndarray) -> dict:
    values = np.ascontiguousarray(values, dtype=np.float32)
    return {"b64": base64.b64encode(values.tobytes()).decode(), "shape": list(values.shape)}


def main() -> None:
    settings = load_settings(REPO_CONFIGS / "cpu.yaml")
    store = ModelStore(settings.registry)
    tts = PiperEngine.from_settings(settings, store)
    files: dict[str, list[dict]] = {
        "tts": [{"TEXT": _text(t)} for t in REPLIES],
        "speak": [{"TEXT": _text(t)} for t in REPLIES],
    }

    files["visemes"] = []
    for reply in REPLIES:
        speech = tts.synthesize(reply)
        files["visemes"].append({
            "PHONEMES": {"content": [p.phoneme for p in speech.phonemes], "shape": [len(speech.phonemes)]},
            "PHONEME_STARTS": _fp32(np.array([p.start for p in speech.phonemes])),
            "PHONEME_ENDS": _fp32(np.array([p.end for p in speech.phonemes])),
            "DURATION": _fp32(np.array([speech.duration])),
        })

    question = tts.synthesize(QUESTION)
    audio16k = resample(question.audio, question.sample_rate)
    files["asr"] = [{"AUDIO": _fp32(audio16k)}]
    # One chunk from the middle of the speech, with zero state: the cost is the same for every chunk.
    middle = len(audio16k) // 2
    files["vad"] = [{
        "input": _fp32(audio16k[middle - CONTEXT: middle + CHUNK][None, :]),
        "h": _fp32(np.zeros((1, 1, 128))),
        "c": _fp32(np.zeros((1, 1, 128))),
    }]

    llm = settings.stack.llm.model
    tokenizer = load_tokenizer(store.require(llm) / settings.registry.get(llm, "llm").files[0].name)
    count = lambda text: len(tokenizer.tokenize(text.encode(), add_bos=False, special=True))
    builder = PromptBuilder(settings.persona, settings.prompt_style)
    prompt = builder.build(History(), QUESTION, count, settings.stack.llm.context_size - settings.stack.llm.max_tokens)
    body = {"stop": prompt.stop}
    body.update({"messages": prompt.messages} if prompt.messages is not None else {"text": prompt.text})
    files["llm"] = [{"PROMPT": _text(json.dumps(body)),
                     "MAX_TOKENS": {"content": [settings.stack.llm.max_tokens], "shape": [1]}}]

    OUT.mkdir(exist_ok=True)
    for model, data in files.items():
        path = OUT / f"{model}.json"
        path.write_text(json.dumps({"data": data}, indent=1) + "\n")
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
