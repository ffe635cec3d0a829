"""The stack (configs/cpu.yaml): which engine runs each stage, and each stage's settings; the face, the
server and the broadcast are parley.config.live's."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from parley.config.base import Strict
from parley.config.live import BroadcastConfig, FaceConfig, RecordingConfig, ReportsConfig, ServerConfig
from parley.core.stages import SERVED
from parley.engines import ENGINE_NAMES


def _engine_name(kind: str):
    def check(value: str | None) -> str | None:
        if value is not None and value not in ENGINE_NAMES[kind]:
            raise ValueError(f"unknown {kind} engine {value!r}; allowed: {', '.join(ENGINE_NAMES[kind])}")
        return value

    return field_validator("engine")(classmethod(lambda cls, v: check(v)))


class LLMConfig(Strict):
    engine: str = "llama_cpp"
    # llama_cpp and triton: a model of the registry. openai: the model's name on that server.
    model: str
    # Defaults to the model's own prompt_style from the registry (openai: chat).
    prompt_style: Literal["completion", "chat"] | None = None
    # openai: the server's OpenAI-compatible API, e.g. http://127.0.0.1:11434/v1 (Ollama).
    base_url: str | None = None
    # openai: the environment variable holding the server's key, if it wants one (never the key itself).
    api_key_env: str = "PARLEY_LLM_API_KEY"
    # openai: seconds to connect, and to wait for each streamed piece.
    timeout_s: float = Field(30.0, gt=0)
    # Replies generated at once: 1 for llama.cpp in-process; a server that batches (vLLM, llama.cpp's
    # server with --parallel N, Ollama with OLLAMA_NUM_PARALLEL) can take more.
    parallel: int = Field(1, ge=1, le=64)
    context_size: int = Field(2048, ge=256)
    max_tokens: int = Field(160, ge=1)
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    repeat_penalty: float = Field(1.1, ge=1)
    # llama.cpp's threads; default: all cores but one (at least one), so the calls' audio, video and
    # event loop always have a core: llama.cpp's threads wait for each other, and one of them kept
    # off its core by those stalls the rest.
    threads: int | None = Field(None, ge=1)
    seed: int = -1
    # Pause decoding while the first clause is synthesised: on a CPU with few cores this cuts the
    # time to first audio; the clause's audio lasts longer than the pause.
    pause_for_first_audio: bool = True
    # Replies waiting for the shared LLM, from all sessions; past that a caller is told to try again.
    max_waiting: int = Field(8, ge=1)
    # Whether the LLM may say the persona's facts in its own words (each clause checked); false: a
    # question about the facts is answered with the sentence of the knowledge that answers it, as
    # written, and the LLM makes only small talk. Default: the model's `restates_facts` in the
    # registry (true for instruction-tuned models and for the openai engine).
    restate_facts: bool | None = None

    _check_engine = _engine_name("llm")

    @model_validator(mode="after")
    def _served_has_url(self) -> "LLMConfig":
        if self.engine == "openai" and not self.base_url:
            raise ValueError("the openai engine needs llm.base_url, the server's API (e.g. http://127.0.0.1:8080/v1)")
        return self


class TTSConfig(Strict):
    # Unset: the engine that plays the voice (its registry entry says). triton serves a Piper voice;
    # openai is any server speaking the OpenAI-compatible /v1/audio/speech (its audio is aligned here).
    engine: str | None = None
    # piper, hibari, triton: a voice of the registry. openai: the voice's name on that server.
    # Unset: the avatar's own voice (``voice:`` in its avatar.yaml), else default_voice. Set: every avatar
    # on this stack speaks with it.
    voice: str | None = None
    # The voice of an avatar that names none (one made from a photo without --voice). null: such an
    # avatar cannot speak on this stack until its avatar.yaml names a voice.
    default_voice: str | None = "piper-en_US-joe-medium"
    length_scale: float | None = Field(None, gt=0)
    # piper: the voice's randomness (0: the same text gives the same audio).
    noise_scale: float | None = Field(None, ge=0)
    noise_w_scale: float | None = Field(None, ge=0)
    # hibari: fixes the noise part of its signal, so the same text gives the same audio.
    seed: int | None = None
    threads: int | None = Field(None, ge=1)
    # The in-process voice (Piper or hibari) that says the words again to time speech that came without
    # timings: an openai server's, or a recording given to `parley animate`.
    align_voice: str = "piper-en_US-joe-medium"
    # openai: the server's API (e.g. http://127.0.0.1:8000/v1), the model it serves, the environment
    # variable holding its key (never the key itself), and seconds to wait for it.
    base_url: str | None = None
    model: str = "tts-1"
    api_key_env: str = "PARLEY_TTS_API_KEY"
    timeout_s: float = Field(30.0, gt=0)

    _check_engine = _engine_name("tts")

    @model_validator(mode="after")
    def _served_has_url(self) -> "TTSConfig":
        if self.engine == "openai" and not (self.base_url and self.voice):
            raise ValueError("the openai engine needs tts.base_url, the server's API (e.g. http://127.0.0.1:8000/v1), "
                             "and tts.voice, a voice that server has")
        return self


class AudioInConfig(Strict):
    frame_ms: Literal[10, 20, 30, 40] = 20


class VADConfig(Strict):
    model: str = "silero-vad-v6"
    threshold: float = Field(0.5, gt=0, lt=1)
    # Lower than threshold: the quiet end of a word does not end speech.
    neg_threshold: float = Field(0.35, gt=0, lt=1)
    min_speech_ms: float = Field(96, ge=0, le=2000)
    # Silence before the endpoint fires: shorter answers sooner, longer cuts fewer callers off. A caller
    # cut off at a pause who goes on talking interrupts the reply and gets one answer to both parts
    # (turn_taking.continuation_ms), so the default leans to answering sooner.
    hangover_ms: float = Field(300, ge=32, le=5000)
    # Audio kept before the detected start, so Whisper hears the first consonant.
    pad_ms: float = Field(200, ge=0, le=2000)

    @model_validator(mode="after")
    def _hysteresis(self) -> "VADConfig":
        if self.neg_threshold > self.threshold:
            raise ValueError("neg_threshold must not be above threshold")
        return self


class ASRConfig(Strict):
    engine: str = "faster_whisper"
    model: str = "whisper-tiny.en"
    compute_type: Literal["int8", "int8_float32", "float32", "float16", "int8_float16"] = "int8"
    beam_size: int = Field(1, ge=1, le=10)
    # CTranslate2's threads; default: all cores but one (at least one, at most CTranslate2's own 4),
    # for the reason llm.threads gives: a decode at the caller's pause otherwise waits on a thread
    # the call's media kept off its core.
    threads: int | None = Field(None, ge=1)
    language: str | None = "en"
    # A partial transcript at most this often while the caller speaks; 0 turns partials off.
    partial_interval_ms: float = Field(700, ge=0)
    # Decode at the first silent chunk, so the transcript is ready when the endpoint fires.
    speculative: bool = True
    # The audio window Whisper encodes for a short utterance (faster_whisper engine): 30 is Whisper's
    # own (most accurate, ~3.3× slower on a CPU); 10 costs about a point of WER (docs/benchmarks.md).
    window_s: float = Field(10.0, ge=10, le=30)
    # A transcript Whisper itself is unsure of (its mean log-probability per token below retry_below)
    # is decoded again in a retry_window_s window with a beam of retry_beam_size, and the likelier one
    # kept (faster_whisper engine). None: never. -0.3 roughly halves the word errors of the 10 s window
    # on doubtful questions, and delays the reply by the retry on those (docs/benchmarks.md).
    retry_below: float | None = Field(None, le=0)
    retry_window_s: float = Field(30.0, ge=10, le=30)
    retry_beam_size: int = Field(1, ge=1, le=10)

    _check_engine = _engine_name("asr")


class TurnTakingConfig(Strict):
    # Speech from the caller while the avatar talks cancels the avatar's turn.
    barge_in: bool = True
    # A reply cut off before the caller heard this much of it is dropped, and what the caller said
    # before and after it is answered as one question (they had only paused).
    continuation_ms: float = Field(600, ge=0)
    # Start the reply on what was heard at the first pause, before the endpoint, holding it: it plays
    # the moment the endpoint confirms the same words, and is dropped if the caller goes on.
    early_reply: bool = True
    # The endpoint's wait follows the words heard at the pause (parley.hear.turn_end): a sentence
    # that sounds finished is answered after finished_wait_ms of silence, one that trails off ("Where
    # is the ...") only after unfinished_wait_ms, so a caller thinking mid-sentence is not answered.
    # Needs the speculative decode (asr.speculative); without words the wait is vad.hangover_ms.
    adaptive_endpoint: bool = True
    finished_wait_ms: float = Field(250, ge=32, le=5000)
    unfinished_wait_ms: float = Field(1000, ge=32, le=10000)
    # A small language model (a GGUF llm of the registry, run in-process whatever the reply's engine)
    # also reads the pause's words (parley.engines.llama_turn): where its probability that they end a
    # sentence is below turn_model_min, the pause is taken as mid-sentence ("What should I?"). It
    # only ever lengthens the wait. None: the word rules alone. The threshold suits gemma3-270m.
    turn_model: str | None = "gemma3-270m"
    turn_model_min: float = Field(0.05, ge=0, le=1)
    # Live calls: microphone audio that is a copy of the avatar's own voice (what the browser's echo
    # cancellation left) is silenced before it can start a barge-in (parley.hear.echo).
    echo_guard: bool = True


class VisemeConfig(Strict):
    fps: float = Field(30.0, gt=0, le=240)
    # How far each mouth shape reaches into its neighbours: short blending looks like real speech.
    coarticulation_ms: float = Field(40.0, ge=0, le=200)
    # Lips move slightly ahead of the sound they make; one frame at 30 fps centres the measured
    # mouth/audio cross-correlation at zero (perf/bench_face2d.py).
    lead_ms: float = Field(33.0, ge=0, le=200)


class SplitterConfig(Strict):
    # The first clause is spoken as soon as it has this many words, to cut time to first audio;
    # later ones wait for longer clauses, which Piper phrases more naturally.
    first_clause_min_words: int = Field(3, ge=1)
    # A first sentence without an early comma may be cut before a phrase ("and", "on", "which" …)
    # once it has this many words; 0: only at punctuation.
    first_phrase_min_words: int = Field(6, ge=0)
    clause_min_words: int = Field(8, ge=1)
    max_chars: int = Field(240, ge=40)


class TritonConfig(Strict):
    """Where the Triton engines (``engine: triton``) find the server, and what they do without it."""

    # gRPC endpoint as host:port (tritonclient takes no scheme).
    url: str = "127.0.0.1:8001"
    # Models served by another Triton, by model name (llm, asr, tts, lipsync, musetalk): on a GPU
    # the TensorRT-LLM image serves the LLM and Whisper, NVIDIA's general image the rest.
    model_urls: dict[str, str] = {}
    # Readiness probes: an unreachable server is given up on after this long.
    connect_timeout_s: float = Field(2.0, gt=0)
    # One ASR or TTS request.
    request_timeout_s: float = Field(10.0, gt=0)
    # The LLM stream: longest wait for the next piece before the server is taken as failed.
    stream_idle_timeout_s: float = Field(10.0, gt=0)
    # While a stage runs on its fallback, how often to ask whether Triton is ready again.
    probe_interval_s: float = Field(2.0, gt=0)
    # Stages that keep an in-process engine loaded and use it while Triton is unreachable:
    # true (all), false (none) or a list of asr, llm, tts.
    fallback: tuple[str, ...] = SERVED

    @field_validator("url")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if "://" in value or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port of Triton's gRPC endpoint (e.g. 127.0.0.1:8001), got {value!r}")
        return value

    @field_validator("fallback", mode="before")
    @classmethod
    def _stages(cls, value: Any) -> tuple[str, ...]:
        if value is True:
            return SERVED
        if value is False:
            return ()
        if isinstance(value, list) and all(v in SERVED for v in value):
            return tuple(dict.fromkeys(value))
        raise ValueError(f"expected true, false or a list of stages from {', '.join(SERVED)}; got {value!r}")


class RetrievalConfig(Strict):
    """How the persona's knowledge is searched: words (BM25) and, with an embedding model, meaning."""

    # A sentence-embedding model of the registry (kind embedding); null: words alone.
    embedding: str | None = "minilm-l6-int8"


class StackConfig(Strict):
    persona: Path
    models: Path = Path("models.yaml")
    llm: LLMConfig
    tts: TTSConfig
    audio_in: AudioInConfig = AudioInConfig()
    vad: VADConfig = VADConfig()
    asr: ASRConfig = ASRConfig()
    turn_taking: TurnTakingConfig = TurnTakingConfig()
    face: FaceConfig = FaceConfig()
    server: ServerConfig = ServerConfig()
    reports: ReportsConfig = ReportsConfig()
    recording: RecordingConfig = RecordingConfig()
    broadcast: BroadcastConfig = BroadcastConfig()
    visemes: VisemeConfig = VisemeConfig()
    splitter: SplitterConfig = SplitterConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    triton: TritonConfig = TritonConfig()
