"""Plain-function factories for the explorer tests: agent runs as OTLP spans (GenAI conventions),
indexed through the real decode → normalize → price → upsert path."""
import json
import time
import urllib.request

import pytest
from django.db import transaction

from ingest import otlp
from tests.otlp_builders import T0, new_span_id, new_trace_id, request, span
from tracing import indexer


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Personas log in with a cheap hash: PBKDF2 would spend half a second per test creating them."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def inprocess_indexing(settings):
    """Browser tests: index in the web process, so a 200 from /v1/traces means the run is visible."""
    settings.CELERY_BROKER_URL = ""


def post(live_server, api_key, spans):
    """POST one OTLP/protobuf body to a live server's /v1/traces, as an exporter does."""
    req = urllib.request.Request(f"{live_server.url}/v1/traces", data=request(spans), method="POST",
                                 headers={"Content-Type": "application/x-protobuf",
                                          "Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(req, timeout=60) as response:
        assert response.status == 200


def ms_ago(seconds):
    """A `start_ms` (relative to otlp_builders.T0) for a span that started `seconds` before now."""
    return (time.time_ns() - T0) // 1_000_000 - int(seconds * 1000)


def run_spans(trace_id=None, *, agent="helper", model="gpt-4o", provider="openai", session="", user="", tags=(),
              error=False, start_ms=0, question="What is the weather in Paris?", answer="It is sunny in Paris.",
              tool_name="get_weather", tool_args=None, tool_result=None, reasoning="Check the weather tool first.",
              input_tokens=1000, output_tokens=100, cached=0, reasoning_tokens=None, with_root=True, name=None):
    """root agent → llm (asks for a tool call) → tool. Returns (trace_id, spans, {"root", "llm", "tool"})."""
    trace_id = trace_id or new_trace_id()
    ids = {"root": new_span_id(), "llm": new_span_id(), "tool": new_span_id()}
    call_id = f"call_{ids['tool'][:6]}"
    tool_args = {"city": "Paris"} if tool_args is None else tool_args
    tool_result = {"forecast": "sunny"} if tool_result is None else tool_result
    llm = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens,
        "gen_ai.usage.cache_read.input_tokens": cached,
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "You are a weather bot."}]),
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "tool_call", "parts": [
            {"type": "reasoning", "content": reasoning},
            {"type": "text", "content": answer},
            {"type": "tool_call", "id": call_id, "name": tool_name, "arguments": tool_args}]}]),
        "gen_ai.tool.definitions": json.dumps([{"type": "function", "name": tool_name, "description": "Look it up",
                                                "parameters": {"type": "object"}}]),
    }
    if reasoning_tokens is not None:
        llm["gen_ai.usage.reasoning.output_tokens"] = reasoning_tokens
    spans = [
        span(trace_id, ids["llm"], f"chat {model}", parent=ids["root"], start_ms=start_ms + 10, dur_ms=500, kind=3,
             attrs=llm),
        span(trace_id, ids["tool"], f"execute_tool {tool_name}", parent=ids["root"], start_ms=start_ms + 520,
             dur_ms=50, error="tool failed" if error else None, attrs={
                 "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool_name,
                 "gen_ai.tool.call.id": call_id, "gen_ai.tool.call.arguments": json.dumps(tool_args),
                 "gen_ai.tool.call.result": json.dumps(tool_result)}),
    ]
    if with_root:
        root = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent}
        if session:
            root["gen_ai.conversation.id"] = session
        if user:
            root["user.id"] = user
        if tags:
            root["tag.tags"] = list(tags)
        spans.append(span(trace_id, ids["root"], name or f"invoke_agent {agent}", start_ms=start_ms, dur_ms=600,
                          error="run failed" if error else None, attrs=root))
    return trace_id, spans, ids


def ingest(project, spans, service="test-agent"):
    """Index spans exactly as a worker does with a stored batch."""
    decoded = otlp.decode(request(spans, service=service), "protobuf")
    with transaction.atomic():
        indexer.index_spans(project.id, decoded.spans)


def make_run(project, **kwargs):
    trace_id, spans, ids = run_spans(**kwargs)
    ingest(project, spans)
    return trace_id, ids
