"""Attribute conventions -> the internal step model.

`normalize(span)` maps a decoded span (tracing.spans.SpanRecord) onto a StepData
(tracing.steps), whichever conventions it uses: OpenTelemetry GenAI (all eras),
OpenInference, OpenLLMetry/Traceloop, Langfuse, Pydantic AI/Logfire, Vercel AI SDK.
One module per convention; `precedence` holds the field-by-field priority table.
Pure Python: no Django, no protobuf.
"""
from .normalizer import normalize

__all__ = ["normalize"]
