"""The agent-side SDK: exact GenAI attributes per helper, context propagation, errors,
async, the OTLP/HTTP export set up by configure(), and independence from Django.

Run alone with: DJANGO_SETTINGS_MODULE= .venv/bin/python -m pytest tests/sdk -q -p no:django
"""
from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.sdk.otlp_receiver import decode, resource_attrs, running_collector, spans_of
from tracing import sdk

REPO = Path(__file__).resolve().parents[2]


def run_in_fresh_loop(coro):
    """asyncio.run in its own thread: the browser tests' Playwright keeps a loop running in this one."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# --- fixtures ---------------------------------------------------------------------------

@pytest.fixture
def exporter():
    """Spans recorded in memory, synchronously, through the SDK's own provider hook."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    sdk.use_provider(provider)
    yield memory
    sdk.use_provider(None)


def finished(exporter) -> dict:
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    assert len(by_name) == len(spans), "helper for tests with unique span names"
    return by_name


def attrs(span) -> dict:
    return dict(span.attributes)


def parsed(span, key):
    return json.loads(span.attributes[key])


@pytest.fixture
def collector():
    with running_collector() as server:
        yield server


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "SAGATRACE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    yield monkeypatch
    sdk.shutdown()


def span_names(message) -> set[str]:
    return {s.name for s in spans_of(message)}


# --- agent ------------------------------------------------------------------------------

def test_agent_span_carries_identity_session_user_and_tags(exporter):
    with sdk.agent("travel", session_id="conv-1", user_id="alice", tags=["beta", "eu"],
                   agent_id="agent-7", version="2.1") as run:
        run.set_input("Weather in Paris?")
        run.set_output("Rainy.")
    span = finished(exporter)["invoke_agent travel"]
    assert span.kind is SpanKind.INTERNAL
    assert span.parent is None
    assert span.status.status_code is StatusCode.UNSET
    assert attrs(span) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "travel",
        "gen_ai.agent.id": "agent-7",
        "gen_ai.agent.version": "2.1",
        "gen_ai.conversation.id": "conv-1",
        "session.id": "conv-1",
        "user.id": "alice",
        "tag.tags": ("beta", "eu"),
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "Rainy."}],
              "finish_reason": "stop"}]),
    }
    assert run.trace_id == format(span.context.trace_id, "032x")
    assert run.span_id == format(span.context.span_id, "016x")


def test_agent_without_session_invents_none(exporter):
    with sdk.agent("solo"):
        pass
    assert attrs(finished(exporter)["invoke_agent solo"]) == {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "solo"}


def test_every_child_step_carries_agent_session_and_user(exporter):
    with sdk.agent("travel", session_id="conv-1", user_id="alice"):
        with sdk.llm("gpt-4o", "openai"):
            pass
        with sdk.tool("get_weather", call_id="call_1"):
            with sdk.step("http_get"):
                pass
    spans = finished(exporter)
    root = spans["invoke_agent travel"]
    scope = {"gen_ai.agent.name": "travel", "gen_ai.conversation.id": "conv-1",
             "session.id": "conv-1", "user.id": "alice"}
    for name in ("chat gpt-4o", "execute_tool get_weather", "http_get"):
        span = spans[name]
        assert span.context.trace_id == root.context.trace_id
        assert scope.items() <= attrs(span).items(), name
    assert spans["chat gpt-4o"].parent.span_id == root.context.span_id
    assert spans["execute_tool get_weather"].parent.span_id == root.context.span_id
    assert spans["http_get"].parent.span_id == spans["execute_tool get_weather"].context.span_id


def test_sub_agent_has_its_own_name_and_keeps_the_session_and_user(exporter):
    with sdk.agent("planner", session_id="conv-1", user_id="alice"):
        with sdk.agent("researcher"):
            with sdk.step("search"):
                pass
        with sdk.step("after"):
            pass
    spans = finished(exporter)
    sub = attrs(spans["invoke_agent researcher"])
    assert (sub["gen_ai.agent.name"], sub["session.id"], sub["user.id"]) == ("researcher", "conv-1", "alice")
    assert attrs(spans["search"])["gen_ai.agent.name"] == "researcher"
    assert attrs(spans["after"])["gen_ai.agent.name"] == "planner"
    assert spans["invoke_agent researcher"].parent.span_id == spans["invoke_agent planner"].context.span_id


def test_scope_ends_with_the_agent(exporter):
    with sdk.agent("travel", session_id="conv-1"):
        pass
    with sdk.step("outside"):
        pass
    assert attrs(finished(exporter)["outside"]) == {}
    assert sdk.current() is None


# --- llm --------------------------------------------------------------------------------

def test_llm_span_name_kind_and_request_attributes(exporter):
    with sdk.llm("gpt-4o", "openai", temperature=0.2, max_tokens=512, top_p=0.9,
                 server_address="api.openai.com") as call:
        call.set_response_model("gpt-4o-2024-08-06")
        call.set_response_id("chatcmpl-1")
    span = finished(exporter)["chat gpt-4o"]
    assert span.kind is SpanKind.CLIENT
    assert attrs(span) == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o", "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 512, "gen_ai.request.top_p": 0.9,
        "server.address": "api.openai.com",
        "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.response.id": "chatcmpl-1",
    }


def test_llm_operation_names_the_span(exporter):
    with sdk.llm("text-embedding-3-small", "openai", operation="embeddings"):
        pass
    assert "embeddings text-embedding-3-small" in finished(exporter)


def test_openai_style_input_becomes_genai_parts(exporter):
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "rainy, 57°F"},
    ]
    tools = [
        {"type": "function", "function": {"name": "get_weather", "description": "Forecast.",
                                          "parameters": {"type": "object"}}},
        {"name": "send_email", "input_schema": {"type": "object"}},  # Anthropic shape
        "noop",
    ]
    with sdk.llm("gpt-4o", "openai") as call:
        call.set_input(history, system="You are a travel agent.", tools=tools)
    span = finished(exporter)["chat gpt-4o"]
    assert parsed(span, "gen_ai.input.messages") == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [
            {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"location": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy, 57°F"}]},
    ]
    assert parsed(span, "gen_ai.system_instructions") == [{"type": "text", "content": "You are a travel agent."}]
    assert parsed(span, "gen_ai.tool.definitions") == [
        {"type": "function", "name": "get_weather", "description": "Forecast.", "parameters": {"type": "object"}},
        {"type": "function", "name": "send_email", "parameters": {"type": "object"}},
        {"type": "function", "name": "noop"},
    ]
    # Non-ASCII text is kept as is, not \u-escaped.
    assert "57°F" in span.attributes["gen_ai.input.messages"]


def test_content_blocks_images_and_genai_messages_are_understood(exporter):
    history = [
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Look it up."},
            {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "a"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a cat"}]}]},
        {"role": "user", "parts": [{"type": "text", "content": "already GenAI"}]},
    ]
    with sdk.llm("claude-sonnet-4-5", "anthropic") as call:
        call.set_input(history)
    assert parsed(finished(exporter)["chat claude-sonnet-4-5"], "gen_ai.input.messages") == [
        {"role": "user", "parts": [
            {"type": "text", "content": "What is this?"},
            {"type": "uri", "modality": "image", "uri": "https://example.com/a.png"},
            {"type": "blob", "modality": "image", "content": "iVBOR", "mime_type": "image/png"}]},
        {"role": "assistant", "parts": [
            {"type": "reasoning", "content": "Look it up."},
            {"type": "tool_call", "id": "toolu_1", "name": "lookup", "arguments": {"q": "a"}}]},
        {"role": "user", "parts": [{"type": "tool_call_response", "response": "a cat", "id": "toolu_1"}]},
        {"role": "user", "parts": [{"type": "text", "content": "already GenAI"}]},
    ]


def test_sdk_response_objects_are_read_and_odd_values_never_raise(exporter):
    class ChatCompletionMessage:  # what the openai package returns: a pydantic model
        def __init__(self, **fields):
            self.fields = fields

        def model_dump(self):
            return dict(self.fields)

        def __iter__(self):  # pydantic models iterate over (field, value) pairs
            return iter(self.fields.items())

    loop = {"name": "loop"}
    loop["self"] = loop
    with sdk.llm("gpt-4o", "openai") as call:
        call.set_output(ChatCompletionMessage(role="assistant", content="Hi."))
        call.set_input([object.__new__(object)])
    with sdk.tool("odd") as odd:
        odd.set_result(loop)
    spans = finished(exporter)
    assert parsed(spans["chat gpt-4o"], "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hi."}], "finish_reason": "stop"}]
    (message,) = parsed(spans["chat gpt-4o"], "gen_ai.input.messages")
    assert message["role"] == "user" and message["parts"][0]["content"].startswith("<object object")
    assert parsed(spans["execute_tool odd"], "gen_ai.tool.call.result").startswith("{'name': 'loop'")


def test_output_text_with_reasoning_set_in_either_order(exporter):
    with sdk.llm("o3", "openai") as first:
        first.set_reasoning("Paris in May is mild.")
        first.set_output("Pack a light jacket.", finish_reason="stop")
    with sdk.llm("o4-mini", "openai") as second:
        second.set_output("Pack a light jacket.")
        second.set_reasoning("Paris in May is mild.")
    expected = [{"role": "assistant", "parts": [
        {"type": "reasoning", "content": "Paris in May is mild."},
        {"type": "text", "content": "Pack a light jacket."}], "finish_reason": "stop"}]
    spans = finished(exporter)
    for name in ("chat o3", "chat o4-mini"):
        assert parsed(spans[name], "gen_ai.output.messages") == expected
        assert spans[name].attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_tool_calls_in_output_normalise_the_finish_reason(exporter):
    message = {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}
    with sdk.llm("gpt-4o", "openai") as call:
        call.set_output(message, finish_reason="tool_calls")  # OpenAI's spelling
        call.set_tool_calls([{"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}},  # duplicate
                             {"id": "call_2", "name": "get_time", "arguments": "not json"}])
    span = finished(exporter)["chat gpt-4o"]
    assert parsed(span, "gen_ai.output.messages") == [{"role": "assistant", "parts": [
        {"type": "text", "content": "Checking."},
        {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}},
        {"type": "tool_call", "id": "call_2", "name": "get_time", "arguments": "not json"},
    ], "finish_reason": "tool_call"}]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)


def test_tool_calls_alone_infer_the_tool_call_finish_reason(exporter):
    with sdk.llm("gpt-4o", "openai") as call:
        call.set_tool_calls([{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}])
    assert parsed(finished(exporter)["chat gpt-4o"], "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c", "name": "f", "arguments": {}}],
         "finish_reason": "tool_call"}]


def test_openai_choices_keep_one_output_message_each(exporter):
    choices = [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "A"}},
               {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "B"}}]
    with sdk.llm("gpt-4o", "openai") as call:
        call.set_output(choices)
    span = finished(exporter)["chat gpt-4o"]
    assert [m["finish_reason"] for m in parsed(span, "gen_ai.output.messages")] == ["stop", "length"]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop", "length")


def test_usage_uses_the_genai_attribute_names(exporter):
    with sdk.llm("claude-sonnet-4-5", "anthropic") as call:
        call.set_usage(input_tokens=1450, output_tokens=180, cache_read_tokens=1000,
                       cache_write_tokens=200, reasoning_tokens=60)
    with sdk.llm("gpt-4o", "openai") as partial:
        partial.set_usage(input_tokens=10, output_tokens=0)
    spans = finished(exporter)
    usage = {k: v for k, v in attrs(spans["chat claude-sonnet-4-5"]).items() if k.startswith("gen_ai.usage.")}
    assert usage == {
        "gen_ai.usage.input_tokens": 1450,
        "gen_ai.usage.output_tokens": 180,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.cache_creation.input_tokens": 200,
        "gen_ai.usage.reasoning.output_tokens": 60,
    }
    partial_usage = {k: v for k, v in attrs(spans["chat gpt-4o"]).items() if k.startswith("gen_ai.usage.")}
    assert partial_usage == {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 0}


def test_decorated_llm_function_reports_through_current(exporter):
    @sdk.llm("gpt-4o-mini", "openai")
    def ask(question):
        sdk.current().set_input(question)
        sdk.current().set_usage(input_tokens=5, output_tokens=2)
        return "42"

    assert ask("meaning?") == "42"
    span = finished(exporter)["chat gpt-4o-mini"]
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["gen_ai.usage.input_tokens"] == 5
    assert parsed(span, "gen_ai.input.messages") == [{"role": "user", "parts": [{"type": "text", "content": "meaning?"}]}]


# --- tool and step ----------------------------------------------------------------------

def test_tool_context_manager_records_call_arguments_and_result(exporter):
    with sdk.tool("get_weather", call_id="call_1", description="Forecast.") as call:
        call.set_arguments({"city": "Paris"})
        call.set_result({"conditions": "rainy", "temp_f": 57})
    span = finished(exporter)["execute_tool get_weather"]
    assert span.kind is SpanKind.INTERNAL
    assert attrs(span) == {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_1", "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "Forecast.",
        "gen_ai.tool.call.arguments": '{"city": "Paris"}',
        "gen_ai.tool.call.result": '{"conditions": "rainy", "temp_f": 57}',
    }


def test_tool_decorator_records_arguments_and_return_value(exporter):
    @sdk.tool("get_weather")
    def get_weather(city, unit="C", *extra, **options):
        return f"{city}: 12{unit}"

    assert get_weather("Oslo", units_hint="metric") == "Oslo: 12C"
    assert get_weather.with_call_id("call_9")(city="Rome") == "Rome: 12C"
    first, second = exporter.get_finished_spans()
    # Only what the caller passed (defaults left out), **kwargs flattened.
    assert parsed(first, "gen_ai.tool.call.arguments") == {"city": "Oslo", "units_hint": "metric"}
    assert parsed(first, "gen_ai.tool.call.result") == "Oslo: 12C"
    assert "gen_ai.tool.call.id" not in first.attributes
    assert second.attributes["gen_ai.tool.call.id"] == "call_9"
    assert parsed(second, "gen_ai.tool.call.arguments") == {"city": "Rome"}


def test_bare_decorators_use_the_function_name(exporter):
    class Weather:
        @sdk.tool
        def forecast(self, city):
            return {"city": city}

    @sdk.step
    def tidy():
        return Weather().forecast("Oslo")

    assert tidy() == {"city": "Oslo"}
    spans = finished(exporter)
    assert set(spans) == {"tidy", "execute_tool forecast"}
    assert parsed(spans["execute_tool forecast"], "gen_ai.tool.call.arguments") == {"city": "Oslo"}  # no self


def test_unserialisable_tool_values_fall_back_to_readable_json(exporter):
    from dataclasses import dataclass
    from datetime import date

    @dataclass
    class Booking:
        ref: str
        day: date

    with sdk.tool("book") as call:
        call.set_arguments({"when": date(2026, 6, 12), "seats": {1}})
        call.set_result(Booking("X1", date(2026, 6, 12)))
    span = finished(exporter)["execute_tool book"]
    assert parsed(span, "gen_ai.tool.call.arguments") == {"when": "2026-06-12", "seats": [1]}
    assert parsed(span, "gen_ai.tool.call.result") == {"ref": "X1", "day": "2026-06-12"}


def test_step_is_a_plain_internal_span(exporter):
    with sdk.step("rerank", attributes={"app.items": 3}) as handle:
        handle.set_attribute("app.kept", 2)
        handle.set_attribute("app.ignored", None)
    span = finished(exporter)["rerank"]
    assert span.kind is SpanKind.INTERNAL
    assert attrs(span) == {"app.items": 3, "app.kept": 2}


def test_a_name_is_required_outside_a_decorator(exporter):
    with pytest.raises(TypeError):
        with sdk.step():
            pass


# --- errors -----------------------------------------------------------------------------

class QuotaExceeded(Exception):
    class Hard(Exception):
        pass


@pytest.mark.parametrize("recipe, span_name", [
    (lambda: sdk.agent("travel"), "invoke_agent travel"),
    (lambda: sdk.llm("gpt-4o", "openai"), "chat gpt-4o"),
    (lambda: sdk.tool("get_weather"), "execute_tool get_weather"),
    (lambda: sdk.step("plan"), "plan"),
])
def test_exception_marks_the_span_and_keeps_propagating(exporter, recipe, span_name):
    with pytest.raises(QuotaExceeded.Hard, match="over budget"):
        with recipe():
            raise QuotaExceeded.Hard("over budget")
    span = finished(exporter)[span_name]
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "over budget"
    assert span.attributes["error.type"] == "QuotaExceeded.Hard"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"].endswith("QuotaExceeded.Hard")
    assert event.attributes["exception.message"] == "over budget"
    assert "raise QuotaExceeded.Hard" in event.attributes["exception.stacktrace"]
    assert span.end_time is not None


def test_failed_decorated_tool_records_arguments_but_no_result(exporter):
    @sdk.tool("charge_card")
    def charge_card(amount):
        raise TimeoutError()

    with pytest.raises(TimeoutError):
        with sdk.agent("shop"):
            charge_card.with_call_id("call_1")(amount=20)
    span = finished(exporter)["execute_tool charge_card"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "TimeoutError"  # no message: the class name stands in
    assert span.attributes["error.type"] == "TimeoutError"
    assert parsed(span, "gen_ai.tool.call.arguments") == {"amount": 20}
    assert "gen_ai.tool.call.result" not in span.attributes
    # The agent span it escaped from is marked too.
    assert finished(exporter)["invoke_agent shop"].status.status_code is StatusCode.ERROR


def test_set_error_marks_a_failure_without_an_exception(exporter):
    with sdk.tool("search") as call:
        call.set_error("HTTP 503 from the search API", error_type="503")
    span = finished(exporter)["execute_tool search"]
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "HTTP 503 from the search API")
    assert span.attributes["error.type"] == "503"
    assert span.events == ()


# --- async ------------------------------------------------------------------------------

def test_async_decorators_keep_concurrent_runs_apart(exporter):
    @sdk.tool("lookup")
    async def lookup(query):
        await asyncio.sleep(0.01)
        return query.upper()

    async def run(name):
        async with sdk.agent(name, session_id=f"s-{name}"):
            async with sdk.llm("gpt-4o", "openai") as call:
                call.set_output("ok")
                await asyncio.sleep(0.01)
            return await lookup.with_call_id(f"call-{name}")(name)

    async def both():
        return await asyncio.gather(run("a"), run("b"))

    assert run_in_fresh_loop(both()) == ["A", "B"]
    spans = exporter.get_finished_spans()
    agents = {s.attributes["gen_ai.agent.name"]: s for s in spans if s.name.startswith("invoke_agent")}
    assert set(agents) == {"a", "b"}
    for span in spans:
        if span.name.startswith("invoke_agent"):
            continue
        owner = agents[span.attributes["gen_ai.agent.name"]]
        assert span.parent.span_id == owner.context.span_id
        assert span.context.trace_id == owner.context.trace_id
        assert span.attributes["session.id"] == f"s-{span.attributes['gen_ai.agent.name']}"
    tools = [s for s in spans if s.name == "execute_tool lookup"]
    assert sorted(parsed(s, "gen_ai.tool.call.result") for s in tools) == ["A", "B"]
    assert sorted(s.attributes["gen_ai.tool.call.id"] for s in tools) == ["call-a", "call-b"]


def test_async_decorated_agent_records_errors(exporter):
    @sdk.agent("async-bot", user_id="bob")
    async def bot():
        await asyncio.sleep(0)
        raise RuntimeError("planner gave up")

    with pytest.raises(RuntimeError, match="planner gave up"):
        run_in_fresh_loop(bot())
    span = finished(exporter)["invoke_agent async-bot"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RuntimeError"
    assert span.attributes["user.id"] == "bob"


# --- configure() and the OTLP/HTTP export -------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1/traces"),
    ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1/traces"),
    ("http://127.0.0.1:8000/v1/traces", "http://127.0.0.1:8000/v1/traces"),
    ("https://trace.example.com/api/public/otel", "https://trace.example.com/api/public/otel/v1/traces"),
])
def test_endpoint_base_urls_get_the_traces_path(clean_env, given, expected):
    assert sdk.resolve_endpoint(given) == expected


def test_endpoint_defaults_to_the_local_server(clean_env):
    assert sdk.resolve_endpoint() == "http://127.0.0.1:8000/v1/traces"


def test_configure_exports_gzipped_protobuf_with_the_bearer_key(clean_env, collector):
    provider = sdk.configure(collector.url, api_key="st_key_123", service_name="travel-bot",
                             set_global=False, **{"deployment.environment.name": "test"})
    assert isinstance(provider, TracerProvider)
    with sdk.agent("travel"):
        with sdk.llm("gpt-4o", "openai"):
            pass
    assert sdk.flush() is True
    request = collector.next_request()
    assert request["path"] == "/v1/traces"
    assert request["headers"]["content-type"] == "application/x-protobuf"
    assert request["headers"]["content-encoding"] == "gzip"
    assert request["headers"]["authorization"] == "Bearer st_key_123"
    message = decode(request)
    assert span_names(message) == {"invoke_agent travel", "chat gpt-4o"}
    resource = resource_attrs(message)
    assert resource["service.name"] == "travel-bot"
    assert resource["deployment.environment.name"] == "test"
    assert message.resource_spans[0].scope_spans[0].scope.name == "sagatrace.sdk"


def test_configure_falls_back_to_the_standard_environment(clean_env, collector):
    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url + "/api/public/otel")
    clean_env.setenv("SAGATRACE_API_KEY", "st_env_key")
    clean_env.setenv("OTEL_SERVICE_NAME", "from-env")
    sdk.configure(set_global=False)
    with sdk.step("ping"):
        pass
    sdk.flush()
    request = collector.next_request()
    assert request["path"] == "/api/public/otel/v1/traces"
    assert request["headers"]["authorization"] == "Bearer st_env_key"
    assert resource_attrs(decode(request))["service.name"] == "from-env"


def test_traces_endpoint_and_headers_variables_are_used_as_given(clean_env, collector):
    clean_env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.url + "/custom/ingest")
    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")  # ignored: traces-specific wins
    clean_env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20st_hdr_key,x-team=agents")
    sdk.configure(set_global=False)
    with sdk.step("ping"):
        pass
    sdk.flush()
    request = collector.next_request()
    assert request["path"] == "/custom/ingest"
    assert request["headers"]["authorization"] == "Bearer st_hdr_key"
    assert request["headers"]["x-team"] == "agents"


def test_reconfiguring_replaces_and_shuts_down_the_previous_provider(clean_env, collector):
    first = sdk.configure(collector.url, api_key="k1", set_global=False)
    second = sdk.configure(collector.url, api_key="k2", set_global=False)
    assert first is not second
    with sdk.step("ping"):
        pass
    sdk.flush()
    assert collector.next_request()["headers"]["authorization"] == "Bearer k2"
    # The first provider was shut down: what it still records is never sent.
    first.get_tracer("x").start_span("late").end()
    first.force_flush()
    with pytest.raises(queue.Empty):
        collector.next_request(timeout=0.5)


def test_flush_reports_spans_the_server_rejected(clean_env, collector):
    collector.status = 401
    sdk.configure(collector.url, api_key="wrong", set_global=False)
    with sdk.step("ping"):
        pass
    assert sdk.flush() is False
    collector.status = 200
    with sdk.step("pong"):
        pass
    assert sdk.flush() is True  # the count starts again after each flush()


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_spans_are_flushed_when_the_process_exits(collector):
    result = run_python(f"""
        from tracing import sdk
        sdk.configure({collector.url!r}, api_key="st_exit", service_name="short-lived")
        with sdk.agent("one-shot"):
            pass
        # no flush(): the atexit hook must send the batch
    """)
    assert result.returncode == 0, result.stderr
    request = collector.next_request()
    assert request["headers"]["authorization"] == "Bearer st_exit"
    assert span_names(decode(request)) == {"invoke_agent one-shot"}


# --- no Django ----------------------------------------------------------------------------

def test_importing_and_using_the_sdk_does_not_import_django():
    # DJANGO_SETTINGS_MODULE is set on purpose: it is what makes a Celery app (or anything
    # Django-aware) pull Django in, so this catches a package __init__ that does that.
    result = run_python("""
        import sys
        import tracing.sdk as sdk
        with sdk.agent("a"):
            with sdk.llm("m", "p") as call:
                call.set_input("hi")
            with sdk.tool("t"):
                pass
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"django", "celery", "kombu"})
        print("heavy:", heavy)
        assert not heavy, heavy
    """, DJANGO_SETTINGS_MODULE="tracing.settings")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "heavy: []" in result.stdout


def test_the_sdk_works_when_only_opentelemetry_is_installed():
    # Make the server-side dependencies unimportable, as in an agent's own environment.
    result = run_python("""
        import sys
        BLOCKED = {"django", "celery", "kombu", "psycopg", "plotly", "genai_prices", "orjson",
                   "django_htmx", "whitenoise", "gunicorn", "ingest", "dashboards"}

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {name!r} (blocked)")

        sys.meta_path.insert(0, Block())
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from tracing import sdk

        memory = InMemorySpanExporter()
        sdk.configure(exporter=memory, set_global=False)
        with sdk.agent("a", session_id="s"):
            with sdk.llm("m", "p") as call:
                call.set_usage(input_tokens=1, output_tokens=1)
        sdk.flush()
        print(sorted(s.name for s in memory.get_finished_spans()))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['chat m', 'invoke_agent a']"
