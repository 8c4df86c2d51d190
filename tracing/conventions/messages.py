"""The one internal message shape (GenAI "parts"), built from whatever a convention sent.

Accepts GenAI parts messages (incl. Pydantic AI's `thinking` / `result` variants),
OpenAI chat messages, Anthropic content blocks, Vercel AI SDK parts, Gemini parts and
OpenLLMetry's flat tool calls. Unknown part types are kept as received.
"""
from __future__ import annotations

from typing import Any

from ._json import parse_json

_ROLES = {"human": "user", "ai": "assistant", "agent": "assistant", "model": "assistant", "function": "tool"}

_FINISH = {
    "tool_calls": "tool_call", "tool-calls": "tool_call", "function_call": "tool_call", "tool_use": "tool_call",
    "end_turn": "stop", "stop_sequence": "stop", "complete": "stop", "completed": "stop",
    "max_tokens": "length", "max_output_tokens": "length", "model_length": "length",
    "content-filter": "content_filter", "safety": "content_filter", "recitation": "content_filter",
    "blocklist": "content_filter", "prohibited_content": "content_filter", "spii": "content_filter",
    "refusal": "content_filter",
}

_TEXT_TYPES = {"text", "input_text", "output_text"}
_REASONING_TYPES = {"reasoning", "thinking"}
_CALL_TYPES = {"tool_call", "tool-call", "tool_use", "function_call"}
_RESULT_TYPES = {"tool_call_response", "tool-result", "tool_result", "function_call_output"}


def normalize_role(role: Any) -> str:
    if not isinstance(role, str) or not role.strip():
        return ""
    role = role.strip().lower()
    return _ROLES.get(role, role)


def normalize_finish_reason(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return ""
    reason = value.strip().lower()
    if reason.startswith("finish_reason_"):  # Gemini proto enum names
        reason = reason[len("finish_reason_"):]
    return _FINISH.get(reason, reason)


def parse_arguments(value: Any) -> Any:
    """Tool-call arguments: a JSON string becomes the object it encodes."""
    return parse_json(value) if isinstance(value, str) else value


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "content": text}


def reasoning_part(text: str) -> dict[str, Any]:
    return {"type": "reasoning", "content": text}


def tool_call_part(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "id": call_id if isinstance(call_id, str) and call_id else None,
        "name": name if isinstance(name, str) else "",
        "arguments": parse_arguments(arguments),
    }


def tool_response_part(call_id: Any, response: Any, name: Any = None) -> dict[str, Any]:
    part = {"type": "tool_call_response", "id": call_id if isinstance(call_id, str) and call_id else None,
            "response": response}
    if isinstance(name, str) and name:
        part["name"] = name
    return part


def _first(d: dict, *keys: str) -> Any:
    for key in keys:
        if d.get(key) is not None:
            return d[key]
    return None


def dict_at(d: dict, key: str, default: Any = None) -> dict:
    """d[key] if it is a dict, else `default` (an empty dict when not given)."""
    value = d.get(key)
    if isinstance(value, dict):
        return value
    return {} if default is None else default


def _text_of(value: Any) -> str:
    """Text from a string or a list of summary/text blocks (OpenAI reasoning summaries)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = [v if isinstance(v, str) else v.get("text") for v in value if isinstance(v, (str, dict))]
        return "\n".join(t for t in texts if isinstance(t, str) and t)
    return ""


def url_part(url: str, modality: str = "image") -> dict[str, Any]:
    if url.startswith("data:") and "," in url:
        header, data = url[5:].split(",", 1)
        return {"type": "blob", "modality": modality, "mime_type": header.split(";", 1)[0] or None, "content": data}
    return {"type": "uri", "modality": modality, "uri": url}


def to_part(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        return text_part(raw)
    if not isinstance(raw, dict):
        return {"type": "unknown", "content": raw}
    kind = raw.get("type")
    if not isinstance(kind, str):
        return _untyped_part(raw)
    if kind in _TEXT_TYPES:
        text = _first(raw, "content", "text")
        return text_part(text) if isinstance(text, str) else dict(raw)
    if kind in _REASONING_TYPES:
        return reasoning_part(_text_of(_first(raw, "content", "text", "thinking", "reasoning", "summary")))
    if kind in _CALL_TYPES:
        function = dict_at(raw, "function")
        return tool_call_part(
            _first(raw, "toolCallId", "call_id", "id"),
            _first(raw, "name", "toolName") or function.get("name"),
            _first(raw, "arguments", "args", "input") if function.get("arguments") is None else function["arguments"],
        )
    if kind in _RESULT_TYPES:
        return tool_response_part(
            _first(raw, "toolCallId", "tool_use_id", "call_id", "id"),
            _first(raw, "response", "result", "output", "content"),
            _first(raw, "name", "toolName"),
        )
    if kind in ("image_url", "input_image"):
        image = raw.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return url_part(url) if isinstance(url, str) else dict(raw)
    if kind == "refusal":
        return {"type": "refusal", "content": _first(raw, "refusal", "content")}
    return dict(raw)


def _untyped_part(raw: dict) -> dict[str, Any]:
    """Gemini parts and bare {"text"}/{"content"} dicts carry no `type`."""
    call = raw.get("functionCall") or raw.get("function_call")
    if isinstance(call, dict):
        return tool_call_part(call.get("id"), call.get("name"), _first(call, "args", "arguments"))
    response = raw.get("functionResponse") or raw.get("function_response")
    if isinstance(response, dict):
        return tool_response_part(response.get("id"), response.get("response"), response.get("name"))
    text = _first(raw, "text", "content")
    if isinstance(text, str):
        return reasoning_part(text) if raw.get("thought") is True else text_part(text)
    blob = raw.get("inlineData") or raw.get("inline_data")
    if isinstance(blob, dict):
        return {"type": "blob", "modality": "image", "mime_type": _first(blob, "mimeType", "mime_type"),
                "content": blob.get("data")}
    return dict(raw)


def is_message_like(raw: Any) -> bool:
    return isinstance(raw, dict) and (isinstance(raw.get("role"), str) or isinstance(raw.get("parts"), list))


def to_message(raw: Any, default_role: str) -> dict[str, Any] | None:
    """One message in the internal shape, or None when `raw` is not a message."""
    if isinstance(raw, str):
        return {"role": default_role, "parts": [text_part(raw)]}
    if not isinstance(raw, dict):
        return None
    inner = raw.get("message")
    if isinstance(inner, dict) and not is_message_like(raw):  # an OpenAI choice / Logfire response_data
        choice = to_message({**inner, "role": inner.get("role") or default_role}, default_role)
        reason = normalize_finish_reason(_first(raw, "finish_reason", "finishReason"))
        if choice is not None and reason:
            choice["finish_reason"] = reason
        # The gen_ai.choice yaml puts tool_calls beside `message`, its examples inside it.
        if choice is not None and isinstance(raw.get("tool_calls"), list) and "tool_calls" not in inner:
            choice["parts"].extend(_tool_calls(raw["tool_calls"]))
        return choice
    if not is_message_like(raw):
        return None
    role = normalize_role(raw.get("role")) or default_role
    parts = [to_part(p) for p in raw["parts"]] if isinstance(raw.get("parts"), list) else _content_parts(raw, role)
    message: dict[str, Any] = {"role": role, "parts": parts}
    if isinstance(raw.get("name"), str) and raw["name"]:
        message["name"] = raw["name"]
    reason = normalize_finish_reason(_first(raw, "finish_reason", "stop_reason", "finishReason"))
    if reason:
        message["finish_reason"] = reason
    return message


def _content_parts(raw: dict, role: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    thought = _first(raw, "reasoning_content", "reasoning")  # DeepSeek / OpenRouter style
    if isinstance(thought, str) and thought:
        parts.append(reasoning_part(thought))
    content = raw.get("content")
    call_id = _first(raw, "tool_call_id", "toolCallId")
    if role == "tool" and isinstance(call_id, str) and not isinstance(content, list):
        parts.append(tool_response_part(call_id, parse_json(content) if isinstance(content, str) else content,
                                        raw.get("name")))
        content = None
    if isinstance(content, str) and content:
        parts.append(text_part(content))
    elif isinstance(content, list):
        parts.extend(to_part(p) for p in content)
    elif isinstance(content, dict):
        parts.append(to_part(content))
    if isinstance(raw.get("refusal"), str) and raw["refusal"]:
        parts.append({"type": "refusal", "content": raw["refusal"]})
    if isinstance(raw.get("tool_calls"), list):
        parts.extend(_tool_calls(raw["tool_calls"]))
    if isinstance(raw.get("function_call"), dict):  # legacy OpenAI function calling
        fc = raw["function_call"]
        parts.append(tool_call_part(None, fc.get("name"), fc.get("arguments")))
    return parts


def _tool_calls(calls: list) -> list[dict[str, Any]]:
    """OpenAI {id, function{name, arguments}} and OpenLLMetry/flat {id, name, arguments} calls."""
    parts = []
    for call in calls:
        if not isinstance(call, dict):
            continue
        function = dict_at(call, "function")
        parts.append(tool_call_part(
            _first(call, "id", "toolCallId"),
            function.get("name") or _first(call, "name", "toolName"),
            function["arguments"] if "arguments" in function else _first(call, "arguments", "args", "input"),
        ))
    return parts


# Typed content blocks (GenAI parts, OpenAI/Anthropic/Vercel content items) that can make up one message.
_PART_TYPES = _TEXT_TYPES | _REASONING_TYPES | _CALL_TYPES | _RESULT_TYPES | {
    "image", "image_url", "input_image", "refusal", "redacted_thinking", "document", "file", "blob", "uri",
    "server_tool_use", "server_tool_call", "server_tool_call_response", "web_search_tool_result",
}


def parts_message(value: Any, role: str) -> dict[str, Any] | None:
    """One message from a bare list of typed content blocks, e.g. the Anthropic `content` list an
    integration logged as the output ([{"type": "thinking"}, {"type": "text"}, {"type": "tool_use"}])."""
    value = parse_json(value)
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(p, dict) and p.get("type") in _PART_TYPES for p in value):
        return None
    return {"role": role, "parts": [to_part(p) for p in value]}


def dedupe_tool_calls(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop a tool_call part whose id an earlier tool_call part of the same message already has
    (OpenInference lists an Anthropic tool_use both as a content item and in `tool_calls`)."""
    seen: set[str] = set()
    out = []
    for part in parts:
        call_id = part.get("id") if isinstance(part, dict) and part.get("type") == "tool_call" else None
        if isinstance(call_id, str) and call_id:
            if call_id in seen:
                continue
            seen.add(call_id)
        out.append(part)
    return out


def unwrap_call_envelope(value: Any) -> Any:
    """A decorated function's recorded inputs, `{"args": [...], "kwargs": {...}}` (traceloop
    @tool/@task, Langfuse @observe) or LangChain's `{"inputs": ...}`: the call's own arguments
    (the kwargs, or the single positional argument). Anything else comes back as is."""
    value = parse_json(value)
    if isinstance(value, dict) and value and set(value) <= {"args", "kwargs"}:
        args, kwargs = value.get("args") or [], value.get("kwargs") or {}
        if not args and isinstance(kwargs, dict):
            return kwargs
        if isinstance(args, list) and len(args) == 1 and not kwargs:
            return args[0]
    if isinstance(value, dict) and set(value) == {"inputs"}:
        return value["inputs"]
    return value


def to_messages(value: Any, default_role: str) -> list[dict[str, Any]] | None:
    """A list of messages from a list (or JSON string of one); None unless every item is a
    message, so a half-understood value is kept whole rather than silently trimmed."""
    value = parse_json(value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    messages = []
    for item in value:
        message = to_message(item, default_role)
        if message is None:
            return None
        messages.append(message)
    return messages


def are_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(is_message_like(m) for m in value)


def tool_calls_of(messages: Any) -> list[dict[str, Any]]:
    calls = []
    for message in messages if isinstance(messages, list) else []:
        for part in message.get("parts", []) if isinstance(message, dict) else []:
            if isinstance(part, dict) and part.get("type") == "tool_call":
                calls.append({"id": part.get("id"), "name": part.get("name") or "", "arguments": part.get("arguments")})
    return calls


def reasoning_of(messages: Any) -> str:
    texts = []
    for message in messages if isinstance(messages, list) else []:
        for part in message.get("parts", []) if isinstance(message, dict) else []:
            if isinstance(part, dict) and part.get("type") == "reasoning" and isinstance(part.get("content"), str):
                texts.append(part["content"])
    return "\n\n".join(t for t in texts if t)


def finish_reasons_of(messages: Any) -> list[str]:
    if not isinstance(messages, list):
        return []
    return [m["finish_reason"] for m in messages if isinstance(m, dict) and m.get("finish_reason")]


def system_parts_of(messages: Any) -> list[dict[str, Any]] | None:
    """The parts of the first system/developer message (system instructions kept in the history)."""
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            return message.get("parts") or None
    return None


def to_tool_definition(raw: Any) -> Any:
    """{type, name, description?, parameters?}; unwraps OpenAI's {"function": {...}} and renames
    Anthropic `input_schema` / Vercel `inputSchema`. Unrecognised items are kept as received."""
    raw = parse_json(raw)
    if not isinstance(raw, dict):
        return raw
    inner = dict_at(raw, "function", raw)
    if not isinstance(inner.get("name"), str):
        return raw
    definition: dict[str, Any] = {"type": raw.get("type") if isinstance(raw.get("type"), str) else "function",
                                  "name": inner["name"]}
    if inner.get("description") is not None:
        definition["description"] = inner["description"]
    parameters = _first(inner, "parameters", "input_schema", "inputSchema")
    if parameters is not None:
        definition["parameters"] = parse_json(parameters)
    return definition


def to_tool_definitions(value: Any) -> list[Any] | None:
    value = parse_json(value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return None
    return [to_tool_definition(item) for item in value] or None
