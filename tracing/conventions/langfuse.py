"""Langfuse SDK attributes (`langfuse.*`): observation type, input/output, model, usage and
cost details, level, and the trace-level session/user/tags/metadata.

Langfuse's `input` usage key EXCLUDES cached tokens and `output` excludes reasoning
(and audio) tokens; they are added back so the step follows GenAI semantics. Integrations
also pass the provider's raw usage object through as `usage_details` (langfuse.openai sends
OpenAI's nested `{prompt_tokens, completion_tokens, prompt_tokens_details: {cached_tokens},
completion_tokens_details: {reasoning_tokens}}`): those keep the provider's own semantics.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from tracing.spans import STATUS_ERROR, SpanRecord

from ._attrs import Attrs, as_decimal, as_int, as_str, as_tags
from ._json import parse_json, parse_json_container
from .messages import unwrap_call_envelope
from .offers import Sink

NAME = "langfuse"

TYPES = {"generation": "llm", "embedding": "embedding", "agent": "agent", "tool": "tool", "retriever": "retrieval",
         "chain": "other", "span": "other", "event": "other", "guardrail": "other", "evaluator": "other"}
_ERROR_LEVELS = {"ERROR", "FATAL", "CRITICAL"}
# Langfuse SDK <= 3.3 sent type `span` for generations; these attributes give it away.
_GENERATION_HINTS = ("langfuse.observation.model.name", "langfuse.observation.usage_details",
                     "langfuse.observation.cost_details", "gen_ai.request.model", "gen_ai.response.model",
                     "llm.model_name")
_CACHE_READ = ("input_cached_tokens", "cache_read_input_tokens", "input_cache_read", "cache_read_tokens")
_CACHE_WRITE = ("input_cache_creation", "cache_creation_input_tokens", "cache_write_tokens")
_CACHE_WRITE_SPLIT = ("input_cache_creation_5m", "input_cache_creation_1h",
                      "cache_creation_input_tokens_5m", "cache_creation_input_tokens_1h")


def applies(span: SpanRecord, attrs: Attrs) -> bool:
    return attrs.has_prefix("langfuse.") or str(span.scope_name or "").startswith("langfuse")


def map_span(span: SpanRecord, attrs: Attrs, out: Sink) -> None:
    observation_type = (attrs.take_str("langfuse.observation.type") or "").strip().lower()
    kind = TYPES.get(observation_type)
    if observation_type == "span" and any(k in attrs for k in _GENERATION_HINTS):
        kind = "llm"
    out.offer("kind", "langfuse.observation.type", kind)
    out.offer("model", "langfuse.observation.model.name", attrs.take_str("langfuse.observation.model.name"))
    _content(attrs, out)
    _usage(attrs, out)
    out.offer("reported_cost", "langfuse.observation.cost_details",
              attrs.take("langfuse.observation.cost_details", total_cost))
    _context(attrs, out)
    _level(span, attrs, out)


def _content(attrs: Attrs, out: Sink) -> None:
    for side, tool_field in (("input", "tool_arguments"), ("output", "tool_result")):
        value = attrs.take(f"langfuse.observation.{side}", parse_json_container)
        out.offer(side, f"langfuse.observation.{side}", value)
        # @observe records a function's inputs as {"args": [...], "kwargs": {...}}: a tool's arguments are inside.
        unwrap = side == "input" and isinstance(value, dict)
        out.offer(tool_field, f"langfuse.observation.{side}", unwrap_call_envelope(value) if unwrap else value)
        out.offer(side, f"langfuse.trace.{side}", attrs.take(f"langfuse.trace.{side}", parse_json_container))


def _usage(attrs: Attrs, out: Sink) -> None:
    usage = attrs.peek("langfuse.observation.usage_details", parse_json)
    if not isinstance(usage, dict):
        return
    tokens = usage_tokens(usage)
    if any(v is not None for v in tokens.values()):
        attrs.consume("langfuse.observation.usage_details")
        for field, value in tokens.items():
            out.offer(field, "langfuse.observation.usage_details", value)


def usage_tokens(usage: dict) -> dict[str, int | None]:
    """StepData token fields from Langfuse usage_details: Langfuse's own keys (cache/reasoning-
    exclusive `input` / `output`), else a raw OpenAI or Anthropic usage object passed through."""
    if "input" in usage or "output" in usage:
        return _langfuse_usage(usage)
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return _openai_chat_usage(usage)
    if "input_tokens" in usage or "output_tokens" in usage:
        return _provider_usage(usage)
    return _langfuse_usage(usage)


def _langfuse_usage(usage: dict) -> dict[str, int | None]:
    cache_read, cache_write = _cache_read(usage), _cache_write(usage)
    reasoning = _first_int(usage, ("output_reasoning_tokens", "output_reasoning"))
    uncached, visible = as_int(usage.get("input")), as_int(usage.get("output"))
    audio_out = as_int(usage.get("output_audio_tokens"))
    return {
        "input_tokens": None if uncached is None else uncached + (cache_read or 0) + (cache_write or 0),
        "output_tokens": None if visible is None else visible + (reasoning or 0) + (audio_out or 0),
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": reasoning,
    }


def _openai_chat_usage(usage: dict) -> dict[str, int | None]:
    """OpenAI Chat Completions usage: prompt_tokens includes the cache, completion_tokens the reasoning."""
    return {
        "input_tokens": as_int(usage.get("prompt_tokens")),
        "output_tokens": as_int(usage.get("completion_tokens")),
        "cache_read_tokens": _present(_nested_int(usage, "prompt_tokens_details", "cached_tokens"), _cache_read(usage)),
        "cache_write_tokens": _cache_write(usage),
        "reasoning_tokens": _present(_nested_int(usage, "completion_tokens_details", "reasoning_tokens"),
                                     _first_int(usage, ("reasoning_tokens", "output_reasoning_tokens"))),
    }


def _provider_usage(usage: dict) -> dict[str, int | None]:
    """`input_tokens` / `output_tokens`: OpenAI Responses (cache-inclusive, `input_tokens_details`)
    or Anthropic Messages (cache-EXCLUSIVE: `cache_read_input_tokens` / `cache_creation_input_tokens`
    beside it, added back)."""
    tokens_in, tokens_out = as_int(usage.get("input_tokens")), as_int(usage.get("output_tokens"))
    if isinstance(usage.get("input_tokens_details"), dict) or isinstance(usage.get("output_tokens_details"), dict):
        return {
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "cache_read_tokens": _nested_int(usage, "input_tokens_details", "cached_tokens"),
            "cache_write_tokens": None,
            "reasoning_tokens": _nested_int(usage, "output_tokens_details", "reasoning_tokens"),
        }
    cache_read, cache_write = _cache_read(usage), _cache_write(usage)
    return {
        "input_tokens": None if tokens_in is None else tokens_in + (cache_read or 0) + (cache_write or 0),
        "output_tokens": tokens_out,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": None,
    }


def _cache_read(usage: dict) -> int | None:
    return _first_int(usage, _CACHE_READ)


def _cache_write(usage: dict) -> int | None:
    cache_write = _first_int(usage, _CACHE_WRITE)
    if cache_write is None:
        split = [as_int(usage.get(k)) for k in _CACHE_WRITE_SPLIT]
        cache_write = sum(v for v in split if v is not None) if any(v is not None for v in split) else None
    return cache_write


def _present(*values: int | None) -> int | None:
    """The first reported count (a reported 0 counts)."""
    return next((v for v in values if v is not None), None)


def _nested_int(usage: dict, parent: str, key: str) -> int | None:
    details = usage.get(parent)
    value = as_int(details.get(key)) if isinstance(details, dict) else None
    return value if value is not None else as_int(usage.get(f"{parent}.{key}"))  # flattened form


def _first_int(d: dict, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = as_int(d.get(key))
        if value is not None:
            return value
    return None


def total_cost(value: Any) -> Decimal | None:
    """cost_details `total`, else the sum of its parts (what Langfuse shows as total)."""
    details = parse_json(value)
    if not isinstance(details, dict):
        return None
    total = as_decimal(details.get("total"))
    if total is not None:
        return total
    parts = [p for p in map(as_decimal, details.values()) if p is not None]
    return sum(parts, Decimal(0)) if parts else None


def _context(attrs: Attrs, out: Sink) -> None:
    out.offer("session_id", "langfuse.session.id", attrs.take_str("langfuse.session.id"))
    out.offer("user_id", "langfuse.user.id", attrs.take_str("langfuse.user.id"))
    for key in ("langfuse.trace.tags", "langfuse.tags"):
        out.offer("tags", key, attrs.take(key, as_tags))
    out.offer("environment", "langfuse.environment", attrs.take_str("langfuse.environment"))
    for level in ("observation", "trace"):
        metadata = _metadata(attrs, f"langfuse.{level}.metadata")
        out.offer("metadata", f"langfuse.{level}.metadata", metadata)
        out.offer("session_id", "langfuse metadata langfuse_session_id", as_str(metadata.get("langfuse_session_id")))
        out.offer("user_id", "langfuse metadata langfuse_user_id", as_str(metadata.get("langfuse_user_id")))
        out.offer("tags", "langfuse metadata langfuse_tags", as_tags(metadata.get("langfuse_tags")))


def _metadata(attrs: Attrs, key: str) -> dict[str, Any]:
    """`<key>` as a JSON object, merged with `<key>.<name>` entries."""
    metadata: dict[str, Any] = {}
    whole = attrs.peek(key, parse_json)
    if isinstance(whole, dict):
        attrs.consume(key)
        metadata.update(whole)
    for name, value in attrs.take_under(key).items():
        metadata[name] = parse_json_container(value)
    return metadata


def _level(span: SpanRecord, attrs: Attrs, out: Sink) -> None:
    level = (attrs.peek("langfuse.observation.level", as_str) or "").strip().upper()
    failed = level in _ERROR_LEVELS
    if failed:
        attrs.consume("langfuse.observation.level")
        out.offer("is_error", "langfuse.observation.level", True)
    if failed or span.status_code == STATUS_ERROR:  # otherwise a status message is not an error message
        out.offer("error_message", "langfuse.observation.status_message",
                  attrs.take_str("langfuse.observation.status_message"))
