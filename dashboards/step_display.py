"""What the step pane shows, prepared from a Step: clipped values (each with the path to load the
rest on demand), messages as a conversation, tool definitions, raw attributes.

Everything here stays plain text; the templates escape it. Nothing from a span is marked safe.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

INLINE_CHARS = 2_000  # longer values are clipped; "show all" loads the rest
HEAD_MESSAGES, TAIL_MESSAGES = 4, 40  # a long conversation shows its start and its end
VALUE_FIELDS = ("input", "output", "system_instructions", "tool_definitions", "reasoning", "tool_calls",
                "tool_arguments", "tool_result", "attributes", "metadata", "raw", "error_message")
LLM_KINDS = ("llm", "embedding")


@dataclass
class Clip:
    text: str
    total: int
    path: str  # JSON list locating the value on the Step, for the "show all" request
    is_json: bool = False

    @property
    def truncated(self) -> bool:
        return len(self.text) < self.total


def render_text(value: Any) -> tuple[str, bool]:
    """Strings as they are (pretty-printed when they hold a JSON object or list); other values as JSON."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
            try:
                return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False), True
            except ValueError:
                pass
        return value, False
    return json.dumps(value, indent=2, ensure_ascii=False, default=str), True


def clip(value: Any, path: list, limit: int = INLINE_CHARS) -> Clip | None:
    if value is None or value == "" or value == [] or value == {}:
        return None
    text, is_json = render_text(value)
    return Clip(text=text[:limit], total=len(text), path=json.dumps(path), is_json=is_json)


def resolve(step, path: Any) -> Any:
    """The value at `path` (a list: field name, then keys and indexes) on a Step. KeyError if absent."""
    if not isinstance(path, list) or not path or path[0] not in VALUE_FIELDS:
        raise KeyError("not a step value")
    value = step.received() if path[0] == "raw" else getattr(step, path[0])
    for key in path[1:]:
        if isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(value):
            value = value[key]
        elif isinstance(value, dict) and isinstance(key, str) and key in value:
            value = value[key]
        else:
            raise KeyError("no such value")
    return value


# --- messages ------------------------------------------------------------------------------------


def _part(part: Any, path: list) -> dict:
    if not isinstance(part, dict):
        return {"kind": "text", "clip": clip(part, path)}
    kind = part.get("type")
    if kind in ("text", "reasoning") and isinstance(part.get("content"), str):
        return {"kind": kind, "clip": clip(part["content"], path + ["content"])}
    if kind == "tool_call":
        return {"kind": kind, "name": str(part.get("name") or ""), "id": str(part.get("id") or ""),
                "clip": clip(part.get("arguments"), path + ["arguments"])}
    if kind == "tool_call_response":
        return {"kind": kind, "name": str(part.get("name") or ""), "id": str(part.get("id") or ""),
                "clip": clip(part.get("response"), path + ["response"])}
    return {"kind": "other", "type": str(kind or "part"), "clip": clip(part, path)}


def _message(message: Any, path: list) -> dict:
    if not isinstance(message, dict):
        return {"role": "", "parts": [_part(message, path)]}
    parts = message.get("parts")
    if isinstance(parts, list):
        shown = [_part(p, path + ["parts", i]) for i, p in enumerate(parts)]
    elif "content" in message:
        shown = [_part(message["content"], path + ["content"])]
    else:
        shown = [{"kind": "other", "type": "message", "clip": clip(message, path)}]
    role = message.get("role")
    return {"role": role if isinstance(role, str) else "", "parts": shown,
            "finish_reason": str(message.get("finish_reason") or "")}


def conversation(value: Any, field: str, everything: bool = False) -> dict:
    """Messages of `field` (a list in the parts shape) with the middle of a long list left out."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        single = clip(value, [field])
        return {"messages": [{"role": "", "parts": [{"kind": "text", "clip": single}]}] if single else [],
                "hidden": 0, "path": json.dumps([field])}
    indexed = list(enumerate(value))
    hidden = 0
    if not everything and len(indexed) > HEAD_MESSAGES + TAIL_MESSAGES:
        hidden = len(indexed) - HEAD_MESSAGES - TAIL_MESSAGES
        indexed = indexed[:HEAD_MESSAGES] + [(None, None)] + indexed[-TAIL_MESSAGES:]
    messages = [{"gap": hidden} if i is None else {**_message(m, [field, i]), "index": i} for i, m in indexed]
    return {"messages": messages, "hidden": hidden, "path": json.dumps([field])}


def system_messages(value: Any) -> dict:
    """System instructions (a list of parts or a string) as one system message."""
    if value in (None, "", []):
        return {"messages": [], "hidden": 0}
    parts = value if isinstance(value, list) else [value]
    shown = [_part(p, ["system_instructions", i] if isinstance(value, list) else ["system_instructions"])
             for i, p in enumerate(parts)]
    return {"messages": [{"role": "system", "parts": shown, "finish_reason": ""}], "hidden": 0}


def tool_definitions(value: Any) -> list[dict]:
    if not isinstance(value, list):
        return [{"name": "", "description": "", "clip": clip(value, ["tool_definitions"])}] if value else []
    tools = []
    for i, tool in enumerate(value):
        spec = tool.get("function") if isinstance(tool, dict) and isinstance(tool.get("function"), dict) else tool
        spec = spec if isinstance(spec, dict) else {}
        tools.append({"name": str(spec.get("name") or ""), "description": str(spec.get("description") or "")[:500],
                      "clip": clip(tool, ["tool_definitions", i])})
    return tools


def _pairs(mapping: Any, path: list) -> list[tuple[str, Clip | None]]:
    if not isinstance(mapping, dict):
        return []
    return [(str(key), clip(value, path + [key], limit=600)) for key, value in sorted(mapping.items())]


def raw(step) -> dict:
    data = step.received()
    events = []
    for i, event in enumerate(data.get("events") or []):
        if isinstance(event, dict):
            offset = event.get("time_ns")
            offset = (offset - step.start_ns) / 1e6 if isinstance(offset, int) else None
            events.append({"name": str(event.get("name") or ""), "offset_ms": offset,
                           "attributes": _pairs(event.get("attributes"), ["raw", "events", i, "attributes"])})
    status = data.get("status") if isinstance(data.get("status"), dict) else {}
    return {"attributes": _pairs(data.get("attributes"), ["raw", "attributes"]), "events": events,
            "resource": _pairs(data.get("resource"), ["raw", "resource"]),
            "scope": data.get("scope") if isinstance(data.get("scope"), dict) else {},
            "span_kind": data.get("kind"), "status": status}


def tokens(step) -> list[tuple[str, int | None, str]]:
    return [
        ("Input", step.input_tokens, "all input tokens, cached ones included"),
        ("Cache read", step.cache_read_tokens, "input tokens served from the provider's prompt cache"),
        ("Cache write", step.cache_write_tokens, "input tokens written to the prompt cache"),
        ("Output", step.output_tokens, "all output tokens, reasoning included"),
        ("Reasoning", step.reasoning_tokens, "output tokens spent on hidden reasoning"),
    ]


def requested_calls(step, ran_by: dict[str, str], output: dict) -> list[dict]:
    """The tool calls an LLM step asked for, each linked to the tool step that ran it (if any).
    Arguments are shown here only when the output messages did not already show them."""
    shown = {p.get("id") for m in output["messages"] for p in m.get("parts", []) if p.get("kind") == "tool_call"}
    calls = []
    for i, call in enumerate(step.tool_calls or []):
        if isinstance(call, dict):
            call_id = str(call.get("id") or "")
            args = None if call_id and call_id in shown else clip(call.get("arguments"), ["tool_calls", i, "arguments"])
            calls.append({"id": call_id, "name": str(call.get("name") or ""), "span": ran_by.get(call_id, ""),
                          "clip": args})
    return calls


def pane(step, ran_by: dict[str, str] | None = None) -> dict:
    """Everything the step pane renders, by kind. `ran_by`: call id -> span id of the tool step."""
    llm = step.kind in LLM_KINDS
    ctx = {
        "template": f"dashboards/_step_{'llm' if llm else 'tool' if step.kind == 'tool' else 'other'}.html",
        "tokens": tokens(step),
        "show_model": llm or bool(step.model or step.cost_source),
        "breakdown": sorted((step.cost_breakdown or {}).items()) if isinstance(step.cost_breakdown, dict) else [],
        "reasoning": clip(step.reasoning, ["reasoning"]),
        "attributes": _pairs(step.attributes, ["attributes"]),
        "metadata": _pairs(step.metadata, ["metadata"]),
        "raw": raw(step),
        "error_message": clip(step.error_message, ["error_message"]),
    }
    if llm:
        output = conversation(step.output, "output")
        ctx.update(system=system_messages(step.system_instructions), input=conversation(step.input, "input"),
                   output=output, tools=tool_definitions(step.tool_definitions),
                   tool_calls=requested_calls(step, ran_by or {}, output))
    else:
        ctx.update(input_clip=clip(step.input, ["input"]), output_clip=clip(step.output, ["output"]),
                   arguments=clip(step.tool_arguments, ["tool_arguments"]),
                   result=clip(step.tool_result, ["tool_result"]))
    return ctx
