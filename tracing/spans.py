"""The decoded form of one OTLP span: plain data, no protobuf, no Django.

`ingest.otlp` turns OTLP protobuf or JSON into `SpanRecord`s; the convention
mappers in `tracing.conventions` read them. Ids stay lowercase hex strings
(32 and 16 characters); an absent parent is None, never all zeros.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# OTLP Status.code values.
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


@dataclass(slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int  # OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer
    start_ns: int
    end_ns: int
    status_code: int = STATUS_UNSET
    status_message: str = ""
    # Attribute values decoded from AnyValue: str, int, float, bool, bytes,
    # list (arrayValue) or dict (kvlistValue), nested as needed.
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
