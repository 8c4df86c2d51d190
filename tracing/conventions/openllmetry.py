"""OpenLLMetry / Traceloop: `traceloop.*` workflow/task/agent/tool spans, the legacy (0.4.x)
flattened `gen_ai.prompt.N.*` / `gen_ai.completion.N.*` LLM shape with `llm.*` usage, and the
project-specific keys 0.5.x still writes under `gen_ai.`. The upstream GenAI keys 0.5.x
writes are read by the genai mapper."""
from __future__ import annotations

from typing import Any

from tracing.spans import SpanRecord

from ._attrs import Attrs, as_str, is_index, span_events
from ._json import parse_json, parse_json_container
from .messages import normalize_finish_reason, reasoning_part, to_message, to_tool_definition, unwrap_call_envelope
from .offers import Sink
from .precedence import VECTOR_DB_HINT

NAME = "openllmetry"

SPAN_KINDS = {"agent": "agent", "tool": "tool", "workflow": "other", "task": "other"}
REQUEST_TYPES = {"chat": "llm", "completion": "llm", "embedding": "embedding", "rerank": "retrieval"}
USAGE_KEYS = (
    ("cache_read_tokens", "gen_ai.usage.cache_read_input_tokens"),  # 0.4.x underscore spelling
    ("cache_write_tokens", "gen_ai.usage.cache_creation_input_tokens"),
    ("reasoning_tokens", "gen_ai.usage.reasoning_tokens"),  # 0.5.x
    ("reasoning_tokens", "llm.usage.reasoning_tokens"),  # 0.4.x
)
FINISH_KEYS = ("gen_ai.response.finish_reason", "llm.response.finish_reason",
               "gen_ai.response.stop_reason", "llm.response.stop_reason")
_PREFIXES = ("traceloop.", "llm.request.", "llm.usage.", "llm.response.", "llm.user", "gen_ai.user",
             "gen_ai.task.", *[k for _, k in USAGE_KEYS], *FINISH_KEYS)


def applies(span: SpanRecord, attrs: Attrs) -> bool:
    return (
        attrs.has_prefix(*_PREFIXES)
        or any(_indexed(k, p) for k in attrs.keys() for p in ("gen_ai.prompt.", "gen_ai.completion.",
                                                             "gen_ai.tool.definitions."))
        or any(name == "db.query.result" for name, _ in span_events(span))
    )


def _indexed(key: str, prefix: str) -> bool:
    # gen_ai.prompt.name / .version / .variable.* are GenAI prompt-template keys, not content.
    return key.startswith(prefix) and is_index(key[len(prefix):].split(".", 1)[0])


def map_span(span: SpanRecord, attrs: Attrs, out: Sink) -> None:
    span_kind = (attrs.take_str("traceloop.span.kind") or "").strip().lower()
    out.offer("kind", "traceloop.span.kind", SPAN_KINDS.get(span_kind))
    request_type = (attrs.take_str("llm.request.type") or "").strip().lower()
    if request_type:
        out.offer("kind", "llm.request.type", REQUEST_TYPES.get(request_type, "llm"))
        out.offer("operation", "llm.request.type", request_type)
    _entity(attrs, out, span_kind)
    for field, key in USAGE_KEYS:
        out.offer(field, key, attrs.take_int(key))
    out.offer("input", "gen_ai.prompt.N", attrs.take_indexed("gen_ai.prompt", lambda e: _message(e, "user")))
    completions = attrs.take_indexed("gen_ai.completion", lambda e: e if isinstance(e, dict) else None)
    out.offer("output", "gen_ai.completion.N", _completions(completions))
    for key in FINISH_KEYS:
        reason = normalize_finish_reason(attrs.take_str(key))
        out.offer("finish_reasons", key, [reason] if reason else None)
    for key, source in (("llm.request.functions", "llm.request.functions"),
                        ("gen_ai.tool.definitions", "gen_ai.tool.definitions.N")):
        out.offer("tool_definitions", source, attrs.take_indexed(key, _tool_definition))
    for key in ("gen_ai.user", "llm.user"):
        out.offer("user_id", key, attrs.take_str(key))
    if (attrs.peek("gen_ai.task.status", as_str) or "").lower() == "failure":
        attrs.consume("gen_ai.task.status")
        out.offer("is_error", "gen_ai.task.status", True)
    for side in ("input", "output"):
        out.offer(side, f"gen_ai.task.{side}", attrs.take(f"gen_ai.task.{side}", parse_json_container))
    _vector_db(span, out)


def _entity(attrs: Attrs, out: Sink, span_kind: str) -> None:
    name = attrs.take_str("traceloop.entity.name")
    out.offer("name", "traceloop.entity.name", name)
    if span_kind == "agent":
        out.offer("agent_name", "traceloop.entity.name", name)
    if span_kind == "tool":
        out.offer("tool_name", "traceloop.entity.name", name)
    # Offered as step content and as tool call content; assemble keeps what the kind needs.
    entity_input = attrs.take("traceloop.entity.input", unwrap_call_envelope)
    out.offer("input", "traceloop.entity.input", entity_input)
    out.offer("tool_arguments", "traceloop.entity.input", entity_input)
    entity_output = attrs.take("traceloop.entity.output", _unwrap_output)
    out.offer("output", "traceloop.entity.output", entity_output)
    out.offer("tool_result", "traceloop.entity.output", entity_output)

    properties = attrs.take_under("traceloop.association.properties")
    out.offer("metadata", "traceloop.association.properties", properties)
    out.offer("session_id", "traceloop.association.properties.session_id", as_str(properties.get("session_id")))
    out.offer("user_id", "traceloop.association.properties.user_id", as_str(properties.get("user_id")))


def _tool_definition(entry: Any) -> Any:
    """{name, description, parameters (JSON string)}; entries without a name are not definitions."""
    return to_tool_definition(entry) if isinstance(entry, dict) and isinstance(entry.get("name"), str) else None


def _unwrap_output(value: Any) -> Any:
    value = parse_json(value)
    if isinstance(value, dict) and set(value) == {"output"}:
        return value["output"]
    return value


def _message(entry: Any, default_role: str) -> dict | None:
    if not isinstance(entry, dict):
        return None
    entry = dict(entry)
    content = entry.get("content")
    if isinstance(content, str):  # multimodal content is a JSON list of typed parts
        decoded = parse_json_container(content)
        if isinstance(decoded, list) and decoded and all(isinstance(p, dict) and "type" in p for p in decoded):
            entry["content"] = decoded
    if not isinstance(entry.get("role"), str):
        entry["role"] = default_role
    return to_message(entry, default_role)


def _completions(entries: list) -> list[dict] | None:
    """Anthropic thinking blocks were written as their own completion, role `thinking`:
    they become reasoning parts of the assistant message, and the finish reason such an entry
    carries (0.4.x writes it on the first completion, the thinking one) becomes that message's."""
    messages, thinking, reason = [], [], ""
    for entry in entries:
        if isinstance(entry, dict) and entry.get("role") == "thinking":
            if isinstance(entry.get("content"), str):
                thinking.append(reasoning_part(entry["content"]))
            reason = reason or normalize_finish_reason(entry.get("finish_reason"))
            continue
        message = _message(entry, "assistant")
        if message is not None:
            messages.append(message)
    if thinking or reason:
        target = next((m for m in messages if m["role"] == "assistant"), None)
        if target is None:
            messages.insert(0, target := {"role": "assistant", "parts": []})
        target["parts"][:0] = thinking
        if reason:
            target.setdefault("finish_reason", reason)
    return messages or None


def _vector_db(span: SpanRecord, out: Sink) -> None:
    documents = []
    for name, attributes in span_events(span):
        if name == "db.query.result":
            prefix = "db.query.result."
            documents.append({k[len(prefix):]: parse_json_container(v) for k, v in attributes.items()
                              if isinstance(k, str) and k.startswith(prefix)})
    if documents:
        out.offer("kind", VECTOR_DB_HINT, "retrieval")
        out.offer("output", VECTOR_DB_HINT, documents)
