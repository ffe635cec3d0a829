from parley.engines.faster_whisper import without_repeats


def test_a_sentence_said_again_is_dropped():
    assert without_repeats("Where is the library? Where is the library?") == "Where is the library?"


def test_a_sentence_begun_again_is_dropped():
    assert without_repeats("How do I get to the station? How do I get") == "How do I get to the station?"


def test_different_sentences_and_decimals_are_kept():
    assert without_repeats("Hello. Hello, can you hear me?") == "Hello. Hello, can you hear me?"
    assert without_repeats("It takes 3.5 hours. Thanks.") == "It takes 3.5 hours. Thanks."
    assert without_repeats("") == ""


def test_a_sentence_said_again_with_a_contraction_is_dropped():
    assert without_repeats("where is the north car park? Where's the north car park?") == \
        "where is the north car park?"
    assert without_repeats("What's open? What is open now?") == "What's open? What is open now?"

