"""examples/agent_loop.py: the trace one run produces, and the CLI sending to a server."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tests.sdk.otlp_receiver import decode, resource_attrs, running_collector, spans_of
from tracing import sdk

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))  # the examples are scripts, not a package

import agent_loop  # noqa: E402
import fake_llm  # noqa: E402

REQUEST = "I'm flying from Berlin to Lisbon on 2026-06-12. What will the weather be like?"


@pytest.fixture
def one_run():
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    sdk.use_provider(provider)
    try:
        trace_id, answer = agent_loop.run_agent(REQUEST, fake_llm.FakeLLM(), "alice-chat", "alice")
    finally:
        sdk.use_provider(None)
    spans = sorted(memory.get_finished_spans(), key=lambda s: s.start_time)
    return trace_id, answer, spans


def test_one_run_is_one_trace_with_three_model_turns_and_four_tool_calls(one_run):
    trace_id, answer, spans = one_run
    assert [s.name for s in spans] == [
        "invoke_agent travel-assistant",
        "chat claude-sonnet-4-5", "execute_tool get_weather", "execute_tool search_flights",
        "chat claude-sonnet-4-5", "execute_tool get_weather", "execute_tool convert_currency",
        "chat claude-sonnet-4-5", "format_answer",
    ]
    root = spans[0]
    assert {format(s.context.trace_id, "032x") for s in spans} == {trace_id}
    assert all(s.parent.span_id == root.context.span_id for s in spans[1:])
    assert all(s.attributes["session.id"] == "alice-chat" and s.attributes["user.id"] == "alice"
               for s in spans)
    assert answer == "Lisbon on 2026-06-12: sunny, 27°C. The cheapest flight from Berlin is TP 571 at 195.41 EUR."
    assert json.loads(root.attributes["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": answer}]
    assert root.attributes["tag.tags"] == ("example", "travel")


def test_usage_is_the_fake_models_fixed_table(one_run):
    llm_spans = [s for s in one_run[2] if s.name.startswith("chat ")]
    recorded = [
        fake_llm.Usage(
            input_tokens=s.attributes["gen_ai.usage.input_tokens"],
            output_tokens=s.attributes["gen_ai.usage.output_tokens"],
            cache_read_tokens=s.attributes["gen_ai.usage.cache_read.input_tokens"],
            cache_write_tokens=s.attributes["gen_ai.usage.cache_creation.input_tokens"],
            reasoning_tokens=s.attributes["gen_ai.usage.reasoning.output_tokens"])
        for s in llm_spans]
    assert recorded == list(fake_llm.USAGE_BY_TURN)
    for span in llm_spans:
        assert span.attributes["gen_ai.provider.name"] == "anthropic"
        assert span.attributes["gen_ai.response.model"] == fake_llm.RESPONSE_MODEL
        output = json.loads(span.attributes["gen_ai.output.messages"])
        assert output[0]["parts"][0]["type"] == "reasoning"
        assert [d["name"] for d in json.loads(span.attributes["gen_ai.tool.definitions"])] == [
            "get_weather", "search_flights", "convert_currency"]
    assert [s.attributes["gen_ai.response.finish_reasons"] for s in llm_spans] == [
        ("tool_call",), ("tool_call",), ("stop",)]


def test_every_tool_step_links_to_the_call_the_model_asked_for(one_run):
    spans = one_run[2]
    requested = {}
    for span in spans:
        if span.name.startswith("chat "):
            for part in json.loads(span.attributes["gen_ai.output.messages"])[0]["parts"]:
                if part["type"] == "tool_call":
                    requested[part["id"]] = part
    tools = [s for s in spans if s.name.startswith("execute_tool ")]
    assert len(tools) == len(requested) == 4
    for span in tools:
        call = requested[span.attributes["gen_ai.tool.call.id"]]
        assert call["name"] == span.attributes["gen_ai.tool.name"]
        assert call["arguments"] == json.loads(span.attributes["gen_ai.tool.call.arguments"])


def test_the_weather_tool_fails_once_and_the_model_sees_the_error(one_run):
    spans = one_run[2]
    failed, retried = [s for s in spans if s.name == "execute_tool get_weather"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "TimeoutError"
    assert "gen_ai.tool.call.result" not in failed.attributes
    assert retried.status.status_code is StatusCode.UNSET
    assert json.loads(retried.attributes["gen_ai.tool.call.result"])["conditions"] == "sunny"
    second_turn = [s for s in spans if s.name.startswith("chat ")][1]
    responses = [p for m in json.loads(second_turn.attributes["gen_ai.input.messages"])
                 for p in m["parts"] if p["type"] == "tool_call_response"]
    assert responses[0] == {"type": "tool_call_response", "id": failed.attributes["gen_ai.tool.call.id"],
                            "response": "error: TimeoutError: weather service did not answer within 5s"}
    # Only the failing tool span is an error: the run itself recovered.
    assert [s.name for s in spans if s.status.status_code is StatusCode.ERROR] == ["execute_tool get_weather"]


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "examples" / "agent_loop.py"), *args],
                          capture_output=True, text=True, timeout=60, cwd="/")


def test_cli_sends_each_run_to_the_server():
    with running_collector() as collector:
        result = run_cli("--endpoint", collector.url, "--api-key", "st_example", "--runs", "2")
        requests = collector.all_requests()
    assert result.returncode == 0, result.stderr
    trace_ids = re.findall(r"^([0-9a-f]{32})  ", result.stdout, re.M)
    assert len(trace_ids) == 2
    assert requests and all(r["path"] == "/v1/traces" for r in requests)
    assert all(r["headers"]["authorization"] == "Bearer st_example" for r in requests)
    spans = [s for r in requests for s in spans_of(decode(r))]
    assert len(spans) == 2 * 9
    assert {s.trace_id.hex() for s in spans} == set(trace_ids)
    assert resource_attrs(decode(requests[0]))["service.name"] == "travel-assistant-example"


def test_cli_fails_when_the_server_rejects_the_key():
    with running_collector() as collector:
        collector.status = 401
        result = run_cli("--endpoint", collector.url, "--api-key", "wrong")
    assert result.returncode == 1
    assert "could not be sent" in result.stderr
