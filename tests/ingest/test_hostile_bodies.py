"""Thousands of malformed and hostile bodies: each gets a clear answer, nothing crashes, nothing is lost."""
import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest.models import IngestBatch
from ingest.otlp import JSON as JSON_ENCODING, decode
from tests.otlp_builders import agent_trace, new_span_id, new_trace_id, request, span, to_json
from tracing.models import Run, Step

PB, JS = "application/x-protobuf", "application/json"
pytestmark = pytest.mark.django_db(transaction=True)

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(json_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=30)
otlp_keys = st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "attributes", "key", "value",
                             "stringValue", "intValue", "arrayValue", "kvlistValue", "values", "startTimeUnixNano", "scope", "status",
                             "resource", "events", "name", "code", "parentSpanId", "kind", "doubleValue", "boolValue"])
otlp_like = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(otlp_keys, c, max_size=4),
                         max_leaves=40)


VALID = request(agent_trace("ab" * 16)[1])  # fixed bytes, so hypothesis can replay its draws
VALID_GZ = gzip.compress(VALID, mtime=0)


def mutate(body: bytes, data) -> bytes:
    b = bytearray(body)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] = data.draw(st.integers(0, 255))
    return bytes(b)


@pytest.fixture
def existing_run(client, api_key):
    trace_id, spans = agent_trace()
    assert client.post("/v1/traces", data=request(spans), content_type=PB,
                       HTTP_AUTHORIZATION=f"Bearer {api_key}").status_code == 200
    return trace_id


def check(response):
    """Never a 5xx; a refusal always says why; an acceptance is a well-formed OTLP response."""
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert response.status_code in (400, 413, 415)
        payload = response.content
        assert len(payload) > 5


@hsettings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_and_mutated_bodies_get_clear_answers(client, api_key, existing_run, data):
    choice = data.draw(st.integers(0, 5))
    if choice == 0:
        body, ctype, enc = data.draw(st.binary(max_size=300)), PB, ""
    elif choice == 1:
        body, ctype, enc = mutate(VALID, data), PB, ""
    elif choice == 2:
        body, ctype, enc = json.dumps(data.draw(json_values)).encode(), JS, ""
    elif choice == 3:
        body, ctype, enc = json.dumps({"resourceSpans": data.draw(otlp_like)}).encode(), JS, ""
    elif choice == 4:
        body, ctype, enc = mutate(VALID_GZ, data), PB, "gzip"
    else:
        body, ctype, enc = data.draw(st.binary(max_size=200)), JS, data.draw(st.sampled_from(["", "gzip"]))
    headers = {"HTTP_CONTENT_ENCODING": enc} if enc else {}
    check(client.post("/v1/traces", data=body, content_type=ctype, HTTP_AUTHORIZATION=f"Bearer {api_key}", **headers))


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,                                   # nesting far past any parser's limit
    json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz" * 16, "spanId": "ab" * 8}]}]}]}).encode(),
    json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab" * 16, "spanId": "ab" * 8,
        "attributes": [{"key": "k", "value": {"intValue": "not a number"}}]}]}]}]}).encode(),
    b'{"resourceSpans": [null]}',
    "\"\udc00\"".encode("utf-8", "surrogatepass"),
])
def test_hostile_json_bodies_are_400(client, api_key, existing_run, body):
    response = client.post("/v1/traces", data=body, content_type=JS, HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 400, response.content
    assert response.json()["message"]


def test_earlier_data_survives_the_barrage(client, api_key, existing_run):
    before = (Run.objects.get(trace_id=existing_run).steps, Step.objects.filter(trace_id=existing_run).count())
    for i in range(200):
        client.post("/v1/traces", data=bytes([i % 256]) * (i + 1), content_type=PB, HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert (Run.objects.get(trace_id=existing_run).steps, Step.objects.filter(trace_id=existing_run).count()) == before
    assert not IngestBatch.objects.filter(status=IngestBatch.FAILED).exists()


# Values at the edges of what each column holds, under the keys the mappers read numbers and text from.
NUMERIC_KEYS = ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.cost",
                "llm.cost.total", "operation.cost", "llm.token_count.prompt", "llm.token_count.completion",
                "ai.usage.promptTokens", "langfuse.observation.cost_details", "langfuse.observation.usage_details",
                "gen_ai.aggregated_usage.input_tokens"]
TEXT_KEYS = ["gen_ai.operation.name", "gen_ai.request.model", "gen_ai.response.model", "gen_ai.provider.name",
             "gen_ai.agent.name", "gen_ai.tool.name", "session.id", "user.id", "langfuse.trace.tags", "error.type",
             "gen_ai.output.messages", "gen_ai.input.messages", "openinference.span.kind"]
edge_ints = st.one_of(st.integers(-2**63, 2**63 - 1), st.sampled_from([2**31, 2**53, 2**62, 2**63 - 1, -1, 10**10 + 1]))
edge_numbers = st.one_of(edge_ints, st.floats(allow_nan=True, allow_infinity=True),
                         st.sampled_from(["1e15", "1e400", "-0", "99999999999999999999999", "0.000000000000001",
                                          "12345678901.5", "NaN", "Infinity", "9" * 40]))
edge_text = st.one_of(st.text(max_size=30), st.sampled_from(["chat", "gpt-4o", "openai", "execute_tool", "LLM", "\x00",
                                                             "x" * 5000, json.dumps([{"role": "user", "content": "\x00"}])]),
                      json_values.map(json.dumps))
nanos = st.integers(0, 2**63 - 1)


@hsettings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(spans=st.lists(st.tuples(
    st.dictionaries(st.sampled_from(NUMERIC_KEYS), st.one_of(edge_numbers, st.lists(edge_ints, max_size=3),
                                                             st.dictionaries(st.sampled_from(["input", "output", "total"]),
                                                                             edge_numbers, max_size=3)), max_size=5),
    st.dictionaries(st.sampled_from(TEXT_KEYS), edge_text, max_size=5), nanos, nanos), min_size=1, max_size=6))
def test_whatever_accepted_spans_carry_their_batch_is_indexed(client, api_key, spans):
    """Nothing accepted is lost: a span's value that a column cannot hold (a cost past $10^10, tokens past a
    bigint, an end in 2262) must not fail its batch at every retry, so that its other spans are never indexed."""
    trace_id = new_trace_id()
    body = []
    for numbers, texts, start, end in spans:
        s = span(trace_id, new_span_id(), "step", kind=3, attrs={**texts, **numbers})
        s.start_time_unix_nano, s.end_time_unix_nano = start, end
        body.append(s)
    before = IngestBatch.objects.order_by("-id").values_list("id", flat=True).first() or 0
    response = client.post("/v1/traces", data=request(body), content_type=PB, HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 200, response.content[:300]
    assert list(IngestBatch.objects.filter(id__gt=before).values_list("status", "error")) == [(IngestBatch.INDEXED, "")]
    assert Step.objects.filter(trace_id=trace_id).count() == len(body)


NUL_ATTRIBUTES = [
    {"gen_ai.operation.name": "chat",
     "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "a\x00b"}]}])},
    {"gen_ai.operation.name": "chat", "gen_ai.input.messages": json.dumps([{"role": "user", "content": "a\x00b"}])},
    {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": json.dumps({"q\x00": "a\x00b"})},
    {"gen_ai.operation.name": "chat", "langfuse.observation.metadata": json.dumps({"k\x00": "a\x00b"})},
    {"openinference.span.kind": "LLM", "input.value": json.dumps({"question": "a\x00b"})},
]


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
@pytest.mark.parametrize("attrs", NUL_ATTRIBUTES)
def test_a_nul_character_anywhere_is_kept_as_u_fffd_and_the_batch_indexed(client, api_key, attrs, encoding):
    """PostgreSQL text and jsonb cannot hold NUL. Raw in an attribute the decoder showed it as U+FFFD;
    escaped in JSON text (an LLM echoing binary), in a scope or an event name, it reached the COPY and
    failed the batch at every retry."""
    trace_id = new_trace_id()
    s = span(trace_id, new_span_id(), "step", kind=3, attrs=attrs)
    s.events.append(Span.Event(name="tick\x00", time_unix_nano=s.start_time_unix_nano))
    message = ExportTraceServiceRequest.FromString(request([s]))
    message.resource_spans[0].scope_spans[0].scope.name = "scope\x00"
    body = message.SerializeToString()
    if encoding == "json":
        body = to_json(body)
        assert decode(body, JSON_ENCODING).spans[0].scope_name == "scope\ufffd"
    response = client.post("/v1/traces", data=body, content_type=JS if encoding == "json" else PB,
                           HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 200, response.content
    assert list(IngestBatch.objects.values_list("status", "error")) == [(IngestBatch.INDEXED, "")]
    step = Step.objects.get(trace_id=trace_id)
    stored = json.dumps([step.input, step.output, step.tool_arguments, step.metadata, step.raw], ensure_ascii=False)
    assert "a\ufffdb" in stored and "\x00" not in stored
    assert step.raw["scope"]["name"] == "scope\ufffd" and step.raw["events"][0]["name"] == "tick\ufffd"
