"""OTLP/gRPC through the real opentelemetry-exporter-otlp-proto-grpc exporter."""
import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export import SpanExportResult

from tracing.models import Run, Step

pytestmark = pytest.mark.django_db(transaction=True)


def make_tracer(endpoint, key):
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=(("authorization", f"Bearer {key}"),),
                                compression=grpc.Compression.Gzip, timeout=5)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_grpc_export_is_indexed(grpc_endpoint, api_key):
    provider, _ = make_tracer(grpc_endpoint, api_key)
    tracer = provider.get_tracer("grpc-test")
    with tracer.start_as_current_span("invoke_agent g") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 10,
                                "gen_ai.usage.output_tokens": 5})
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    run = Run.objects.get(trace_id=trace_id)
    assert (run.steps, run.llm_calls, run.input_tokens, run.output_tokens) == (2, 1, 10, 5)
    assert Step.objects.filter(trace_id=trace_id).count() == 2


def test_grpc_rejects_an_unknown_key(grpc_endpoint, db):
    provider, exporter = make_tracer(grpc_endpoint, "st_not-a-key")
    with provider.get_tracer("t").start_as_current_span("x") as span:
        pass
    result = exporter.export([span])
    assert result == SpanExportResult.FAILURE
    assert Run.objects.count() == 0
