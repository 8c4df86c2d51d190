"""The hostile run the export, import and report tests share: a rich, hostile agent run as an OTLP protobuf body, for the export, import and report tests.

Two resources and two scopes, four levels of nesting, LLM steps with reasoning, cached and
reasoning tokens, tool steps with JSON arguments and results, a failed tool with an
exception event, every AnyValue type (kvlist, array, bytes, double, NaN, big int), unicode,
an attribute no mapper knows, and script payloads in names, arguments and results.
"""
import json

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.otlp_builders import T0, any_value, new_span_id, new_trace_id, span

XSS_NAME = '<script>window.__pwned = "name"</script>'
XSS_ARG = '<img src=x onerror="window.__pwned=\'arg\'">'
XSS_RESULT = '</pre><script>window.__pwned = "result"</script><a href="https://evil.example/x">x</a>'
REASONING = "The user wants weather and a flight; call both tools. <b>not bold</b>"


def _event(s, name, ms, attrs):
    e = s.events.add(name=name, time_unix_nano=T0 + ms * 1_000_000)
    for k, v in attrs.items():
        e.attributes.append(KeyValue(key=k, value=any_value(v)))


def _messages(*messages):
    return json.dumps(list(messages))


def hostile_run(trace_id=None):
    """(trace_id, protobuf body)."""
    trace_id = trace_id or new_trace_id()
    root, plan, llm1, tool1, tool2, llm2, deep = (new_span_id() for _ in range(7))
    agent_spans = [
        span(trace_id, root, f"invoke_agent travel {XSS_NAME}", start_ms=0, dur_ms=2000, attrs={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "travel-bot",
            "gen_ai.conversation.id": "conv-7", "user.id": "ana@example.com", "tag.tags": ["incident", "prod"],
            "gen_ai.input.messages": _messages({"role": "user", "parts": [{"type": "text", "content": "Lisbon?"}]}),
        }),
        span(trace_id, plan, f"plan {XSS_NAME}", parent=root, start_ms=5, dur_ms=1900, attrs={
            "custom.unknown": {"nested": [1, 2.5, True, "ü"], "n": 2**62}, "custom.nan": float("nan"),
        }),
        span(trace_id, llm1, "chat claude-sonnet-4-5", parent=plan, start_ms=10, dur_ms=600, kind=3, attrs={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.usage.input_tokens": 2400, "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 1200, "gen_ai.usage.cache_creation.input_tokens": 600,
            "gen_ai.usage.reasoning.output_tokens": 120, "gen_ai.response.finish_reasons": ["tool_call"],
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "You plan trips."}]),
            "gen_ai.input.messages": _messages({"role": "user", "parts": [{"type": "text", "content": "Lisbon?"}]}),
            "gen_ai.output.messages": _messages({"role": "assistant", "finish_reason": "tool_call", "parts": [
                {"type": "reasoning", "content": REASONING},
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": XSS_ARG}},
                {"type": "tool_call", "id": "call_2", "name": "search_flights", "arguments": {"to": "LIS"}}]}),
            "gen_ai.tool.definitions": json.dumps([{"type": "function", "name": "get_weather"},
                                                   {"type": "function", "name": "search_flights"}]),
        }),
        span(trace_id, tool1, f"execute_tool get_weather {XSS_NAME}", parent=plan, start_ms=620, dur_ms=300,
             error="weather API timed out <script>alert(1)</script>", attrs={
                 "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
                 "gen_ai.tool.call.id": "call_1", "gen_ai.tool.call.arguments": json.dumps({"city": XSS_ARG}),
                 "error.type": "TimeoutError"}),
        span(trace_id, llm2, "chat claude-sonnet-4-5", parent=plan, start_ms=1300, dur_ms=500, kind=3, attrs={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.usage.input_tokens": 3100,
            "gen_ai.usage.output_tokens": 90,
            "gen_ai.output.messages": _messages({"role": "assistant", "parts": [
                {"type": "text", "content": "Sunny, 27°C; flight TP 571 at 195 EUR."}]}),
        }),
    ]
    _event(agent_spans[3], "exception", 900, {"exception.type": "TimeoutError",
                                               "exception.message": "weather API timed out",
                                               "exception.stacktrace": "Traceback (most recent call last):\n  <script>"})
    tool_spans = [  # another service (the tool server) and scope
        span(trace_id, tool2, "execute_tool search_flights", parent=plan, start_ms=930, dur_ms=350, attrs={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search_flights",
            "gen_ai.tool.call.id": "call_2", "gen_ai.tool.call.arguments": json.dumps({"to": "LIS"}),
            "gen_ai.tool.call.result": json.dumps({"flight": "TP 571", "note": XSS_RESULT, "eur": 195.41}),
        }),
        span(trace_id, deep, "http GET flights", parent=tool2, start_ms=940, dur_ms=200, kind=3, attrs={
            "http.request.method": "GET", "url.full": "https://flights.example/search?to=LIS"}),
    ]
    agent_spans[1].attributes.append(KeyValue(key="custom.bytes", value=AnyValue(bytes_value=b"\x00\x01binary")))
    _event(tool_spans[1], "retry", 1000, {"attempt": 2})
    return trace_id, _request([("travel-bot", "sagatrace.sdk", agent_spans), ("flight-tools", "tools", tool_spans)])


def _request(groups) -> bytes:
    req = ExportTraceServiceRequest()
    for service, scope, spans in groups:
        rs = req.resource_spans.add()
        for k, v in (("service.name", service), ("deployment.environment.name", "prod")):
            rs.resource.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
        ss = rs.scope_spans.add()
        ss.scope.name, ss.scope.version = scope, "1.2.3"
        ss.spans.extend(spans)
    return req.SerializeToString()



def ingest(project, body, capture):
    """Through the one ingest path, indexing on commit as in production."""
    from ingest.intake import accept

    with capture(execute=True):
        outcome = accept(project, body, encoding="protobuf")
    assert outcome.status == 200, outcome.message


def test_the_hostile_run_indexes_as_the_export_tests_expect(project, django_capture_on_commit_callbacks):
    from tracing.models import Run, Step

    trace_id, body = hostile_run()
    ingest(project, body, django_capture_on_commit_callbacks)
    run = Run.objects.get(project=project, trace_id=trace_id)
    assert (run.status, run.agent, run.steps, run.llm_calls, run.tool_calls, run.errors) == ("ok", "travel-bot", 7, 2, 2, 1)
    assert run.cost_usd is not None and run.cache_read_tokens == 1200 and run.reasoning_tokens == 120
    steps = {s.name: s for s in Step.objects.filter(trace_id=trace_id)}
    assert steps["chat claude-sonnet-4-5"].kind == "llm"
    assert {s.service_name for s in steps.values()} == {"travel-bot", "flight-tools"}
    assert Step.objects.filter(trace_id=trace_id, kind="llm", reasoning=REASONING).count() == 1
    assert steps[f"plan {XSS_NAME}"].attributes["custom.unknown"]["n"] == 2**62
    assert steps[f"plan {XSS_NAME}"].received()["attributes"]["custom.bytes"] == {"__bytes_b64__": "AAFiaW5hcnk="}
