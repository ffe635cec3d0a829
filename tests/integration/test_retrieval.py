"""Retrieval by meaning on the real MiniLM (minilm-l6-int8): unit vectors that put a paraphrase near
its fact, vectors kept on disk by the text's hash and read back, a broken cache started again, and
the shipped personas answering everyday words from their facts."""

import numpy as np
import pytest

from parley.engines.embedder import EmbeddingCache, SentenceEmbedder
from parley.reply.knowledge import Knowledge, Passage


@pytest.fixture(scope="module")
def embedder(store, tmp_path_factory):
    made = SentenceEmbedder.from_store(store, "minilm-l6-int8")
    made.cache = EmbeddingCache("minilm-l6-int8", tmp_path_factory.mktemp("embeddings"))
    return made


def test_a_paraphrase_is_nearer_its_fact_than_other_facts(embedder):
    facts = ["The student centre, with the cafeteria and the bookshop, is next to the north car park.",
             "Bus 12 runs from the main gate to the train station every 15 minutes."]
    rows = embedder.embed([*facts, "Where can I buy something to eat?"])
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert rows[2] @ rows[0] > rows[2] @ rows[1] + 0.1


def test_vectors_are_kept_by_the_texts_hash_and_read_back(embedder, monkeypatch):
    texts = ["Printers are added from the Software Centre.", "Laptops are repaired at the Civic Centre."]
    first = embedder.embed(texts, remember=True)
    assert embedder.cache.path.is_file()
    fresh = EmbeddingCache("minilm-l6-int8", embedder.cache.path.parent)
    monkeypatch.setattr(embedder, "cache", fresh)
    monkeypatch.setattr(embedder, "_run", lambda texts: pytest.fail("embedded again instead of read back"))
    assert np.array_equal(embedder.embed(texts, remember=True), first)


def test_a_broken_cache_is_started_again(embedder, tmp_path):
    cache = EmbeddingCache("minilm-l6-int8", tmp_path)
    cache.path.write_bytes(b"not a numpy file")
    assert cache.get(["anything"]) == {}
    cache.add({"key": np.ones(3, np.float32)})
    assert list(EmbeddingCache("minilm-l6-int8", tmp_path).get(["key"])) == ["key"]


def test_everyday_words_find_the_fact_the_persona_words_otherwise(embedder, settings):
    knowledge = Knowledge.of(settings.persona, embedder.embed)
    for question, fact in (("Is there somewhere I can swim?", "pool"), ("Where is the canteen?", "cafeteria"),
                           ("How do I get to the railway?", "train station")):
        passages, _ = knowledge.match(question)
        assert fact in knowledge.answer(question, passages)
    assert knowledge.match("How many planets are in the solar system?") == ([], False)
    assert not knowledge.match("Who is the dean of engineering?")[1]  # at most a guess, said as one


def test_a_missing_embedding_model_is_a_clear_error(store):
    from parley.config import ConfigError

    with pytest.raises(ConfigError, match="retrieval.embedding: unknown embedding model 'nope'"):
        SentenceEmbedder.from_store(store, "nope")


def test_knowledge_without_passages_matches_nothing(embedder):
    assert Knowledge([], embed=embedder.embed).match("Where is the library?") == ([], False)
    assert Knowledge([Passage("The library is in Hartley Hall.", "facts")], embed=embedder.embed).answer(
        "Where is the library?", [Passage("The library is in Hartley Hall.", "facts")]) == (
        "The library is in Hartley Hall.")
