import logging

from django.conf import settings
from django.db import DatabaseError
from django.views.decorators.csrf import csrf_exempt

from ingest import intake, ratelimit, responses
from ingest.auth import authenticate, key_from_headers
from tracing.models import ApiKey

log = logging.getLogger(__name__)


@csrf_exempt
def otlp_traces(request):
    """POST /v1/traces (and the Langfuse-compatible /api/public/otel/v1/traces)."""
    encoding = intake.encoding_for(request.content_type)
    try:
        return _export(request, encoding)
    except DatabaseError:  # even the key lookup needs the database: exporters must retry, not drop
        log.exception("database unavailable during intake")
        retry = settings.SAGATRACE_RETRY_AFTER_SECONDS
        return responses.failure(503, "storage is unavailable; retry later", encoding, retry)


def _export(request, encoding):
    if request.method != "POST":
        response = responses.failure(405, "use POST with an OTLP ExportTraceServiceRequest", encoding)
        response["Allow"] = "POST"
        return response
    raw_key = key_from_headers(request.headers.get("Authorization", ""), request.headers.get("x-api-key", ""))
    key, status = authenticate(raw_key, ApiKey.INGEST)
    if status == 401:
        return responses.failure(401, "missing or invalid API key (send Authorization: Bearer <key>)", encoding)
    if status == 403:
        return responses.failure(403, "this API key may not ingest spans (scope 'ingest' needed)", encoding)
    if not ratelimit.allow(key.id):
        return responses.failure(429, "this API key is over its ingest rate; retry later", encoding, retry_after=1)
    if encoding is None:
        return responses.failure(
            415, f"unsupported Content-Type {request.content_type!r}; use application/x-protobuf or application/json",
            None,
        )
    limit = settings.SAGATRACE_MAX_BODY_BYTES
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        return responses.failure(413, f"body exceeds the limit of {limit} bytes", encoding)
    body = request.read(limit + 1)  # bounded read; request.body would buffer any size
    outcome = intake.accept(
        key.project, body, encoding=encoding, content_encoding=request.headers.get("Content-Encoding", "")
    )
    if outcome.status != 200:
        return responses.failure(outcome.status, outcome.message, encoding, outcome.retry_after)
    return responses.success(encoding, outcome.rejected, outcome.message)
