"""Vercel AI SDK (`ai.*`, scope `ai`), v3 to v6.

Only the provider-call spans (`ai.*.doGenerate`, `ai.*.doStream`, `ai.*.doEmbed`) are LLM
calls. The outer `ai.generateText` / `ai.streamText` / ... spans repeat their children's
usage: that goes to metadata["aggregated_usage"], never onto the step, so nothing is
counted twice.
"""
from __future__ import annotations

from typing import Any

from tracing.spans import SpanRecord

from ._attrs import Attrs, as_int, as_str, as_tags
from ._json import parse_json, parse_json_container
from .messages import normalize_finish_reason, reasoning_part, text_part, to_messages, to_part, to_tool_definitions
from .offers import Sink
from .precedence import VERCEL_USAGE
from .provider_json import request_messages
from .providers import canonical_provider

NAME = "vercel"

WRAPPERS = {"ai.generateText": "agent", "ai.streamText": "agent", "ai.generateObject": "agent",
            "ai.streamObject": "agent", "ai.embed": "other", "ai.embedMany": "other"}
CALLS = {"doGenerate": "llm", "doStream": "llm", "doEmbed": "embedding"}
# Providers whose SDK adapters report prompt tokens without the cache (AI SDK <= v5 `promptTokens`).
_INCLUSIVE = {"openai", "azure.ai.openai", "azure.ai.inference", "gcp.gemini", "gcp.vertex_ai", "gcp.gen_ai",
              "x_ai", "deepseek", "groq", "mistral_ai"}
_USAGE_KEYS = ("inputTokens", "outputTokens", "promptTokens", "completionTokens", "cachedInputTokens",
               "reasoningTokens", "tokens", "inputTokenDetails.noCacheTokens", "inputTokenDetails.cacheReadTokens",
               "inputTokenDetails.cacheWriteTokens", "outputTokenDetails.reasoningTokens")


def applies(span: SpanRecord, attrs: Attrs) -> bool:
    return span.scope_name == "ai" or attrs.has_prefix("ai.")


def classify(operation_id: str) -> tuple[str | None, bool]:
    """(kind, is_wrapper) for an `ai.operationId`."""
    if operation_id in WRAPPERS:
        return WRAPPERS[operation_id], True
    if operation_id == "ai.toolCall":
        return "tool", False
    last = operation_id.rsplit(".", 1)[-1]
    if last in CALLS:
        return CALLS[last], False
    return ("other" if operation_id.startswith("ai.") else None), False


def map_span(span: SpanRecord, attrs: Attrs, out: Sink) -> None:
    operation_id = attrs.take_str("ai.operationId")
    if not operation_id and isinstance(span.name, str) and span.name.startswith("ai."):
        operation_id = span.name
    kind, wrapper = classify(operation_id or "")
    out.offer("kind", "ai.operationId", kind)
    out.offer("operation", "ai.operationId", operation_id.rsplit(".", 1)[-1] if operation_id else None)
    function_id = attrs.peek("ai.telemetry.functionId", as_str)
    if function_id and operation_id:
        attrs.consume("ai.telemetry.functionId")
        out.offer("name", "ai.telemetry.functionId", f"{function_id}:{operation_id}")

    model = attrs.take_str("ai.model.id")
    out.offer("model", "ai.model.id", model)
    out.offer("request_model", "ai.model.id", model)
    out.offer("model", "ai.response.model", attrs.take_str("ai.response.model"))
    raw_provider = attrs.take_str("ai.model.provider") or ""
    out.offer("provider", "ai.model.provider", canonical_provider(raw_provider))
    _usage(attrs, out, raw_provider, wrapper)

    out.offer("input", "ai.prompt.messages", attrs.take("ai.prompt.messages", lambda v: to_messages(v, "user")))
    out.offer("input", "ai.prompt", attrs.take("ai.prompt", _prompt))
    out.offer("tool_definitions", "ai.prompt.tools", attrs.take("ai.prompt.tools", to_tool_definitions))
    out.offer("output", "ai.response", _response(attrs))
    for key in ("ai.response.finishReason", "ai.finishReason"):
        reason = normalize_finish_reason(attrs.take_str(key))
        out.offer("finish_reasons", "ai.response.finishReason", [reason] if reason else None)
    _tool_call(attrs, out)
    _embeddings(attrs, out)
    _telemetry_metadata(attrs, out)


def _usage(attrs: Attrs, out: Sink, raw_provider: str, wrapper: bool) -> None:
    counts = {k: as_int(v) for k, v in attrs.peek_under("ai.usage").items() if k in _USAGE_KEYS}
    usage = {k: v for k, v in counts.items() if v is not None}
    attrs.consume(*[f"ai.usage.{k}" for k in usage])
    meta = attrs.peek("ai.response.providerMetadata", parse_json)  # also carries ids, service tier...: unmapped
    meta_read, meta_write = _provider_cache(meta if isinstance(meta, dict) else {})
    cache_read = _first(usage.get("inputTokenDetails.cacheReadTokens"), usage.get("cachedInputTokens"))
    cache_write = usage.get("inputTokenDetails.cacheWriteTokens")

    input_tokens: int | None
    if "inputTokenDetails.noCacheTokens" in usage:  # v6 details: exact, whatever the provider
        input_tokens = usage["inputTokenDetails.noCacheTokens"] + (cache_read or 0) + (cache_write or 0)
    elif "inputTokens" in usage:  # v6: cache-inclusive
        input_tokens = usage["inputTokens"]
    elif "promptTokens" in usage:  # <= v5: cache-exclusive unless the adapter is known to include it
        input_tokens = usage["promptTokens"]
        provider = canonical_provider(raw_provider)
        if provider not in _INCLUSIVE or "anthropic" in raw_provider.lower():
            input_tokens += _first(cache_read, meta_read, 0) + _first(cache_write, meta_write, 0)
    else:
        input_tokens = usage.get("tokens")  # embeddings
    tokens = {
        "input_tokens": input_tokens,
        "output_tokens": _first(usage.get("outputTokens"), usage.get("completionTokens")),
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": _first(usage.get("outputTokenDetails.reasoningTokens"), usage.get("reasoningTokens")),
    }
    if wrapper:
        out.offer("aggregated_usage", VERCEL_USAGE, {k: v for k, v in tokens.items() if v is not None})
        return
    for field, value in tokens.items():
        out.offer(field, VERCEL_USAGE, value)
    out.offer("cache_read_tokens", "ai.response.providerMetadata", meta_read)
    out.offer("cache_write_tokens", "ai.response.providerMetadata", meta_write)


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _provider_cache(meta: dict) -> tuple[int | None, int | None]:
    def dig(*path: str) -> int | None:
        value: Any = meta
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return as_int(value)

    read = _first(dig("openai", "cachedPromptTokens"), dig("anthropic", "cacheReadInputTokens"),
                  dig("anthropic", "usage", "cache_read_input_tokens"),
                  dig("bedrock", "usage", "cacheReadInputTokens"))
    write = _first(dig("anthropic", "cacheCreationInputTokens"),
                   dig("anthropic", "usage", "cache_creation_input_tokens"),
                   dig("bedrock", "usage", "cacheWriteInputTokens"))
    return read, write


def _prompt(value: Any) -> Any:
    """The wrapper's `ai.prompt`: {system?, prompt | messages} as JSON."""
    value = parse_json(value)
    return request_messages(value) or value


def _response(attrs: Attrs) -> list[dict] | None:
    parts: list[dict] = []
    reasoning = attrs.take("ai.response.reasoning", parse_json_container)
    if isinstance(reasoning, list):  # v6 may record reasoning parts
        reasoning = "\n".join(r.get("text", "") if isinstance(r, dict) else str(r) for r in reasoning)
    if isinstance(reasoning, str) and reasoning:
        parts.append(reasoning_part(reasoning))
    text = attrs.take_str("ai.response.text") or attrs.take_str("ai.result.text")
    if text:
        parts.append(text_part(text))
    else:
        structured = attrs.take_str("ai.response.object") or attrs.take_str("ai.result.object")
        if structured:
            parts.append(text_part(structured))
    for key in ("ai.response.toolCalls", "ai.result.toolCalls"):
        parts.extend(_tool_calls(attrs, key))
    if not parts:
        return None
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    reason = normalize_finish_reason(attrs.peek("ai.response.finishReason") or attrs.peek("ai.finishReason"))
    if reason:
        message["finish_reason"] = reason
    return [message]


def _tool_calls(attrs: Attrs, key: str) -> list[dict]:
    calls = attrs.peek(key, parse_json)
    if not isinstance(calls, list):
        return []
    attrs.consume(key)
    # Field names vary by SDK version: toolCallId/toolName with args (<= v4) or input (v5+).
    return [to_part({"type": "tool-call", **c}) for c in calls if isinstance(c, dict)]


def _tool_call(attrs: Attrs, out: Sink) -> None:
    name = attrs.take_str("ai.toolCall.name")
    out.offer("name", "ai.toolCall.name", name)
    out.offer("tool_name", "ai.toolCall.name", name)
    out.offer("tool_call_id", "ai.toolCall.id", attrs.take_str("ai.toolCall.id"))
    for key in ("ai.toolCall.args", "ai.toolCall.input"):
        out.offer("tool_arguments", "ai.toolCall.args", attrs.take_json(key))
    for key in ("ai.toolCall.result", "ai.toolCall.output"):
        out.offer("tool_result", "ai.toolCall.result", attrs.take(key, parse_json_container))


def _embeddings(attrs: Attrs, out: Sink) -> None:
    for key, field, source in (("ai.value", "input", "ai.values"),
                               ("ai.values", "input", "ai.values"),
                               ("ai.embedding", "output", "ai.embeddings"),
                               ("ai.embeddings", "output", "ai.embeddings")):
        value = attrs.take_json(key)
        if isinstance(value, list) and key.endswith("s"):  # arrays of JSON strings
            value = [parse_json(v) for v in value]
        out.offer(field, source, value)


def _telemetry_metadata(attrs: Attrs, out: Sink) -> None:
    metadata = {k: parse_json_container(v) for k, v in attrs.take_under("ai.telemetry.metadata").items()}
    out.offer("metadata", "ai.telemetry.metadata", metadata)
    out.offer("session_id", "ai.telemetry.metadata.sessionId", as_str(metadata.get("sessionId")))
    out.offer("user_id", "ai.telemetry.metadata.userId", as_str(metadata.get("userId")))
    out.offer("tags", "ai.telemetry.metadata.tags", as_tags(metadata.get("tags")))
