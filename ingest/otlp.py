"""OTLP trace request bodies → `SpanRecord`s. Pure: no Django, no database.

Both encodings are decoded here: protobuf (`ExportTraceServiceRequest`) and
OTLP/JSON (hex ids, camelCase, int64 as strings, integer enums). Spans with a
zero or malformed id are rejected one by one (reported as OTLP partial
success); a body that cannot be parsed at all raises `MalformedOTLP`.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracing.spans import SpanEvent, SpanRecord

PROTOBUF, JSON = "protobuf", "json"
TRUNCATION_MARKER = "…[truncated by sagatrace: {dropped} of {total} bytes not kept]"
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
_HEX = frozenset("0123456789abcdef")


class MalformedOTLP(ValueError):
    """The body is not a valid OTLP ExportTraceServiceRequest; the message says why."""


@dataclass(slots=True)
class Decoded:
    spans: list[SpanRecord] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str):
        self.rejected += 1
        if len(self.reasons) < 5 and reason not in self.reasons:
            self.reasons.append(reason)

    @property
    def error_message(self) -> str:
        return "; ".join(self.reasons)


def decode(body: bytes, encoding: str, *, max_attribute_bytes: int = 256 * 1024) -> Decoded:
    if encoding == PROTOBUF:
        return _decode_protobuf(body, max_attribute_bytes)
    if encoding == JSON:
        return _decode_json(body, max_attribute_bytes)
    raise ValueError(f"unknown encoding {encoding!r}")


def check_protobuf(body: bytes, max_spans: int) -> tuple[int, Decoded]:
    """What intake needs of a protobuf body, without decoding attributes: (spans in the body,
    a Decoded whose `spans` stays empty but whose rejections are exactly those `decode` makes).
    Stops after counting when there are more than `max_spans`. Raises MalformedOTLP."""
    request = _parse_protobuf(body)
    count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    out = Decoded()
    if count > max_spans:
        return count, out
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                parent = span.parent_span_id.hex() or None
                problem = _id_problem(span.trace_id.hex(), span.span_id.hex(), parent) or _time_problem(
                    span.start_time_unix_nano, span.end_time_unix_nano
                )
                if problem:
                    out.reject(problem)
    return count, out


# --- protobuf ---------------------------------------------------------------


def _parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RuntimeWarning, ValueError) as exc:
        raise MalformedOTLP(f"body is not a valid protobuf ExportTraceServiceRequest ({exc})") from None
    return request


def _pb_value(value, limit):
    which = value.WhichOneof("value")
    if which == "string_value":
        return _truncate(value.string_value, limit)
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        v = value.double_value
        return v if math.isfinite(v) else str(v)  # JSON (and jsonb) has no NaN or infinity
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [_pb_value(v, limit) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value, limit) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return {"__bytes_b64__": base64.b64encode(value.bytes_value[:limit]).decode()}
    return None


def _pb_attrs(kvs, limit):
    return {_clean(kv.key): _pb_value(kv.value, limit) for kv in kvs}


def _decode_protobuf(body: bytes, limit: int) -> Decoded:
    request = _parse_protobuf(body)
    out = Decoded()
    for rs in request.resource_spans:
        resource = _pb_attrs(rs.resource.attributes, limit)
        for ss in rs.scope_spans:
            scope_name, scope_version = _truncate(ss.scope.name, 1000), _truncate(ss.scope.version, 1000)
            for span in ss.spans:
                trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
                parent = span.parent_span_id.hex() or None
                problem = _id_problem(trace_id, span_id, parent) or _time_problem(
                    span.start_time_unix_nano, span.end_time_unix_nano
                )
                if problem:
                    out.reject(problem)
                    continue
                out.spans.append(
                    SpanRecord(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=None if parent in (None, _ZERO_SPAN) else parent,
                        name=_truncate(span.name, 1000),
                        kind=span.kind,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=span.status.code,
                        status_message=_truncate(span.status.message, limit),
                        attributes=_pb_attrs(span.attributes, limit),
                        events=[
                            SpanEvent(_truncate(e.name, 1000), e.time_unix_nano, _pb_attrs(e.attributes, limit))
                            for e in span.events
                        ],
                        resource=resource,
                        scope_name=scope_name,
                        scope_version=scope_version,
                    )
                )
    return out


# --- OTLP/JSON ----------------------------------------------------------------


def _parse_json(body: bytes) -> dict:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedOTLP(f"body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MalformedOTLP("OTLP/JSON body must be an object with a resourceSpans array")
    rs = data.get("resourceSpans", data.get("resource_spans", []))
    if not isinstance(rs, list):
        raise MalformedOTLP("resourceSpans must be an array")
    return {"resourceSpans": rs}


def _json_value(value, limit):
    if not isinstance(value, dict):
        raise MalformedOTLP("attribute value must be an AnyValue object")
    if "stringValue" in value:
        return _truncate(str(value["stringValue"]), limit)
    if "intValue" in value:
        return _int(value["intValue"], "intValue")
    if "doubleValue" in value:
        v = value["doubleValue"]
        if isinstance(v, str) and v in ("NaN", "Infinity", "-Infinity"):
            return v
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise MalformedOTLP("doubleValue must be a number")
        return float(v)
    if "boolValue" in value:
        if not isinstance(value["boolValue"], bool):
            raise MalformedOTLP("boolValue must be true or false")
        return value["boolValue"]
    if "arrayValue" in value:
        return [_json_value(v, limit) for v in _list(_obj(value["arrayValue"], "arrayValue").get("values"), "arrayValue.values")]
    if "kvlistValue" in value:
        return _json_attrs(_obj(value["kvlistValue"], "kvlistValue").get("values"), limit)
    if "bytesValue" in value:
        return {"__bytes_b64__": str(value["bytesValue"])[: limit * 2]}
    return None


def _json_attrs(kvs, limit):
    attrs = {}
    for kv in _list(kvs, "attributes"):
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise MalformedOTLP("each attribute must be an object with a string key")
        attrs[_clean(kv["key"])] = _json_value(_obj(kv.get("value"), "attribute value"), limit)
    return attrs


def _decode_json(body: bytes, limit: int) -> Decoded:
    data = _parse_json(body)
    out = Decoded()
    for rs in data["resourceSpans"]:
        if not isinstance(rs, dict):
            raise MalformedOTLP("each resourceSpans entry must be an object")
        resource = _json_attrs(_obj(rs.get("resource"), "resource").get("attributes"), limit)
        for ss in _list(rs.get("scopeSpans", rs.get("scope_spans")), "scopeSpans"):
            if not isinstance(ss, dict):
                raise MalformedOTLP("each scopeSpans entry must be an object")
            scope = _obj(ss.get("scope"), "scope")
            for span in _list(ss.get("spans"), "spans"):
                if not isinstance(span, dict):
                    raise MalformedOTLP("each span must be an object")
                trace_id = _hex_id(span.get("traceId"))
                span_id = _hex_id(span.get("spanId"))
                parent = _hex_id(span.get("parentSpanId")) or None
                start_ns = _int(span.get("startTimeUnixNano", 0), "startTimeUnixNano")
                end_ns = _int(span.get("endTimeUnixNano", 0), "endTimeUnixNano")
                problem = _id_problem(trace_id, span_id, parent) or _time_problem(start_ns, end_ns)
                if problem:
                    out.reject(problem)
                    continue
                status = _obj(span.get("status"), "status")
                out.spans.append(
                    SpanRecord(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=None if parent in (None, _ZERO_SPAN) else parent,
                        name=_truncate(str(span.get("name") or ""), 1000),
                        kind=_int(span.get("kind", 0), "kind"),
                        start_ns=start_ns,
                        end_ns=end_ns,
                        status_code=_int(status.get("code", 0), "status.code"),
                        status_message=_truncate(str(status.get("message") or ""), limit),
                        attributes=_json_attrs(span.get("attributes"), limit),
                        events=[
                            SpanEvent(
                                _truncate(str(e.get("name") or ""), 1000),
                                _int(e.get("timeUnixNano", 0), "timeUnixNano"),
                                _json_attrs(e.get("attributes"), limit),
                            )
                            for e in map(lambda e: _obj(e, "event"), _list(span.get("events"), "events"))
                        ],
                        resource=resource,
                        scope_name=_truncate(str(scope.get("name") or ""), 1000),
                        scope_version=_truncate(str(scope.get("version") or ""), 1000),
                    )
                )
    return out


_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_KIND_NAMES = {
    "SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5,
}


def _int(value, what):
    if isinstance(value, bool):
        raise MalformedOTLP(f"{what} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value in _STATUS_NAMES:
            return _STATUS_NAMES[value]
        if value in _KIND_NAMES:
            return _KIND_NAMES[value]
        try:
            return int(value)
        except ValueError:
            pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise MalformedOTLP(f"{what} must be an integer (got {str(value)[:40]!r})")


def _obj(value, what) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedOTLP(f"{what} must be an object")
    return value


def _list(value, what):
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedOTLP(f"{what} must be an array")
    return value


def _hex_id(value) -> str:
    if value is None or value == "":
        return ""
    return str(value).lower()


def _id_problem(trace_id: str, span_id: str, parent: str | None) -> str:
    if len(trace_id) != 32 or not _HEX.issuperset(trace_id):
        return "span with a malformed traceId (want 16 bytes / 32 hex characters)"
    if trace_id == _ZERO_TRACE:
        return "span with an all-zero traceId"
    if len(span_id) != 16 or not _HEX.issuperset(span_id):
        return "span with a malformed spanId (want 8 bytes / 16 hex characters)"
    if span_id == _ZERO_SPAN:
        return "span with an all-zero spanId"
    if parent and (len(parent) != 16 or not _HEX.issuperset(parent)):
        return "span with a malformed parentSpanId"
    return ""


def _clean(text: str) -> str:
    # NUL cannot be stored in PostgreSQL text or jsonb; it is shown as U+FFFD instead.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


_MAX_NS = 2**63 - 1


def _time_problem(start_ns: int, end_ns: int) -> str:
    if not (0 <= start_ns <= _MAX_NS and 0 <= end_ns <= _MAX_NS):
        return "span with a timestamp outside the int64 nanosecond range"
    return ""


_MARKER_RE = None


def _already_truncated(text: str, limit: int) -> bool:
    global _MARKER_RE
    if _MARKER_RE is None:
        import re

        _MARKER_RE = re.compile(r"…\[truncated by sagatrace: \d+ of \d+ bytes not kept\]$")
    match = _MARKER_RE.search(text)
    return bool(match) and len(text[: match.start()].encode("utf-8", "surrogatepass")) <= limit


def _truncate(text: str, limit: int) -> str:
    text = _clean(text)
    if len(text) <= limit // 4:  # fast path: cannot exceed the byte limit
        return text
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return text
    if _already_truncated(text, limit):  # a re-imported export: keep it byte for byte
        return text
    kept = raw[:limit].decode("utf-8", "ignore")
    return kept + TRUNCATION_MARKER.format(dropped=len(raw) - len(kept.encode()), total=len(raw))
