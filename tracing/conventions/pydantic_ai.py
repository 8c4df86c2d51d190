"""Pydantic AI / Logfire: what they add on top of the GenAI keys (read by the genai mapper).

Agent spans carry the run's totals as `gen_ai.aggregated_usage.*` (renamed so nobody sums
them with the child LLM spans): kept in metadata["aggregated_usage"], never as the step's
tokens. `thinking` parts and `result` tool responses are handled by the message shape.
"""
from __future__ import annotations

from tracing.spans import SpanRecord

from ._attrs import Attrs, as_decimal, as_int
from ._json import parse_json, parse_json_container
from .genai_events import split_event_dicts
from .messages import parse_arguments, to_messages
from .offers import Sink
from .precedence import PYDANTIC_SPAN_NAME
from .provider_json import request_messages, response_messages

NAME = "pydantic_ai"

_SCOPES = ("pydantic-ai", "pydantic_ai", "logfire")
_SIGNAL_PREFIXES = ("logfire.", "pydantic_ai.", "gen_ai.aggregated_usage.")
# Instrumentation v2 span names.
SPAN_NAMES = {"agent run": "agent", "running tool": "tool"}
DETAIL_KEYS = (
    ("reasoning_tokens", "gen_ai.usage.details.reasoning_tokens"),
    ("cache_read_tokens", "gen_ai.usage.details.cache_read_tokens"),
    ("cache_write_tokens", "gen_ai.usage.details.cache_write_tokens"),
)
_AGGREGATED_NAMES = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read.input_tokens": "cache_read_tokens",
    "cache_creation.input_tokens": "cache_write_tokens",
    "cache_write.input_tokens": "cache_write_tokens",
    "details.reasoning_tokens": "reasoning_tokens",
}


def applies(span: SpanRecord, attrs: Attrs) -> bool:
    return str(span.scope_name or "").startswith(_SCOPES) or attrs.has_prefix(*_SIGNAL_PREFIXES)


def map_span(span: SpanRecord, attrs: Attrs, out: Sink) -> None:
    name = span.name if isinstance(span.name, str) else ""
    out.offer("kind", PYDANTIC_SPAN_NAME, SPAN_NAMES.get(name.split(":", 1)[0].strip()))
    out.offer("name", "logfire.msg", attrs.take_str("logfire.msg"))
    out.offer("agent_name", "agent_name", attrs.take_str("agent_name"))
    out.offer("model", "model_name", attrs.take_str("model_name"))
    out.offer("reported_cost", "operation.cost", attrs.take("operation.cost", as_decimal))
    for field, key in DETAIL_KEYS:
        out.offer(field, key, attrs.take_int(key))
    aggregated = {}
    for suffix, value in attrs.take_under("gen_ai.aggregated_usage").items():
        count = as_int(value)
        aggregated[_AGGREGATED_NAMES.get(suffix, suffix)] = value if count is None else count
    out.offer("aggregated_usage", "gen_ai.aggregated_usage", aggregated)

    # The agent span repeats the whole history; it is the agent step's input, nothing more.
    out.offer("input", "pydantic_ai.all_messages",
              attrs.take("pydantic_ai.all_messages", lambda v: to_messages(v, "user")))
    out.offer("output", "final_result", attrs.take("final_result", parse_json_container))
    out.offer("tool_arguments", "tool_arguments", attrs.take("tool_arguments", parse_arguments))
    out.offer("tool_result", "tool_response", attrs.take("tool_response", parse_json_container))
    _older_logfire(attrs, out)


def _older_logfire(attrs: Attrs, out: Sink) -> None:
    """Pydantic AI v1 `events` / `all_messages_events` (JSON arrays of gen_ai event dicts) and
    the Logfire OpenAI/Anthropic integrations' `request_data` / `response_data`."""
    for key in ("events", "all_messages_events"):
        items = attrs.peek(key, parse_json)
        inputs, outputs = split_event_dicts(items)
        if inputs or outputs:
            attrs.consume(key)
            out.offer("input", "events", inputs)
            out.offer("output", "events", outputs)
    out.offer("input", "request_data", attrs.take("request_data", lambda v: request_messages(parse_json(v))))
    out.offer("output", "response_data", attrs.take("response_data", lambda v: response_messages(parse_json(v))))
