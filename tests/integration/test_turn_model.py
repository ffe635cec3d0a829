"""The end-of-turn model on the real Gemma 3 270M GGUF: does it tell a fragment from a finished turn?"""

import pytest

# What Whisper writes at a caller's pause: fragments it often ends as sentences, and finished turns.
FRAGMENTS = ["Where is the.", "What should I?", "Can visitors park?", "Where can I?", "How far is it to?",
             "I would like to", "Is there a", "Can you tell me where"]
FINISHED = ["Where is the main library?", "What should I bring to the open day?",
            "Can visitors park near the main gate?", "How far is it to the science building?",
            "I would like to join a campus tour.", "No.", "Yes, please.",
            "Thank you very much, that was really helpful."]


@pytest.fixture(scope="module")
def model(engines):
    return engines.turn_model


def test_fragments_fall_below_the_threshold_and_finished_turns_above(settings, model):
    threshold = settings.stack.turn_taking.turn_model_min
    fragments = {text: model.probability(text) for text in FRAGMENTS}
    finished = {text: model.probability(text) for text in FINISHED}
    assert max(fragments.values()) < threshold, fragments
    assert min(finished.values()) > threshold, finished


def test_whispers_punctuation_and_spacing_do_not_change_the_reading(model):
    assert model.probability(" What should I? ") == pytest.approx(model.probability("What should I"))
    assert model.probability("") == 0.0 and model.probability(" ... ") == 0.0


def test_a_long_turn_is_read_by_its_end(model):
    long_turn = "I have a question about the library and the opening hours and the cafe, " * 40
    assert model.probability(long_turn + "and where is the") < model.probability(long_turn + "and where is the cafe?")


def test_a_fragment_whisper_wrote_in_lower_case_is_read_as_the_start_of_a_turn(model):
    assert model.probability("can visitors park") == pytest.approx(model.probability("Can visitors park?"))
