"""POST /v1/traces: what exporters see (status codes, messages, partial success) and what is stored."""
import base64
import gzip

import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ingest.models import IngestBatch
from tests.otlp_builders import agent_trace, gz, new_span_id, request, span, to_json
from tracing.models import ApiKey, Run, Step

PB = "application/x-protobuf"
pytestmark = pytest.mark.django_db(transaction=True)


def post(client, body, key, content_type=PB, path="/v1/traces", **headers):
    return client.post(path, data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}", **headers)


def test_protobuf_request_is_stored_and_indexed(client, api_key):
    trace_id, spans = agent_trace()
    response = post(client, request(spans), api_key)
    assert response.status_code == 200
    assert response["Content-Type"] == PB
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    batch = IngestBatch.objects.get()
    assert (batch.status, batch.span_count) == (IngestBatch.INDEXED, 3)
    assert Step.objects.filter(trace_id=trace_id).count() == 3
    assert Run.objects.get(trace_id=trace_id).steps == 3


@pytest.mark.parametrize("encoding", ["protobuf", "json", "gzip"])
def test_the_stored_body_is_compressed_and_gives_back_the_request(client, api_key, encoding):
    """Intake stores the body zstd-compressed (an agent's request repeats its conversation); the
    worker reads back exactly what was sent (after any gzip)."""
    trace_id, spans = agent_trace()
    for s in spans:  # text an agent's steps repeat (the conversation so far), which makes it compress
        s.attributes.add(key="app.transcript").value.string_value = "hello, agent " * 400
    body = to_json(request(spans)) if encoding == "json" else request(spans)
    sent, headers = (gz(body), {"HTTP_CONTENT_ENCODING": "gzip"}) if encoding == "gzip" else (body, {})
    response = post(client, sent, api_key, content_type="application/json" if encoding == "json" else PB, **headers)
    assert response.status_code == 200, response.content
    batch = IngestBatch.objects.get()
    assert (batch.compression, batch.body_bytes) == ("zstd", len(body))
    assert len(bytes(batch.body)) < len(body) / 4
    assert batch.payload() == body
    assert batch.encoding == ("json" if encoding == "json" else "protobuf")
    assert Run.objects.get(trace_id=trace_id).steps == 3


def test_otlp_json_request_is_accepted(client, api_key):
    trace_id, spans = agent_trace()
    response = post(client, to_json(request(spans)), api_key, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json() == {}
    run = Run.objects.get(trace_id=trace_id)
    assert (run.steps, run.input_tokens, run.output_tokens) == (3, 1000, 100)


def test_gzip_body_is_accepted(client, api_key):
    trace_id, spans = agent_trace()
    response = post(client, gz(request(spans)), api_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert Run.objects.filter(trace_id=trace_id).exists()


def test_langfuse_path_accepts_basic_auth_with_key_as_password(client, api_key):
    trace_id, spans = agent_trace()
    basic = base64.b64encode(f"pk-lf-anything:{api_key}".encode()).decode()
    response = client.post("/api/public/otel/v1/traces", data=request(spans), content_type=PB,
                           HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200
    assert Run.objects.filter(trace_id=trace_id).exists()


def test_x_api_key_header_is_accepted(client, api_key):
    _, spans = agent_trace()
    response = client.post("/v1/traces", data=request(spans), content_type=PB, HTTP_X_API_KEY=api_key)
    assert response.status_code == 200


def test_missing_key_is_401_with_a_message(client, db):
    response = client.post("/v1/traces", data=request(agent_trace()[1]), content_type=PB)
    assert response.status_code == 401
    assert "API key" in status_pb2.Status.FromString(response.content).message


def test_revoked_key_is_401(client, project, api_key):
    ApiKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert post(client, request(agent_trace()[1]), api_key).status_code == 401


def test_read_only_key_may_not_ingest(client, project):
    _, raw = ApiKey.issue(project, scopes=[ApiKey.READ])
    response = post(client, request(agent_trace()[1]), raw)
    assert response.status_code == 403
    assert IngestBatch.objects.count() == 0


def test_unsupported_content_type_is_415(client, api_key):
    response = post(client, b"hello", api_key, content_type="text/plain")
    assert response.status_code == 415
    assert "application/x-protobuf" in response.json()["message"]


def test_unsupported_content_encoding_is_415(client, api_key):
    response = post(client, request(agent_trace()[1]), api_key, HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415


def test_malformed_protobuf_is_400_saying_why(client, api_key):
    response = post(client, b"\x0a\xff\xff\xff\xff", api_key)
    assert response.status_code == 400
    assert "protobuf" in status_pb2.Status.FromString(response.content).message
    assert IngestBatch.objects.count() == 0


def test_malformed_json_is_400_saying_why(client, api_key):
    response = post(client, b'{"resourceSpans": 5}', api_key, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"] == "resourceSpans must be an array"


def test_corrupt_gzip_is_400(client, api_key):
    response = post(client, b"\x1f\x8b\x08\x00garbage", api_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert "gzip" in status_pb2.Status.FromString(response.content).message


def test_gzip_bomb_is_stopped_with_413(client, api_key, settings):
    settings.SAGATRACE_MAX_DECOMPRESSED_BYTES = 1_000_000
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 KB on the wire
    response = post(client, bomb, api_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert IngestBatch.objects.count() == 0


def test_body_over_the_limit_is_413(client, api_key, settings):
    settings.SAGATRACE_MAX_BODY_BYTES = 100
    response = post(client, request(agent_trace()[1]), api_key)
    assert response.status_code == 413


def test_too_many_spans_is_413(client, api_key, settings):
    settings.SAGATRACE_MAX_SPANS_PER_REQUEST = 2
    response = post(client, request(agent_trace()[1]), api_key)
    assert response.status_code == 413
    assert "3 spans" in status_pb2.Status.FromString(response.content).message


def test_spans_with_bad_ids_are_rejected_and_the_rest_kept(client, api_key):
    trace_id, spans = agent_trace()
    bad = span(trace_id, new_span_id(), "bad")
    bad.span_id = b"\0" * 8
    response = post(client, request(spans + [bad]), api_key)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "all-zero spanId" in partial.error_message
    assert Step.objects.filter(trace_id=trace_id).count() == 3


def test_partial_success_in_json(client, api_key):
    trace_id, spans = agent_trace()
    bad = span(trace_id, new_span_id(), "bad")
    bad.trace_id = b"\x01\x02"
    response = post(client, to_json(request(spans + [bad])), api_key, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"


def test_request_of_only_invalid_spans_is_400(client, api_key):
    trace_id, _ = agent_trace()
    bad = span(trace_id, new_span_id(), "bad")
    bad.span_id = b"\0" * 8
    response = post(client, request([bad]), api_key)
    assert response.status_code == 400


def test_oversized_attribute_is_truncated_with_a_marker(client, api_key, settings):
    settings.SAGATRACE_MAX_ATTRIBUTE_BYTES = 1000
    trace_id, spans = agent_trace()
    spans[1].attributes.add(key="huge", value={"string_value": "x" * 5000})
    assert post(client, request(spans), api_key).status_code == 200
    step = Step.objects.get(trace_id=trace_id, kind="tool")
    value = step.received()["attributes"]["huge"]
    assert value.startswith("x" * 1000) and "truncated by sagatrace: 4000 of 5000 bytes" in value


def test_backlog_over_bound_is_503_with_retry_after(client, api_key, settings, project):
    settings.SAGATRACE_MAX_PENDING_BATCHES = 1
    IngestBatch.objects.create(project=project, encoding="protobuf", body=b"")  # a pending batch
    response = post(client, request(agent_trace()[1]), api_key)
    assert response.status_code == 503
    assert response["Retry-After"] == str(settings.SAGATRACE_RETRY_AFTER_SECONDS)


def test_get_is_405(client, api_key):
    assert client.get("/v1/traces").status_code == 405
