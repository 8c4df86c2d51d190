"""Chat messages in the shapes agents hold them, turned into OTel GenAI "parts" JSON.

Accepted input: OpenAI-style dicts ({role, content, tool_calls, tool_call_id, name}),
OpenAI content-part lists, Anthropic-style content blocks (tool_use, tool_result,
thinking), plain strings, and messages already in GenAI form ({role, parts}), which pass
through unchanged. Output follows conventions.md §1.7.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

# OpenAI and Anthropic spellings of the spec's finish reasons.
_FINISH_REASONS = {"tool_calls": "tool_call", "function_call": "tool_call", "tool_use": "tool_call",
                   "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def dumps(value: Any) -> str:
    """JSON for an attribute value; objects JSON cannot encode fall back to a readable form."""
    return json.dumps(value, ensure_ascii=False, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):  # pydantic models
        return value.model_dump()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _maybe_json(value: Any) -> Any:
    """Tool-call arguments arrive as JSON strings from OpenAI; store them as objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def normalize_finish_reason(reason: str | None) -> str | None:
    return _FINISH_REASONS.get(reason, reason) if reason else reason


def text_part(text: str) -> dict:
    return {"type": "text", "content": text}


def reasoning_part(text: str) -> dict:
    return {"type": "reasoning", "content": text}


def tool_call_part(call: Any) -> dict:
    """One tool call requested by the model: OpenAI {id, function{name, arguments}},
    flat {id, name, arguments} or Anthropic {id, name, input}."""
    if isinstance(call, dict) and call.get("type") == "tool_call":
        return dict(call)
    call = _as_dict(call)
    function = _as_dict(call.get("function") or {})
    part = {"type": "tool_call"}
    if call.get("id") is not None:
        part["id"] = call["id"]
    part["name"] = function.get("name") or call.get("name") or ""
    args = function.get("arguments", call.get("arguments", call.get("input")))
    if args is not None:
        part["arguments"] = _maybe_json(args)
    return part


def content_parts(content: Any) -> list[dict]:
    """Parts for a message's `content`: a string, one block, or a list of blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [text_part(content)] if content else []
    if isinstance(content, dict):
        content = [content]
    parts: list[dict] = []
    for block in content:
        part = _block_part(block)
        if part is not None:
            parts.append(part)
    return parts


def _block_part(block: Any) -> dict | None:
    if isinstance(block, str):
        return text_part(block)
    block = _as_dict(block)
    kind = block.get("type")
    if kind in ("text", "input_text", "output_text") and "text" in block:
        return text_part(block["text"])
    if kind == "image_url":
        image = block.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return _url_part(url or "", "image")
    if kind == "tool_use":
        return tool_call_part(block)
    if kind == "tool_result":
        part = {"type": "tool_call_response", "response": _response_value(block.get("content"))}
        if block.get("tool_use_id") is not None:
            part["id"] = block["tool_use_id"]
        return part
    if kind in ("thinking", "reasoning") and "thinking" in block:
        return reasoning_part(block["thinking"])
    # Already a GenAI part, or something we do not know: kept as received.
    return dict(block) if kind else {"type": "unknown", **block}


def _url_part(url: str, modality: str) -> dict:
    # The spec keeps base64 out of `uri` parts: a data: URL becomes a blob.
    if url.startswith("data:") and "," in url:
        header, data = url[5:].split(",", 1)
        mime = header.split(";", 1)[0]
        part = {"type": "blob", "modality": modality, "content": data}
        if mime:
            part["mime_type"] = mime
        return part
    return {"type": "uri", "modality": modality, "uri": url}


def _response_value(content: Any) -> Any:
    """A tool result's content: a string stays a string; text blocks are joined."""
    if isinstance(content, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in content):
        return "".join(b.get("text", "") for b in content)
    return content


def to_message(message: Any, default_role: str = "user") -> dict:
    """One message in GenAI form ({role, parts, name?, finish_reason?})."""
    if isinstance(message, str):
        return {"role": default_role, "parts": content_parts(message)}
    message = _as_dict(message)
    if "message" in message and "role" not in message:  # an OpenAI choice
        converted = to_message(message["message"], default_role)
        if message.get("finish_reason"):
            converted["finish_reason"] = normalize_finish_reason(message["finish_reason"])
        return converted
    if "parts" in message:
        return dict(message)
    role = message.get("role") or default_role
    parts: list[dict] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(reasoning_part(reasoning))
    if role in ("tool", "function") and message.get("tool_call_id") is not None:
        parts.append({"type": "tool_call_response", "id": message["tool_call_id"],
                      "response": _response_value(message.get("content"))})
    else:
        parts.extend(content_parts(message.get("content")))
    parts.extend(tool_call_part(call) for call in message.get("tool_calls") or ())
    converted = {"role": role, "parts": parts}
    if message.get("name"):
        converted["name"] = message["name"]
    if message.get("finish_reason"):
        converted["finish_reason"] = normalize_finish_reason(message["finish_reason"])
    return converted


def to_messages(messages: Any, default_role: str = "user") -> list[dict]:
    """A list of messages (a lone string or dict counts as one message)."""
    if messages is None:
        return []
    # One message: a string, a dict, or an SDK object (pydantic models are iterable too).
    if isinstance(messages, (str, dict)) or hasattr(messages, "model_dump") or not isinstance(messages, Iterable):
        messages = [messages]
    return [to_message(m, default_role) for m in messages]


def finish_output(messages: list[dict], finish_reason: str | None = None) -> list[dict]:
    """Give every output message a finish_reason: its own, the given one, or inferred."""
    for message in messages:
        if not message.get("finish_reason"):
            asked_tools = any(p.get("type") == "tool_call" for p in message.get("parts", ()))
            message["finish_reason"] = normalize_finish_reason(finish_reason) or (
                "tool_call" if asked_tools else "stop")
    return messages


def system_instructions(system: Any) -> list[dict]:
    """`gen_ai.system_instructions` is a bare list of parts, no role wrapper."""
    return content_parts(system)


def tool_definitions(tools: Iterable[Any]) -> list[dict]:
    """OpenAI {type, function{name, description, parameters}}, Anthropic {name,
    description, input_schema}, flat definitions or bare names, as GenAI definitions."""
    definitions = []
    for tool in tools:
        if isinstance(tool, str):
            definitions.append({"type": "function", "name": tool})
            continue
        tool = _as_dict(tool)
        body = _as_dict(tool.get("function") or tool)
        definition = {"type": tool.get("type") or "function", "name": body.get("name", "")}
        if body.get("description"):
            definition["description"] = body["description"]
        parameters = body.get("parameters", body.get("input_schema"))
        if parameters is not None:
            definition["parameters"] = parameters
        definitions.append(definition)
    return definitions


def _as_dict(value: Any) -> dict:
    """SDK response objects (pydantic models) read like the dicts they serialize to.
    Anything else is kept as text rather than raising into the agent's code."""
    if isinstance(value, dict):
        return value
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return {"type": "unknown", "content": str(value)}
