"""The gpu profile of docker-compose.yml rehearsed on the CPU: its two tritonservers, started with the
commands the compose file gives them, serve model_repository/gpu as models-init assembles it
(deploy/orchestrator/gpu_repository.py). Only the models whose backends need a GPU are replaced, by
the Python stand-ins of testbed/gpu_standins, which serve those models' own configs; every Python
model (llm, asr, tts, speak, visemes) runs as it is. `parley serve` on configs/triton-gpu.yaml, with
only the servers' addresses changed, answers an aiortc caller from them."""

import asyncio
import json
import shutil
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from parley.cli.doctor import stage_checks
from parley.config import REPO_CONFIGS, load_settings
from parley.models.store import parley_home
from testbed.live_client import Caller, serving
from testbed.triton_server import ROOT, TritonServer

sys.path.insert(0, str(ROOT / "deploy" / "orchestrator"))
from gpu_repository import assemble  # noqa: E402  (a script of the models-init image, not a package)

pytestmark = pytest.mark.triton

COMPOSE = ROOT / "docker-compose.yml"
STANDINS = ROOT / "testbed" / "gpu_standins"
LLM_SERVER, MEDIA_SERVER = "triton-gpu", "triton-gpu-media"
GGUF = "gemma3-270m"  # the smallest LLM the registry ships: the stand-in's tokens come from it
# The backends this machine's tritonserver has no GPU or library for, and the stand-in of each.
STANDIN_OF = {"tensorrtllm": None, "onnxruntime": "onnx", "tensorrt_plan": "onnx"}


def compose_command(service: str) -> dict:
    """The service's tritonserver command: repository, load list, ports and its other options."""
    command = yaml.safe_load(COMPOSE.read_text())["services"][service]["command"]
    assert command[0] == "tritonserver", command
    out = {"models": [], "ports": {"http": 8000, "grpc": 8001, "metrics": 8002}, "options": []}
    for arg in command[1:]:
        key, _, value = arg.partition("=")
        if key == "--load-model":
            out["models"].append(value)
        elif key.endswith("-port"):
            out["ports"][key[2:-5]] = int(value)
        elif key in ("--model-repository", "--model-control-mode"):
            out[key[2:]] = value
        else:
            out["options"].append(arg)
    return out


def standin(repository: Path, name: str, work: Path) -> None:
    """NAME's config served by the Python backend on the CPU, with its stand-in's model.py."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    path = repository / name / "config.pbtxt"
    config = text_format.Parse(path.read_text(), mc.ModelConfig())
    kind = STANDIN_OF.get(config.backend or config.platform, "")
    if kind == "":
        return
    folder = STANDINS / (kind or name)
    config.backend, config.platform = "python", ""
    for group in config.instance_group:
        group.kind = mc.ModelInstanceGroup.KIND_CPU
    config.ClearField("optimization")  # TensorRT accelerators are not the Python backend's
    if config.default_model_filename:  # the Python backend would look for its model.py under that name
        config.parameters["standin_file"].string_value = config.default_model_filename
        config.ClearField("default_model_filename")
    if name == "tensorrt_llm":
        config.parameters["standin_gguf"].string_value = str(next((parley_home() / "models" / GGUF).glob("*.gguf")))
        config.parameters["standin_tokenizer_dir"].string_value = str(work / "llm-tokenizer")
    if name == "whisper_tensorrt_llm":
        asr = text_format.Parse((repository / "asr" / "config.pbtxt").read_text(), mc.ModelConfig())
        config.parameters["standin_model"].string_value = asr.parameters["model"].string_value
    path.write_text(text_format.MessageToString(config))
    shutil.copy(folder / "model.py", repository / name / "1" / "model.py")


def llm_tokenizer(folder: Path) -> Path:
    """The tokenizer folder the llm model loads (on a GPU host, the engine's): the registry's byte-level
    BPE with a chat template in the GGUF model's turn markup, so the stand-in's llama-cpp reads the turns."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(parley_home() / "models" / "whisper-tiny.en" / "tokenizer.json", folder / "tokenizer.json")
    template = ("{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
                "{{ m['content'] }}<end_of_turn>\n{% endfor %}<start_of_turn>model\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "chat_template": template}))
    return folder


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    work = tmp_path_factory.mktemp("gpu-rehearsal")
    # Where both servers' --model-repository points, under the folder standing in for the host's root.
    served = compose_command(LLM_SERVER)["model-repository"]
    assert compose_command(MEDIA_SERVER)["model-repository"] == served
    assert served in " ".join(yaml.safe_load(COMPOSE.read_text())["services"]["models-init"]["entrypoint"])
    target = work / "root" / Path(served).relative_to("/")
    assemble(ROOT / "model_repository" / "gpu", target, parley_home() / "models", root=work / "root")
    proc = subprocess.run([sys.executable, str(ROOT / "export" / "wav2lip.py"), "--random-weights", "--out",
                           str(target / "lipsync" / "1" / "model.onnx")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    llm_tokenizer(work / "llm-tokenizer")
    for config_file in target.glob("*/config.pbtxt"):
        name = config_file.parent.name
        config = text_format.Parse(config_file.read_text(), mc.ModelConfig())
        if name == "llm":
            config.parameters["tokenizer_dir"].string_value = str(work / "llm-tokenizer")
        if config.backend == "python":
            for group in config.instance_group:
                group.count = 1  # a GPU host's many processes would only slow two cores
        config_file.write_text(text_format.MessageToString(config))
        standin(target, name, work)
    return target


@pytest.fixture(scope="module")
def servers(repository):
    started = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", str(ROOT))  # the stand-ins import testbed.gpu_standins
        try:
            for service in (LLM_SERVER, MEDIA_SERVER):
                command = compose_command(service)
                assert command["model-control-mode"] == "explicit"  # TritonServer passes it with models
                server = TritonServer(repository=repository, log=repository.parent / f"{service}.log",
                                      models=tuple(command["models"]), options=tuple(command["options"]))
                started[service] = server
                server.start()
            yield started
        finally:
            for server in started.values():
                server.stop()


def stats(server: TritonServer) -> dict[str, int]:
    body = json.loads(urllib.request.urlopen(f"{server.http_url}/v2/models/stats", timeout=10).read())
    return {m["name"]: int(m["inference_count"]) for m in body["model_stats"]}


def gpu_stack(servers) -> dict:
    """configs/triton-gpu.yaml with the two servers' addresses where the rehearsal runs them, and the LLM
    its stand-in serves (the orchestrator counts tokens with that model's GGUF)."""
    stack = yaml.safe_load((REPO_CONFIGS / "triton-gpu.yaml").read_text())
    media = servers[MEDIA_SERVER].url
    return {"llm.model": GGUF, "triton.url": servers[LLM_SERVER].url,
            "triton.model_urls": {stage: media for stage in stack["triton"]["model_urls"]}}


def test_compose_gives_the_servers_the_addresses_the_gpu_stack_calls():
    stack = yaml.safe_load((REPO_CONFIGS / "triton-gpu.yaml").read_text())["triton"]
    assert stack["url"].endswith(f":{compose_command(LLM_SERVER)['ports']['grpc']}")
    for url in stack["model_urls"].values():
        assert url.endswith(f":{compose_command(MEDIA_SERVER)['ports']['grpc']}")


def call(servers, tmp_path) -> tuple[dict, int, dict, dict]:
    """A typed question through `parley serve` on the GPU stack: the answer, the video frames the
    caller got, /healthz, and each stage's placement with why (the operator's /api/stats)."""
    async def ask(served):
        caller = await Caller(served.base).connect()
        try:
            caller.type("Where is the library?")
            return (await caller.answered(1, timeout=150))[0], caller.frames
        finally:
            await caller.close()

    with serving(tmp_path, gpu_stack(servers), base=REPO_CONFIGS / "triton-gpu.yaml") as served:
        answer, frames = asyncio.run(asyncio.wait_for(ask(served), 200))
        health = served.get("/healthz")
        stages = {s["stage"]: s for s in served.get("/api/stats", operator=True)["stages"]}
    return answer, frames, health, stages


def doctor(tmp_path) -> dict:
    """`parley doctor`'s stage checks of the stack the call was served with."""
    return {c.name: c for c in stage_checks(load_settings(tmp_path / "stack.yaml"))}


@contextmanager
def unloaded(server: TritonServer, model: str):
    """``model`` unloaded from ``server`` (explicit model control), loaded again afterwards."""
    def control(action: str) -> None:
        request = urllib.request.Request(f"{server.http_url}/v2/repository/models/{model}/{action}",
                                         data=b"{}", method="POST")
        urllib.request.urlopen(request, timeout=120).read()

    control("unload")
    try:
        yield
    finally:
        control("load")


def test_a_call_is_answered_by_the_gpu_repository(servers, tmp_path):
    before = {s: stats(server) for s, server in servers.items()}
    answer, frames, health, _ = call(servers, tmp_path)
    assert answer["reply"] and frames > 0
    after = {s: stats(server) for s, server in servers.items()}
    served_by = {(s, m) for s in after for m in after[s] if after[s][m] > before[s].get(m, 0)}
    for pair in [(LLM_SERVER, "llm"), (LLM_SERVER, "tensorrt_llm"), (MEDIA_SERVER, "tts"),
                 (MEDIA_SERVER, "tts_voice"), (MEDIA_SERVER, "lipsync")]:
        assert pair in served_by, (pair, served_by, health)


def test_without_the_voice_model_the_call_is_answered_by_the_fallback_voice(servers, tmp_path):
    with unloaded(servers[MEDIA_SERVER], "tts_voice"):
        answer, frames, health, stages = call(servers, tmp_path)
        checks = doctor(tmp_path)
    assert answer["reply"] and frames > 0
    assert health["stages"]["tts"] == "fallback-cpu", health
    assert "tts_voice is not loaded" in stages["tts"]["why"], stages["tts"]
    assert not checks["tts"].ok and "tts_voice is not loaded" in checks["tts"].detail


def test_without_whisper_speech_falls_back_and_the_call_goes_on(servers, tmp_path):
    with unloaded(servers[LLM_SERVER], "whisper_tensorrt_llm"):
        answer, _, health, stages = call(servers, tmp_path)
        checks = doctor(tmp_path)
    assert answer["reply"]
    assert health["stages"]["asr"] == "fallback-cpu", health
    assert "whisper_tensorrt_llm is not loaded" in stages["asr"]["why"], stages["asr"]
    assert not checks["asr"].ok and "whisper_tensorrt_llm is not loaded" in checks["asr"].detail


def test_with_the_media_server_down_the_call_is_still_answered(servers, tmp_path):
    media = servers[MEDIA_SERVER]
    media.kill()
    try:
        answer, frames, health, stages = call(servers, tmp_path)
    finally:
        media.restart()
    assert answer["reply"] and frames > 0  # the voice in-process, the face drawn by the warp
    assert health["stages"]["tts"] == "fallback-cpu", health
    assert media.url in stages["tts"]["why"], stages["tts"]
