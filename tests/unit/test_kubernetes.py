"""deploy/kubernetes: the Helm chart renders for every values file, every object is valid for the
Kubernetes API, and everything it names exists: Secrets, ConfigMaps, claims and Services, the server's
routes and metrics, Triton's metrics, the images and model sets of docker-compose.yml.

Offline, no cluster: Helm renders (`helm template`), kubernetes-validate checks each object against the
API's OpenAPI schemas it ships. `scripts/setup --test` installs both; in CI a missing tool fails.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
CHART = KUBE / "parley"
VALUES = {"default": [], "gpu": [KUBE / "values-gpu.yaml"], "cpu": [KUBE / "values-cpu.yaml"]}
RELEASE, NAMESPACE = "parley", "parley"
# The oldest Kubernetes the chart is meant for (autoscaling/v2 behavior, policy/v1, batch ttl).
KUBE_VERSION = "1.30.0"
# Triton's Prometheus metrics (docs/user_guide/metrics.md of triton-inference-server/server, r24.11).
TRITON_METRICS = {
    "nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
    "nv_inference_exec_count", "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us", "nv_inference_pending_request_count",
    "nv_gpu_utilization", "nv_gpu_memory_total_bytes", "nv_gpu_memory_used_bytes", "nv_gpu_power_usage",
}
# Not the chart's to make: the Ingress's certificate (cert-manager's or the operator's, docs/deploy.md).
EXTERNAL_SECRETS = {"parley-tls"}
# Custom resources kubernetes-validate has no schema for; test_service_monitors checks them here.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def _missing(what: str) -> None:
    message = f"{what} is not installed: run scripts/setup --test"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _helm() -> str:
    version = re.search(r"^HELM_VERSION=(\S+)", (ROOT / "scripts" / "setup").read_text(), re.M).group(1)
    cached = Path(os.environ.get("PARLEY_BUILD_CACHE", Path.home() / ".cache" / "parley-build"))
    for candidate in (os.environ.get("PARLEY_HELM"), cached / "tools" / f"helm-{version}" / "helm", shutil.which("helm")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    _missing(f"Helm {version}")


def render(helm: str, values: list[Path], *sets: str) -> list[dict]:
    args = [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        args += ["-f", str(path)]
    for item in sets:
        args += ["--set", item]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def helm() -> str:
    return _helm()


@pytest.fixture(scope="module", params=sorted(VALUES))
def rendered(request, helm) -> tuple[str, list[dict]]:
    return request.param, render(helm, VALUES[request.param])


def objects(docs: list[dict], kind: str) -> list[dict]:
    return [doc for doc in docs if doc["kind"] == kind]


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    return [(doc["metadata"]["name"], doc["spec"]["template"]["spec"])
            for doc in docs if doc["kind"] in ("Deployment", "Job")]


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def stack_overlay(docs: list[dict]) -> dict:
    return yaml.safe_load(by_name(docs, "ConfigMap", f"{RELEASE}-orchestrator")["data"]["stack.yaml"])


def by_name(docs: list[dict], kind: str, name: str) -> dict:
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert found, f"no {kind} {name}"
    return found[0]


# --- the API's schemas ----------------------------------------------------------------------------

def _kubernetes_validate():
    try:
        import kubernetes_validate
    except ImportError:
        _missing("kubernetes-validate")
    return kubernetes_validate


def test_every_object_is_valid_for_the_kubernetes_api(rendered):
    kv = _kubernetes_validate()
    _, docs = rendered
    errors = []
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kv.validate(doc, KUBE_VERSION, strict=True)
        except kv.ValidationError as error:
            errors.append(f"{doc['kind']} {doc['metadata']['name']}: {error.message}")
    assert not errors


def test_the_validator_rejects_what_the_api_would():
    kv = _kubernetes_validate()
    # A field misspelt and a probe on a port given as a list: both must be refused, or the test above
    # proves nothing.
    for bad in ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"selectr": {}}},
                {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"},
                 "spec": {"maxUnavailable": [1]}}):
        with pytest.raises(kv.ValidationError):
            kv.validate(bad, KUBE_VERSION, strict=True)


def test_only_known_custom_resources(rendered):
    _, docs = rendered
    builtin = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}
    assert {(d["apiVersion"], d["kind"]) for d in docs if d["apiVersion"] not in builtin} <= CUSTOM_KINDS


# --- what the objects name exists -----------------------------------------------------------------

def test_every_name_referenced_is_an_object_of_the_chart(rendered):
    _, docs = rendered
    names = {kind: {d["metadata"]["name"] for d in objects(docs, kind)}
             for kind in ("Secret", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment")}
    names["Secret"] |= EXTERNAL_SECRETS
    wanted = []
    for owner, spec in pod_specs(docs):
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                wanted.append(("ConfigMap", volume["configMap"]["name"], owner))
            if "persistentVolumeClaim" in volume:
                wanted.append(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"], owner))
        for container in containers(spec):
            mounted = {v["name"] for v in spec.get("volumes", [])}
            assert {m["name"] for m in container.get("volumeMounts", [])} <= mounted, owner
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    wanted.append(("Secret", ref["name"], owner))
    for ingress in objects(docs, "Ingress"):
        for tls in ingress["spec"]["tls"]:
            wanted.append(("Secret", tls["secretName"], "ingress"))
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                wanted.append(("Service", path["backend"]["service"]["name"], "ingress"))
    for hpa in objects(docs, "HorizontalPodAutoscaler"):
        wanted.append(("Deployment", hpa["spec"]["scaleTargetRef"]["name"], hpa["metadata"]["name"]))
    assert [w for w in wanted if w[1] not in names[w[0]]] == []


def test_every_selector_picks_pods(rendered):
    _, docs = rendered
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in objects(docs, "Deployment")]

    def picks(selector: dict) -> bool:
        return any(selector.items() <= labels.items() for labels in pod_labels)

    for doc in objects(docs, "Service"):
        assert picks(doc["spec"]["selector"]), doc["metadata"]["name"]
    for doc in objects(docs, "PodDisruptionBudget") + objects(docs, "NetworkPolicy"):
        selector = doc["spec"].get("selector") or doc["spec"]["podSelector"]
        assert picks(selector["matchLabels"]), doc["metadata"]["name"]
    for deployment in objects(docs, "Deployment"):
        assert deployment["spec"]["selector"]["matchLabels"].items() <= \
            deployment["spec"]["template"]["metadata"]["labels"].items()


def test_service_monitors_scrape_real_ports_with_the_operator_token(helm):
    docs = render(helm, VALUES["gpu"])
    services = objects(docs, "Service")
    monitors = objects(docs, "ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {f"{RELEASE}-orchestrator", f"{RELEASE}-triton"}
    for monitor in monitors:
        selector = monitor["spec"]["selector"]
        chosen = [s for s in services
                  if selector.get("matchLabels", {}).items() <= s["metadata"]["labels"].items()
                  and all(s["metadata"]["labels"].get(e["key"]) in e["values"]
                          for e in selector.get("matchExpressions", []))]
        assert chosen, monitor["metadata"]["name"]
        for endpoint in monitor["spec"]["endpoints"]:
            for service in chosen:
                assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    orchestrator = by_name(docs, "ServiceMonitor", f"{RELEASE}-orchestrator")["spec"]["endpoints"][0]
    assert orchestrator["path"] in app_routes()
    token = orchestrator["bearerTokenSecret"]
    assert token["key"] in by_name(docs, "Secret", token["name"])["data"]


# --- the server and Triton as they are ----------------------------------------------------------------

def app_routes() -> set[str]:
    source = (ROOT / "orchestrator" / "parley" / "live" / "app.py").read_text()
    return set(re.findall(r'router\.add_(?:get|post)\("([^"]+)"', source))


def server_metrics() -> set[str]:
    """The names live/metrics.py exports (prometheus_client's and the scrape-time families)."""
    tree = ast.parse((ROOT / "orchestrator" / "parley" / "live" / "metrics.py").read_text())
    kinds = {"Counter", "Histogram", "GaugeMetricFamily", "CounterMetricFamily"}
    return {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in kinds
            and node.args and isinstance(node.args[0], ast.Constant)}


def adapter_rules() -> list[dict]:
    return yaml.safe_load((KUBE / "prometheus-adapter-values.yaml").read_text())["rules"]["custom"]


def test_autoscaling_reads_only_metrics_that_are_exported(helm):
    served = server_metrics()
    assert {"parley_sessions", "parley_max_sessions", "parley_draining"} <= served  # the parse works
    used = set()
    for rule in adapter_rules():
        used |= set(re.findall(r"\b((?:parley|nv)_\w+)\b", rule["seriesQuery"] + rule["metricsQuery"]))
        assert rule["name"]["matches"].strip("^$") in rule["seriesQuery"]
    assert used, "no metric found in the adapter's rules"
    assert [m for m in used if m not in served | TRITON_METRICS] == []
    provided = {rule["name"]["as"] for rule in adapter_rules()}
    for values in ("gpu", "cpu"):
        hpas = objects(render(helm, VALUES[values]), "HorizontalPodAutoscaler")
        assert hpas
        for hpa in hpas:
            assert {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"]} <= provided


def test_probes_ask_the_servers_own_endpoints(rendered):
    _, docs = rendered
    routes = app_routes()
    for name, spec in pod_specs(docs):
        for container in spec["containers"]:
            probes = {kind: container[kind]["httpGet"]["path"]
                      for kind in ("readinessProbe", "livenessProbe", "startupProbe") if kind in container}
            if name.endswith("-orchestrator"):
                # Readiness fails while draining; liveness must not, or the calls are cut.
                assert probes["readinessProbe"] == "/readyz" and probes["livenessProbe"] == "/healthz"
                assert set(probes.values()) <= routes
            elif "-triton-" in name:
                assert probes["readinessProbe"] == probes["startupProbe"] == "/v2/health/ready"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_images_and_model_sets_are_docker_composes(rendered):
    _, docs = rendered
    services = compose()
    by_image = {service["image"]: service for service in services.values() if "image" in service}
    tag = yaml.safe_load((CHART / "values.yaml").read_text())["image"]["tag"]
    for name, spec in pod_specs(docs):
        for container in containers(spec):
            image, _, image_tag = container["image"].rpartition(":")
            image = image.rsplit("/", 1)[-1]
            assert image in by_image and image_tag == tag, (name, container["image"])
            if container["name"] == "triton":
                # The same server loads the same models as the gpu profile's.
                loads = [a for a in container["command"] if a.startswith("--load-model=")]
                assert loads == [a for a in by_image[image]["command"] if a.startswith("--load-model=")]


# --- the orchestrator's stack and draining --------------------------------------------------------------

def orchestrator_env(docs: list[dict]) -> dict[str, str | None]:
    deployment = by_name(docs, "Deployment", f"{RELEASE}-orchestrator")
    return {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


def served_stack(docs: list[dict], tmp_path: Path):
    """What the orchestrator's container serves: the overlay over its base stack, then the entrypoint's
    server settings."""
    sys.path.insert(0, str(CHART / "files"))
    sys.path.insert(0, str(ROOT / "deploy" / "orchestrator"))
    try:
        from container_config import container_stack
        from stack_overlay import overlay
    finally:
        del sys.path[:2]
    from parley.config.loader import load_settings

    env = orchestrator_env(docs)
    merged = overlay(ROOT / env["PARLEY_BASE_STACK"], stack_overlay(docs))
    written = container_stack(merged, tmp_path, "0.0.0.0", int(env["PARLEY_PORT"]),
                              tmp_path / "cert.pem", tmp_path / "key.pem")
    (tmp_path / "stack.yaml").write_text(yaml.safe_dump(written))
    return load_settings(tmp_path / "stack.yaml").stack


def test_the_served_stack_loads_and_reaches_tritons_services(rendered, tmp_path):
    values_name, docs = rendered
    stack = served_stack(docs, tmp_path)
    services = {d["metadata"]["name"]: {p["port"] for p in d["spec"]["ports"]} for d in objects(docs, "Service")}
    uses_triton = any(getattr(stack, stage).engine == "triton" for stage in ("llm", "tts", "asr"))
    assert uses_triton == (values_name != "cpu")
    if uses_triton:
        # The stages compose sends to the media server are the ones sent to its Service here.
        base = yaml.safe_load((ROOT / orchestrator_env(docs)["PARLEY_BASE_STACK"]).read_text())
        assert set(stack.triton.model_urls) == set(base["triton"]["model_urls"])
        for address in [stack.triton.url, *stack.triton.model_urls.values()]:
            host, port = address.rsplit(":", 1)
            assert int(port) in services.get(host, set()), address


def test_the_grace_period_outlasts_the_drain(rendered, tmp_path):
    _, docs = rendered
    drain_s = served_stack(docs, tmp_path).server.drain_s
    deployment = by_name(docs, "Deployment", f"{RELEASE}-orchestrator")
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > drain_s
    for hpa in objects(docs, "HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]:
            # One pod removed per grace period: the last one has drained before the next goes.
            policies = hpa["spec"]["behavior"]["scaleDown"]["policies"]
            assert all(p["type"] == "Pods" and p["value"] == 1 and p["periodSeconds"] >= grace for p in policies)


def test_a_longer_drain_lengthens_the_grace_period(helm, tmp_path):
    docs = render(helm, [], "orchestrator.stack.server.drain_s=3600")
    assert served_stack(docs, tmp_path).server.drain_s == 3600
    grace = by_name(docs, "Deployment", f"{RELEASE}-orchestrator")["spec"]["template"]["spec"]
    assert grace["terminationGracePeriodSeconds"] > 3600


def test_only_the_orchestrators_reach_triton(helm):
    docs = render(helm, [])
    policy = by_name(docs, "NetworkPolicy", f"{RELEASE}-triton")
    orchestrator_pods = by_name(docs, "Deployment", f"{RELEASE}-orchestrator")["spec"]["template"]["metadata"]["labels"]
    serving = [rule for rule in policy["spec"]["ingress"]
               if any(p["port"] in (8001, 8011) for p in rule["ports"])]
    assert len(serving) == 1
    for source in serving[0]["from"]:
        assert "podSelector" in source and source["podSelector"]["matchLabels"].items() <= orchestrator_pods.items() \
            or "ipBlock" in source  # hostNetwork: the orchestrators' nodes
    triton_pods = [d for d in objects(docs, "Deployment") if "-triton-" in d["metadata"]["name"]]
    assert triton_pods and all(policy["spec"]["podSelector"]["matchLabels"].items()
                               <= d["spec"]["template"]["metadata"]["labels"].items() for d in triton_pods)


# --- the router ---------------------------------------------------------------------------------------

def test_the_router_config_is_valid_nginx(helm, tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        _missing("nginx (Debian's nginx-light)")
    docs = render(helm, [])
    conf = by_name(docs, "ConfigMap", f"{RELEASE}-router")["data"]["nginx.conf"]
    # The Service's name resolves only in the cluster; nginx -t resolves it at load.
    conf = conf.replace(f"{RELEASE}-orchestrator.{NAMESPACE}.svc.cluster.local", "127.0.0.1")
    conf = conf.replace("/tmp/", f"{tmp_path}/")
    (tmp_path / "nginx.conf").write_text(conf)
    done = subprocess.run([nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "geo $parley_node" in conf and "$cookie_parley_node" in conf


def test_ant_media_takes_the_rtmp_push_and_serves_hls(helm, tmp_path):
    # docs/deploy.md's form: Ant Media Server Community Edition ingests RTMP (WHIP is Enterprise only).
    docs = render(helm, [], "orchestrator.stack.broadcast.rtmp.url=rtmp://ams.example.com:1935/LiveApp",
                  "orchestrator.stack.broadcast.rtmp.hls_url=https://ams.example.com:5443/LiveApp/streams")
    rtmp = served_stack(docs, tmp_path).broadcast.rtmp
    assert rtmp.url == "rtmp://ams.example.com:1935/LiveApp"
    assert rtmp.hls_url == "https://ams.example.com:5443/LiveApp/streams"
