"""OpenInference (Arize / Phoenix): flattened `llm.*` messages and token counts,
`openinference.span.kind`, `input.value` / `output.value`, tools, retrievers, embeddings."""
from __future__ import annotations

from functools import partial
from typing import Any

from tracing.spans import SpanRecord

from ._attrs import Attrs, as_decimal, as_str, as_str_list, unflatten
from ._json import parse_json, parse_json_container
from .messages import (
    dedupe_tool_calls,
    dict_at,
    normalize_finish_reason,
    normalize_role,
    parse_arguments,
    reasoning_part,
    text_part,
    to_message,
    to_part,
    to_tool_definition,
    tool_call_part,
    tool_response_part,
    url_part,
)
from .offers import Sink
from .providers import openinference_provider

NAME = "openinference"

SPAN_KINDS = {"LLM": "llm", "EMBEDDING": "embedding", "AGENT": "agent", "TOOL": "tool",
              "RETRIEVER": "retrieval", "RERANKER": "retrieval"}
# gen_ai.operation.name equivalents, as the official OpenInference -> GenAI converter derives them.
OPERATIONS = {"EMBEDDING": "embeddings", "AGENT": "invoke_agent", "TOOL": "execute_tool",
              "RETRIEVER": "retrieval", "RERANKER": "rerank"}

_PREFIXES = (
    "openinference.", "llm.input_messages", "llm.output_messages", "llm.token_count.", "llm.cost.",
    "llm.model_name", "llm.request.model_name", "llm.response.model_name", "llm.provider", "llm.system",
    "llm.invocation_parameters", "llm.tools.", "llm.prompts", "llm.choices.", "llm.finish_reason",
    "input.", "output.", "tool.", "tool_call.", "embedding.", "retrieval.", "reranker.",
    "session.id", "user.id", "metadata", "tag.tags", "agent.name", "graph.node.",
)
USAGE_KEYS = (
    ("input_tokens", "llm.token_count.prompt"),
    ("output_tokens", "llm.token_count.completion"),
    ("cache_read_tokens", "llm.token_count.prompt_details.cache_read"),
    ("cache_write_tokens", "llm.token_count.prompt_details.cache_write"),
    ("reasoning_tokens", "llm.token_count.completion_details.reasoning"),
)


def applies(span: SpanRecord, attrs: Attrs) -> bool:
    return attrs.has_prefix(*_PREFIXES)


def map_span(span: SpanRecord, attrs: Attrs, out: Sink) -> None:
    span_kind = (attrs.take_str("openinference.span.kind") or "").strip().upper()
    if span_kind:
        out.offer("kind", "openinference.span.kind", SPAN_KINDS.get(span_kind, "other"))
        operation = OPERATIONS.get(span_kind)
        if span_kind == "LLM":
            operation = "text_completion" if attrs.has_prefix("llm.prompts", "llm.choices") else "chat"
        out.offer("operation", "openinference.span.kind", operation)
    _model(attrs, out)
    for field, key in USAGE_KEYS:
        out.offer(field, key, attrs.take_int(key))
    out.offer("reported_cost", "llm.cost.total", attrs.take("llm.cost.total", as_decimal))
    _messages(attrs, out)
    _content(attrs, out)
    _tool(attrs, out)
    _documents(attrs, out)
    _context(attrs, out)


def _model(attrs: Attrs, out: Sink) -> None:
    for key in ("llm.model_name", "llm.request.model_name"):
        name = attrs.take_str(key)
        out.offer("model", key, name)
        out.offer("request_model", key, name)
    for key in ("llm.response.model_name", "embedding.model_name", "reranker.model_name"):
        out.offer("model", key, attrs.take_str(key))
    params = attrs.peek("llm.invocation_parameters", parse_json)  # request settings: left unmapped
    if isinstance(params, dict):
        # The model as sent: the requested model (llm.model_name is the response model when known).
        out.offer("model", "llm.invocation_parameters", as_str(params.get("model")))
        out.offer("request_model", "llm.invocation_parameters", as_str(params.get("model")))
    provider, system = attrs.take_str("llm.provider"), attrs.take_str("llm.system")
    out.offer("provider", "llm.provider" if provider else "llm.system", openinference_provider(provider, system))


def _messages(attrs: Attrs, out: Sink) -> None:
    for key, field, role in (("llm.input_messages", "input", "user"), ("llm.output_messages", "output", "assistant")):
        flat = attrs.take_indexed(key, partial(oi_message, default_role=role))
        if not flat:  # some exporters send the whole list as one JSON string
            flat = attrs.take(key, partial(_json_messages, role=role)) or []
        out.offer(field, key, flat)
    out.offer("tool_definitions", "llm.tools",
              attrs.take_indexed("llm.tools", lambda e: to_tool_definition(_dig(e, "tool", "json_schema"))))
    reason = normalize_finish_reason(attrs.take_str("llm.finish_reason"))
    out.offer("finish_reasons", "llm.finish_reason", [reason] if reason else None)

    prompts = attrs.take_indexed("llm.prompts", lambda e: as_str(_dig(e, "prompt", "text")))
    prompts = prompts or attrs.take("llm.prompts", as_str_list) or []  # plain list of strings
    out.offer("input", "llm.prompts", [{"role": "user", "parts": [text_part(p)]} for p in prompts])
    choices = attrs.take_indexed("llm.choices", lambda e: as_str(_dig(e, "completion", "text")))
    out.offer("output", "llm.choices", [{"role": "assistant", "parts": [text_part(c)]} for c in choices])


def _json_messages(value: Any, role: str) -> list | None:
    value = parse_json(value)
    if not isinstance(value, list):
        return None
    messages = [oi_message(e, role) for e in value]
    return None if not messages or None in messages else messages


def _dig(value: Any, *path: str) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def oi_message(entry: Any, default_role: str) -> dict | None:
    """One OpenInference message ({"message": {role, content, contents, tool_calls, ...}})."""
    if isinstance(entry, dict) and any("." in k for k in entry if isinstance(k, str)):
        entry, _ = unflatten(entry)  # JSON form written with dotted keys ("message.role")
    message = entry.get("message") if isinstance(entry, dict) else None
    if not isinstance(message, dict):
        return to_message(entry, default_role)  # plain {role, content} JSON form
    role = normalize_role(message.get("role")) or default_role
    parts = []
    contents = message.get("contents")
    for item in contents if isinstance(contents, list) else []:
        part = _content_part(item)
        if part is not None:
            parts.append(part)
    content, call_id = message.get("content"), as_str(message.get("tool_call_id"))
    if role == "tool" and call_id:
        parts = [tool_response_part(call_id, content if content is not None else parts or None, message.get("name"))]
    elif isinstance(content, str) and content and not parts:
        parts.append(text_part(content))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        call = call.get("tool_call", call) if isinstance(call, dict) else {}
        function = _dig(call, "function")
        parts.append(tool_call_part(call.get("id"), _dig(function, "name"), _dig(function, "arguments")))
    if isinstance(message.get("function_call_name"), str):  # legacy function calling
        parts.append(tool_call_part(None, message["function_call_name"], message.get("function_call_arguments_json")))
    result: dict[str, Any] = {"role": role, "parts": dedupe_tool_calls(parts)}
    if isinstance(message.get("name"), str) and message["name"] and role != "tool":
        result["name"] = message["name"]
    return result


def _content_part(item: Any) -> dict | None:
    if not isinstance(item, dict):
        return None
    content = dict_at(item, "message_content")
    kind, text = content.get("type"), content.get("text")
    if kind == "text" and isinstance(text, str):
        return text_part(text)
    if kind == "reasoning":
        return reasoning_part(text if isinstance(text, str) else "")
    if kind in ("image", "audio"):
        url = _dig(content, kind, kind, "url") or _dig(content, kind, "url")
        return url_part(url, kind) if isinstance(url, str) else dict(content)
    if kind == "tool_use":
        call = item.get("tool_call") or content.get("tool_call") or {}
        return tool_call_part(_dig(call, "id"), _dig(call, "function", "name"), _dig(call, "function", "arguments"))
    return to_part(content) if content else None


def _decode(value: Any, mime: Any) -> Any:
    """`input.value` / `output.value`: JSON when the mime type says so (or when absent and it parses)."""
    if not isinstance(value, str):
        return value
    if isinstance(mime, str) and "json" in mime.lower():
        return parse_json(value)
    return parse_json_container(value) if mime is None else value


def _content(attrs: Attrs, out: Sink) -> None:
    # Offered as both step content and tool call content: assemble keeps the one the final kind needs.
    for side, tool_field in (("input", "tool_arguments"), ("output", "tool_result")):
        value = _decode(attrs.peek(f"{side}.value"), attrs.peek(f"{side}.mime_type"))
        if value is None or value == "":
            continue
        attrs.consume(f"{side}.value", f"{side}.mime_type")
        out.offer(side, f"{side}.value", value)
        out.offer(tool_field, f"{side}.value", parse_arguments(value) if side == "input" else value)


def _tool(attrs: Attrs, out: Sink) -> None:
    name = attrs.take_str("tool.name")
    out.offer("tool_name", "tool.name", name)
    out.offer("name", "tool.name", name)
    for key in ("tool.id", "tool_call.id"):
        out.offer("tool_call_id", key, attrs.take_str(key))
    # Spec: the parameter *schema*; many instrumentations store the call arguments here instead.
    parameters = attrs.peek("tool.parameters", parse_json)
    if parameters is not None and not _is_schema(parameters):
        attrs.consume("tool.parameters")
        out.offer("tool_arguments", "tool.parameters", parameters)


def _is_schema(value: Any) -> bool:
    return isinstance(value, dict) and (value.get("type") == "object" or isinstance(value.get("properties"), dict))


def _documents(attrs: Attrs, out: Sink) -> None:
    for key in ("retrieval.documents", "reranker.output_documents"):
        out.offer("output", key, attrs.take_indexed(key, _document))
    out.offer("input", "reranker.query", attrs.take_str("reranker.query"))
    embeddings = attrs.take_indexed("embedding.embeddings", _embedding)
    out.offer("input", "embedding.embeddings", [e["text"] for e in embeddings if "text" in e])
    out.offer("output", "embedding.embeddings", [e["vector"] for e in embeddings if "vector" in e])


def _embedding(entry: Any) -> dict | None:
    embedding = _dig(entry, "embedding")
    return embedding if isinstance(embedding, dict) else None


def _document(entry: Any) -> dict | None:
    document = entry.get("document") if isinstance(entry, dict) else None
    if not isinstance(document, dict):
        return None
    if "metadata" in document:
        document = {**document, "metadata": parse_json(document["metadata"])}
    return document


def _context(attrs: Attrs, out: Sink) -> None:
    out.offer("session_id", "session.id", attrs.take_str("session.id"))
    out.offer("user_id", "user.id", attrs.take_str("user.id"))
    metadata = attrs.peek("metadata", parse_json)
    if isinstance(metadata, dict):
        attrs.consume("metadata")
        out.offer("metadata", "metadata", metadata)
    out.offer("tags", "tag.tags", attrs.take("tag.tags", as_str_list))
    agent = attrs.take_str("agent.name")
    out.offer("agent_name", "agent.name", agent)
    out.offer("name", "agent.name", agent)
    out.offer("agent_name", "graph.node.name", attrs.take_str("graph.node.name"))
