"""The conformance corpus again, this time through OTLP/gRPC and the real
opentelemetry-exporter-otlp-proto-grpc exporter: each captured payload is turned back into the SDK's
ReadableSpans and exported, and must ingest to the same ground truth as over HTTP."""
import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from tests.ingest.test_conformance_corpus import CORPUS, FIXTURES, IDS, check_ground_truth, load

pytestmark = pytest.mark.django_db(transaction=True)


def value(v):
    which = v.WhichOneof("value")
    if which == "array_value":
        return tuple(value(x) for x in v.array_value.values)
    if which in ("kvlist_value", "bytes_value"):
        raise AssertionError("the Python SDK cannot carry map or bytes attributes; the corpus has none")
    return getattr(v, which) if which else None


def attrs(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def readable_spans(body: bytes):
    request = ExportTraceServiceRequest.FromString(body)
    for rs in request.resource_spans:
        resource = Resource(attrs(rs.resource.attributes), rs.schema_url)
        for ss in rs.scope_spans:
            scope = InstrumentationScope(ss.scope.name, ss.scope.version or None)
            for s in ss.spans:
                trace_id = int.from_bytes(s.trace_id, "big")
                context = SpanContext(trace_id, int.from_bytes(s.span_id, "big"), False, TraceFlags(1))
                parent = (SpanContext(trace_id, int.from_bytes(s.parent_span_id, "big"), False, TraceFlags(1))
                          if s.parent_span_id else None)
                code = StatusCode(s.status.code)
                yield ReadableSpan(
                    name=s.name, context=context, parent=parent, resource=resource, attributes=attrs(s.attributes),
                    events=[Event(e.name, attrs(e.attributes), e.time_unix_nano) for e in s.events],
                    kind=SpanKind(s.kind - 1 if s.kind else 0),  # the SDK's enum starts at INTERNAL = 0
                    status=Status(code, s.status.message if code == StatusCode.ERROR else None),
                    start_time=s.start_time_unix_nano, end_time=s.end_time_unix_nano, instrumentation_scope=scope,
                )


@pytest.mark.parametrize("path", CORPUS, ids=IDS)
def test_fixture_over_grpc_ingests_to_its_ground_truth(grpc_endpoint, api_key, path):
    expected = load(path)
    exporter = OTLPSpanExporter(endpoint=grpc_endpoint, insecure=True, headers=(("authorization", f"Bearer {api_key}"),),
                                compression=grpc.Compression.Gzip, timeout=10)
    for req in expected["requests"]:
        spans = list(readable_spans((FIXTURES / req["file"]).read_bytes()))
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    check_ground_truth(expected)
