"""Sagatrace agent-side SDK: OpenTelemetry GenAI spans for agents, LLM calls and tools.

Needs only `opentelemetry-sdk` and `opentelemetry-exporter-otlp-proto-http`; it never
imports Django or the rest of Sagatrace, so agents can vendor or install it alone.

    from tracing import sdk

    sdk.configure("http://127.0.0.1:8000", api_key="...", service_name="travel-bot")

    @sdk.tool("get_weather")
    def get_weather(city: str) -> dict: ...

    with sdk.agent("travel-assistant", session_id="conv-42", user_id="alice"):
        with sdk.llm("claude-sonnet-4-5", "anthropic") as call:
            call.set_input(messages, system="You plan trips.", tools=TOOLS)
            reply = client.messages.create(...)
            call.set_output(reply_message, finish_reason="tool_use")
            call.set_usage(input_tokens=1200, output_tokens=90, cache_read_tokens=1000)
        get_weather.with_call_id("toolu_1")(city="Lisbon")
"""
from .handles import AgentHandle, LLMHandle, SpanHandle, ToolHandle
from .provider import configure, flush, resolve_endpoint, shutdown, use_provider
from .spans import agent, current, llm, step, tool

__all__ = [
    "configure", "flush", "shutdown", "use_provider", "resolve_endpoint",
    "agent", "llm", "tool", "step", "current",
    "SpanHandle", "AgentHandle", "LLMHandle", "ToolHandle",
]
