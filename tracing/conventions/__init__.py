"""Attribute conventions -> the internal step model.

`normalize(span)` maps a decoded span (tracing.spans.SpanRecord) onto a StepData
(tracing.steps), whichever conventions it uses: OpenTelemetry GenAI (all eras),
OpenInference, OpenLLMetry/Traceloop, Langfuse, Pydantic AI/Logfire, Vercel AI SDK.
One module per convention; `precedence` holds the field-by-field priority table.
Pure Python: no Django, no protobuf. Compiled with mypyc when built (tracing/native.py).
"""
from tracing import native

native.use_build(__path__, __name__)

from .normalizer import normalize  # noqa: E402  (after use_build: the build, if current)

__all__ = ["normalize"]
