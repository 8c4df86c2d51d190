"""Thousands of malformed and hostile bodies: each gets a clear answer, nothing crashes, nothing is lost."""
import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from ingest.models import IngestBatch
from tests.otlp_builders import agent_trace, request
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
