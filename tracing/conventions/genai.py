"""OpenTelemetry GenAI semantic conventions (`gen_ai.*`), current and older attribute forms.

Events (per-message, choice, content and operation-details) live in `genai_events`.
Keys that only OpenLLMetry or Pydantic AI write under `gen_ai.` are read by those mappers.
"""
from __future__ import annotations

from typing import Callable

from tracing.spans import SpanRecord

from . import genai_events
from ._attrs import Attrs, as_decimal, as_str_list
from ._json import parse_json
from .messages import normalize_finish_reason, parse_arguments, text_part, to_messages, to_part, to_tool_definitions
from .offers import Sink
from .precedence import CONTENT_EVENTS, TOOL_KEYS_HINT
from .providers import canonical_provider, provider_from_host

NAME = "genai"

OPERATION_KINDS = {
    "chat": "llm", "text_completion": "llm", "generate_content": "llm",
    "completion": "llm", "generate": "llm", "llm_request": "llm",
    "generate_live_content": "llm", "realtime_inference": "llm",
    "embeddings": "embedding", "embedding": "embedding",
    "retrieval": "retrieval", "search_memory": "retrieval", "vector_db_retrieve": "retrieval",
    "invoke_agent": "agent", "invoke_workflow": "agent", "agent_step": "agent",
    "execute_tool": "tool",
    "create_agent": "other", "plan": "other", "fetch_response": "other", "execute_task": "other",
    "create_memory": "other", "update_memory": "other", "upsert_memory": "other", "delete_memory": "other",
    "create_memory_store": "other", "delete_memory_store": "other", "user_speech": "other",
}

USAGE_KEYS = (
    ("input_tokens", "gen_ai.usage.input_tokens"),
    ("input_tokens", "gen_ai.usage.prompt_tokens"),  # ≤ v1.26
    ("output_tokens", "gen_ai.usage.output_tokens"),
    ("output_tokens", "gen_ai.usage.completion_tokens"),  # ≤ v1.26
    ("cache_read_tokens", "gen_ai.usage.cache_read.input_tokens"),
    ("cache_write_tokens", "gen_ai.usage.cache_write.input_tokens"),  # newest name
    ("cache_write_tokens", "gen_ai.usage.cache_creation.input_tokens"),
    ("reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"),
)


def applies(span: SpanRecord, attrs: Attrs) -> bool:
    return attrs.has_prefix("gen_ai.") or genai_events.has_genai_events(span)


def map_span(span: SpanRecord, attrs: Attrs, out: Sink) -> None:
    operation = attrs.take_str("gen_ai.operation.name")
    if operation:
        out.offer("operation", "gen_ai.operation.name", operation)
        out.offer("kind", "gen_ai.operation.name", OPERATION_KINDS.get(operation.strip().lower()))
    out.offer("provider", "server.address", provider_from_host(attrs.peek("server.address")))
    map_call(attrs, out, lambda key: key)
    out.offer("reported_cost", "gen_ai.usage.cost", attrs.take("gen_ai.usage.cost", as_decimal))
    # The Anthropic SDK's native tracing reports the stop reason only under its vendor namespace.
    out.offer("finish_reasons", "anthropic.message.stop_reason",
              attrs.take("anthropic.message.stop_reason", finish_reasons))

    # v1.26 attribute form of the content events: OpenAI-style messages as JSON strings.
    out.offer("input", CONTENT_EVENTS, attrs.take("gen_ai.prompt", lambda v: to_messages(v, "user")))
    out.offer("output", CONTENT_EVENTS, attrs.take("gen_ai.completion", lambda v: to_messages(v, "assistant")))

    _map_tool(attrs, out)
    session = attrs.take_str("gen_ai.conversation.id")
    out.offer("session_id", "gen_ai.conversation.id", session)
    agent = attrs.take_str("gen_ai.agent.name")
    out.offer("agent_name", "gen_ai.agent.name", agent)
    out.offer("name", "gen_ai.agent.name", agent)
    out.offer("input", "gen_ai.retrieval.query.text", attrs.take_str("gen_ai.retrieval.query.text"))
    out.offer("output", "gen_ai.retrieval.documents", attrs.take_json("gen_ai.retrieval.documents"))
    genai_events.map_events(span, out, map_call)


def map_call(attrs: Attrs, out: Sink, source: Callable[[str], str]) -> None:
    """Model, provider, usage and content of an inference call. Shared with the
    operation-details event, which repeats these attributes (`source` relabels them)."""
    for key in ("gen_ai.provider.name", "gen_ai.system"):
        out.offer("provider", source(key), canonical_provider(attrs.take_str(key)))
    requested = attrs.take_str("gen_ai.request.model")
    out.offer("model", source("gen_ai.request.model"), requested)
    out.offer("request_model", source("gen_ai.request.model"), requested)
    out.offer("model", source("gen_ai.response.model"), attrs.take_str("gen_ai.response.model"))
    for field, key in USAGE_KEYS:
        out.offer(field, source(key), attrs.take_int(key))

    out.offer("input", source("gen_ai.input.messages"),
              attrs.take("gen_ai.input.messages", lambda v: to_messages(v, "user")))
    out.offer("output", source("gen_ai.output.messages"),
              attrs.take("gen_ai.output.messages", lambda v: to_messages(v, "assistant")))
    out.offer("system_instructions", source("gen_ai.system_instructions"),
              attrs.take("gen_ai.system_instructions", system_parts))
    out.offer("tool_definitions", source("gen_ai.tool.definitions"),
              attrs.take("gen_ai.tool.definitions", to_tool_definitions))
    out.offer("finish_reasons", source("gen_ai.response.finish_reasons"),
              attrs.take("gen_ai.response.finish_reasons", finish_reasons))


def _map_tool(attrs: Attrs, out: Sink) -> None:
    tool = attrs.take_str("gen_ai.tool.name")
    call_id = attrs.take_str("gen_ai.tool.call.id")
    if tool or call_id:  # older Pydantic AI tool spans carry no operation name
        out.offer("kind", TOOL_KEYS_HINT, "tool")
    out.offer("tool_name", "gen_ai.tool.name", tool)
    out.offer("name", "gen_ai.tool.name", tool)
    out.offer("tool_call_id", "gen_ai.tool.call.id", call_id)
    out.offer("tool_arguments", "gen_ai.tool.call.arguments", attrs.take("gen_ai.tool.call.arguments", parse_arguments))
    out.offer("tool_result", "gen_ai.tool.call.result", attrs.take_json("gen_ai.tool.call.result"))


def system_parts(value: object) -> list | None:
    """`gen_ai.system_instructions`: an array of parts (a bare string is tolerated)."""
    value = parse_json(value)
    if isinstance(value, str):
        return [text_part(value)] if value.strip() else None
    if isinstance(value, dict):
        value = value.get("parts") if isinstance(value.get("parts"), list) else [value]
    if isinstance(value, list):
        return [to_part(p) for p in value] or None
    return None


def finish_reasons(value: object) -> list[str] | None:
    reasons = [normalize_finish_reason(r) for r in as_str_list(value) or []]
    return [r for r in reasons if r] or None
