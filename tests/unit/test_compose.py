"""docker-compose.yml: valid for Compose, one command per profile, and every piece it names exists.

No Docker engine is needed: `docker compose config` (or the standalone `docker-compose config`) only
reads and validates the file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROFILES = {
    "cpu": {"orchestrator-cpu"},
    "triton-cpu": {"triton-cpu", "orchestrator-triton-cpu"},
    "gpu": {"models-init", "triton-gpu", "triton-gpu-media", "orchestrator-gpu"},
    "scale": {"triton-cpu", "orchestrator-a", "orchestrator-b", "proxy"},
}
ALWAYS = {"janus", "nginx-rtmp"}


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        return [standalone]
    pytest.skip("neither the `docker compose` plugin nor `docker-compose` is installed "
                "(Debian: apt-get install docker-compose)")


@pytest.fixture(scope="module")
def compose() -> list[str]:
    return _compose_command()


def _run(compose: list[str], *args: str) -> subprocess.CompletedProcess:
    # The file's own defaults are under test, not whatever this shell exports.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "COMPOSE_"))}
    # Compose v2 leaves the services of inactive profiles out of `config`: activate them all.
    profiles = [flag for profile in PROFILES for flag in ("--profile", profile)]
    return subprocess.run([*compose, "-f", str(ROOT / "docker-compose.yml"), *profiles, *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False)


@pytest.fixture(scope="module")
def config(compose) -> dict:
    done = _run(compose, "config")
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


# `docker compose config` (v2) writes volumes and ports in their long form, `docker-compose` (1.29)
# in the short one: compare both as (source, target, read-only) and (host address, published, target).


def _mounts(service: dict) -> set[tuple[str, str, bool]]:
    mounts = set()
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts.add((volume["source"], volume["target"], bool(volume.get("read_only"))))
        else:
            source, target, *mode = volume.split(":")
            mounts.add((source, target, mode == ["ro"]))
    return mounts


def _ports(service: dict) -> set[tuple[str, int, int]]:
    ports = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.add((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
        else:
            *host, published, target = str(port).split("/")[0].split(":")
            ports.add((host[0] if host else "", int(published), int(target)))
    return ports


def test_config_is_valid(compose):
    done = _run(compose, "config", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_each_profile_brings_up_its_stack(config):
    services = config["services"]
    assert set(services) == ALWAYS.union(*PROFILES.values())
    for profile, names in PROFILES.items():
        for name in names:
            assert profile in services[name].get("profiles", []), name
        others = {n for n, s in services.items() if profile in s.get("profiles", [])}
        assert others == names, profile
    for name in ALWAYS:
        assert "profiles" not in services[name], f"{name} must start with every profile"


def test_orchestrators_serve_a_stack_that_loads(config):
    from parley.config import load_settings

    for name in ("orchestrator-cpu", "orchestrator-triton-cpu", "orchestrator-gpu", "orchestrator-a", "orchestrator-b"):
        service = config["services"][name]
        assert service["build"]["target"] == "orchestrator"
        # WebRTC media uses UDP ports picked at run time: only the host's network carries them.
        assert service["network_mode"] == "host"
        assert ("models", "/models", False) in _mounts(service)
        load_settings(ROOT / service["environment"]["PARLEY_STACK"])


def _base_image(service: dict) -> str:
    """The image a service's Dockerfile stage is built on, with the service's build arguments."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(rf"^FROM\s+(\S+)\s+AS\s+{service['build']['target']}$", dockerfile, re.MULTILINE).group(1)
    if match := re.fullmatch(r"\$\{(\w+)\}", base):
        name = match.group(1)
        default = re.search(rf"^ARG\s+{name}=(\S+)$", dockerfile, re.MULTILINE).group(1)
        return service["build"].get("args", {}).get(name, default)
    return base


def test_triton_services(config):
    services = config["services"]
    for name, orchestrator in (("triton-cpu", "orchestrator-triton-cpu"), ("triton-gpu", "orchestrator-gpu")):
        # gRPC on loopback only, where the orchestrators' triton.url points.
        assert ("127.0.0.1", 8001, 8001) in _ports(services[name]), name
        assert services[orchestrator]["depends_on"][name]["condition"] == "service_healthy"


def _loaded(service: dict) -> set[str]:
    command = service["command"]
    assert "--model-control-mode=explicit" in command
    return {arg.split("=", 1)[1] for arg in command if arg.startswith("--load-model=")}


def test_the_gpu_profile_serves_every_model_on_a_server_that_has_its_backend(config):
    """The TensorRT-LLM image has only the TensorRT-LLM and Python backends: the onnxruntime and TensorRT
    models are served by NVIDIA's general image of the same release, and a BLS model sits beside the
    model it calls."""
    sys.path.insert(0, str(ROOT / "export"))
    try:
        import triton_gpu
    finally:
        sys.path.pop(0)
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    services = config["services"]
    llm, media = services["triton-gpu"], services["triton-gpu-media"]
    assert _base_image(llm) == triton_gpu.LLM_IMAGE and _base_image(media) == triton_gpu.MEDIA_IMAGE
    assert _loaded(llm) == set(triton_gpu.LLM_SERVER) and _loaded(media) == set(triton_gpu.MEDIA_SERVER)
    configs = {p.parent.name: text_format.Parse(p.read_text(), mc.ModelConfig())
               for p in (ROOT / "model_repository/gpu").glob("*/config.pbtxt")}
    assert set(configs) == _loaded(llm) | _loaded(media)
    for name in _loaded(llm):
        assert configs[name].backend in ("python", "tensorrtllm"), name
    for name in _loaded(media):
        assert configs[name].backend in ("python", "onnxruntime", "") , name
        assert configs[name].backend != "tensorrtllm" and configs[name].platform in ("", "tensorrt_plan", "ensemble")
    calls = {"llm": "tensorrt_llm", "asr": "whisper_tensorrt_llm", "tts": "tts_voice"}
    for bls, engine in calls.items():
        assert configs[bls].parameters.get("engine_model", configs[bls].parameters.get("voice_model")).string_value \
            == engine
        assert (bls in _loaded(llm)) == (engine in _loaded(llm)), bls
    for service in (llm, media):
        assert service["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
        # models-init assembles the repository they serve in the models volume (tests/unit/test_gpu_repository.py).
        assert ("models", "/models", False) in _mounts(service) and "--model-repository=/models/triton-gpu" in \
            service["command"]
        # The servers' Python models read registry models: the volume is filled before they start.
        assert service["depends_on"]["models-init"]["condition"] == "service_completed_successfully"
    assert ("engines", "/engines", False) in _mounts(media)  # onnxruntime's TensorRT engine cache
    init = services["models-init"]
    assert "parley models fetch && python deploy/orchestrator/gpu_repository.py" in " ".join(init["entrypoint"])
    assert (f"{ROOT}/model_repository/gpu", "/repository", True) in _mounts(init)
    assert ("engines", "/engines", False) in _mounts(init)  # it makes the TensorRT cache folders
    assert ("127.0.0.1", 8011, 8011) in _ports(media) and "--grpc-port=8011" in media["command"]
    assert "8010/v2/health/ready" in " ".join(media["healthcheck"]["test"])
    orchestrator = services["orchestrator-gpu"]
    assert {k for k, v in orchestrator["depends_on"].items() if v["condition"] == "service_healthy"} == \
        {"triton-gpu", "triton-gpu-media"}


def test_the_gpu_stack_reaches_each_model_on_its_server_and_names_the_engines_llm(config):
    from parley.config import load_settings

    services = config["services"]
    stack_file = services["orchestrator-gpu"]["environment"]["PARLEY_STACK"]
    assert stack_file == "configs/triton-gpu.yaml"
    assert services["models-init"]["environment"]["PARLEY_CONFIG"] == stack_file
    settings = load_settings(ROOT / stack_file)
    stack = settings.stack
    assert {stack.llm.engine, stack.tts.engine, stack.asr.engine} == {"triton"}
    media_port = "8011"
    assert stack.triton.url.endswith(":8001")
    media = {m: u.rsplit(":", 1)[1] for m, u in stack.triton.model_urls.items()}
    assert media == {"tts": media_port, "lipsync": media_port, "musetalk": media_port}
    # The orchestrator builds chat prompts with the model's template and counts tokens with its
    # tokenizer: the stack's LLM must be the one the engine is built from (docs/deploy.md's command).
    assert settings.registry.get(stack.llm.model, "llm").prompt_style == "chat"
    built = re.search(r"build_llm\.sh /src/(\S+) /engines/llm", (ROOT / "docs/deploy.md").read_text()).group(1)
    assert built.lower() == stack.llm.model
    # A 1.5B LLM is not run on the orchestrator's CPU when Triton is away.
    assert "llm" not in stack.triton.fallback


def test_volumes_keep_their_names_whatever_the_checkout_folder(config):
    assert {v["name"] for v in config["volumes"].values()} == {"parley-models", "parley-engines", "parley-tls",
                                                               "parley-hls"}


def test_media_servers_mount_the_repositorys_configs(config):
    janus, nginx = config["services"]["janus"], config["services"]["nginx-rtmp"]
    assert (f"{ROOT}/deploy/janus", "/etc/janus", True) in _mounts(janus)
    assert (f"{ROOT}/deploy/nginx", "/etc/nginx/parley", True) in _mounts(nginx)


def test_build_targets_exist_in_the_dockerfile(config):
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE | re.IGNORECASE))
    targets = {s["build"]["target"] for s in config["services"].values() if "build" in s}
    assert targets <= stages, targets - stages
    for copied in re.findall(r"^COPY\s+(?!--from)(\S+)\s", (ROOT / "Dockerfile").read_text(), re.MULTILINE):
        assert (ROOT / copied).exists(), f"Dockerfile copies {copied}, which is missing"
    assert os.access(ROOT / "deploy/orchestrator/entrypoint.sh", os.X_OK)


def test_image_installs_what_setup_installs():
    """The image gets the extras scripts/setup installs for serving, Triton's client and server included."""
    dockerfile, setup = (ROOT / "Dockerfile").read_text(), (ROOT / "scripts/setup").read_text()
    image = set(re.search(r'pip install "\.\[([a-z,-]+)\]"', dockerfile).group(1).split(","))
    machine = set(re.search(r"^extras=([a-z,-]+)", setup, re.MULTILINE).group(1).split(","))
    assert "triton" in image
    assert image <= machine


def test_the_scale_profile_puts_two_orchestrators_behind_one_proxy(config):
    services = config["services"]
    a, b, proxy = services["orchestrator-a"], services["orchestrator-b"], services["proxy"]
    nodes = {}
    for service in (a, b):
        env = service["environment"]
        assert env["PARLEY_BEHIND_PROXY"] == "1" and service["depends_on"]["triton-cpu"]["condition"] == "service_healthy"
        nodes[env["PARLEY_NODE"]] = f"127.0.0.1:{env['PARLEY_PORT']}"
    assert sorted(nodes) == ["a", "b"] and len(set(nodes.values())) == 2
    env = proxy["environment"]
    # The proxy's template routes node a and b to the orchestrators' own loopback ports.
    assert {"a": env["PARLEY_NODE_A"], "b": env["PARLEY_NODE_B"]} == nodes
    assert proxy["command"] == ["/etc/parley-proxy/render"] and proxy["network_mode"] == "host"
    assert (f"{ROOT}/deploy/proxy", "/etc/parley-proxy", True) in _mounts(proxy)
    assert os.access(ROOT / "deploy/proxy/render", os.X_OK)
    template = (ROOT / "deploy/proxy/nginx.conf.template").read_text()
    assert "$cookie_parley_node" in template and "$arg_node" in template
