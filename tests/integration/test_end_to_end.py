"""The whole path, once, on real components: the OpenTelemetry SDK's own OTLP/HTTP exporter →
POST /v1/traces → IngestBatch → index_batch (a real Celery worker on Redis over PostgreSQL, or
in-process on SQLite) → Run and Steps → the runs page and the run page in Chromium."""
import json

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from tests.conftest import login
from tracing.models import Run, Step


def send_small_agent_trace(endpoint, api_key):
    """An agent that calls the model, runs one tool, calls the model again. Returns the trace id."""
    exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers={"Authorization": f"Bearer {api_key}"},
                                compression=Compression.Gzip)
    provider = TracerProvider(resource=Resource.create({"service.name": "e2e-agent"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("e2e")
    with tracer.start_as_current_span("invoke_agent weather-bot") as root:
        root.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather-bot",
                             "gen_ai.conversation.id": "conv-42", "user.id": "ana@example.com"})
        ctx = set_span_in_context(root)
        with tracer.start_as_current_span("chat gpt-4o", context=ctx, kind=SpanKind.CLIENT) as llm:
            llm.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 80,
                "gen_ai.usage.cache_read.input_tokens": 1024,
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                    {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]}]),
            })
        with tracer.start_as_current_span("execute_tool get_weather", context=ctx) as tool:
            tool.set_attributes({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
                                 "gen_ai.tool.call.id": "call_1", "gen_ai.tool.call.arguments": '{"city": "Paris"}',
                                 "gen_ai.tool.call.result": '{"forecast": "sunny"}'})
        with tracer.start_as_current_span("chat gpt-4o", context=ctx, kind=SpanKind.CLIENT) as llm:
            llm.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 1300, "gen_ai.usage.output_tokens": 40,
            })
        root.set_status(Status(StatusCode.OK))
        trace_id = format(root.get_span_context().trace_id, "032x")
    assert provider.force_flush(10_000)
    provider.shutdown()
    return trace_id


def test_sdk_trace_is_indexed_and_shown(pipeline, live_server, api_key, alice, page):
    trace_id = send_small_agent_trace(live_server.url, api_key)
    pipeline.wait_indexed()

    run = Run.objects.get(trace_id=trace_id)
    assert (run.status, run.agent, run.steps, run.llm_calls, run.tool_calls) == ("ok", "weather-bot", 4, 2, 1)
    assert (run.input_tokens, run.output_tokens, run.cache_read_tokens) == (2500, 120, 1024)
    assert run.session_id == "conv-42" and run.user_id == "ana@example.com"
    assert run.cost_usd is not None and run.cost_usd > 0
    root = Step.objects.get(trace_id=trace_id, parent_span_id="")
    children = Step.objects.filter(trace_id=trace_id).exclude(span_id=root.span_id)
    assert {c.parent_span_id for c in children} == {root.span_id}
    tool = children.get(kind="tool")
    assert (tool.tool_name, tool.tool_arguments, tool.tool_result) == ("get_weather", {"city": "Paris"}, {"forecast": "sunny"})

    login(page, live_server, "alice", "alice-password")
    page.goto(f"{live_server.url}/p/acme/runs/")
    row = page.locator(f"#run-{trace_id}")
    assert "weather-bot" in row.inner_text()
    assert "2,500" in row.inner_text() and "1,024" in row.inner_text()
    row.locator("a").first.click()
    page.wait_for_url(f"**/runs/{trace_id}/")
    assert page.locator("tr[data-span]").count() == 4
    assert page.locator(f"tr[data-span][data-parent='{root.span_id}']").count() == 3
    assert page.script_errors == []
