"""The dispatcher: mapper selection, precedence, errors, run context, and hostile input."""
import ast
import json
import logging
import math
import subprocess
import sys
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracing.conventions as conventions
from tracing.conventions import normalize, normalizer, precedence
from tracing.spans import STATUS_ERROR, SpanEvent, SpanRecord
from tracing.steps import KINDS, StepData


def span(attributes=None, *, name="work", events=(), status_code=0, status_message="", resource=None, scope=""):
    return SpanRecord(
        trace_id="5b8efff798038103d269b633813fc60c", span_id="eee19b7ec3c1b174", parent_span_id=None,
        name=name, kind=1, start_ns=1, end_ns=2, status_code=status_code, status_message=status_message,
        attributes=dict(attributes or {}), events=list(events), resource=resource or {}, scope_name=scope,
    )


def test_a_span_without_attributes_is_an_other_step_named_after_the_span():
    step = normalize(span(name="handle_request"))

    assert step == StepData(kind="other", name="handle_request")


def test_attributes_no_mapper_understands_are_kept_verbatim():
    step = normalize(span({"http.route": "/chat", "app.retry": 2, "app.flags": ["a", "b"],
                           "gen_ai.request.model": "gpt-4o"}))

    assert step.unmapped == {"http.route": "/chat", "app.retry": 2, "app.flags": ["a", "b"]}


def test_a_model_with_usage_but_no_kind_signal_is_an_llm_step():
    step = normalize(span({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 3}))

    assert (step.kind, step.operation, step.convention) == ("llm", "chat", "genai")


def test_a_model_alone_is_not_enough_to_call_a_span_an_llm_call():
    assert normalize(span({"gen_ai.request.model": "gpt-4o"})).kind == "other"


def test_convention_names_the_mapper_whose_signal_decided_the_kind():
    both = span({"openinference.span.kind": "LLM", "gen_ai.operation.name": "chat"})
    assert normalize(both).convention == "openinference"
    assert normalize(span({"traceloop.span.kind": "tool"})).convention == "openllmetry"


def test_status_error_gives_the_error_flag_and_message():
    step = normalize(span(status_code=STATUS_ERROR, status_message="RateLimitError: 429"))

    assert (step.is_error, step.error_type, step.error_message) == (True, "", "RateLimitError: 429")


def test_an_exception_event_alone_marks_the_step_failed():
    event = SpanEvent("exception", 5, {"exception.type": "openai.RateLimitError", "exception.message": "slow down",
                                       "exception.stacktrace": "Traceback ...", "exception.escaped": "False"})
    step = normalize(span(events=[event]))

    assert (step.is_error, step.error_type, step.error_message) == (True, "openai.RateLimitError", "slow down")


def test_genai_operation_exception_events_are_read_like_exception_events():
    event = SpanEvent("gen_ai.client.operation.exception", 5, {"exception.type": "TimeoutError"})
    assert normalize(span(events=[event])).error_type == "TimeoutError"


def test_error_type_outranks_the_exception_class_and_status_message_the_exception_message():
    event = SpanEvent("exception", 5, {"exception.type": "httpx.HTTPStatusError", "exception.message": "500"})
    step = normalize(span({"error.type": "500"}, events=[event], status_code=STATUS_ERROR,
                          status_message="Server error"))

    assert (step.error_type, step.error_message) == ("500", "Server error")


def test_http_status_is_the_error_type_of_last_resort_and_only_on_failure():
    failed = normalize(span({"http.response.status_code": 503}, status_code=STATUS_ERROR))
    fine = normalize(span({"http.response.status_code": 200}))

    assert (failed.error_type, failed.unmapped) == ("503", {})
    assert (fine.is_error, fine.unmapped) == (False, {"http.response.status_code": 200})


def test_service_name_and_environment_come_from_the_resource():
    step = normalize(span(resource={"service.name": "billing-agent", "deployment.environment.name": "prod",
                                    "telemetry.sdk.language": "python"}))

    assert (step.service_name, step.environment) == ("billing-agent", "prod")


def test_a_span_level_deployment_environment_outranks_the_resource():
    step = normalize(span({"deployment.environment": "canary"}, resource={"deployment.environment": "prod"}))

    assert (step.environment, step.unmapped) == ("canary", {})


def test_a_failing_mapper_loses_only_its_own_findings(monkeypatch):
    def explode(span, attrs, out):
        attrs.take("openinference.span.kind")
        out.offer("kind", "openinference.span.kind", "tool")
        raise RuntimeError("bug")

    monkeypatch.setattr(conventions.openinference, "map_span", explode)
    step = normalize(span({"openinference.span.kind": "TOOL", "gen_ai.operation.name": "chat",
                           "gen_ai.request.model": "gpt-4o"}))

    assert (step.kind, step.model) == ("llm", "gpt-4o")
    assert step.unmapped == {"openinference.span.kind": "TOOL"}


def test_normalize_falls_back_to_an_other_step_when_assembly_fails(monkeypatch):
    def explode(*args):
        raise ValueError("bug")

    monkeypatch.setattr(normalizer, "assemble", explode)
    step = normalize(span({"a": b"\x00\xff"}, name="x", resource={"service.name": "svc"}))

    assert step == StepData(kind="other", name="x", service_name="svc", unmapped={"a": "AP8="})


HOSTILE_VALUES = [None, True, -1, 2**70, 1e308, math.nan, math.inf, "", "   ", "{", "[[[", "null", b"\xff\xfe",
                  [], {}, [None], [{"role": 5, "parts": "x"}], {"parts": [{"type": None}]}, [[[]]], "A" * 100_000,
                  {"messages": "no"}, [{"message": {"role": []}}], '{"choices": [{"message": 3}]}']
KEYS = ["gen_ai.operation.name", "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.usage.input_tokens",
        "gen_ai.system_instructions", "gen_ai.tool.definitions", "gen_ai.response.finish_reasons",
        "gen_ai.tool.call.arguments", "gen_ai.prompt", "llm.input_messages", "llm.input_messages.0.message.role",
        "llm.output_messages.0.message.contents.0.message_content.type", "llm.token_count.prompt",
        "llm.tools.0.tool.json_schema",
        "input.value", "output.value", "tool.parameters", "metadata", "tag.tags", "openinference.span.kind",
        "gen_ai.prompt.0.content", "gen_ai.completion.0.tool_calls.0.arguments", "traceloop.entity.input",
        "traceloop.span.kind", "langfuse.observation.usage_details", "langfuse.observation.cost_details",
        "langfuse.trace.tags", "langfuse.observation.type", "langfuse.observation.metadata", "ai.operationId",
        "ai.prompt.messages", "ai.response.toolCalls", "ai.usage.promptTokens", "ai.response.providerMetadata",
        "ai.prompt.tools", "pydantic_ai.all_messages", "events", "request_data", "response_data", "operation.cost",
        "gen_ai.aggregated_usage.input_tokens", "error.type", "session.id"]


@contextmanager
def no_mapper_failures():
    """A mapper that raises is survived (its findings dropped) but is a bug: odd input must not cause it."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("tracing.conventions")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == []


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=repr)
def test_normalize_never_raises_on_odd_values_and_returns_json_safe_data(value):
    with no_mapper_failures():
        _normalize_everywhere(value)


def _normalize_everywhere(value):
    for kind_signal in ({}, {"openinference.span.kind": "LLM"}, {"gen_ai.operation.name": "chat"},
                        {"langfuse.observation.type": "tool"}, {"ai.operationId": "ai.generateText.doGenerate"}):
        step = normalize(span({**{k: value for k in KEYS}, **kind_signal}, scope="pydantic-ai",
                              events=[SpanEvent("gen_ai.choice", 1, {"message": value, "index": value}),
                                      SpanEvent("exception", 2, {"exception.type": value})]))
        _assert_well_formed(step)


def _assert_well_formed(step):
    assert isinstance(step, StepData)
    assert step.kind in KINDS
    assert step.reported_cost is None or isinstance(step.reported_cost, Decimal)
    for field in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        assert getattr(step, field) is None or (type(getattr(step, field)) is int and getattr(step, field) >= 0)
    for field in ("name", "operation", "convention", "model", "request_model", "provider", "reasoning", "tool_name",
                  "tool_call_id", "session_id", "user_id", "agent_name", "service_name", "environment", "error_type",
                  "error_message"):
        assert isinstance(getattr(step, field), str), field
    assert all(isinstance(t, str) for t in step.tags)
    assert all(isinstance(r, str) for r in step.finish_reasons)
    data = step.as_dict()
    data.pop("reported_cost")
    json.dumps(data, allow_nan=False)  # what PostgreSQL jsonb accepts


def test_normalize_survives_a_record_with_wrong_field_types():
    record = SpanRecord("t", "s", None, None, 0, 0, 0, status_code="2", attributes=None, events=None, resource=None)

    step = normalize(record)

    assert (step.kind, step.name) == ("other", "")


def test_invalid_json_strings_are_kept_as_text():
    step = normalize(span({"openinference.span.kind": "CHAIN", "input.value": '{"not": json', "output.value": "[1, 2"}))

    assert (step.input, step.output) == ('{"not": json', "[1, 2")


def test_huge_values_are_kept_whole():
    text = "x" * 5_000_000
    step = normalize(span({"openinference.span.kind": "TOOL", "tool.name": "fetch", "output.value": text}))

    assert step.tool_result == text


def test_pathologically_nested_json_is_not_decoded():
    nested = "[" * 5000 + "]" * 5000
    step = normalize(span({"openinference.span.kind": "CHAIN", "input.value": nested,
                           "gen_ai.input.messages": nested}))

    assert step.input == nested
    assert step.unmapped == {"gen_ai.input.messages": nested}


def test_bytes_and_non_finite_floats_become_json_safe():
    step = normalize(span({"blob": b"\x01\x02", "score": math.nan, "nested": {"inf": math.inf}}))

    assert step.unmapped == {"blob": "AQI=", "score": "nan", "nested": {"inf": "inf"}}


def test_flattened_keys_with_huge_or_clashing_indexes_are_handled():
    step = normalize(span({
        "llm.input_messages.99999999.message.role": "user",
        "llm.input_messages.99999999.message.content": "late",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "first",
        "llm.input_messages.0.message.content.extra": "clash",
        "gen_ai.prompt.0": "scalar where a message should be",
        "openinference.span.kind": "LLM", "llm.model_name": "m",
    }))

    assert [m["parts"][0]["content"] for m in step.input] == ["first", "late"]
    assert "llm.input_messages.0.message.content.extra" in step.unmapped
    assert "gen_ai.prompt.0" in step.unmapped  # not a message: left as received


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
ATTRIBUTE_KEYS = st.sampled_from(KEYS) | st.text(max_size=30) | st.sampled_from([
    "gen_ai.prompt.1.role", "gen_ai.completion.0.role", "llm.output_messages.0.message.tool_calls.0.tool_call.id",
    "retrieval.documents.0.document.id", "langfuse.observation.metadata.x", "ai.telemetry.metadata.tags",
    "traceloop.association.properties.session_id", "ai.toolCall.args", "gen_ai.tool.name", "final_result"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attributes=st.dictionaries(ATTRIBUTE_KEYS, JSON_VALUES | st.text().map(json.dumps), max_size=12),
       event_name=st.sampled_from(["gen_ai.choice", "gen_ai.user.message", "exception", "db.query.result",
                                   "gen_ai.client.inference.operation.details", "gen_ai.content.prompt"]),
       event_attributes=st.dictionaries(ATTRIBUTE_KEYS, JSON_VALUES, max_size=4),
       scope=st.sampled_from(["", "ai", "pydantic-ai", "langfuse-sdk"]))
def test_normalize_is_total_on_arbitrary_attribute_maps(attributes, event_name, event_attributes, scope):
    with no_mapper_failures():
        step = normalize(span(attributes, events=[SpanEvent(event_name, 1, event_attributes)], scope=scope))

    _assert_well_formed(step)
    assert set(step.unmapped) <= {str(k) for k in attributes}


def _offered_sources():
    """(module, field, source) for every literal `out.offer(field, source, ...)` in the mappers."""
    names = {n: v for n, v in vars(precedence).items() if n.isupper() and isinstance(v, str)}
    for path in Path(conventions.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "offer" and len(node.args) >= 2:
                field, source = node.args[0], node.args[1]
                if isinstance(source, ast.Name):
                    source = ast.Constant(names.get(source.id))
                if isinstance(field, ast.Constant) and isinstance(source, ast.Constant) and source.value:
                    yield path.name, field.value, source.value


def test_every_offered_source_has_a_place_in_the_precedence_table():
    offered = list(_offered_sources())
    assert len(offered) > 100
    missing = [(m, f, s) for m, f, s in offered if f in precedence.SOURCES and s not in precedence.SOURCES[f]]
    assert missing == []


def test_the_package_imports_neither_django_nor_protobuf():
    code = ("import sys, tracing.conventions; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'google', 'opentelemetry'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


# jsonable's C fast path (_plain_copy) must give exactly what the walk gives, or step aside.
_leaf_values = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20)
                | st.binary(max_size=8) | st.decimals(allow_nan=False, places=3))
_values = st.recursive(
    _leaf_values,
    lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.frozensets(st.integers(), max_size=3)
                   | st.dictionaries(st.text(max_size=6) | st.integers(0, 9), inner, max_size=4)),
    max_leaves=20,
)


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@settings(max_examples=400, deadline=None)
@given(value=st.lists(_values, max_size=4) | st.dictionaries(st.text(max_size=6), _values, max_size=4))
def test_jsonable_fast_path_equals_the_walk(value):
    from tracing.conventions import _json

    if isinstance(value, dict):
        walked = {str(k): _json.jsonable(v, 1) for k, v in value.items()}
    else:
        walked = [_json.jsonable(v, 1) for v in value]
    assert _same(_json.jsonable(value), walked)
    copy = _json._plain_copy(value)
    assert copy is None or _same(copy, walked)


def test_jsonable_fast_path_steps_aside_for_deep_values():
    from tracing.conventions import _json

    deep: list = []
    for _ in range(_json.MAX_DEPTH + 5):
        deep = [deep]
    assert _json._plain_copy(deep) is None
    assert "[nested too deep]" in repr(_json.jsonable(deep))


def _too_deep_by_definition(value, depth=0):
    if depth > 64:
        return True
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return any(_too_deep_by_definition(v, depth + 1) for v in children)


def _nested(shape: list[int], leaf) -> object:
    value = leaf
    for kind in shape:
        value = [value] if kind == 0 else {"k": value} if kind == 1 else [1, value, "x"]
    return value


@settings(max_examples=200, deadline=None)
@given(shape=st.lists(st.integers(0, 2), min_size=60, max_size=70), leaf=st.sampled_from([[], {}, "s", 1, [[]]]))
def test_parse_json_refuses_exactly_what_nests_past_max_depth(shape, leaf):
    from tracing.conventions import _json

    assert _json.MAX_DEPTH == 64
    value = _nested(shape, leaf)
    text = json.dumps(value)
    assert (_json.parse_json(text) == text) is _too_deep_by_definition(value)


@given(st.dictionaries(st.text(alphabet="abgln._i", max_size=8), st.just("v"), max_size=12),
       st.lists(st.text(alphabet="abgln._i", max_size=4), min_size=1, max_size=3))
def test_has_prefix_finds_a_key_with_any_of_the_prefixes(attributes, prefixes):
    """Which mappers apply is decided by it: it must agree with looking at every key."""
    from tracing.conventions._attrs import Attrs

    assert Attrs(attributes).has_prefix(*prefixes) == any(k.startswith(tuple(prefixes)) for k in attributes)
