"""OTLP/HTTP responses in the request's own encoding."""
import orjson
from django.http import HttpResponse
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ingest import otlp

PROTOBUF_TYPE = "application/x-protobuf"


def success(encoding: str, rejected: int = 0, message: str = "") -> HttpResponse:
    if encoding == otlp.PROTOBUF:
        response = ExportTraceServiceResponse()
        if rejected:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
        return HttpResponse(response.SerializeToString(), content_type=PROTOBUF_TYPE)
    body = {"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}} if rejected else {}
    return HttpResponse(orjson.dumps(body), content_type="application/json")


def failure(status: int, message: str, encoding: str | None, retry_after: int | None = None) -> HttpResponse:
    """An error with a google.rpc.Status body (OTLP/HTTP); JSON unless the request was protobuf."""
    if encoding == otlp.PROTOBUF:
        body = status_pb2.Status(code=_grpc_code(status), message=message).SerializeToString()
        response = HttpResponse(body, status=status, content_type=PROTOBUF_TYPE)
    else:
        response = HttpResponse(
            orjson.dumps({"code": _grpc_code(status), "message": message}),
            status=status,
            content_type="application/json",
        )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _grpc_code(status: int) -> int:
    # google.rpc.Code: INVALID_ARGUMENT 3, UNAUTHENTICATED 16, PERMISSION_DENIED 7,
    # RESOURCE_EXHAUSTED 8, UNAVAILABLE 14, UNIMPLEMENTED 12
    return {400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14, 405: 12}.get(status, 2)
