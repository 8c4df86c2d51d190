"""The one internal step model every attribute convention maps onto.

`StepData` is what a convention mapper returns for one span: plain data,
JSON-serialisable values only (Decimal for money). The indexer copies it onto
a `tracing.models.Step` row.

Messages use one shape whatever the convention (the OTel GenAI "parts" form):
    {"role": "system|user|assistant|tool", "parts": [part, ...], "finish_reason"?: str}
with parts
    {"type": "text", "content": str}
    {"type": "reasoning", "content": str}
    {"type": "tool_call", "id": str|None, "name": str, "arguments": Any}
    {"type": "tool_call_response", "id": str|None, "response": Any}
    {"type": "<other>", ...}   # images, blobs, unknown parts: kept as received
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

KINDS = ("agent", "llm", "tool", "retrieval", "embedding", "other")
COST_REPORTED, COST_COMPUTED, COST_UNPRICED = "reported", "computed", "unpriced"


@dataclass(slots=True)
class StepData:
    kind: str = "other"
    name: str = ""
    operation: str = ""  # gen_ai.operation.name or the convention's equivalent
    convention: str = ""  # which mapper recognised the span: genai, openinference, ...

    # LLM identity
    model: str = ""  # response model preferred, else request model
    request_model: str = ""
    provider: str = ""  # canonical gen_ai.provider.name value (openai, anthropic, ...)

    # Tokens; None means "not reported". input_tokens INCLUDES cached tokens
    # (GenAI semantics), output_tokens INCLUDES reasoning tokens.
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    reported_cost: Decimal | None = None  # USD, when the instrumentation reports one

    # Content (see module docstring for the message shape)
    input: Any = None  # list of messages for llm steps; any JSON value otherwise
    output: Any = None  # list of output messages for llm steps; any JSON value otherwise
    system_instructions: Any = None
    tool_definitions: Any = None
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # requested: {id, name, arguments}
    finish_reasons: list[str] = field(default_factory=list)

    # Tool / retrieval
    tool_name: str = ""
    tool_call_id: str = ""
    tool_arguments: Any = None
    tool_result: Any = None

    # Run-level context (usually set on the root, copied down by the indexer)
    session_id: str = ""
    user_id: str = ""
    agent_name: str = ""
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    service_name: str = ""
    environment: str = ""

    # Outcome
    is_error: bool = False
    error_type: str = ""
    error_message: str = ""

    # Attributes no mapper consumed, verbatim.
    unmapped: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
