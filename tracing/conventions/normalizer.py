"""normalize(span): run every mapper whose attributes are present, then assemble one StepData."""
from __future__ import annotations

import logging

from tracing.spans import SpanRecord
from tracing.steps import StepData

from . import genai, langfuse, openinference, openllmetry, otel, pydantic_ai, vercel
from ._attrs import Attrs, as_str
from ._json import jsonable
from .assemble import assemble
from .offers import Offers

logger = logging.getLogger(__name__)

# Which fields win is decided by precedence.SOURCES, not by this order; the order only
# names the convention of a span no convention classified.
MAPPERS = (langfuse, openinference, genai, openllmetry, vercel, pydantic_ai, otel)


def normalize(span: SpanRecord) -> StepData:
    """Map one span onto the internal step model. Never raises: a span nothing understands
    (or that breaks a mapper) becomes kind "other" named after the span, attributes kept."""
    try:
        return _normalize(span)
    except Exception:  # noqa: BLE001 - one hostile span must not stop a batch
        logger.exception("normalizing span %r failed; kept as an unclassified step", getattr(span, "span_id", None))
        return _fallback(span)


def _normalize(span: SpanRecord) -> StepData:
    attrs = Attrs(getattr(span, "attributes", None))
    offers = Offers()
    applied = []
    for mapper in MAPPERS:
        consumed_before = set(attrs.consumed)
        try:
            if mapper.applies(span, attrs):
                mapper.map_span(span, attrs, offers.sink(mapper.NAME))
                applied.append(mapper.NAME)
        except Exception:  # noqa: BLE001 - drop this mapper's findings, keep the others'
            logger.warning("%s mapper failed on span %r", mapper.NAME, getattr(span, "span_id", None), exc_info=True)
            attrs.consumed = consumed_before
            offers.discard(mapper.NAME)
    return assemble(span, offers, attrs, applied)


def _fallback(span: SpanRecord) -> StepData:
    try:
        attributes = getattr(span, "attributes", None)
        resource = getattr(span, "resource", None)
        return StepData(
            kind="other",
            name=as_str(getattr(span, "name", None)) or "",
            service_name=(as_str(resource.get("service.name")) or "") if isinstance(resource, dict) else "",
            unmapped=jsonable(attributes) if isinstance(attributes, dict) else {},
        )
    except Exception:  # noqa: BLE001
        return StepData(kind="other")
