"""Grounded answers: passages found per question, unbacked claims caught clause by clause, and the
turn that says the decline line or the passage instead (scripted LLM, the campus guide's facts)."""

import asyncio

import pytest
import yaml

from parley.config import ConfigError
from parley.config.loader import load_persona
from parley.core.events import TextChunk, TextDelta, TurnDone
from parley.reply.grounding import Grounding
from parley.reply.history import History
from parley.reply.knowledge import Knowledge, Passage
from parley.reply.passages import split_document
from parley.reply.prompt import PromptBuilder
from parley.reply.words import asked_clause, content_terms, name_phrases, names, numbers, subject_terms
from tests.fakes import ScriptedLLM, ToneTTS, fake_parley


@pytest.fixture(scope="module")
def knowledge(settings):
    return Knowledge.of(settings.persona)


def persona_file(folder, settings, **fields):
    path = folder / "guide.yaml"
    path.write_text(yaml.safe_dump({**settings.persona.model_dump(), **fields}))
    return path


def turn(settings, reply, question):
    """One grounded turn with an LLM that may word the facts itself (the check's path); the small
    default model's path, the sentence said as written, is in test_answers.py."""
    llm = ScriptedLLM(reply)
    stack = settings.stack.model_copy(update={"llm": settings.stack.llm.model_copy(update={"restate_facts": True})})
    settings = settings.model_copy(update={"stack": stack})
    conv = fake_parley(settings, llm, ToneTTS(), grounded=True).conversation()

    async def run():
        return [e async for e in conv.reply(question)]

    return asyncio.run(run()), llm


def test_numbers_names_and_content_words():
    assert numbers("open 8 am to 10:00 pm, every fifteen minutes, on the second floor, 1,200 seats") == {
        "8", "10", "15", "2", "1200"}
    assert numbers("the one by the gate, first on the left") == set()
    assert name_phrases("The dean is Dr. John A. Bixler. Hartley Hall is open, said Ada.") == [
        "Dr John A Bixler", "Hall", "Ada"]
    assert names("Bixler is the dean") == set() and names("Bixler is the dean", mid_sentence=True) == {"bixler"}
    assert content_terms("When does the library close?") == {"librari", "close"}
    assert content_terms("Hello! Who are you?") == set()


def test_what_a_question_asks_of():
    """Its content words in order, not the one a question word asks for nor one that points back; the
    asked clause is the part from its last question word on."""
    assert subject_terms("Until what time is the cafeteria open?") == ["until", "cafeteria", "open"]
    assert subject_terms("Is the bookshop in Hartley Hall?") == ["bookshop", "hartley", "hall"]
    assert subject_terms("Which building is the library in?") == ["librari"]
    assert subject_terms("How many minutes does the bus take?") == ["bus", "take"]
    assert subject_terms("Where is the cafeteria? What else is in that building?") == ["cafeteria"]
    question = "I know laptops go to the Civic Centre, but where do I add a printer?"
    assert asked_clause(question) == "where do I add a printer?"
    assert subject_terms(asked_clause(question)) == ["add", "printer"]
    assert asked_clause("Is the bookshop in Hartley Hall?") == "Is the bookshop in Hartley Hall?"


def test_questions_match_only_passages_that_cover_them(knowledge):
    assert [p.text.split(",")[0] for p in knowledge.search("When does the library close?")] == [
        "The main library is in Hartley Hall"]
    assert knowledge.search("How do I get to the train station?")[0].text.startswith("Bus 12")
    assert knowledge.search("When does the library close tonight?")  # one word of three is enough
    for question in ("Who is the dean of engineering?", "Can I bring my dog to lectures?",
                     "What is the wifi password?"):
        assert knowledge.search(question) == [] and knowledge.asks_for_facts(question)
    assert not knowledge.asks_for_facts("Hello, thanks!")
    assert "Hartley Hall" in knowledge.vocabulary()


def test_documents_are_split_into_passages_under_their_headings(tmp_path, settings):
    doc = "# Parking\n\nPermits cost 40 pounds a term. Buy them online.\n\n- Visitors park free at weekends.\n"
    assert split_document(doc) == ["Parking: Permits cost 40 pounds a term. Buy them online.",
                                   "Parking: Visitors park free at weekends."]
    long = " ".join(f"Sentence {i} has some words in it." for i in range(30))
    assert all(len(p.split()) <= 70 for p in split_document(long)) and len(split_document(long)) > 2

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "parking.md").write_text(doc)
    (folder / "logo.png").write_bytes(b"\x89PNG not text")  # not a document: skipped
    persona = load_persona(persona_file(tmp_path, settings, documents="docs"))
    found = Knowledge.of(persona).search("How much does a parking permit cost?")
    assert found[0] == Passage("Parking: Permits cost 40 pounds a term. Buy them online.", "parking.md")


def test_a_documents_folder_that_is_missing_or_not_text_is_a_clear_error(tmp_path, settings):
    path = persona_file(tmp_path, settings, documents="nowhere")
    with pytest.raises(ConfigError, match="documents: .*nowhere is not a folder"):
        load_persona(path)
    (tmp_path / "nowhere").mkdir()
    (tmp_path / "nowhere" / "notes.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="cannot read .*notes.txt as UTF-8"):
        Knowledge.of(load_persona(path))


def test_a_clause_is_backed_only_by_the_question_and_its_passages(settings, knowledge):
    question = "When do campus tours start?"
    check = Grounding(settings.persona, question, knowledge.search(question)).check
    assert check("Tours leave from Admissions at 11 am and 2 pm.") is None
    assert str(check("They leave at 10 am.")) == "number '10' is in none of the sources"
    # "10 pm" is in an example (another question's answer), not in this question's passage
    assert check("Ask Dr. Smith in the Old Building.").kind == "name"
    assert check("They start on the south lawn, by the pharmacy.").kind == "subject"
    assert check("Happy to help: they leave from Admissions.") is None
    dean = Grounding(settings.persona, "Who is the dean?", [])
    assert dean.check("Sure,") is None and dean.check("Bixler is the dean.").kind == "name"  # mid-sentence
    assert dean.check("Yes.").kind == "yes/no"
    gym = "Can I get into the gym with my student card?"
    assert Grounding(settings.persona, gym, knowledge.search(gym)).check("Yes, you can.") is None
    pool = "Is the pool heated?"
    assert Grounding(settings.persona, pool, knowledge.search(pool)).check("Yes, it is heated.").kind == "yes/no"


def test_a_clause_may_not_join_the_terms_of_two_passages(settings, knowledge):
    """Admissions' passage and the student centre's are both given; a clause that puts Admissions
    by the north car park pairs what no one passage pairs."""
    both = [p for p in knowledge.passages if "Admissions" in p.text or "student centre" in p.text]
    check = Grounding(settings.persona, "Where is Admissions?", both).check
    assert str(check("Admissions is next to the north car park.")).startswith("the terms")
    assert check("Admissions is on the ground floor of the Old Building.") is None
    assert check("The student centre is next to the north car park.") is None


def test_nothing_known_is_declined_without_the_llm(settings):
    events, llm = turn(settings, "Dr. John Bixler is the dean.", "Who is the dean of engineering?")
    done = events[-1]
    assert isinstance(done, TurnDone) and done.grounding == "declined"
    assert done.reply == settings.persona.decline and llm.prompts == []


def test_an_unbacked_clause_is_not_spoken_and_the_passage_is_said_instead(settings):
    events, llm = turn(settings, "Tours leave from the Old Building, at 10 am and 3 pm every day. Enjoy the "
                       "campus, and do ask me anything else you like about it.",
                       "When do campus tours leave?")
    done = events[-1]
    chunks = [e.text for e in events if isinstance(e, TextChunk)]
    assert done.grounding == "replaced" and "10 am" not in done.reply and "Enjoy" not in done.reply
    assert done.reply.endswith("campus tours leave from there at 11 am and 2 pm.")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == " ".join(chunks) == done.reply
    assert llm.produced < len(llm.pieces)  # the LLM was stopped, not read to its end
    assert "Facts: Admissions is on the ground floor" in llm.prompts[0].text


def test_passages_that_only_touch_on_the_question_are_said_as_they_are(settings):
    events, llm = turn(settings, "It closes at midnight.", "When does the library close tonight?")
    assert events[-1].grounding == "quoted" and llm.prompts == []
    assert events[-1].reply.endswith("open 8 am to 10 pm on weekdays and 10 am to 6 pm at weekends.")


def test_a_backed_answer_is_spoken_as_written_and_one_that_says_nothing_gets_the_passage(settings):
    events, _ = turn(settings, "Bus 12 leaves the main gate every 15 minutes.", "How often does the bus run?")
    assert events[-1].grounding == "answered" and events[-1].reply == "Bus 12 leaves the main gate every 15 minutes."
    events, _ = turn(settings, "Happy to help with that!", "How often does the bus run?")
    assert events[-1].grounding == "added" and events[-1].reply.endswith("every 15 minutes.")


def test_the_prompt_gives_each_example_and_the_question_their_facts(settings, knowledge):
    builder = PromptBuilder(settings.persona, "completion", knowledge)
    question = "Where is admissions?"
    prompt = builder.build(History(), question, lambda text: len(text.split()), 10_000, knowledge.search(question)).text
    lines = prompt.splitlines()
    assert lines[-3].startswith("Facts: Admissions is on the ground floor") and lines[-2] == f"Visitor: {question}"
    # the example about the library is shown with the library's passage, right above it
    example = lines.index("Visitor: When does the library close tonight?")
    assert lines[example - 1].startswith("Facts: The main library is in Hartley Hall")
    assert "Bus 12 runs" not in prompt.split("Facts:")[0]  # no fact in the preamble
    chat = PromptBuilder(settings.persona, "chat", knowledge).render([], [], question, knowledge.search(question))
    assert chat.messages[-1]["content"].startswith("Facts: Admissions") and chat.messages[-1]["content"].endswith(
        question)


def test_a_knowledge_base_far_larger_than_the_context_costs_the_prompt_only_its_match(tmp_path, settings):
    folder = tmp_path / "handbook"
    folder.mkdir()
    subjects = ["chemistry", "history", "music", "law", "physics", "drama", "nursing", "geology"]
    for part in range(20):
        rooms = [f"## Block {part}-{i}\n\nRoom {part}{i:02d} in block {part}-{i} holds the {subjects[i % 8]} "
                 f"seminars on floor {i % 5}, booked through the department office." for i in range(60)]
        (folder / f"part{part}.md").write_text("\n\n".join(rooms))
    (folder / "vet.md").write_text("# Veterinary clinic\n\nThe veterinary clinic is behind the observatory.\n")
    persona = load_persona(persona_file(tmp_path, settings, documents="handbook"))
    knowledge = Knowledge.of(persona)
    words = lambda text: len(text.split())  # noqa: E731
    assert len(knowledge.passages) > 1200 and sum(words(p.text) for p in knowledge.passages) > 20_000
    question = "Where is the veterinary clinic?"
    found = knowledge.search(question)
    assert found == [Passage("Veterinary clinic: The veterinary clinic is behind the observatory.", "vet.md")]
    prompt = PromptBuilder(persona, "completion", knowledge).build(History(), question, words, 2048, found)
    assert words(prompt.text) < 600 and "observatory" in prompt.text
