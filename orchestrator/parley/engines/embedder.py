"""Sentence embeddings on onnxruntime: a text → one unit vector, close for texts that mean the same.

all-MiniLM-L6-v2 (int8 ONNX): WordPiece tokens (at most 256), the network's last layer averaged over
the real tokens, scaled to length 1, so a dot product is the cosine similarity. Vectors of texts
already seen are kept on disk by the text's hash (``EmbeddingCache``), so a handbook is embedded once,
not at every start.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np

from parley.config import ConfigError
from parley.models.store import ModelStore, parley_home

MAX_TOKENS = 256
BATCH = 32


class SentenceEmbedder:
    def __init__(self, model_path: Path, tokenizer_path: Path, name: str = "embedder", threads: int = 1) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.name = name
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        # One thread: a question is a few tokens, and the calls' media and the LLM need the cores.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()  # one run at a time: sessions share the embedder
        self.cache = EmbeddingCache(name)

    @classmethod
    def from_store(cls, store: ModelStore, name: str) -> "SentenceEmbedder":
        try:
            entry = store.registry.get(name, "embedding")
        except KeyError as exc:
            raise ConfigError(f"retrieval.embedding: {exc.args[0]}") from None
        folder = store.require(name)
        files = {f.name: folder / f.name for f in entry.files}
        model = next((p for n, p in files.items() if n.endswith(".onnx")), None)
        tokenizer = next((p for n, p in files.items() if n.endswith(".json")), None)
        if model is None or tokenizer is None:
            raise ConfigError(f"models: {name} needs an .onnx network and a tokenizer .json among its files")
        return cls(model, tokenizer, name)

    def embed(self, texts: list[str], remember: bool = False) -> np.ndarray:
        """One unit row per text (float32). With ``remember`` (a knowledge base's passages, not the
        questions), texts already embedded come from the cache and new ones are added to it."""
        if not texts:
            return np.zeros((0, self.dimensions), np.float32)
        if not remember:
            return np.concatenate([self._run(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])
        keys = [_key(text) for text in texts]
        known = self.cache.get(keys)
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in known}.items())
        for start in range(0, len(todo), BATCH):
            batch = todo[start : start + BATCH]
            vectors = self._run([text for _, text in batch])
            known.update({key: vector for (key, _), vector in zip(batch, vectors)})
        if todo:
            self.cache.add({k: known[k] for k, _ in todo})
        return np.stack([known[k] for k in keys])

    @property
    def dimensions(self) -> int:
        return int(self._session.get_outputs()[0].shape[-1])

    def _run(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], np.int64)
        mask = np.array([e.attention_mask for e in encoded], np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        with self._lock:
            hidden = self._session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return (pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)).astype(np.float32)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class EmbeddingCache:
    """Vectors by text hash, in one file per model under ``$PARLEY_HOME/cache/embeddings``; a file that
    cannot be read is started again (it is only a cache)."""

    def __init__(self, model: str, folder: Path | None = None) -> None:
        self.path = (folder or parley_home() / "cache" / "embeddings") / f"{model}.npz"
        self._vectors: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            try:
                with np.load(self.path) as saved:
                    self._vectors = dict(zip(saved["keys"].tolist(), saved["vectors"]))
            except (OSError, ValueError, KeyError):
                self._vectors = {}
        return self._vectors

    def get(self, keys: list[str]) -> dict[str, np.ndarray]:
        with self._lock:
            vectors = self._load()
            return {k: vectors[k] for k in keys if k in vectors}

    def add(self, new: dict[str, np.ndarray]) -> None:
        with self._lock:
            vectors = self._load()
            vectors.update(new)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial.npz")
            try:
                np.savez(partial, keys=np.array(list(vectors)), vectors=np.stack(list(vectors.values())))
                partial.replace(self.path)
            except OSError:  # a read-only home: embedded again next start, nothing lost
                partial.unlink(missing_ok=True)
