"""Plain OpenTelemetry semantics every convention shares: span status, `error.type`,
`exception` events, deployment environment and the resource's service name."""
from __future__ import annotations

from tracing.spans import STATUS_ERROR, SpanRecord

from ._attrs import Attrs, as_int, as_str, span_events
from .offers import Sink
from .precedence import EXCEPTION_EVENT

NAME = "otel"
_EXCEPTION_EVENTS = ("exception", "gen_ai.client.operation.exception")


def applies(span: SpanRecord, attrs: Attrs) -> bool:
    return True


def map_span(span: SpanRecord, attrs: Attrs, out: Sink) -> None:
    failed = False
    if span.status_code == STATUS_ERROR:
        failed = True
        out.offer("is_error", "status.code", True)
        out.offer("error_message", "status.message", as_str(span.status_message))
    error_type = attrs.take_str("error.type")
    if error_type:
        failed = True
        out.offer("is_error", "error.type", True)
        out.offer("error_type", "error.type", error_type)
    for name, event_attrs in span_events(span):
        if name in _EXCEPTION_EVENTS:
            failed = True
            out.offer("is_error", EXCEPTION_EVENT, True)
            out.offer("error_type", EXCEPTION_EVENT, as_str(event_attrs.get("exception.type")))
            out.offer("error_message", EXCEPTION_EVENT, as_str(event_attrs.get("exception.message")))
    status = attrs.peek("http.response.status_code", as_int)
    if failed and status is not None and status >= 400:
        attrs.consume("http.response.status_code")
        out.offer("error_type", "http.response.status_code", str(status))

    for key in ("deployment.environment.name", "deployment.environment"):
        out.offer("environment", key, attrs.take_str(key))
    resource = span.resource if isinstance(span.resource, dict) else {}
    for key in ("deployment.environment.name", "deployment.environment"):
        out.offer("environment", f"resource {key}", as_str(resource.get(key)))
    out.offer("service_name", "resource service.name", as_str(resource.get("service.name")))
