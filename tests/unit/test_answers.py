"""The sentence that answers, said as written: passages matched by words or by meaning, the clause
chosen, the unsure line for a guess, follow-ups looked up with the question before them, and the LLM
kept to small talk unless the model may restate facts (a fake embedder: words of one sense share a
direction)."""

import asyncio

import numpy as np
import pytest

from parley.config import load_settings
from parley.core.events import TurnDone
from parley.reply.asks import asked_kind, cut_to_days, days_asked, gives
from parley.reply.history import History
from parley.reply.knowledge import Knowledge, Passage, answer_units
from testbed.serve import write_stack
from tests.conftest import DETERMINISTIC
from tests.fakes import ScriptedLLM, SenseEmbedder, ToneTTS, fake_parley

FACTS = [
    "The main library is in Hartley Hall, open 8 am to 10 pm on weekdays and 10 am to 6 pm at weekends.",
    "The student centre, with the cafeteria and the bookshop, is next to the north car park.",
    "Admissions is on the ground floor of the Old Building; campus tours leave from there at 11 am and 2 pm.",
    "The sports centre has a pool and a gym; a student card gets you in.",
]
LIGHTS = "A red light means no internet from the provider; a blinking white light means the router is starting."
CIRCLE = "Area of a circle is pi times the radius squared; circumference is two times pi times the radius."
SENSES = [{"lunch", "eat", "cafeteria", "food"}, {"workout", "gym", "exercise"}, {"books", "library", "read"}]
# The fake's vectors are plainer than a network's: a shared sense among a fact's many words is a
# smaller cosine than MiniLM gives it.
CLOSE = 0.15


def knowledge(**kwargs) -> Knowledge:
    return Knowledge([Passage(f, "facts") for f in FACTS], embed=SenseEmbedder(SENSES).embed,
                     **{"min_similarity": CLOSE, **kwargs})


def test_units_are_sentences_and_the_clauses_that_stand_alone():
    units = answer_units(FACTS[2])
    assert units == [FACTS[2], "Admissions is on the ground floor of the Old Building."]  # "from there": not alone
    assert "A student card gets you in." in answer_units(FACTS[3])


def test_a_question_in_other_words_matches_by_meaning_and_is_not_sure():
    passages, sure = knowledge().match("Where can I grab some lunch?")
    assert passages == [Passage(FACTS[1], "facts")] and not sure


def test_a_question_in_the_facts_own_words_is_sure():
    passages, sure = knowledge().match("Where is the cafeteria?")
    assert passages[0].text == FACTS[1] and sure


def test_a_question_near_two_passages_alike_matches_neither():
    """Meaning alone must lead the next passage by the margin: a tie is no match."""
    k = knowledge(min_margin=0.5)
    assert k.match("Where can I eat and exercise?") == ([], False)


def test_words_the_knowledge_never_uses_make_a_match_by_words_a_guess():
    """Half the question's words found, the other half unknown to every fact: the unknown half may be
    what is asked about ("a blue light"), so the match is only a guess; known words are no such doubt."""
    k = Knowledge([Passage(LIGHTS, "facts"), Passage("Restart: unplug the router for 30 seconds.", "facts")],
                  embed=SenseEmbedder([]).embed, min_similarity=0.99, sure_similarity=0.99)
    assert k.match("What does a solid blue light mean?") == ([Passage(LIGHTS, "facts")], False)
    # Three words shared and two unknown: still too many unknown ones to be sure.
    assert k.match("What does a solid blue light mean for the router?") == ([Passage(LIGHTS, "facts")], False)
    assert k.match("What does a blinking light mean?") == ([Passage(LIGHTS, "facts")], True)
    assert k.match("What does the red light mean for the router?")[1]


def test_the_word_for_what_all_the_knowledge_is_about_does_not_pick_the_fact():
    """"router" in a router's support pulls a question to the facts that say it: asked again without
    it, the question matches what it asks about, as a guess."""
    restart = Passage("Restart: unplug the router, wait, plug the router back in.", "facts")
    free = Passage("Replacements within two years are free.", "facts")
    question = "My router broke, do I pay for a new one?"
    senses = [{"pay", "free"}]
    for domain, found in (("", restart), ("home routers", free)):
        k = Knowledge([restart, free], embed=SenseEmbedder(senses).embed, min_similarity=CLOSE, domain=domain)
        assert k.match(question) == ([found], False)
    k = Knowledge([restart, free], embed=SenseEmbedder(senses).embed, min_similarity=CLOSE, domain="home routers")
    assert k.match("How do I restart the router?") == ([restart], True)  # nothing else to match: as it was


def test_a_question_that_pairs_what_no_fact_pairs_is_a_guess():
    """"Is the bookshop in Hartley Hall?" shares two words with the library's fact and asks of the
    bookshop, which another fact names: the library's fact is no sure answer. A question word's own
    noun ("which building") and one that points back ("that building") name the kind of answer or
    the last topic, not what is asked of."""
    k = knowledge()
    assert k.match("When does the library in Hartley Hall open?") == ([Passage(FACTS[0], "facts")], True)
    assert k.match("Is the bookshop in Hartley Hall?") == ([Passage(FACTS[0], "facts")], False)
    assert k.match("Which building is the main library in?") == ([Passage(FACTS[0], "facts")], True)
    # A follow-up's clause asks of what was asked before ("it"), whatever its verb names elsewhere.
    assert k.match("Is there a gym with a pool? When does it open?") == ([Passage(FACTS[3], "facts")], True)


def test_a_name_the_knowledge_never_uses_makes_the_match_a_guess():
    k = knowledge(domain="Ada, the campus guide")
    assert k.match("When does the library in Hartley Hall open?")[1]
    assert k.match("Ada, when does the library in Hartley Hall open?")[1]  # the persona's own name
    assert k.match("When does the library in Hartley Hall open during Ramadan?") == ([Passage(FACTS[0], "facts")], False)
    assert k.match("When does the library in Hartley Hall open on Sunday?")[1]  # a day, not a name


def test_the_answer_is_the_clause_that_answers():
    k = knowledge()
    assert k.answer("What do I need for the workout room?", [Passage(FACTS[3], "facts")]) in (
        FACTS[3], "The sports centre has a pool and a gym.", "A student card gets you in.")
    assert k.answer("Which floor is Admissions on?", [Passage(FACTS[2], "facts")]) == (
        "Admissions is on the ground floor of the Old Building.")


def test_the_answer_gives_the_kind_asked_for():
    assert asked_kind("How much is the bus fare?") == "price" and asked_kind("How much space is there?") is None
    assert asked_kind("How long do I wait?") == "duration" and asked_kind("What time do tours leave?") == "clock"
    assert gives("Wait two minutes.", "duration") and not gives("Laptops are collected from the ground floor.",
                                                                 "duration")
    assert gives("Replacements are free.", "price") and gives("Anything.", None)
    # Of a passage's clauses, the one that holds the time is the answer to "what time?".
    assert knowledge().answer("What time do the tours go?", [Passage(FACTS[2], "facts")]) == FACTS[2]


def test_an_answer_must_be_the_one_of_its_kind_that_was_asked_about():
    lights = "A red light means no internet; a blinking white light means the router is starting."
    k = Knowledge([Passage(lights, "facts"), Passage("Restart: unplug the router for 30 seconds.", "facts")])
    assert not k.names_which("What does a solid green light mean?", "A red light means no internet.")
    white = "A blinking white light means the router is starting."
    assert k.names_which("What does a flashing white light mean?", white)
    assert k.names_which("What does the red light mean?", "A red light means no internet.")
    assert k.names_which("How do I restart it?", "Restart: unplug the router for 30 seconds.")


def test_asked_about_one_part_of_the_week_the_other_parts_hours_are_not_said():
    library = [Passage(FACTS[0], "facts")]
    k = knowledge()
    assert k.answer("Is the library open at 9 on a Thursday night?", library) == (
        "The main library is in Hartley Hall, open 8 am to 10 pm on weekdays.")
    # The weekdays come first: their hours go, the subject stays.
    assert k.answer("Is the library open on Sunday?", library) == (
        "The main library is in Hartley Hall, open 10 am to 6 pm at weekends.")
    assert k.answer("When is the library open?", library) == FACTS[0]
    assert days_asked("on Saturdays and Mondays") == {"weekday", "weekend"}
    # Nothing told of the days asked about: the sentence stays as it is.
    urgent = "Urgent problems: call extension 4000, staffed 7 am to 7 pm on weekdays."
    assert cut_to_days(urgent, "Can I call on Saturday?") == urgent
    weekend_first = "Open 9 to 5 at weekends; on weekdays open 8 to 8."
    assert cut_to_days(weekend_first, "on Saturday?") == "Open 9 to 5 at weekends."


def test_of_a_sentence_of_alike_clauses_the_one_asked_about_is_said_alone():
    """Two clauses that tell alike facts of two things: said whole, one is the wrong answer."""
    senses = [{"circumference", "around", "far"}, {"red", "light"}]
    k = Knowledge([Passage(LIGHTS, "facts"), Passage(CIRCLE, "facts"), Passage(FACTS[3], "facts")],
                  embed=SenseEmbedder(senses).embed, min_similarity=CLOSE, domain="home routers")
    lights, circle = ([Passage(t, "facts")] for t in (LIGHTS, CIRCLE))
    assert k.answer("What does a red light on my router mean?", lights) == (
        "A red light means no internet from the provider.")  # "router": every fact's, names none
    # "circle" is in the area's clause only, because the circumference's leaves it out: by meaning.
    assert k.answer("How far is it around a circle?", circle) == "Circumference is two times pi times the radius."
    # Named both: both; named neither: both, and a guess.
    assert k.answer("Red light or blinking white light, which means starting?", lights) == LIGHTS
    assert k.answer("What does a solid blue light mean?", lights) == LIGHTS
    assert not k.names_which("What does a solid blue light mean?", LIGHTS)
    assert k.names_which("What does a red light mean?", "A red light means no internet from the provider.")
    # Clauses that tell different things of one subject are no alike facts, nor are they when one
    # points back ("from there"): those sentences are not split.
    assert k._alike(FACTS[3]) is None and k._alike(FACTS[2]) is None and k._alike(LIGHTS) is not None


def test_a_follow_up_takes_the_clause_its_own_words_ask_for():
    """The passage was found with the question before; the clause is what the follow-up asks."""
    circle = "Area of a circle is pi times the radius squared; circumference is two times pi times the radius."
    k = Knowledge([Passage(circle, "facts")], embed=SenseEmbedder([{"circumference", "around"}]).embed)
    topic = "I have worked out the area of my circle. And the circumference?"
    assert k.answer("And the circumference?", [Passage(circle, "facts")], topic) == (
        "Circumference is two times pi times the radius.")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return load_settings(write_stack(tmp_path_factory.mktemp("stack"), **DETERMINISTIC))


def reply(settings, question, history=None, restate=None, says="The library is in Hartley Hall."):
    grounding = settings.persona.grounding.model_copy(update={"min_similarity": CLOSE})
    settings = settings.model_copy(update={"persona": settings.persona.model_copy(update={"grounding": grounding})})
    stack = settings.stack
    if restate is not None:
        stack = stack.model_copy(update={"llm": stack.llm.model_copy(update={"restate_facts": restate})})
    settings = settings.model_copy(update={"stack": stack})
    llm = ScriptedLLM(says)
    conv = fake_parley(settings, llm, ToneTTS(), grounded=True, embedder=SenseEmbedder(SENSES)).conversation()
    if history:
        conv.history.add(*history)

    async def run():
        return [e async for e in conv.reply(question)]

    done = asyncio.run(run())[-1]
    assert isinstance(done, TurnDone)
    return done, llm


def test_the_small_default_model_never_words_a_fact(stack):
    done, llm = reply(stack, "Where is the main library?")
    assert done.grounding == "quoted" and done.reply.startswith("The main library is in Hartley Hall")
    assert llm.prompts == []  # said as written, without the LLM


def test_the_same_question_gets_the_same_answer_every_time(stack):
    assert len({reply(stack, "When does the library open on weekdays?")[0].reply for _ in range(3)}) == 1


def test_small_talk_still_goes_to_the_llm(stack):
    done, llm = reply(stack, "Hello!", says="Hello! How can I help you?")
    assert len(llm.prompts) == 1 and done.grounding == "answered"


def test_a_model_that_may_restate_facts_writes_the_answer(stack):
    done, llm = reply(stack, "Where is the main library?", restate=True)
    assert len(llm.prompts) == 1 and done.reply == "The library is in Hartley Hall."


def test_a_guess_by_meaning_is_said_with_the_unsure_line(stack):
    done, _ = reply(stack, "Where can I grab some lunch?")
    assert done.grounding == "unsure" and done.reply.startswith("I'm not sure that's what you're asking, but: ")
    assert "cafeteria" in done.reply


def test_a_follow_up_is_answered_from_the_question_before_it(stack):
    done, _ = reply(stack, "And at weekends?", history=("When is the library open?", "8 am to 10 pm."))
    assert "Hartley Hall" in done.reply and done.grounding in ("quoted", "unsure")


def test_a_short_question_that_matches_nothing_alone_gets_the_one_before_its_match_as_a_guess(stack):
    """"Will I need a pass?" may follow up the library, or be a new subject the knowledge does not cover
    ("I'm starving, anywhere to eat?"): either way the library's fact is not said as a sure answer."""
    history = ("When does the main library in Hartley Hall open?", "8 am to 10 pm on weekdays.")
    for question in ("Will I need a pass?", "Quiet rooms?"):
        done, _ = reply(stack, question, history=history)
        assert done.grounding == "unsure" and "Hartley Hall" in done.reply


def test_a_price_asked_of_a_passage_without_one_is_a_guess(stack):
    done, _ = reply(stack, "How much does the gym cost?")
    assert done.grounding == "unsure" and "sports centre" in done.reply


def test_a_question_on_its_own_is_not_joined_to_the_one_before(stack):
    """"Is there" asks whether something exists: it points back to nothing."""
    done, _ = reply(stack, "Is there a cash machine on campus?",
                    history=("Where is the library?", "The main library is in Hartley Hall."))
    assert "Hartley Hall" not in done.reply


def test_plans_read_the_history_but_never_write_it(stack):
    parley = fake_parley(stack, ScriptedLLM("Hi."), ToneTTS(), grounded=True, embedder=SenseEmbedder(SENSES))
    history = History()
    parley.conversation().generation.plan("Where is the library?", history)
    assert history.exchanges == []


def test_an_embedder_turns_texts_into_unit_rows():
    rows = SenseEmbedder(SENSES).embed(["lunch at the cafeteria", "gym"])
    assert rows.shape[0] == 2 and np.allclose(np.linalg.norm(rows, axis=1), 1.0)
