"""Offers from all mappers -> one StepData: choose per field by precedence, then apply the
rules that need the final kind (content routing, message coercion, derived fields)."""
from __future__ import annotations

from typing import Any

from tracing.spans import SpanRecord
from tracing.steps import KINDS, StepData

from ._attrs import Attrs
from ._json import jsonable
from .messages import (
    are_messages,
    finish_reasons_of,
    is_message_like,
    parts_message,
    reasoning_of,
    system_parts_of,
    text_part,
    to_message,
    to_messages,
    tool_calls_of,
)
from .offers import Offer, Offers
from .precedence import GENERIC_CONTENT, NAME_GUARDS, OUTPUT_MESSAGES
from .provider_json import request_messages, response_messages
from .providers import provider_from_model

# gen_ai.operation.name equivalent when no convention names the operation.
DEFAULT_OPERATIONS = {"llm": "chat", "embedding": "embeddings", "tool": "execute_tool", "agent": "invoke_agent",
                      "retrieval": "retrieval", "other": ""}
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
TOOL_PREFIX = "execute_tool "


def assemble(span: SpanRecord, offers: Offers, attrs: Attrs, applied: list[str]) -> StepData:
    step = StepData()
    kind_offer = offers.best("kind", accept=lambda o: o.value in KINDS)
    step.kind = kind_offer.value if kind_offer else _inferred_kind(offers)
    step.convention = kind_offer.convention if kind_offer else next((c for c in applied if c != "otel"), "")
    span_name = span.name if isinstance(span.name, str) else ""
    guarded = offers.value("name", "", accept=lambda o: NAME_GUARDS.get(o.source, step.kind) == step.kind)
    step.name = guarded or span_name
    step.operation = offers.value("operation") or DEFAULT_OPERATIONS[step.kind]

    step.model = offers.value("model", "")
    step.request_model = offers.value("request_model", "")
    step.provider = offers.value("provider") or provider_from_model(step.model)
    _tokens(step, offers)
    step.reported_cost = offers.value("reported_cost")

    _content(step, offers)
    _tool(step, offers, span_name)
    _context(step, offers)
    step.is_error = offers.has("is_error")
    if step.is_error:
        step.error_type = offers.value("error_type", "")
        step.error_message = offers.value("error_message", "")
    step.unmapped = jsonable(attrs.unmapped())
    return step


def _inferred_kind(offers: Offers) -> str:
    """No convention classified the span: a model (or provider) plus usage or messages is an LLM call."""
    identified = offers.has("model") or offers.has("provider")
    used = any(offers.has(f) for f in ("input_tokens", "output_tokens")) or are_messages(offers.value("output"))
    return "llm" if identified and used else "other"


def _tokens(step: StepData, offers: Offers) -> None:
    for field in TOKEN_FIELDS:
        setattr(step, field, offers.value(field))
    # Invariants of the internal model. A cache larger than the input proves the source was
    # cache-exclusive (e.g. raw Anthropic counts); likewise for reasoning and output.
    cached = (step.cache_read_tokens or 0) + (step.cache_write_tokens or 0)
    if step.input_tokens is not None and cached > step.input_tokens:
        step.input_tokens += cached
    if step.output_tokens is not None and (step.reasoning_tokens or 0) > step.output_tokens:
        step.output_tokens += step.reasoning_tokens or 0


def _content(step: StepData, offers: Offers) -> None:
    # On a tool step the span-level input/output are the call's arguments/result (see _tool).
    def keep(offer: Offer) -> bool:
        return not (step.kind == "tool" and offer.source in GENERIC_CONTENT)

    step.input = _coerce(offers.value("input", accept=keep), step.kind, "user")
    step.output = _coerce(offers.value("output", accept=keep), step.kind, "assistant")
    step.system_instructions = offers.value("system_instructions") or system_parts_of(step.input)
    step.tool_definitions = jsonable(offers.value("tool_definitions"))

    messages_out = step.output if are_messages(step.output) else []
    offers.add("", "finish_reasons", OUTPUT_MESSAGES, finish_reasons_of(messages_out))
    step.finish_reasons = list(offers.value("finish_reasons", []))
    if messages_out and len(step.finish_reasons) == len(messages_out):  # one reason per choice
        for message, reason in zip(messages_out, step.finish_reasons):
            message.setdefault("finish_reason", reason)
    if step.kind == "llm":
        step.tool_calls = tool_calls_of(messages_out)
        step.reasoning = reasoning_of(messages_out)
    step.input, step.output = jsonable(step.input), jsonable(step.output)
    step.system_instructions = jsonable(step.system_instructions)
    step.tool_calls = jsonable(step.tool_calls)


def _coerce(value: Any, kind: str, role: str) -> Any:
    """LLM steps get messages whatever the source shape; other steps keep their value
    (messages among them are normalized too)."""
    if kind != "llm":
        return (to_messages(value, role) or value) if are_messages(value) else value
    if isinstance(value, str):
        return [{"role": role, "parts": [text_part(value)]}]
    if isinstance(value, list):
        messages = to_messages(value, role)
        if messages:
            return messages
        message = parts_message(value, role)  # a bare content-block list: one message
        return [message] if message else value
    if isinstance(value, dict):
        converted = request_messages(value) if role == "user" else response_messages(value)
        if converted:
            return converted
        message = to_message(value, role) if is_message_like(value) else None
        return [message] if message else value
    return value


def _tool(step: StepData, offers: Offers, span_name: str) -> None:
    def keep(offer: Offer) -> bool:
        return step.kind == "tool" or offer.source not in GENERIC_CONTENT

    step.tool_name = offers.value("tool_name", "")
    if step.kind == "tool" and not step.tool_name and span_name:
        step.tool_name = span_name[len(TOOL_PREFIX):] if span_name.startswith(TOOL_PREFIX) else span_name
    step.tool_call_id = offers.value("tool_call_id", "")
    step.tool_arguments = jsonable(offers.value("tool_arguments", accept=keep))
    step.tool_result = jsonable(offers.value("tool_result", accept=keep))


def _context(step: StepData, offers: Offers) -> None:
    for field in ("session_id", "user_id", "agent_name", "environment", "service_name"):
        setattr(step, field, offers.value(field, ""))
    step.tags = list(offers.value("tags", []))
    metadata: dict[str, Any] = {}
    for offer in reversed(offers.ranked("metadata")):  # earlier sources win on a key clash
        if isinstance(offer.value, dict):
            metadata.update(offer.value)
    aggregated: dict[str, Any] = {}
    for offer in reversed(offers.ranked("aggregated_usage")):
        aggregated.update(offer.value)
    if aggregated:
        metadata["aggregated_usage"] = aggregated
    step.metadata = jsonable(metadata)

