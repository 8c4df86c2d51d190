"""Plain-function builders of OTLP request bodies for tests (protobuf and OTLP/JSON)."""
import gzip
import json
import os

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

T0 = 1_760_000_000_000_000_000  # a fixed start time, ns


def new_trace_id():
    return os.urandom(16).hex()


def new_span_id():
    return os.urandom(8).hex()


def any_value(value):
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        v = AnyValue()
        v.array_value.values.extend(any_value(x) for x in value)
        return v
    if isinstance(value, dict):
        v = AnyValue()
        v.kvlist_value.values.extend(KeyValue(key=k, value=any_value(x)) for k, x in value.items())
        return v
    return AnyValue(string_value=str(value))


def span(trace_id, span_id, name, parent=None, start_ms=0, dur_ms=100, attrs=None, error=None, kind=1):
    s = Span(trace_id=bytes.fromhex(trace_id), span_id=bytes.fromhex(span_id), name=name, kind=kind,
             start_time_unix_nano=T0 + start_ms * 1_000_000, end_time_unix_nano=T0 + (start_ms + dur_ms) * 1_000_000)
    if parent:
        s.parent_span_id = bytes.fromhex(parent)
    for k, v in (attrs or {}).items():
        s.attributes.append(KeyValue(key=k, value=any_value(v)))
    if error:
        s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error))
    return s


def request(spans, service="test-agent"):
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    ss.spans.extend(spans)
    return req.SerializeToString()


def agent_trace(trace_id=None, *, model="gpt-4o", input_tokens=1000, output_tokens=100, with_root=True):
    """root agent → llm → tool. Returns (trace_id, [spans])."""
    trace_id = trace_id or new_trace_id()
    root, llm, tool = new_span_id(), new_span_id(), new_span_id()
    spans = [
        span(trace_id, llm, f"chat {model}", parent=root, start_ms=10, dur_ms=500, kind=3, attrs={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens}),
        span(trace_id, tool, "execute_tool search", parent=root, start_ms=520, dur_ms=50, attrs={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
            "gen_ai.tool.call.arguments": json.dumps({"q": "weather"}), "gen_ai.tool.call.result": "sunny"}),
    ]
    if with_root:
        spans.append(span(trace_id, root, "invoke_agent helper", start_ms=0, dur_ms=600, attrs={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"}))
    return trace_id, spans


def to_json(body: bytes) -> bytes:
    """Protobuf body → OTLP/JSON (hex ids, camelCase, int64 as strings), as exporters send it."""
    from google.protobuf.json_format import MessageToDict

    req = ExportTraceServiceRequest.FromString(body)
    data = MessageToDict(req)  # base64 ids; OTLP/JSON wants hex
    for rs, prs in zip(data.get("resourceSpans", []), req.resource_spans):
        for ss, pss in zip(rs.get("scopeSpans", []), prs.scope_spans):
            for s, ps in zip(ss.get("spans", []), pss.spans):
                s["traceId"], s["spanId"] = ps.trace_id.hex(), ps.span_id.hex()
                if ps.parent_span_id:
                    s["parentSpanId"] = ps.parent_span_id.hex()
    return json.dumps(data).encode()


def gz(body: bytes) -> bytes:
    return gzip.compress(body)
