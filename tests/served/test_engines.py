"""The Triton engines against a real tritonserver serving model_repository/cpu's llm, tts and asr: the
same turn as in-process, barge-in, and a server killed mid-turn then restarted."""

import asyncio
import logging
import re
import shutil
import threading
import time

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from parley.assemble import Engines, Parley
from parley.config import load_settings
from parley.core.events import TextDelta, TurnDone
from parley.core.interfaces import CancelToken
from parley.core.speech import SpokenChunk
from parley.models.store import ModelStore
from testbed.serve import write_stack
from testbed.speech import speak, wer
from testbed.triton_server import ROOT, TritonServer
from tests.fakes import ungrounded
from tests.served.conftest import SERVED

pytestmark = pytest.mark.triton

QUESTION = "Hello! Where is the library?"
LONG_QUESTION = "Tell me about every building on campus, one by one."
SPOKEN = "Where is the library, and when does it close on Sundays?"
STAGES = ("llm", "tts", "asr")


@pytest.fixture(scope="module")
def triton_server(tmp_path_factory):
    """conftest's server on model_repository/cpu's llm, tts and asr (generated from configs/triton-cpu.yaml), their
    parameters set to the deterministic settings; the stack the client loads has the same edits."""
    work = tmp_path_factory.mktemp("triton-engines")
    repository = work / "repository"
    for stage in STAGES:
        shutil.copytree(ROOT / "model_repository" / "cpu" / stage, repository / stage)
        path = repository / stage / "config.pbtxt"
        config = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
        for key, value in SERVED.items():
            if key.startswith(f"{stage}."):
                config.parameters[key.removeprefix(f"{stage}.")].string_value = str(value)
        path.write_text(text_format.MessageToString(config))
    server = TritonServer(repository=repository, log=work / "tritonserver.log", stack=write_stack(work, **SERVED))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(triton_server, tmp_path_factory):
    """The served models' own settings with every stage on that server; the probe is quick for the tests."""
    # Generous request timeouts: on a busy 2-core machine a slow answer must not count as a failure here.
    triton = {"url": triton_server.url, "probe_interval_s": 0.25, "connect_timeout_s": 1,
              "request_timeout_s": 120, "stream_idle_timeout_s": 120}
    engines = {f"{stage}.engine": "triton" for stage in STAGES}
    return load_settings(write_stack(tmp_path_factory.mktemp("client"), **SERVED, **engines, triton=triton))


@pytest.fixture(scope="module")
def remote(stack):
    engines = Parley(stack, ModelStore(stack.registry)).engines
    yield engines, engines.asr
    engines.close()


def in_process(engines: Engines) -> Engines:
    """The same models in-process: the fallbacks the Triton engines loaded from the same settings."""
    return Engines.given(engines.settings, llm=engines.llm.switch.backup, tts=engines.tts.switch.backup,
                         visemes=engines.visemes)


def routes(engines, asr):
    return [engines.llm.switch, engines.tts.switch, asr.switch]


def inferences(triton_server, model: str) -> int:
    """Requests the server has answered for ``model``: proof that a turn went through Triton."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(triton_server.url)
    try:
        stats = client.get_inference_statistics(model, as_json=True)["model_stats"]
        return sum(int(s["inference_stats"]["success"].get("count", 0)) for s in stats)
    finally:
        client.close()


def words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def turn(settings, engines, text, on_event=None, cancel=None) -> list:
    """One turn, every word the LLM's (these test the served engines; grounding has its own tests)."""
    async def run():
        events = []
        async for event in Parley(ungrounded(settings), engines=engines).conversation().reply(text, cancel):
            events.append(event)
            if on_event is not None:
                on_event(event)
        return events

    return asyncio.run(run())


def spoken(events) -> list[SpokenChunk]:
    return [e for e in events if isinstance(e, SpokenChunk)]


def test_a_turn_through_triton_is_the_in_process_turn(triton_server, stack, remote):
    engines, asr = remote
    assert all(route.on_primary for route in routes(engines, asr))
    local = in_process(engines)

    audio = speak(local.tts, SPOKEN)
    heard = asr.transcribe(audio, "Hartley Hall")
    assert heard == asr.switch.backup.transcribe(audio, "Hartley Hall")
    edits, words = wer(SPOKEN, heard)
    assert edits <= 2, heard

    served = {m: inferences(triton_server, m) for m in ("llm", "tts")}
    through_triton = turn(stack, engines, QUESTION)
    assert all(inferences(triton_server, m) > served[m] for m in served)
    in_proc = turn(stack, local, QUESTION)

    assert through_triton[-1].reply and through_triton[-1].reply == in_proc[-1].reply
    a, b = spoken(through_triton), spoken(in_proc)
    assert [len(c.speech.audio) for c in a] == [len(c.speech.audio) for c in b]
    assert [c.speech.phonemes for c in a] == [c.speech.phonemes for c in b]
    assert [c.visemes.to_dict() for c in a] == [c.visemes.to_dict() for c in b]


def test_placements_say_each_served_stage_runs_on_tritons_cpu(triton_server, stack, remote):
    from parley.live.placement import placements

    engines, _ = remote
    stages = {p.stage: p for p in placements(stack, engines)}
    for stage in ("asr", "llm", "tts"):
        assert stages[stage].label == "triton-cpu", stages[stage]
        assert f"{stage} (python, KIND_CPU) on Triton at {stack.stack.triton.url}" in stages[stage].why


def test_barge_in_cancels_the_served_reply(stack, remote, caplog):
    engines, asr = remote
    token = CancelToken()
    deltas = 0

    def barge_in_at_first_clause(event) -> None:
        nonlocal deltas
        deltas += isinstance(event, TextDelta)
        if deltas == 1:
            token.cancel("barge-in")

    with caplog.at_level(logging.WARNING, logger="parley"):
        done = turn(stack, engines, LONG_QUESTION, on_event=barge_in_at_first_clause, cancel=token)[-1]
        assert done.timings.interrupted and deltas <= 2
        # A cancelled turn is not a failure: the stages stay on Triton, which answers the next turn.
        assert turn(stack, engines, QUESTION)[-1].reply
    assert not caplog.records and all(route.on_primary for route in routes(engines, asr))


def test_killing_triton_mid_turn_falls_back_and_the_probe_moves_back(triton_server, stack, remote, caplog,
                                                                     monkeypatch, caller):
    engines, asr = remote
    assert all(route.on_primary for route in routes(engines, asr))
    expected = turn(stack, in_process(engines), LONG_QUESTION)[-1].reply
    said_before_kill: list[str] = []
    served = engines.llm.switch.primary
    stream = served.stream

    def killed_after_the_first_piece(*args):
        for piece in stream(*args):
            yield piece
            if not said_before_kill:
                said_before_kill.append(piece)
                triton_server.kill()

    monkeypatch.setattr(served, "stream", killed_after_the_first_piece)
    with caplog.at_level(logging.WARNING, logger="parley"):
        events = turn(stack, engines, LONG_QUESTION)
        done = events[-1]
        assert isinstance(done, TurnDone) and not done.timings.interrupted
        # Nothing said twice, nothing lost: the in-process engine went on from what Triton had said.
        # (Words only: where two tokens are all but tied, llama.cpp may pick a quote mark one way on a
        # fresh prompt and the other on a cached one.)
        assert words(done.reply) == words(expected) and said_before_kill
        assert words("".join(e.text for e in events if isinstance(e, TextDelta))) == words(expected)
        failures = [r.getMessage() for r in caplog.records if "failed (" in r.getMessage()]
        assert any(m.startswith(f"llm: Triton at {stack.stack.triton.url} failed (") for m in failures), failures
        assert not engines.llm.switch.on_primary and not engines.tts.switch.on_primary
        monkeypatch.undo()

        # While it is down every stage answers in-process, listening included.
        assert "library" in asr.transcribe(speak(caller, SPOKEN)).lower()
        assert not asr.switch.on_primary

        triton_server.restart()
        deadline = time.monotonic() + 30
        while not all(r.on_primary for r in routes(engines, asr)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(r.on_primary for r in routes(engines, asr))
    back = [r.getMessage() for r in caplog.records if "ready again; back on Triton" in r.getMessage()]
    assert sorted(m.split(":")[0] for m in back) == ["asr", "llm", "tts"]

    served = {m: inferences(triton_server, m) for m in ("llm", "tts")}
    assert turn(stack, engines, QUESTION)[-1].reply
    assert all(inferences(triton_server, m) > served[m] for m in served)
    assert not [t for t in threading.enumerate() if t.name.startswith("probe-")]
