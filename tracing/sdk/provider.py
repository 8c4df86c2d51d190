"""Where the SDK's spans go: a TracerProvider exporting OTLP/HTTP protobuf to Sagatrace.

`configure()` builds the provider; the span helpers ask `get_tracer()` for their tracer,
which falls back to the global OpenTelemetry provider when `configure()` was not called
(so an application that already set up OpenTelemetry needs nothing more).
"""
from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

SCOPE_NAME = "sagatrace.sdk"
SCOPE_VERSION = "0.1.0"
DEFAULT_ENDPOINT = "http://127.0.0.1:8000"  # `manage.py runserver`'s address
TRACES_PATH = "/v1/traces"

_lock = threading.Lock()
_provider: TracerProvider | None = None  # set by configure() / use_provider()
_tracer: trace.Tracer | None = None
_exports: _TrackedExporter | None = None  # the configure()d exporter, for flush()'s answer


class _TrackedExporter(SpanExporter):
    """Counts spans whose export failed (refused, 401, timeout), so flush() can tell the
    caller that spans were lost instead of only that the queue was drained."""

    def __init__(self, inner: SpanExporter):
        self.inner = inner
        self.lost = 0  # a rare race with flush()'s reset only blurs the count, never the yes/no

    def export(self, spans) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            self.lost += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The full traces URL, from the argument or the standard OTLP variables.

    A base URL (no `/v1/traces` at the end) gets `/v1/traces` appended, so both
    `http://host:8000` and `http://host:8000/api/public/otel` work. The traces-specific
    variable is a full URL and is used as is, as the OTLP specification says.
    """
    if not endpoint:
        traces_env = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        if traces_env:
            return traces_env
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
    endpoint = endpoint.rstrip("/")
    if urlsplit(endpoint).path.endswith(TRACES_PATH):
        return endpoint
    return endpoint + TRACES_PATH


def configure(
    endpoint: str | None = None,
    api_key: str | None = None,
    service_name: str | None = None,
    *,
    exporter: SpanExporter | None = None,
    set_global: bool = True,
    **resource_attrs,
) -> TracerProvider:
    """Send the SDK's spans to Sagatrace and return the TracerProvider.

    endpoint: base URL or full traces URL; else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
        OTEL_EXPORTER_OTLP_ENDPOINT, then http://127.0.0.1:8000.
    api_key: sent as `Authorization: Bearer <key>`; else SAGATRACE_API_KEY; else
        whatever OTEL_EXPORTER_OTLP_HEADERS holds (the exporter reads it).
    service_name: else OTEL_SERVICE_NAME (read by the OpenTelemetry resource).
    resource_attrs: extra resource attributes, keys verbatim
        (`**{"deployment.environment.name": "prod"}`).
    exporter: replaces the OTLP exporter (a console or in-memory one, for debugging).
    set_global: also install the provider as OpenTelemetry's global one when none is
        installed yet, so other instrumentations land in the same traces.

    Calling it again replaces (and shuts down) the previous provider. Spans are flushed
    at interpreter exit.
    """
    global _provider, _tracer, _exports
    if exporter is None:
        api_key = api_key or os.environ.get("SAGATRACE_API_KEY") or None
        exporter = OTLPSpanExporter(
            endpoint=resolve_endpoint(endpoint),
            headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
            compression=Compression.Gzip,
        )
    attrs = dict(resource_attrs)
    if service_name:
        attrs[SERVICE_NAME] = service_name
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME; ours win.
    # shutdown_on_exit registers the atexit flush (and unregisters it on shutdown()).
    provider = TracerProvider(resource=Resource.create(attrs), shutdown_on_exit=True)
    tracked = _TrackedExporter(exporter)
    provider.add_span_processor(BatchSpanProcessor(tracked))
    with _lock:
        previous, _provider, _exports = _provider, provider, tracked
        _tracer = provider.get_tracer(SCOPE_NAME, SCOPE_VERSION)
    if previous is not None:
        previous.shutdown()
    if set_global and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    return provider


def use_provider(provider: trace.TracerProvider | None) -> None:
    """Record the SDK's spans with `provider` (None: back to the global provider)."""
    global _provider, _tracer, _exports
    with _lock:
        _provider, _exports = provider, None
        _tracer = provider.get_tracer(SCOPE_NAME, SCOPE_VERSION) if provider else None


def get_tracer() -> trace.Tracer:
    tracer = _tracer
    if tracer is not None:
        return tracer
    # The global proxy tracer follows a provider installed later, so it is safe to use now.
    return trace.get_tracer(SCOPE_NAME, SCOPE_VERSION)


def flush(timeout_millis: int = 30_000) -> bool:
    """Export every finished span now. False when that did not finish in time or, for
    the configure()d exporter, when any span since the last flush() failed to export."""
    provider = _provider or trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    done = force_flush(timeout_millis) if force_flush else True
    exports = _exports
    if exports is None:
        return done
    lost, exports.lost = exports.lost, 0
    return done and not lost


def shutdown() -> None:
    """Flush and stop the provider made by configure(); later spans go to the global one."""
    global _provider, _tracer, _exports
    with _lock:
        provider, _provider, _tracer, _exports = _provider, None, None, None
    if provider is not None and hasattr(provider, "shutdown"):
        provider.shutdown()
