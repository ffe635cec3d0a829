"""The Grafana dashboard (deploy/grafana/parley.json) asks only for metrics that exist: every PromQL
expression parses, and each metric it names is one the server's own registry exports (with the labels
it matches on) or one Triton documents."""

import copy
import json
import re
from pathlib import Path

import pytest

from parley.core.events import TurnDone, TurnTimings
from parley.live.metrics import _STAGES, Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "parley.json"
# Triton's metrics as its documentation lists them (docs/user_guide/metrics.md of the releases the
# stack runs, 24.11 / 2.51): the request counts and durations per model, the GPU's and the CPU's.
TRITON = {
    "nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count", "nv_inference_exec_count",
    "nv_inference_pending_request_count", "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us", "nv_gpu_utilization", "nv_gpu_memory_total_bytes",
    "nv_gpu_memory_used_bytes", "nv_gpu_power_usage", "nv_gpu_power_limit", "nv_energy_consumption",
    "nv_cpu_utilization", "nv_cpu_memory_total_bytes", "nv_cpu_memory_used_bytes",
}
TARGET_LABELS = {"instance", "job"}  # added by Prometheus to every series it scrapes
FUNCTIONS = {"sum", "max", "min", "avg", "count", "topk", "bottomk", "quantile", "rate", "irate", "increase",
             "delta", "histogram_quantile", "clamp_min", "clamp_max", "abs", "round", "avg_over_time",
             "max_over_time", "min_over_time", "sum_over_time", "vector", "scalar", "time"}
MODIFIERS = {"by", "without", "on", "ignoring", "group_left", "group_right"}  # each takes a list of labels
KEYWORDS = {"and", "or", "unless", "bool", "offset"}
_TOKEN = re.compile(r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<range>\[[^\]]+\])|(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
                    |(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<op>==|!=|=~|!~|>=|<=|[-+*/%^<>(){},=]))""", re.X)


def tokens(expr: str) -> list[tuple[str, str]]:
    out, at = [], 0
    while at < len(expr.rstrip()):
        match = _TOKEN.match(expr, at)
        if match is None or match.end() == at:
            raise ValueError(f"cannot read {expr[at:]!r} in {expr!r}")
        out.append(next((kind, text) for kind, text in match.groupdict().items() if text is not None))
        at = match.end()
    return out


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """Each metric ``expr`` selects, with the label names it matches on; ``ValueError`` for what is not
    PromQL (an unknown function, unbalanced brackets, a stray character)."""
    found, depth, stream = [], 0, tokens(expr)
    i = 0
    while i < len(stream):
        kind, text = stream[i]
        following = stream[i + 1][1] if i + 1 < len(stream) else ""
        if kind == "name" and text in MODIFIERS and following == "(":
            close = next(j for j in range(i, len(stream)) if stream[j][1] == ")")
            if any(k != "name" and t != "," for k, t in stream[i + 2:close]):
                raise ValueError(f"{text} takes label names, in {expr!r}")
            i = close + 1
            continue
        if kind == "name" and (following == "(" or following in ("by", "without")):  # sum by (x) (...) too
            if text not in FUNCTIONS:
                raise ValueError(f"unknown function {text} in {expr!r}")
        elif kind == "name" and text not in KEYWORDS:
            labels = set()
            if following == "{":
                close = next(j for j in range(i, len(stream)) if stream[j][1] == "}")
                matchers = [t for k, t in stream[i + 2:close] if t != ","]
                if len(matchers) % 3 or any(op not in ("=", "!=", "=~", "!~") for op in matchers[1::3]):
                    raise ValueError(f"bad label matchers after {text} in {expr!r}")
                labels = set(matchers[0::3])
                i = close
            found.append((text, labels))
        depth += {"(": 1, ")": -1}.get(text, 0)
        if depth < 0:
            raise ValueError(f"unbalanced brackets in {expr!r}")
        i += 1
    if depth:
        raise ValueError(f"unbalanced brackets in {expr!r}")
    return found


def exported() -> dict[str, set[str]]:
    """Every series name the server's metrics registry exports, with its labels, from the real
    ``Metrics`` with each of its metrics observed once."""
    metrics = Metrics(lambda: {"sessions": 1, "max_sessions": 2, "draining": False, "refused": {"full": 1},
                               "frames_sent": 10, "frames_skipped": 1, "fallbacks": {"llm": 1}, "reports_failed": 0,
                               "recordings_failed": 0, "recording_dropped": 0})
    timings = TurnTimings(first_audio_ms=300.0, llm_first_token_ms=100.0,
                          extra={key: 100.0 for key in _STAGES.values()})
    metrics.turn_done(TurnDone("", "", timings, grounding="answered"))
    metrics.turn_failed()
    metrics.early_reply("used")
    metrics.ladder.labels("warp2d").inc()
    names: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def expressions(dashboard: dict) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def unknown(dashboard: dict) -> list[str]:
    known = exported()
    problems = []
    for expr in expressions(dashboard):
        for name, labels in selectors(expr.replace("$__rate_interval", "5m")):
            if name in TRITON:
                continue
            if name not in known:
                problems.append(f"{name} (in {expr})")
            elif missing := labels - known[name] - TARGET_LABELS:
                problems.append(f"{name} has no label {', '.join(sorted(missing))} (in {expr})")
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            problems += [f"{m} (in variable {variable['name']})"
                         for m in re.findall(r"label_values\((\w+)", variable["definition"]) if m not in known]
    return problems


def test_every_metric_the_dashboard_names_is_exported_by_the_server_or_triton():
    dashboard = json.loads(DASHBOARD.read_text())
    assert len(expressions(dashboard)) >= 20
    assert unknown(dashboard) == []


def test_the_dashboard_covers_what_an_operator_watches():
    named = {name for expr in expressions(json.loads(DASHBOARD.read_text()))
             for name, _ in selectors(expr.replace("$__rate_interval", "5m"))}
    assert {"parley_sessions", "parley_admissions_refused_total", "parley_stage_seconds_bucket",
            "parley_fallbacks_total", "parley_grounded_replies_total", "parley_video_frames_total",
            "parley_draining", "nv_inference_request_success"} <= named


def test_a_panel_naming_an_unknown_metric_or_label_fails_the_check():
    dashboard = json.loads(DASHBOARD.read_text())
    for expr, wrong in (('sum(rate(parley_calls_total[5m]))', "parley_calls_total"),
                        ('parley_stage_seconds_bucket{stage="asr", model="x"}', "no label model"),
                        ('nv_inference_request_succes', "nv_inference_request_succes")):
        broken = copy.deepcopy(dashboard)
        broken["panels"][1]["targets"][0]["expr"] = expr
        assert [p for p in unknown(broken) if wrong in p], expr


@pytest.mark.parametrize("bad", ["sum(rate(parley_turns_total[5m])", "parley_turns_total{outcome}",
                                 "sumx(parley_turns_total)", "parley_turns_total ; 1"])
def test_what_is_not_promql_is_refused(bad):
    with pytest.raises(ValueError):
        selectors(bad)
