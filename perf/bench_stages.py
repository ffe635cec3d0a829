"""What each stage of the loop costs on this machine: latency, CPU and memory, for the small default
models and medium ones.

Each (stage, model) runs alone in a fresh process, so the memory it adds is its own: RSS before and
after loading, then repeated calls timed on the wall clock and in CPU time (all the process's
threads: on 2 cores up to 2 CPU-seconds a second).

    vad   Silero v6: one 32 ms chunk
    turn  the end-of-turn model (Gemma 3 270M, a second context): one reading of a pause's words
    asr   Whisper tiny.en (the default), base.en and small.en: one spoken question (~3 s)
    llm   Gemma 3 270M (the default) and 1B (random): a reply of up to 48 tokens to the persona's prompt (prefilled,
          as a session keeps it), the time to its first token and the tokens a second after it
    tts   hibari heart (the default voice), Piper joe: one reply clause
    face  the 2D warp: one frame

Whisper base.en and small.en are not in any package here: they are built with random weights of
their real shapes (transformers' Whisper, converted to CTranslate2 int8 as faster-whisper's own
models are) with tiny.en's tokenizer; a random decoder runs to the length cap every time, so their
times are an upper bound on a real model's. No 1–1.5B LLM ships in a package either: Gemma 3 1B is
built with random weights of its real shapes and the 270M's tokenizer (gguf's writer, then llama.cpp's
own Q4_K_M quantiser, as the default model is quantised; cached under $PARLEY_HOME/perf). Its
random tokens never end a reply early, so its time to first token and tokens per second are what
count, not its text. What a session adds on top of the
stages (its VAD state, history, media and face) is in the capacity benchmark.

    .venv/bin/python -m perf.bench_stages [--calls 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from perf.harness import REPO, arguments, load, percentile, percentiles, report_path, save

RUNS = [("vad", "silero-vad-v6"), ("asr", "whisper-tiny.en"), ("asr", "whisper-base.en (random)"),
        ("asr", "whisper-small.en (random)"), ("turn", "gemma3-270m"), ("llm", "gemma3-270m"),
        ("llm", "gemma3-1b (random)"), ("tts", "hibari-heart"), ("tts", "piper-en_US-joe-medium"),
        ("face", "portrait (warp)")]
WHISPER_SHAPES = {  # the shapes of OpenAI's checkpoints
    "base.en": dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                    decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048),
    "small.en": dict(d_model=768, encoder_layers=12, decoder_layers=12, encoder_attention_heads=12,
                     decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072),
}
# Gemma 3 1B's shapes (its config.json); everything else (tokenizer, attention layout, window) is the
# 270M's, which shares them.
GEMMA3_1B = {"embedding_length": 1152, "block_count": 26, "feed_forward_length": 6912}
RANDOM_GEMMA_VERSION = 1  # of the recipe below: a new one builds a new cached file
CLAUSE = "The main library is on the north side of the square, next to the student centre."


def random_whisper(size: str, out: Path, tokenizer_from: Path) -> Path:
    """A faster-whisper model folder of ``size``'s shapes with random weights (int8)."""
    import ctranslate2
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    config = WhisperConfig(vocab_size=51864, num_mel_bins=80, max_source_positions=1500, max_target_positions=448,
                           **WHISPER_SHAPES[size])
    hf = out.with_name(out.name + "-hf")
    WhisperForConditionalGeneration(config).save_pretrained(hf)
    ctranslate2.converters.TransformersConverter(str(hf)).convert(str(out), quantization="int8", force=True)
    shutil.rmtree(hf)
    # The English-only sizes share tiny.en's vocabulary and special tokens.
    (out / "vocabulary.json").unlink(missing_ok=True)
    for name in ("tokenizer.json", "vocabulary.txt"):
        shutil.copy(tokenizer_from / name, out / name)
    return out


def random_gemma(reference: Path, out: Path, shape: dict) -> Path:
    """A GGUF of Gemma 3 at ``shape`` with random weights and ``reference``'s tokenizer and metadata,
    quantised to Q4_K_M as the default model is (by llama.cpp's own quantiser). Cached: it takes
    minutes to build."""
    import ctypes

    import gguf
    import llama_cpp

    if out.exists():
        return out
    reader = gguf.GGUFReader(reference)
    arch = "gemma3"
    old = {k: int(reader.fields[f"{arch}.{k}"].contents()) for k in shape}
    writer = gguf.GGUFWriter(out.with_suffix(".f16.gguf"), arch)
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value = shape[name.split(".", 1)[1]] if name.split(".", 1)[-1] in shape else field.contents()
        if name == "general.file_type":
            value = int(gguf.LlamaFileType.MOSTLY_F16)
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, value, field.types[0], sub_type)
    resize = {old[k]: shape[k] for k in ("embedding_length", "feed_forward_length")}
    rng = np.random.default_rng(0)
    templates = {t.name.split(".", 2)[-1] if t.name.startswith("blk.") else t.name: t for t in reader.tensors
                 if not t.name.startswith("blk.") or t.name.startswith("blk.0.")}
    names = [n for n in templates if "." in n and not n.startswith(("token_embd", "output"))]
    for name in ["token_embd.weight", "output_norm.weight",
                 *(f"blk.{i}.{n}" for i in range(shape["block_count"]) for n in names)]:
        template = templates[name.split(".", 2)[-1] if name.startswith("blk.") else name]
        dims = [resize.get(int(d), int(d)) for d in reversed(template.shape.tolist())]  # numpy order
        if len(dims) == 1:  # norms: llama.cpp's Gemma files hold the final scale
            writer.add_tensor(name, np.ones(dims, np.float32))
        else:
            writer.add_tensor(name, (0.02 * rng.standard_normal(dims, np.float32)).astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = os.cpu_count() or 1
    f16 = out.with_suffix(".f16.gguf")
    if llama_cpp.llama_model_quantize(str(f16).encode(), str(out).encode(), ctypes.byref(params)) != 0:
        raise RuntimeError(f"llama.cpp could not quantise {f16}")
    f16.unlink()
    return out


def measure(stage: str, model: str, calls: int, work: Path, args: argparse.Namespace) -> dict:
    """In this process: load, then ``calls`` calls of the stage's unit of work."""
    import psutil

    from parley.assemble import Parley
    from parley.config import TTSConfig

    parley = load(args)
    settings, store = parley.settings, parley.store
    caller_voice = "piper-en_US-joe-medium"
    question = None
    if stage == "asr":  # the audio is made before the stage loads, so its memory is not counted
        from parley.core.audio import resample
        from parley.engines.piper_tts import PiperEngine

        caller = PiperEngine(store.require(caller_voice), TTSConfig(voice=caller_voice))
        spoken = caller.synthesize("When does the library close at the weekend?")
        question = resample(spoken.audio, spoken.sample_rate)
        del caller
        if "random" in model:  # built (with torch) before the count starts: loading it is what is measured
            size = model.split("-")[1].split(" ")[0]
            folder = random_whisper(size, work / f"whisper-{size}", store.require("whisper-tiny.en"))
            import gc

            gc.collect()
    if stage == "llm" and "random" in model:
        from parley.models.store import parley_home

        cache = parley_home() / "perf"
        cache.mkdir(parents=True, exist_ok=True)
        reference = store.require("gemma3-270m") / "gemma-3-270m-q4_k_m.gguf"
        gguf_file = random_gemma(reference, cache / f"gemma3-1b-random-{RANDOM_GEMMA_VERSION}-q4_k_m.gguf", GEMMA3_1B)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    t0 = time.perf_counter()
    if stage == "vad":
        detector = parley.engines.vad()
        chunk = (0.1 * np.random.default_rng(0).standard_normal(512)).astype(np.float32)
        call = lambda: detector.feed(chunk)  # noqa: E731
    elif stage == "asr":
        from parley.engines.faster_whisper import FasterWhisperEngine

        if "random" in model:
            engine = FasterWhisperEngine(folder, settings.stack.asr)
        else:
            engine = parley.engines.asr
        prompt = parley.asr_prompt()
        call = lambda: engine.transcribe(question, prompt)  # noqa: E731
    elif stage == "llm":
        from parley.core.interfaces import CancelToken

        if "random" in model:
            from parley.assemble import Engines
            from parley.engines.llama_cpp import LlamaCppEngine

            engine = LlamaCppEngine(gguf_file, settings.stack.llm)
            parley = Parley(settings, store, Engines.given(settings, store, llm=engine))
        conversation = parley.conversation()
        conversation.warm_up()
        engine = parley.engines.llm
        prompt = conversation.generation.prompt(conversation.history, "Where is the main library?")

        def call():
            engine.prefill(prompt)
            started = time.perf_counter()
            times = []
            for _ in engine.stream(prompt, 48, CancelToken()):
                times.append(time.perf_counter() - started)
            return times
    elif stage == "turn":
        engine = parley.engines.turn_model
        call = lambda: engine.probability("Where can I print my documents?")  # noqa: E731
    elif stage == "tts":
        from parley.engines import engine_class

        tts_settings = settings.model_copy(update={"stack": settings.stack.model_copy(update={
            "tts": settings.stack.tts.model_copy(update={"voice": model, "engine": "hibari" if "hibari" in model
                                                         else "piper"})})})
        engine = engine_class("tts", tts_settings.stack.tts.engine).from_settings(tts_settings, store)
        call = lambda: engine.synthesize(CLAUSE)  # noqa: E731
    else:
        face = parley.face(engine="warp")
        speech = parley.engines.tts.synthesize(CLAUSE)
        from parley.core.speech import SpokenChunk

        chunk = SpokenChunk(speech, parley.engines.visemes.track(speech))
        frame = iter(range(10**9))
        call = lambda: face.frame(next(frame) / 30, chunk, 0.5)  # noqa: E731
    load_s = time.perf_counter() - t0
    rss_loaded = process.memory_info().rss
    call()  # first call: allocation and tuning
    walls, cpus, extra = [], [], []
    for _ in range(calls):
        c0, w0 = time.process_time(), time.perf_counter()
        result = call()
        walls.append((time.perf_counter() - w0) * 1000)
        cpus.append((time.process_time() - c0) * 1000)
        if stage == "llm" and result:  # llama.cpp streams one piece a token
            rate = (len(result) - 1) / (result[-1] - result[0]) if len(result) > 1 else 0.0
            extra.append((result[0] * 1000, rate))
    out = {"stage": stage, "model": model, "load_s": round(load_s, 2),
           "rss_added_mb": round((rss_loaded - rss_before) / 2**20, 1),
           "rss_peak_mb": round(process.memory_info().rss / 2**20, 1),
           **percentiles(walls, 2, "wall_ms_p{}"),
           "cpu_ms_per_call": round(float(np.mean(cpus)), 2), "calls": calls}
    if stage == "asr":
        out["audio_s"] = round(len(question) / 16000, 2)
    if extra:
        out["first_token_ms_p50"] = percentile([e[0] for e in extra], 50, 1)
        out["tokens_per_s_p50"] = percentile([e[1] for e in extra], 50, 1)
    return out


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--one", nargs=2, metavar=("STAGE", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as work:
            print(json.dumps(measure(*args.one, args.calls, Path(work), args)))
        return
    stack = ["--config", str(args.config.resolve())] if args.config else []
    rows = []
    for stage, model in RUNS:
        calls = args.calls if stage not in ("vad", "face") else args.calls * 20
        done = subprocess.run([sys.executable, "-m", "perf.bench_stages", "--one", stage, model, "--calls", str(calls),
                               *stack], capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            print(f"{stage} {model}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    save({"cores": os.cpu_count(), "rows": rows}, report_path("stages", args.out))


if __name__ == "__main__":
    main()
