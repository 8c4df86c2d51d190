"""Realistic demo agent runs, made with the real OpenTelemetry SDK and encoded as OTLP protobuf.

`demo_requests()` returns request bodies; `manage.py seed_demo` sends them through
the same intake code as POST /v1/traces. Deterministic for a given seed.
"""
from __future__ import annotations

import json
import random
import time

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

MS = 1_000_000

CITIES = ["Paris", "Lisbon", "Kyoto", "Denver", "Oslo", "Cairo"]
MODELS = [("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o"), ("openai", "o3-mini")]


def _msg(role, text=None, tool_calls=None, tool_result=None):
    parts = []
    if text:
        parts.append({"type": "text", "content": text})
    for call in tool_calls or []:
        parts.append({"type": "tool_call", "id": call["id"], "name": call["name"], "arguments": call["arguments"]})
    if tool_result:
        parts.append({"type": "tool_call_response", "id": tool_result[0], "response": tool_result[1]})
    return {"role": role, "parts": parts}


class _Clock:
    def __init__(self, start_ns):
        self.now = start_ns

    def advance(self, ms):
        self.now += int(ms * MS)
        return self.now


class DemoRun:
    """Builds one agent run as OTel spans on a private tracer provider."""

    TOOLS = [
        {"type": "function", "name": "get_weather", "description": "Current weather for a city",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"type": "function", "name": "search_flights", "description": "Find flights between two cities",
         "parameters": {"type": "object", "properties": {"origin": {"type": "string"}, "destination": {"type": "string"}}}},
        {"type": "function", "name": "book_flight", "description": "Book a flight by id",
         "parameters": {"type": "object", "properties": {"flight_id": {"type": "string"}}}},
    ]

    def __init__(self, rng, tracer, start_ns):
        self.rng, self.tracer, self.clock = rng, tracer, _Clock(start_ns)

    def llm(self, parent_ctx, provider, model, messages, reply_text, tool_calls, reasoning, cached):
        start = self.clock.advance(self.rng.uniform(5, 30))
        span = self.tracer.start_span(f"chat {model}", context=parent_ctx, kind=SpanKind.CLIENT, start_time=start)
        input_tokens = 600 + 40 * len(messages) + self.rng.randint(0, 300)
        output_tokens = self.rng.randint(60, 400)
        reasoning_tokens = self.rng.randint(50, output_tokens - 10) if reasoning else 0
        out = _msg("assistant", reply_text, tool_calls)
        if reasoning:
            out["parts"].insert(0, {"type": "reasoning", "content": reasoning})
        out["finish_reason"] = "tool_call" if tool_calls else "stop"
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.response.id": f"resp_{self.rng.getrandbits(48):012x}",
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.usage.cache_read.input_tokens": min(cached, input_tokens),
            "gen_ai.response.finish_reasons": [out["finish_reason"]],
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "You are a careful travel assistant. Use tools; never invent prices."}]),
            "gen_ai.input.messages": json.dumps(messages),
            "gen_ai.output.messages": json.dumps([out]),
            "gen_ai.tool.definitions": json.dumps(self.TOOLS),
        }
        if reasoning_tokens:
            attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning_tokens
        span.set_attributes(attrs)
        span.end(end_time=self.clock.advance(self.rng.uniform(400, 2500)))
        return out

    def tool(self, parent_ctx, call, result, error=None):
        start = self.clock.advance(self.rng.uniform(2, 10))
        span = self.tracer.start_span(f"execute_tool {call['name']}", context=parent_ctx, start_time=start)
        span.set_attributes({
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call["name"],
            "gen_ai.tool.call.id": call["id"],
            "gen_ai.tool.type": "function",
            "gen_ai.tool.call.arguments": json.dumps(call["arguments"]),
        })
        if error:
            span.set_attribute("error.type", error[0])
            span.add_event("exception", {"exception.type": error[0], "exception.message": error[1]}, timestamp=start + MS)
            span.set_status(Status(StatusCode.ERROR, error[1]))
        else:
            span.set_attribute("gen_ai.tool.call.result", json.dumps(result))
        span.end(end_time=self.clock.advance(self.rng.uniform(50, 900)))


def _travel_run(rng, tracer, start_ns, *, session, user, fail_tool=False, model=None, with_root=True, city=None):
    run = DemoRun(rng, tracer, start_ns)
    provider, model_name = model or rng.choice(MODELS)
    city = city or rng.choice(CITIES)
    question = f"I'm flying to {city} next week. What's the weather, and find me a morning flight from Berlin?"
    root = tracer.start_span("invoke_agent travel-assistant", start_time=start_ns)
    root.set_attributes({
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "travel-assistant",
        "gen_ai.conversation.id": session,
        "user.id": user,
        "session.id": session,
        "tag.tags": ["demo", "travel"],
    })
    ctx = set_span_in_context(root)
    messages = [_msg("user", question)]
    weather_call = {"id": f"call_{rng.getrandbits(32):08x}", "name": "get_weather", "arguments": {"city": city}}
    out = run.llm(ctx, provider, model_name, messages,
                  "Let me check the weather first.", [weather_call],
                  "The user wants weather and a flight. Weather first, then flights from Berlin.", cached=0)
    messages.append(out)
    if fail_tool:
        run.tool(ctx, weather_call, None, error=("TimeoutError", "weather service did not answer within 5 s"))
        messages.append(_msg("tool", tool_result=(weather_call["id"], "error: TimeoutError")))
        out = run.llm(ctx, provider, model_name, messages, "The weather service timed out; retrying once.",
                      [weather_call], "Transient timeout; retry the same call.", cached=512)
        messages.append(out)
    weather = {"city": city, "forecast": rng.choice(["sunny", "light rain", "overcast"]), "high_c": rng.randint(8, 31)}
    run.tool(ctx, weather_call, weather)
    messages.append(_msg("tool", tool_result=(weather_call["id"], weather)))
    flight_call = {"id": f"call_{rng.getrandbits(32):08x}", "name": "search_flights",
                   "arguments": {"origin": "BER", "destination": city[:3].upper(), "time": "morning"}}
    out = run.llm(ctx, provider, model_name, messages, None, [flight_call],
                  "Now search flights, morning departures only.", cached=1024)
    messages.append(out)
    flights = [{"id": f"LH{rng.randint(100, 999)}", "departs": f"0{rng.randint(6, 9)}:{rng.choice(['05', '30', '45'])}",
                "price_eur": rng.randint(89, 420)} for _ in range(2)]
    run.tool(ctx, flight_call, {"flights": flights})
    messages.append(_msg("tool", tool_result=(flight_call["id"], {"flights": flights})))
    answer = (f"{city} will be {weather['forecast']} with highs around {weather['high_c']}°C. "
              f"The best morning flight is {flights[0]['id']} at {flights[0]['departs']} for €{flights[0]['price_eur']}.")
    run.llm(ctx, provider, model_name, messages, answer, [], None, cached=2048)
    if with_root:
        root.end(end_time=run.clock.advance(5))


def _unpriced_run(rng, tracer, start_ns):
    """A run on a self-hosted model no price list knows: shown as unpriced, never $0."""
    run = DemoRun(rng, tracer, start_ns)
    root = tracer.start_span("invoke_agent summarizer", start_time=start_ns)
    root.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "summarizer"})
    ctx = set_span_in_context(root)
    run.llm(ctx, "ollama", "llama-3.1-8b-local", [_msg("user", "Summarize the incident notes in three bullets.")],
            "- Deploy at 14:02 broke auth\n- Rolled back 14:20\n- Root cause: missing env var", [], None, cached=0)
    root.end(end_time=run.clock.advance(3))


def demo_requests(seed: int = 7, now_ns: int | None = None) -> list[bytes]:
    """One OTLP protobuf body per run, like a BatchSpanProcessor flush."""
    rng = random.Random(seed)
    now_ns = now_ns or time.time_ns()
    bodies = []
    plan = []
    for i in range(9):
        plan.append(dict(session=f"sess-{1000 + i // 3}", user=rng.choice(["ana@example.com", "li@example.com", "sam@example.com"]),
                         fail_tool=(i == 4), model=MODELS[i % 3], with_root=True))
    plan.append(dict(session="sess-live", user="ana@example.com", fail_tool=False, model=MODELS[0], with_root=False))
    for i, spec in enumerate(plan):
        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "travel-agent", "deployment.environment.name": "demo"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("sagatrace.demo")
        start = now_ns - (len(plan) - i) * 47 * 60 * 1_000_000_000 - rng.randint(0, 600) * 1_000_000_000
        if i == len(plan) - 1:
            start = now_ns - 90 * 1_000_000_000  # the in-progress run started 90 s ago
        _travel_run(rng, tracer, start, **spec)
        bodies.append(encode_spans(exporter.get_finished_spans()).SerializeToString())
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "ops-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _unpriced_run(rng, provider.get_tracer("sagatrace.demo"), now_ns - 30 * 60 * 1_000_000_000)
    bodies.append(encode_spans(exporter.get_finished_spans()).SerializeToString())
    return bodies
