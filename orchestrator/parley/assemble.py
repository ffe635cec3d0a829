"""The one place that assembles the loop: engines loaded once, and the sessions built on them.

    Parley(settings) ─► engines (each loaded on first use, served ones wrapped in their fallback)
          ├─► conversation()        persona + knowledge + history + LLM + TTS + visemes
          ├─► listener()            VAD (own state, shared model) + ASR
          ├─► voice_session(output) listener → conversation, with turn taking and barge-in
          └─► face(avatar)          the 2D face (face.engine: the warp or a lip-sync network over it),
                                    built once per avatar and shared

Every CLI command, the live server and the tests build what they run here.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from parley.config import ConfigError, Settings, load_settings
from parley.config.avatar import Avatar
from parley.core.interfaces import ASREngine, EndOfTurnModel, Face, LLMEngine, SpeechOutput, TTSEngine
from parley.core.stages import IN_PROCESS, STAGES
from parley.core.threads import StageExecutor
from parley.engines import engine_class
from parley.engines.fallback import with_fallback
from parley.face.avatars import load_avatar
from parley.face.lipsync import lipsync_face
from parley.face.warp import WarpFace
from parley.hear.listener import Listener
from parley.hear.vad import SileroVAD, load_model
from parley.models.store import ModelStore
from parley.reply.generation import Generation
from parley.reply.history import History
from parley.reply.knowledge import Knowledge
from parley.session.conversation import Conversation
from parley.session.voice import VoiceSession
from parley.speak.speaker import Speaker
from parley.speak.visemes import CoarticulatedVisemes

log = logging.getLogger("parley")


class Engines:
    """Every engine of a stack, each loaded once, on first use, and shared by every session."""

    def __init__(self, settings: Settings, store: ModelStore) -> None:
        self.settings = settings
        self.store = store
        self._loaded: dict[str, object] = {}
        self._executors: dict[str, StageExecutor] = {}
        self._lock = threading.Lock()  # two sessions asking first for one engine load it once

    @classmethod
    def given(cls, settings: Settings, store: ModelStore | None = None, **engines) -> "Engines":
        """Engines built elsewhere (tests' fakes, a program embedding its own): by stage name, ``llm``,
        ``tts``, ``asr``, ``visemes``, ``embedder`` or ``turn_model`` (None: none), or ``vad`` (a factory: one detector
        per stream); the others load on first use as usual."""
        built = cls(settings, store or ModelStore(settings.registry))
        built._loaded.update(engines)
        return built

    def get(self, kind: str):
        """The engine of stage ``kind``, loading it on first use."""
        with self._lock:
            if kind not in self._loaded:
                self._loaded[kind] = self._load(kind)
            return self._loaded[kind]

    def _load(self, kind: str):
        settings = self.settings
        if kind == "visemes":
            return CoarticulatedVisemes.from_config(settings.stack.visemes)
        if kind == "embedder":
            from parley.engines.embedder import SentenceEmbedder  # onnxruntime and tokenizers only when used

            return SentenceEmbedder.from_store(self.store, settings.stack.retrieval.embedding)
        if kind == "turn_model":
            from parley.engines.llama_turn import LlamaEndOfTurn  # llama.cpp loads only when used

            return LlamaEndOfTurn.from_settings(settings, self.store)
        if kind == "vad":
            name = settings.stack.vad.model
            model = load_model(self.store.require(name) / settings.registry.get(name, "vad").files[0].name)
            return lambda: SileroVAD(model)  # one detector per stream, over the shared network
        name = getattr(settings.stack, kind).engine
        engine = engine_class(kind, name).from_settings(settings, self.store)
        triton = settings.stack.triton
        if name == "triton" and kind in triton.fallback:
            backup = engine_class(kind, IN_PROCESS[kind]).from_settings(settings, self.store)
            return with_fallback(kind, engine, backup, IN_PROCESS[kind], triton.probe_interval_s)
        if hasattr(engine, "ready") and not engine.ready():
            log.warning("%s: %s not ready at %s and no fallback: requests fail until it is",
                        kind, engine.label, engine.where)
        return engine

    @property
    def llm(self) -> LLMEngine:
        return self.get("llm")

    @property
    def tts(self) -> TTSEngine:
        return self.get("tts")

    @property
    def asr(self) -> ASREngine:
        return self.get("asr")

    @property
    def turn_model(self) -> EndOfTurnModel | None:
        """The model that judges whether a pause ends the caller's turn (None: word rules alone)."""
        return self.get("turn_model") if self.settings.stack.turn_taking.turn_model else None

    @property
    def embedder(self):
        """Texts → unit vectors by meaning, for the knowledge's search (None: words alone)."""
        engine = self.get("embedder") if self.settings.stack.retrieval.embedding else None
        return engine.embed if engine is not None else None

    @property
    def visemes(self) -> CoarticulatedVisemes:
        return self.get("visemes")

    def loaded(self) -> dict[str, object]:
        """The engines loaded so far, by stage."""
        with self._lock:
            return dict(self._loaded)

    def executor(self, kind: str) -> StageExecutor:
        """The worker threads of stage ``kind`` (llm, tts, asr, face), shared by every session.

        One LLM generation at a time (one llama.cpp context) unless ``llm.parallel`` says the engine
        batches; the others bounded by the cores.
        """
        if not STAGES[kind].threads:
            raise ValueError(f"stage {kind} has no threads of its own")
        with self._lock:
            if kind not in self._executors:
                cores = os.cpu_count() or 1
                llm = self.settings.stack.llm.parallel
                workers = {"llm": llm, "tts": min(2, cores), "asr": 1, "face": cores}[kind]
                limit = self.settings.stack.llm.max_waiting if kind == "llm" else None
                nice = self.settings.stack.face.nice if kind == "face" else 0
                self._executors[kind] = StageExecutor(kind, workers, limit, nice)
            return self._executors[kind]

    def vad(self) -> SileroVAD:
        """A voice activity detector for one stream: its own state over the shared model."""
        return self.get("vad")()

    def close(self) -> None:
        """Stop the stages' threads and the fallback probes of the engines that were loaded."""
        for executor in self._executors.values():
            executor.shutdown()
        for engine in self._loaded.values():
            if hasattr(engine, "close"):
                engine.close()


class Parley:
    """A configured avatar: its settings, its engines, and the sessions built on them.

    ``Parley.load()`` reads ``configs/cpu.yaml`` (or ``$PARLEY_CONFIG``). No engine is loaded until a
    session needs it; the persona's knowledge is indexed on first use (``warm_up`` does it at start, so
    a broken document stops the server's start), and commands that never answer (``say``, ``models``)
    never need it.
    """

    def __init__(self, settings: Settings, store: ModelStore | None = None, engines: Engines | None = None) -> None:
        self.settings = settings
        self.store = store or ModelStore(settings.registry)
        self.engines = engines or Engines(settings, self.store)
        self._faces: dict[tuple[str, str], Face] = {}
        self._indexing = threading.Lock()

    @property
    def knowledge(self) -> Knowledge:
        """The persona's passages, indexed by words and, with ``retrieval.embedding``, by meaning."""
        with self._indexing:
            if "_knowledge" not in self.__dict__:
                self._knowledge = Knowledge.of(self.settings.persona, self.engines.embedder)
            return self._knowledge

    @classmethod
    def load(cls, config: Path | str | None = None, avatar: str | None = None) -> "Parley":
        """The stack at ``config``; ``avatar`` (a name under avatars/ or a YAML path) instead of its own,
        speaking with that avatar's voice unless the stack names one."""
        return cls(load_settings(config, avatar))

    def conversation(self, history: History | None = None) -> Conversation:
        engines = self.engines
        generation = Generation(self.settings, self.knowledge, lambda: engines.llm)
        speaker = Speaker(lambda: engines.tts, lambda: engines.visemes, engines.executor("tts"))
        return Conversation(self.settings, generation, speaker, engines.executor("llm"), history)

    def listener(self, wait_for_partials: bool = False) -> Listener:
        """A listener for one stream; ``wait_for_partials`` for input read faster than real time."""
        stack = self.settings.stack
        return Listener(self.engines.vad(), self.engines.asr, stack.vad, stack.asr, self.asr_prompt(),
                        wait_for_partials, self.engines.executor("asr"), stack.turn_taking,
                        self.engines.turn_model)

    def asr_prompt(self) -> str | None:
        """What the caller is likely to say, to prompt Whisper with: the persona's own list, then the
        names its knowledge uses."""
        terms = dict.fromkeys([*self.settings.persona.vocabulary, *self.knowledge.vocabulary()])
        return ", ".join(terms) or None

    def voice_session(self, output: SpeechOutput | None = None, listen: bool = True,
                      wait_for_partials: bool = False) -> VoiceSession:
        """One caller's conversation: speech in (unless ``listen`` is False: text only), replies to
        ``output``."""
        listener = self.listener(wait_for_partials) if listen else None
        return VoiceSession(self.conversation(), listener, self.settings.stack.turn_taking, output)

    def warm_up(self) -> None:
        """Load the engines and prefill the persona's prompt, so the first caller waits for neither
        (blocking)."""
        self.knowledge  # noqa: B018  (indexed now, not when the first caller asks)
        self.conversation().warm_up()
        self.engines.get("tts")
        self.engines.get("asr")
        self.engines.get("vad")
        if self.settings.stack.turn_taking.turn_model:
            self.engines.get("turn_model")

    def asr_with_times(self):
        """A Whisper that says when each sentence was said (``sentences``): the stack's own when it runs
        in-process, else one loaded for the purpose (Triton's answers carry no times)."""
        if self.settings.stack.asr.engine == "faster_whisper":
            return self.engines.asr
        return engine_class("asr", "faster_whisper").from_settings(self.settings, self.store)

    def avatar(self, name: str | None = None) -> Avatar:
        return load_avatar(name or self.settings.stack.face.avatar)

    def face(self, avatar: Avatar | str | None = None, engine: str | None = None) -> Face:
        """The 2D face of ``avatar`` (default: the stack's) drawn by ``engine`` (default ``face.engine``),
        built once and shared by every session."""
        if avatar is None or isinstance(avatar, str):
            avatar = self.avatar(avatar)
        if avatar.kind != "portrait":
            raise ConfigError(f"{avatar.name} is a 3D avatar: the browser draws it; a 2D face needs a portrait")
        engine = engine or self.settings.stack.face.engine
        key = (avatar.name, engine)
        if key not in self._faces:
            if engine == "warp":
                self._faces[key] = WarpFace(avatar, fps=self.settings.stack.visemes.fps)
            else:
                stack = self.settings.stack
                face = stack.face.model_copy(update={"engine": engine})
                self._faces[key] = lipsync_face(face, stack.triton, self.face(avatar, "warp"))
        return self._faces[key]

    def close(self) -> None:
        self.engines.close()
