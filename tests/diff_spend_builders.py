"""OTLP traces for the diff and spend tests: an agent whose first LLM call requests tools,
the tool spans, then a final answer. Plain functions over tests.otlp_builders."""
import json
import time

import pytest

from tests.otlp_builders import T0, new_span_id, new_trace_id, request, span

PB = "application/x-protobuf"


def minutes_ago(minutes):
    """A start_ms for span() that lands `minutes` before now (span() counts from the fixed T0)."""
    return (time.time_ns() - T0) // 1_000_000 - int(minutes * 60_000)


def tool_call_reply(tools):
    parts = [{"type": "tool_call", "id": f"call_{i}", "name": name, "arguments": {"q": f"{name} {i}"}}
             for i, name in enumerate(tools)]
    return json.dumps([{"role": "assistant", "parts": parts, "finish_reason": "tool_call"}])


def llm_attrs(model, provider, input_tokens, output_tokens, cached=0, reasoning=0, reply=None, question="hi"):
    attrs = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens,
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
    }
    if cached:
        attrs["gen_ai.usage.cache_read.input_tokens"] = cached
    if reasoning:
        attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
    if reply is not None:
        attrs["gen_ai.output.messages"] = reply
    return attrs


def agent_run(trace_id=None, *, agent="helper", model="gpt-4o", provider="openai", tools=("search",),
              input_tokens=1000, output_tokens=100, cached=0, reasoning=0, tool_cost=None, user="", session="",
              tags=(), answer="It is sunny.", question="weather?", tool_error=None, start_ms=0):
    """root agent → llm (requests `tools`) → one tool span per request → llm answer. Returns (trace_id, spans)."""
    trace_id = trace_id or new_trace_id()
    root = new_span_id()
    t = start_ms + 10
    spans = [span(trace_id, new_span_id(), f"chat {model}", parent=root, start_ms=t, dur_ms=400, kind=3,
                  attrs=llm_attrs(model, provider, input_tokens, output_tokens, cached, reasoning,
                                  tool_call_reply(tools) if tools else None, question))]
    for i, name in enumerate(tools):
        t += 410
        attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.call.id": f"call_{i}",
                 "gen_ai.tool.call.arguments": json.dumps({"q": f"{name} {i}"}), "gen_ai.tool.call.result": "ok"}
        if tool_cost is not None:
            attrs["gen_ai.usage.cost"] = tool_cost
        spans.append(span(trace_id, new_span_id(), f"execute_tool {name}", parent=root, start_ms=t, dur_ms=50,
                          attrs=attrs, error=tool_error if i == 0 else None))
    t += 60
    final = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}])
    spans.append(span(trace_id, new_span_id(), f"chat {model}", parent=root, start_ms=t, dur_ms=300, kind=3,
                      attrs=llm_attrs(model, provider, input_tokens, output_tokens, cached, reasoning, final, question)))
    root_attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent}
    if user:
        root_attrs["user.id"] = user
    if session:
        root_attrs["session.id"] = session
    if tags:
        root_attrs["tag.tags"] = list(tags)
    spans.append(span(trace_id, root, f"invoke_agent {agent}", start_ms=start_ms, dur_ms=t + 310 - start_ms,
                      attrs=root_attrs))
    return trace_id, spans


def post(client, key, spans):
    response = client.post("/v1/traces", data=request(spans), content_type=PB, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    return response


@pytest.fixture
def send(client, api_key, django_capture_on_commit_callbacks):
    """send(spans, key=api_key): POST to /v1/traces and run the indexing the commit would queue
    (in-process, as the embedded default does), inside the test's rolled-back transaction."""
    def send(spans, key=api_key):
        with django_capture_on_commit_callbacks(execute=True):
            return post(client, key, spans)
    return send
