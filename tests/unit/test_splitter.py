from parley.config import SplitterConfig
from parley.reply.splitter import ClauseSplitter


def split_stream(text, pieces=1, **cfg):
    """Feed ``text`` in pieces of ``pieces`` characters, as an LLM streams it."""
    s = ClauseSplitter(SplitterConfig(**cfg))
    out = []
    for i in range(0, len(text), pieces):
        out += s.feed(text[i : i + pieces])
    return out + s.flush()


def test_sentences_and_first_clause():
    text = "Sure, the library is in Hartley Hall, next to the lake. It opens at 8 am. Anything else?"
    assert split_stream(text) == [
        "Sure, the library is in Hartley Hall,",
        "next to the lake.",
        "It opens at 8 am.",
        "Anything else?",
    ]


def test_short_first_clause_waits_for_enough_words():
    assert split_stream("Yes, of course, I can help you with that.") == [
        "Yes, of course,", "I can help you with that."]


def test_later_clauses_need_more_words():
    text = "The pool opens early. Bring your card, a towel, and a lock for the lockers, please."
    assert split_stream(text)[1:] == ["Bring your card, a towel, and a lock for the lockers,", "please."]


def test_abbreviations_initials_and_decimals_are_not_sentence_ends():
    text = "Dr. Smith and J. Jones teach maths, e.g. algebra, at 3.5 hours a week. Ask them."
    assert split_stream(text, first_clause_min_words=50, clause_min_words=50, first_phrase_min_words=0) == [
        "Dr. Smith and J. Jones teach maths, e.g. algebra, at 3.5 hours a week.", "Ask them."]


def test_same_result_whatever_the_token_boundaries():
    text = "Hello there! Take bus 12 from the main gate; it runs every 15 minutes, day and night."
    assert split_stream(text, 1) == split_stream(text, 3) == split_stream(text, 1000)


def test_boundary_waits_for_the_next_character():
    s = ClauseSplitter()
    assert s.feed("It is 3.") == []  # could be "3.5"
    assert s.feed("5 km away. ") == ["It is 3.5 km away."]


def test_newline_ends_a_chunk_and_quotes_stay_attached():
    assert split_stream('He said "go left." Then\nturn right') == ['He said "go left."', "Then", "turn right"]


def test_long_text_without_punctuation_is_cut_at_a_space():
    text = " ".join(["word"] * 100)
    chunks = split_stream(text, max_chars=60)
    assert all(len(c) <= 60 for c in chunks) and " ".join(chunks) == text


def test_punctuation_only_is_dropped():
    assert split_stream("... !! Hi.") == ["Hi."]
    assert split_stream("   ") == []


def test_a_long_first_sentence_is_cut_before_a_phrase():
    text = "It closes at 6 pm on weekends and is open until midnight on weekdays. Anything else?"
    assert split_stream(text) == [
        "It closes at 6 pm on weekends", "and is open until midnight on weekdays.", "Anything else?"]
    assert split_stream(text, first_phrase_min_words=0)[0] == "It closes at 6 pm on weekends and is open until " \
                                                            "midnight on weekdays."


def test_a_phrase_word_is_complete_before_the_cut():
    # "only" must not be taken for "on": the boundary waits for the space after the word.
    assert split_stream("The north car park is open only to staff today.") == [
        "The north car park is open only to staff today."]
