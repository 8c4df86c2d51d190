"""OTLP/gRPC: TraceService/Export on the same intake code path as POST /v1/traces."""
from __future__ import annotations

import logging
from concurrent import futures

import grpc
from django.conf import settings
from django.db import close_old_connections
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ingest import intake, otlp, ratelimit
from ingest.auth import authenticate
from tracing.models import ApiKey

log = logging.getLogger(__name__)
METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    413: grpc.StatusCode.INVALID_ARGUMENT,  # not retryable: the same request will never fit
    415: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,  # retryable per the OTLP spec
}


def _key_from_metadata(metadata) -> str:
    values = {k.lower(): v for k, v in metadata}
    if values.get("x-api-key"):
        return values["x-api-key"].strip()
    scheme, _, token = values.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def export(body: bytes, context) -> bytes:
    """The raw request bytes in, raw response bytes out: no parse/re-serialize round trip."""
    try:
        key, status = authenticate(_key_from_metadata(context.invocation_metadata()), ApiKey.INGEST)
        if status != 200:
            context.abort(_CODES[status], "missing or invalid API key" if status == 401 else "key may not ingest")
        if not ratelimit.allow(key.id):
            context.set_trailing_metadata((("retry-after", "1"),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "this API key is over its ingest rate; retry later")
        outcome = intake.accept(key.project, body, encoding=otlp.PROTOBUF, source="grpc")
        if outcome.status != 200:
            if outcome.retry_after:
                context.set_trailing_metadata((("retry-after", str(outcome.retry_after)),))
            context.abort(_CODES.get(outcome.status, grpc.StatusCode.INTERNAL), outcome.message)
        response = ExportTraceServiceResponse()
        if outcome.rejected:
            response.partial_success.rejected_spans = outcome.rejected
            response.partial_success.error_message = outcome.message
        return response.SerializeToString()
    finally:
        close_old_connections()


def build_server(address: str, workers: int = 8) -> grpc.Server:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=[
            ("grpc.max_receive_message_length", settings.SAGATRACE_MAX_DECOMPRESSED_BYTES),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ],
    )
    handler = grpc.unary_unary_rpc_method_handler(export)  # no (de)serializers: bytes in and out
    service, method = METHOD.rsplit("/", 1)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.lstrip("/"), {method: handler}),))
    port = server.add_insecure_port(address)
    if not port:
        raise OSError(f"cannot bind {address}")
    server.bound_port = port
    return server
