"""GenAI content carried in span events rather than attributes.

- `gen_ai.client.inference.operation.details` (≥ v1.37): the inference attributes again.
- `gen_ai.{system,user,assistant,tool}.message` and `gen_ai.choice` (v1.28–v1.36).
- `gen_ai.content.prompt` / `gen_ai.content.completion` (v1.26).

The deprecated events were specified as log records with a body; SDKs that put them on
spans flatten the body into event attributes or keep it whole in a `body` attribute.
"""
from __future__ import annotations

from typing import Any, Callable

from tracing.spans import SpanRecord

from ._attrs import Attrs, as_int, span_events
from ._json import parse_json, parse_json_container
from .messages import to_message, to_messages
from .offers import Sink
from .precedence import CHOICE_EVENTS, CONTENT_EVENTS, DETAILS_EVENT, MESSAGE_EVENTS

DETAILS = "gen_ai.client.inference.operation.details"
MESSAGE_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE = "gen_ai.choice"
_CONTENT = ("gen_ai.content.prompt", "gen_ai.content.completion")


def has_genai_events(span: SpanRecord) -> bool:
    names = {name for name, _ in span_events(span)}
    return bool(names & ({DETAILS, CHOICE, *MESSAGE_EVENT_ROLES, *_CONTENT}))


def map_events(span: SpanRecord, out: Sink, map_call: Callable[[Attrs, Sink, Callable], None]) -> None:
    """`map_call` reads inference attributes (genai.map_call); the details event repeats them."""
    items = [{**attributes, "event.name": name} for name, attributes in span_events(span)]
    inputs, outputs = split_event_dicts(items)
    out.offer("input", MESSAGE_EVENTS, inputs)
    out.offer("output", CHOICE_EVENTS, outputs)
    for name, attributes in span_events(span):
        if name == DETAILS:
            map_call(Attrs(attributes), out, lambda key: f"{DETAILS_EVENT}:{key}")
        elif name == "gen_ai.content.prompt":
            out.offer("input", CONTENT_EVENTS, to_messages(attributes.get("gen_ai.prompt"), "user"))
        elif name == "gen_ai.content.completion":
            out.offer("output", CONTENT_EVENTS, to_messages(attributes.get("gen_ai.completion"), "assistant"))


def split_event_dicts(items: Any) -> tuple[list[dict], list[dict]]:
    """Input messages and output messages (choices in index order) from event dicts
    carrying `event.name`; also the shape of Logfire's `events` attribute."""
    inputs: list[dict] = []
    choices: list[tuple[int, int, dict]] = []
    for seq, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        name = item.get("event.name")
        if name in MESSAGE_EVENT_ROLES:
            message = _message(MESSAGE_EVENT_ROLES[name], _body(item))
            if message is not None:
                inputs.append(message)
        elif name == CHOICE:
            body = _body(item)
            message = to_message(body if isinstance(body.get("message"), dict) else {"message": body}, "assistant")
            if message is not None:
                index = as_int(body.get("index"))
                choices.append((index if index is not None else seq, seq, message))
    return inputs, [m for _, _, m in sorted(choices, key=lambda c: (c[0], c[1]))]


def _body(attributes: dict) -> dict:
    for key in ("body", "event.body", "gen_ai.event.body"):
        body = parse_json(attributes.get(key))
        if isinstance(body, dict):
            return body
    return {
        k: parse_json_container(v)
        for k, v in attributes.items()
        if isinstance(k, str) and not k.startswith("gen_ai.") and k != "event.name"
    }


def _message(role: str, body: dict) -> dict | None:
    body = {**body, "role": body.get("role") if isinstance(body.get("role"), str) else role}
    if role == "tool" and "tool_call_id" not in body and "id" in body:
        body["tool_call_id"] = body["id"]  # the tool event names the call `id`
    message = to_message(body, role)
    return message if message and message["parts"] else None
